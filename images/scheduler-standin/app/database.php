<?php
// EasyAppointments 1.5.0's connection group (application/config/database.php lines 52-66): every setting the
// mysqli driver reads. Nothing sets 'encrypt' or 'port', so both keep CodeIgniter's defaults (FALSE, NULL:
// system/database/DB_driver.php lines 148 and 162).
$db['default']['hostname'] = Config::DB_HOST;
$db['default']['username'] = Config::DB_USERNAME;
$db['default']['password'] = Config::DB_PASSWORD;
$db['default']['database'] = Config::DB_NAME;
$db['default']['dbdriver'] = 'mysqli';
$db['default']['dbprefix'] = 'ea_';
$db['default']['pconnect'] = TRUE;
$db['default']['db_debug'] = TRUE;
$db['default']['char_set'] = 'utf8mb4';
$db['default']['dbcollat'] = 'utf8mb4_unicode_ci';
$db['default']['stricton'] = FALSE;
$db['default']['encrypt'] = FALSE;
$db['default']['port'] = NULL;
