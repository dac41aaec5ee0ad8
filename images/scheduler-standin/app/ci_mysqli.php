<?php
// How CodeIgniter 3's mysqli driver, as shipped in EasyAppointments 1.5.0, opens its connection
// (system/database/drivers/mysqli/mysqli_driver.php, db_connect(), lines 117-229), step for step.
// mysqli's errors are exceptions (PHP 8.1+'s default; EasyAppointments never calls mysqli_report).

function ci_mysqli_connect(array $config): mysqli
{
    // A hostname starting with '/' is a socket; otherwise 'p:' asks for a persistent connection (pconnect)
    // and the port is NULL unless the group sets one: DB_HOST is a host name, never host:port.
    if ($config['hostname'][0] === '/') {
        [$hostname, $port, $socket] = [NULL, NULL, $config['hostname']];
    } else {
        $hostname = $config['pconnect'] === TRUE ? 'p:' . $config['hostname'] : $config['hostname'];
        $port = empty($config['port']) ? NULL : $config['port'];
        $socket = NULL;
    }
    $flags = 0;  // 'compress' is not set: no MYSQLI_CLIENT_COMPRESS
    $mysqli = mysqli_init();
    $mysqli->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
    if (isset($config['stricton'])) {
        $mysqli->options(MYSQLI_INIT_COMMAND, $config['stricton']
            ? 'SET SESSION sql_mode = CONCAT(@@sql_mode, ",", "STRICT_ALL_TABLES")'
            : 'SET SESSION sql_mode = REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(@@sql_mode,'
              . ' "STRICT_ALL_TABLES,", ""), ",STRICT_ALL_TABLES", ""), "STRICT_ALL_TABLES", ""),'
              . ' "STRICT_TRANS_TABLES,", ""), ",STRICT_TRANS_TABLES", ""), "STRICT_TRANS_TABLES", "")');
    }
    // TLS only through the group's 'encrypt' array, which EasyAppointments' database.php never sets.
    $encrypt = $config['encrypt'];
    if (is_array($encrypt)) {
        $ssl = [];
        foreach (['key', 'cert', 'ca', 'capath', 'cipher'] as $name) {
            empty($encrypt["ssl_$name"]) or $ssl[$name] = $encrypt["ssl_$name"];
        }
        if (isset($encrypt['ssl_verify'])) {
            $flags |= MYSQLI_CLIENT_SSL;
            if ($encrypt['ssl_verify']) {
                defined('MYSQLI_OPT_SSL_VERIFY_SERVER_CERT') && $mysqli->options(MYSQLI_OPT_SSL_VERIFY_SERVER_CERT, TRUE);
            } elseif (defined('MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT')) {
                $flags |= MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT;
            }
        }
        if ($ssl) {
            $flags |= MYSQLI_CLIENT_SSL;
            $mysqli->ssl_set($ssl['key'] ?? NULL, $ssl['cert'] ?? NULL, $ssl['ca'] ?? NULL, $ssl['capath'] ?? NULL,
                $ssl['cipher'] ?? NULL);
        }
    }
    $mysqli->real_connect($hostname, $config['username'], $config['password'], $config['database'], $port, $socket,
        $flags);
    $mysqli->set_charset($config['char_set']);
    return $mysqli;
}
