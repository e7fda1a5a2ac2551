// node-ws.js: the Node `ws` reference server of the benchmark contract
// (bench/README.md): echo, token stream and idle, all in-process.
// Usage: node node-ws.js [PORT [HOST [PATH]]] (port 0 picks a free one).
// Prints "listening PORT" once it accepts.
'use strict';

const path = require('path');
const { WebSocketServer, WebSocket } = require(path.join(__dirname, '..', 'node_modules', 'ws'));
const { BAD_STREAM, isEchoFast, streamRequest, startStream, stopStreams } = require('./contract');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const wsPath = process.argv[4] || undefined;

// Echo takes the fast path (contract.js); anything else is parsed once: a
// stream request starts a stream, any other message is echoed too.

const wss = new WebSocketServer({ port, host, path: wsPath, perMessageDeflate: false });

wss.on('connection', (ws) => {
  const streams = new Set();

  ws.on('message', (data, isBinary) => {
    if (isBinary || isEchoFast(data)) {
      ws.send(data, { binary: isBinary });
      return;
    }
    let req;
    try {
      req = streamRequest(data);
    } catch (e) {
      ws.send(BAD_STREAM);
      return;
    }
    if (req === null) ws.send(data, { binary: false });
    else {
      startStream(streams, req, {
        open: () => ws.readyState === WebSocket.OPEN,
        token: (k) => ws.send('{"type":"token","id":' + req.id + ',"i":' + k +
          ',"t":' + process.hrtime.bigint() + ',"text":"tok"}'),
        done: () => ws.send(`{"type":"done","id":${req.id}}`),
      });
    }
  });
  ws.on('close', () => stopStreams(streams));
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
