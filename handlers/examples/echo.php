<?php
/*
 * echo.php: an echo handler for php-fpm. Every message comes back as one
 * frame, written in the application/websocket-events format and flushed
 * at once. CONNECT and DISCONNECT get an empty 200: accepted, ignored.
 */

function ws_event(string $type, string $content): void
{
    echo $type, ' ', dechex(strlen($content)), "\r\n", $content, "\r\n";
    flush();
}

if (($_SERVER['WS_EVENT'] ?? '') !== 'MESSAGE') {
    exit;
}

header('Content-Type: application/websocket-events');
$payload = file_get_contents('php://input');
$binary = ($_SERVER['WS_MESSAGE_TYPE'] ?? 'text') === 'binary';
ws_event($binary ? 'BINARY' : 'TEXT', $payload);
