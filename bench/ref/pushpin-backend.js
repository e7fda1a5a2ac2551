// pushpin-backend.js: the backend behind Pushpin for the benchmark contract
// (bench/README.md), speaking Pushpin's WebSocket-over-HTTP protocol: every
// batch of a client's WebSocket events arrives as one HTTP POST
// (Content-Type application/websocket-events) and the response carries the
// events to send back. Echo answers a TEXT event with the same TEXT in the
// response. A stream publishes each token at its time through Pushpin's
// publish API, to the channel the connection was subscribed to when it
// opened.
//
// Usage: node pushpin-backend.js PORT PUBLISH_URL
// e.g. node pushpin-backend.js 8001 http://127.0.0.1:5561/publish/
// Prints "listening PORT" once it accepts.
'use strict';

const http = require('http');
const { BAD_STREAM, isEchoFast, streamRequest, startStream, stopStreams } = require('./contract');

const port = Number(process.argv[2] || 0);
const publishUrl = new URL(process.argv[3] || 'http://127.0.0.1:5561/publish/');

const MAX_BODY = 1 << 20;

const EVENTS_TYPE = 'application/websocket-events';
// Pushpin hands GRIP control messages ("c:...") from the response to its
// handler; message-prefix="" passes every other message as it is (the
// default prefix would be "m:"). Contract messages start with "{".
const GRIP_EXT = 'grip; message-prefix=""';


// Pushpin's publish server answers every request with "Connection: close"
// (corelib/simplehttpserver.cpp in Pushpin 1.36), so the keep-alive agent
// cannot reuse its socket there: every publish request is a new TCP
// connection. The agent is kept for a server that would keep it open.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// Connection-Id -> { channel (JSON-quoted), streams: Set }
const conns = new Map();

let publishErrors = 0;

// Parse a WebSocket-over-HTTP body: "TYPE[ HEXLEN]\r\n[CONTENT\r\n]"...
// Returns [{ type, content }] or null if malformed.
function parseEvents(buf) {
  const events = [];
  let at = 0;

  while (at < buf.length) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const head = buf.toString('latin1', at, eol);
    const sp = head.indexOf(' ');
    at = eol + 2;
    if (sp < 0) {
      events.push({ type: head, content: null });
      continue;
    }
    const len = parseInt(head.slice(sp + 1), 16);
    if (!(len >= 0) || at + len + 2 > buf.length) return null;
    events.push({ type: head.slice(0, sp), content: buf.subarray(at, at + len) });
    at += len + 2;
  }
  return events;
}

function pushEvent(out, type, content) {
  if (content === null || content === undefined) {
    out.push(Buffer.from(`${type}\r\n`));
    return;
  }
  if (typeof content === 'string') content = Buffer.from(content);
  out.push(Buffer.from(`${type} ${content.length.toString(16)}\r\n`), content,
    Buffer.from('\r\n'));
}

// Publishing. Items of one channel must reach Pushpin in order, and
// concurrent publish requests (each on its own TCP connection) can overtake
// one another. So one publish request is in flight at a time, and it
// carries every token that fell due while the previous one was: tokens that
// are due together go in one request, in order. t is read for each token
// just before the request that carries it; a token that waited for the one
// in flight is late, which the load generator sees in the token spacing.
const PUBLISH_MAX_ITEMS = 1000;
const queue = [];
let publishing = false;

function enqueue(conn, id, k) {
  queue.push({ conn, id, k });
  if (!publishing) flush();
}

// A queued token's item. The body is built by hand: the channel is JSON
// quoted already and the contract's messages need no escaping beyond their
// quotes.
function item(q) {
  let content;
  if (q.k < 0) {
    content = `{\\"type\\":\\"done\\",\\"id\\":${q.id}}`;
  } else {
    const t = process.hrtime.bigint();
    content = `{\\"type\\":\\"token\\",\\"id\\":${q.id},\\"i\\":${q.k},\\"t\\":${t},\\"text\\":\\"tok\\"}`;
  }
  return `{"channel":${q.conn.channel},"formats":{"ws-message":{"content":"${content}"}}}`;
}

function flush() {
  const batch = queue.splice(0, PUBLISH_MAX_ITEMS).filter((q) => !q.conn.gone);
  if (batch.length === 0) {
    publishing = false;
    if (queue.length > 0) flush();
    return;
  }
  publishing = true;
  const body = `{"items":[${batch.map(item).join(',')}]}`;
  let ended = false;
  const next = () => {
    if (ended) return;
    ended = true;
    flush();
  };
  const req = http.request({
    agent,
    host: publishUrl.hostname,
    port: publishUrl.port,
    path: publishUrl.pathname,
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
  }, (res) => {
    if (res.statusCode !== 200 && publishErrors++ < 10) {
      process.stderr.write(`publish: status ${res.statusCode}\n`);
    }
    res.on('end', next);
    res.on('error', next);
    res.resume();
  });
  req.setTimeout(10000, () => req.destroy(new Error('timed out')));
  req.on('error', (e) => {
    if (publishErrors++ < 10) process.stderr.write(`publish: ${e.message}\n`);
    next();
  });
  req.end(body);
}

function forget(cid) {
  const conn = conns.get(cid);
  if (conn === undefined) return;
  conn.gone = true;
  stopStreams(conn.streams);
  conns.delete(cid);
}

function handleEvents(cid, events, res) {
  const out = [];
  const headers = { 'Content-Type': EVENTS_TYPE };
  let conn = conns.get(cid);

  for (const ev of events) {
    switch (ev.type) {
    case 'OPEN':
      // Each connection gets its own channel at once, so that a stream's
      // first tokens never race the subscription (Pushpin applies it
      // asynchronously, after this response).
      conn = { channel: JSON.stringify(`c-${cid}`), streams: new Set(), gone: false };
      conns.set(cid, conn);
      headers['Sec-WebSocket-Extensions'] = GRIP_EXT;
      pushEvent(out, 'OPEN', null);
      pushEvent(out, 'TEXT', `c:{"type":"subscribe","channel":${conn.channel}}`);
      break;
    case 'TEXT': {
      const data = ev.content;
      // Echo takes the fast path; anything else is parsed once: a stream
      // request starts a stream, any other message is echoed too.
      if (isEchoFast(data)) {
        pushEvent(out, 'TEXT', data);
        break;
      }
      let req;
      try {
        req = streamRequest(data);
      } catch (e) {
        pushEvent(out, 'TEXT', BAD_STREAM);
        break;
      }
      if (req === null || conn === undefined) pushEvent(out, 'TEXT', data);
      else {
        const c = conn;
        // defer: after this request's response, which a token must not
        // overtake.
        startStream(c.streams, req, {
          open: () => !c.gone,
          token: (k) => enqueue(c, req.id, k),
          done: () => enqueue(c, req.id, -1),
          defer: true,
        });
      }
      break;
    }
    case 'BINARY':
      pushEvent(out, 'BINARY', ev.content);
      break;
    case 'PING':
      pushEvent(out, 'PONG', ev.content);
      break;
    case 'PONG':
      break;
    case 'CLOSE':
      forget(cid);
      conn = undefined;
      pushEvent(out, 'CLOSE', ev.content);
      break;
    case 'DISCONNECT':
      forget(cid);
      conn = undefined;
      break;
    default:
      break;
    }
  }
  const body = Buffer.concat(out);
  headers['Content-Length'] = body.length;
  res.writeHead(200, headers);
  res.end(body);
}

const server = http.createServer((req, res) => {
  const cid = req.headers['connection-id'];
  if (req.method !== 'POST' || cid === undefined ||
      req.headers['content-type'] !== EVENTS_TYPE) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('a WebSocket-over-HTTP request is expected\n');
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      res.writeHead(413);
      res.end();
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (size > MAX_BODY) return;
    const events = parseEvents(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    if (events === null) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('malformed events\n');
      return;
    }
    handleEvents(cid, events, res);
  });
});

server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

function stop() {
  for (const cid of [...conns.keys()]) forget(cid);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
