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

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';

const MAX_TOKENS = 10000;
const MAX_RATE = 10000;
const BAD_STREAM = { type: 'error', error: 'bad stream request' };

function isInt(v, lo, hi) {
  return Number.isSafeInteger(v) && v >= lo && v <= hi;
}

// The monotonic clock in ns as a Number, which socket.io serializes as
// JSON. Exact while CLOCK_MONOTONIC is below 2^53 ns, about 104 days of
// uptime; beyond that the low bits round.
function monoNs() {
  return Number(process.hrtime.bigint());
}

// Token k is due at start + k * 1e9 / rate ns, scheduled against the start
// time so that timer lateness does not add up; a late timer sends every
// token that is due, each with its own stamp.
function startStream(socket, streams, req) {
  const start = process.hrtime.bigint();
  const stream = { timer: null };
  let k = 0;

  streams.add(stream);
  const step = () => {
    stream.timer = null;
    if (!socket.connected) {
      streams.delete(stream);
      return;
    }
    const now = Number(process.hrtime.bigint() - start);
    while (k < req.tokens && k * 1e9 / req.rate <= now) {
      socket.emit('message', { type: 'token', id: req.id, i: k, t: monoNs(), text: 'tok' });
      k++;
    }
    if (k >= req.tokens) {
      socket.emit('message', { type: 'done', id: req.id });
      streams.delete(stream);
      return;
    }
    const wait = (k * 1e9 / req.rate - Number(process.hrtime.bigint() - start)) / 1e6;
    stream.timer = setTimeout(step, Math.max(1, Math.ceil(wait)));
  };
  step();
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
    if (!isInt(msg.id, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) ||
        !isInt(msg.tokens, 0, MAX_TOKENS) || !isInt(msg.rate, 1, MAX_RATE)) {
      socket.emit('message', BAD_STREAM);
      return;
    }
    startStream(socket, streams, msg);
  });
  socket.on('disconnect', () => {
    for (const s of streams) clearTimeout(s.timer);
    streams.clear();
  });
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
