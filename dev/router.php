<?php
/**
 * Router for PHP's built-in server: existing files and directories with an
 * index.php are served as they are, every other path goes to WordPress
 * (without it `php -S` answers its own 404 for missing paths that contain a dot).
 */
$igbridge_path = (string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$igbridge_file = $_SERVER['DOCUMENT_ROOT'] . $igbridge_path;
if ($igbridge_path !== '/' && (is_file($igbridge_file) || is_file(rtrim($igbridge_file, '/') . '/index.php'))) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
