<?php
// What the scheduler stand-in checks through EasyAppointments' connection: who it is, whether TLS is on,
// that it can create a table and write and read a row in DB_NAME, and that it sees no other database.
require_once __DIR__ . '/ci_mysqli.php';

function scheduler_report(array $config): array
{
    $report = [
        'db_host' => $config['hostname'],
        'db_name' => $config['database'],
        'db_username' => $config['username'],
        'client' => 'mysqli ' . mysqli_get_client_info() . ', PHP ' . PHP_VERSION,
        'encrypt' => $config['encrypt'] !== FALSE,
        'connected' => FALSE,
    ];
    try {
        $db = ci_mysqli_connect($config);
        $report['connected'] = TRUE;
        [$report['current_user'], $report['database'], $report['server_version']] =
            $db->query('SELECT CURRENT_USER(), DATABASE(), VERSION()')->fetch_row();
        $report['tls_cipher'] = $db->query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")->fetch_row()[1] ?: NULL;
        $table = $config['dbprefix'] . 'standin_items';
        $db->query("CREATE TABLE IF NOT EXISTS `$table` (id INT AUTO_INCREMENT PRIMARY KEY,"
            . ' token VARCHAR(64) NOT NULL, written_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB');
        $report['table_created'] = TRUE;
        $token = bin2hex(random_bytes(16));
        $insert = $db->prepare("INSERT INTO `$table` (token) VALUES (?)");
        $insert->bind_param('s', $token);
        $report['row_written'] = $insert->execute();
        $select = $db->prepare("SELECT token FROM `$table` WHERE token = ?");
        $select->bind_param('s', $token);
        $select->execute();
        $report['row_read'] = ($select->get_result()->fetch_row()[0] ?? NULL) === $token;
        $databases = array_column($db->query('SHOW DATABASES')->fetch_all(), 0);
        sort($databases);
        $report['databases_visible'] = $databases;
        $expected = [$config['database'], 'information_schema'];
        sort($expected);
        $report['isolated'] = $databases === $expected;
    } catch (mysqli_sql_exception $error) {
        $report['error'] = str_replace($config['password'], '***', $error->getMessage());
    }
    $report['healthy'] = $report['connected'] && ($report['row_written'] ?? FALSE) && ($report['row_read'] ?? FALSE)
        && ($report['isolated'] ?? FALSE);
    return $report;
}
