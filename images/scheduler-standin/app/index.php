<?php
// php -S router: GET /health connects as EasyAppointments does (on each request, as its pages do) and answers
// the report as JSON: 200 when the connection, the table, the row and the isolation all hold, else 503.
declare(strict_types=1);

if (parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) !== '/health') {
    http_response_code(404);
    return;
}
require __DIR__ . '/config.php';
require __DIR__ . '/database.php';
require __DIR__ . '/report.php';
$report = scheduler_report($db['default']);
$report['base_url'] = Config::BASE_URL;
$report['debug_mode'] = Config::DEBUG_MODE;
http_response_code($report['healthy'] ? 200 : 503);
header('Content-Type: application/json');
echo json_encode($report, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
