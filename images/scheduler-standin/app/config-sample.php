<?php
// The settings lines of EasyAppointments 1.5.0's config-sample.php (github.com/alextselegidis/easyappointments,
// tag 1.5.0, config-sample.php lines 27-50), byte for byte where docker-entrypoint.sh's sed patterns match them.
// The entrypoint copies this file to config.php and writes the env into it, as EasyAppointments' image does.
class Config
{
    const BASE_URL = 'http://localhost';
    const LANGUAGE = 'english';
    const DEBUG_MODE = false;

    const DB_HOST = 'mysql';
    const DB_NAME = 'easyappointments';
    const DB_USERNAME = 'user';
    const DB_PASSWORD = 'password';
}
