// socketio.js: the socket.io v4 reference server of the benchmark contract
// (bench/README.md): echo, token stream and idle over Engine.IO v4 on a raw
// WebSocket (no polling), each contract message the event "message" with the
// JSON object as its argument. Usage: node socketio.js [PORT [HOST]]
// (port 0 picks a free one); the path is /socket.io/. Prints
// "listening PORT" once it accepts. Environment: SIO_PING_INTERVAL and
// SIO_PING_TIMEOUT, Engine.IO's heartbeat in ms (socket.io's defaults,
// 25000 and 20000, when unset).
'use strict';

const http = require('http');
const path = require('path');
const { Server } = require(path.join(__dirname, '..', 'node_modules', 'socket.io'));
const { BAD_STREAM, validStream, startStream, stopStreams } = require('./contract');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';

// The monotonic clock in ns as a Number, which socket.io serializes as
// JSON. Exact while CLOCK_MONOTONIC is below 2^53 ns, about 104 days of
// uptime; beyond that the low bits round.
function monoNs() {
  return Number(process.hrtime.bigint());
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  pingInterval: Number(process.env.SIO_PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.SIO_PING_TIMEOUT || 20000),
});

io.on('connection', (socket) => {
  const streams = new Set();

  // socket.io has parsed the message already; echo sends the object back,
  // which serializes to the same bytes for the contract's messages.
  socket.on('message', (msg) => {
    if (msg === null || typeof msg !== 'object' || msg.type !== 'stream') {
      socket.emit('message', msg);
      return;
    }
    if (!validStream(msg)) {
      socket.emit('message', JSON.parse(BAD_STREAM));
      return;
    }
    startStream(streams, msg, {
      open: () => socket.connected,
      token: (k) => socket.emit('message', { type: 'token', id: msg.id, i: k, t: monoNs(), text: 'tok' }),
      done: () => socket.emit('message', { type: 'done', id: msg.id }),
    });
  });
  socket.on('disconnect', () => stopStreams(streams));
});

httpServer.listen(port, host, () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});

function stop() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
