// node-ws.js: the Node `ws` reference server of the benchmark contract
// (bench/README.md): echo, token stream and idle, all in-process.
// Usage: node node-ws.js [PORT [HOST [PATH]]] (port 0 picks a free one).
// Prints "listening PORT" once it accepts.
'use strict';

const path = require('path');
const { WebSocketServer, WebSocket } = require(path.join(__dirname, '..', 'node_modules', 'ws'));

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const wsPath = process.argv[4] || undefined;

const MAX_TOKENS = 10000;
const MAX_RATE = 10000;

// The echo fast path: a message whose first bytes are exactly this is sent
// back as is, without parsing it. Anything else is parsed once: a stream
// request starts a stream, any other message is echoed too.
const ECHO_PREFIX = Buffer.from('{"type":"echo"');
const BAD_STREAM = '{"type":"error","error":"bad stream request"}';

function isEchoFast(data) {
  return data.length >= ECHO_PREFIX.length &&
    data.compare(ECHO_PREFIX, 0, ECHO_PREFIX.length, 0, ECHO_PREFIX.length) === 0;
}

function isInt(v, lo, hi) {
  return Number.isSafeInteger(v) && v >= lo && v <= hi;
}

// A stream request: the object, or null if the message is no stream request
// at all; throws if it is one with bad values.
function streamRequest(data) {
  let req;
  try {
    req = JSON.parse(data.toString());
  } catch (e) {
    return null;
  }
  if (req === null || typeof req !== 'object' || req.type !== 'stream') return null;
  if (!isInt(req.id, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) ||
      !isInt(req.tokens, 0, MAX_TOKENS) || !isInt(req.rate, 1, MAX_RATE)) {
    throw new Error('bad stream request');
  }
  return req;
}

// Token k is due at start + k * 1e9 / rate ns, scheduled against the start
// time so that timer lateness does not add up; a late timer sends every
// token that is due, each with its own stamp.
function startStream(ws, streams, req) {
  const start = process.hrtime.bigint();
  const stream = { timer: null };
  let k = 0;

  streams.add(stream);
  const step = () => {
    stream.timer = null;
    if (ws.readyState !== WebSocket.OPEN) {
      streams.delete(stream);
      return;
    }
    const now = Number(process.hrtime.bigint() - start);
    while (k < req.tokens && k * 1e9 / req.rate <= now) {
      const t = process.hrtime.bigint();
      ws.send(`{"type":"token","id":${req.id},"i":${k},"t":${t},"text":"tok"}`);
      k++;
    }
    if (k >= req.tokens) {
      ws.send(`{"type":"done","id":${req.id}}`);
      streams.delete(stream);
      return;
    }
    const wait = (k * 1e9 / req.rate - Number(process.hrtime.bigint() - start)) / 1e6;
    stream.timer = setTimeout(step, Math.max(1, Math.ceil(wait)));
  };
  step();
}

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
    else startStream(ws, streams, req);
  });
  ws.on('close', () => {
    for (const s of streams) clearTimeout(s.timer);
    streams.clear();
  });
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
