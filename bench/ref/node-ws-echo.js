// node-ws-echo.js: the reference echo server for the benchmark: Node's `ws`
// library echoing every message in-process, the simplest fast WebSocket
// server there is. Usage: node node-ws-echo.js [PORT [HOST [PATH]]]
// (port 0 picks a free one). Prints "listening PORT" once it accepts.
'use strict';

const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, '..', 'node_modules', 'ws'));

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const wsPath = process.argv[4] || undefined;

const wss = new WebSocketServer({ port, host, path: wsPath, perMessageDeflate: false });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});

wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});

function stop() {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
