#!/bin/sh
# The env -> config.php step of EasyAppointments' image (github.com/alextselegidis/easyappointments-docker,
# assets/docker-entrypoint.sh lines 26-35): the same sed lines, so a value the real image would mangle is
# mangled here too. Then the health endpoint (index.php) on port 80, where the stack expects egm-scheduler.
set -e
cd /var/www/html
cp config-sample.php config.php

sed -i "s|const BASE_URL = 'http://localhost';|const BASE_URL = '$BASE_URL';|g" config.php
sed -i "s|const DEBUG_MODE = false;|const DEBUG_MODE = $DEBUG_MODE;|g" config.php

sed -i "s|const DB_HOST = 'mysql';|const DB_HOST = '$DB_HOST';|g" config.php
sed -i "s|const DB_NAME = 'easyappointments';|const DB_NAME = '$DB_NAME';|g" config.php
sed -i "s|const DB_USERNAME = 'user';|const DB_USERNAME = '$DB_USERNAME';|g" config.php
sed -i "s|const DB_PASSWORD = 'password';|const DB_PASSWORD = '$DB_PASSWORD';|g" config.php

exec php -S 0.0.0.0:80 index.php
