// hostile-server.js: a WebSocket server that answers the load generator's
// echo messages in every legal shape a server may use (16- and 64-bit
// lengths, non-minimal length forms, fragments with pings between them,
// bytes dribbled in separate writes) or in one chosen illegal shape, and
// checks what the client sends back (masking, pongs). Then the cases:
// each starts this server in-process, runs loadgen against it, and checks
// loadgen's JSON line and exit status. TAP output.
//
//   node hostile-server.js LOADGEN          run every case
//   node hostile-server.js serve MODE PORT  just serve (for poking by hand)
'use strict';

const net = require('net');
const crypto = require('crypto');
const { spawn } = require('child_process');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// A server frame; opts: fin, rsv, mask, lenForm (7, 16 or 64: the length
// encoding to use even where a shorter one fits).
function frame(opcode, payload, opts = {}) {
  const fin = opts.fin === undefined ? true : opts.fin;
  const len = payload.length;
  const need = len < 126 ? 7 : len <= 0xffff ? 16 : 64;
  const form = Math.max(opts.lenForm || 7, need);
  const hdr = Buffer.alloc(2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (opts.mask ? 4 : 0));
  hdr[0] = (fin ? 0x80 : 0) | ((opts.rsv || 0) << 4) | opcode;
  let off = 2;
  if (form === 7) {
    hdr[1] = len;
  } else if (form === 16) {
    hdr[1] = 126;
    hdr.writeUInt16BE(len, 2);
    off = 4;
  } else {
    hdr[1] = 127;
    hdr.writeBigUInt64BE(opts.bigLen !== undefined ? opts.bigLen : BigInt(len), 2);
    off = 10;
  }
  let body = payload;
  if (opts.mask) {
    hdr[1] |= 0x80;
    const m = crypto.randomBytes(4);
    m.copy(hdr, off);
    body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= m[i & 3];
  }
  return Buffer.concat([hdr, body]);
}

class Conn {
  constructor(server, sock) {
    this.server = server;
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.open = false;
    this.count = 0;
    this.pings = [];
    this.queue = Promise.resolve();
    sock.on('data', (d) => this.onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      // Pings still unanswered when the client closed are not its fault
      // after its close frame, but at most one may be in flight then.
      if (this.pings.length > 1) server.stats.missingPongs += this.pings.length;
    });
  }

  // Write the pieces in order; with dribble, each in its own event turn.
  send(pieces, dribble) {
    this.queue = this.queue.then(async () => {
      for (const p of pieces) {
        if (this.sock.destroyed) return;
        if (!dribble) {
          this.sock.write(p);
          continue;
        }
        // Headers and the start of payloads byte by byte, then the rest.
        for (let i = 0; i < p.length; ) {
          const n = i >= 64 ? p.length - i : 1 + Math.floor(Math.random() * 7);
          this.sock.write(p.subarray(i, i + n));
          i += n;
          await new Promise((r) => setImmediate(r));
        }
      }
    });
  }

  ping() {
    const payload = crypto.randomBytes(Math.floor(Math.random() * 126));
    this.pings.push(payload);
    this.server.stats.pings++;
    return frame(0x9, payload);
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.open) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
      this.handshake(head);
      if (!this.open) return;
    }
    for (;;) {
      const f = this.parse();
      if (!f) return;
      this.onFrame(f);
    }
  }

  handshake(head) {
    const m = /^sec-websocket-key:\s*(\S+)/im.exec(head);
    const mode = this.server.mode;
    if (mode === 'silent') return;
    if (!m) {
      this.sock.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    let accept = crypto.createHash('sha1').update(m[1] + GUID).digest('base64');
    if (mode === 'bad-accept') accept = crypto.createHash('sha1').update(m[1]).digest('base64');
    if (mode === 'http200') {
      this.sock.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const extra = mode === 'extension' ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '';
    this.open = true;
    const resp = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n' +
      'Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n' + extra + '\r\n');
    // The 101 may share a segment with the first frame, or be dribbled.
    this.send([resp], mode === 'lengths');
  }

  // One client frame from this.buf, unmasked, or null.
  parse() {
    const b = this.buf;
    if (b.length < 2) return null;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return null;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return null;
      len = Number(b.readBigUInt64BE(2));
      off = 10;
    }
    if (masked) off += 4;
    if (b.length < off + len) return null;
    const payload = Buffer.from(b.subarray(off, off + len));
    if (masked) {
      const m = b.subarray(off - 4, off);
      for (let i = 0; i < len; i++) payload[i] ^= m[i & 3];
    } else {
      this.server.stats.unmasked++;
    }
    this.buf = b.subarray(off + len);
    return { fin: (b[0] & 0x80) !== 0, opcode: b[0] & 0x0f, payload };
  }

  onFrame(f) {
    const st = this.server.stats;
    if (f.opcode === 0xa) {
      st.pongs++;
      const want = this.pings.shift();
      if (!want || !want.equals(f.payload)) st.badPongs++;
      return;
    }
    if (f.opcode === 0x8) {
      st.closes++;
      this.send([frame(0x8, f.payload.subarray(0, 2))]);
      this.queue.then(() => this.sock.end());
      return;
    }
    if (f.opcode === 0x9) {
      this.send([frame(0xa, f.payload)]);
      return;
    }
    if (!f.fin || f.opcode === 0) {
      st.clientFragments++;
      return;
    }
    st.messages++;
    this.count++;
    this.answer(f.opcode, f.payload);
  }

  // The echo, in the shape the mode asks for.
  answer(op, p) {
    const mode = this.server.mode;
    const n = this.count;
    switch (mode) {
      case 'lengths': {
        const v = n % 6;
        if (v === 0) this.send([frame(op, p)]);
        else if (v === 1) this.send([frame(op, p, { lenForm: 16 })], true);
        else if (v === 2) this.send([this.ping(), frame(op, p, { lenForm: 64 })], true);
        else if (v === 3) {
          const a = Math.floor(p.length / 3), b = Math.floor((2 * p.length) / 3);
          this.send([frame(op, p.subarray(0, a), { fin: false }), this.ping(),
            frame(0, p.subarray(a, b), { fin: false, lenForm: 64 }), this.ping(),
            frame(0, p.subarray(b), { lenForm: 16 })], n % 12 === 3);
        } else if (v === 4) {
          this.send([frame(op, Buffer.alloc(0), { fin: false }), frame(0, p, { fin: false }),
            frame(0, Buffer.alloc(0))]);
        } else {
          // An unsolicited pong and a ping with an empty payload first.
          this.pings.push(Buffer.alloc(0));
          this.server.stats.pings++;
          this.send([Buffer.concat([frame(0xa, Buffer.from('x')), frame(0x9, Buffer.alloc(0)), frame(op, p)])]);
        }
        return;
      }
      case 'masked': return this.send([frame(op, p, { mask: true })]);
      case 'rsv': return this.send([frame(op, p, { rsv: 4 })]);
      case 'opcode': return this.send([frame(0x3, p)]);
      case 'badlen': return this.send([frame(op, p, { lenForm: 64, bigLen: (1n << 63n) | BigInt(p.length) })]);
      case 'huge': return this.send([frame(op, Buffer.alloc(0), { lenForm: 64, bigLen: 1n << 40n })]);
      case 'ctl-long': return this.send([frame(0x9, Buffer.alloc(126, 0x61))]);
      case 'ctl-frag': return this.send([frame(0x9, Buffer.from('ab'), { fin: false })]);
      case 'cont-first': return this.send([frame(0, p)]);
      case 'interleave': return this.send([frame(op, p.subarray(0, 5), { fin: false }), frame(op, p.subarray(5))]);
      case 'oversize': return this.send([frame(op, Buffer.alloc(1001, 0x61))]);
      case 'oversize-frag':
        return this.send([frame(op, Buffer.alloc(600, 0x61), { fin: false }), frame(0, Buffer.alloc(600, 0x61))]);
      case 'close1': return this.send([frame(0x8, Buffer.from([1]))]);
      case 'bad-utf8': {
        const q = Buffer.from(p);
        q[q.length - 3] = 0xff;
        return this.send([frame(op, q)]);
      }
      case 'mismatch': {
        const q = Buffer.from(p);
        q[q.length - 3] = 0x79; // 'y'
        return this.send([frame(op, q)]);
      }
      case 'error-frame':
        return this.send([frame(1, Buffer.from('{"type":"error","error":"busy","message":"pool busy"}'))]);
      case 'close':
        if (n >= 3) {
          const c = Buffer.concat([Buffer.from([0x03, 0xe9]), Buffer.from('going away')]);
          return this.send([frame(0x8, c)]);
        }
        return this.send([frame(op, p)]);
      case 'reset':
        if (n >= 3) return this.sock.destroy();
        return this.send([frame(op, p)]);
      case 'stall':
        if (n >= 5) return undefined;
        return this.send([frame(op, p)]);
      default:
        return this.send([frame(op, p)]);
    }
  }
}

function serve(mode, port) {
  const server = net.createServer((sock) => new Conn(server, sock));
  server.mode = mode;
  server.stats = { pings: 0, pongs: 0, badPongs: 0, missingPongs: 0, unmasked: 0,
    messages: 0, closes: 0, clientFragments: 0 };
  const conns = new Set();
  server.on('connection', (s) => { conns.add(s); s.on('close', () => conns.delete(s)); });
  server.destroyAll = () => { for (const s of conns) s.destroy(); };
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function runLoadgen(loadgen, args, limitMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(loadgen, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(out.trim().split('\n').pop()); } catch (e) { /* checked below */ }
      resolve({ code, signal, json, out, err, ms: Date.now() - t0 });
    });
  });
}

// Each case: a server mode, loadgen arguments, and what must hold.
const C = 8;
const base = ['-c', String(C), '-d', '1', '-T', '3'];
const cases = [
  { name: 'every legal length form, fragments, pings, dribbled bytes', mode: 'lengths', args: [...base, '-d', '2'],
    check: (r, s) => [r.code === 0, r.json.errors === 0, r.json.msgs > 200, r.json.pings > 0,
      s.unmasked === 0, s.badPongs === 0, s.pongs > 0, s.missingPongs === 0, s.closes === C] },
  { name: '200-byte messages (16-bit lengths)', mode: 'lengths', args: [...base, '-m', '200'],
    check: (r, s) => [r.code === 0, r.json.errors === 0, r.json.msgs > 100, s.badPongs === 0, s.unmasked === 0] },
  { name: '70000-byte messages (64-bit lengths)', mode: 'lengths', args: [...base, '-m', '70000'],
    check: (r, s) => [r.code === 0, r.json.errors === 0, r.json.msgs > 20, s.badPongs === 0, s.unmasked === 0] },
  { name: 'a frame larger than -M is refused', mode: 'oversize', args: [...base, '-M', '1000'],
    check: (r) => [r.code === 2, r.json.error_detail.protocol === C, r.json.msgs === 0] },
  { name: 'a fragmented message larger than -M is refused', mode: 'oversize-frag', args: [...base, '-M', '1000'],
    check: (r) => [r.code === 2, r.json.error_detail.protocol === C, r.json.msgs === 0] },
  { name: '-n bounds the measured messages', mode: 'echo', args: [...base, '-d', '20', '-n', '500'],
    check: (r) => [r.code === 0, r.json.msgs === 500, r.ms < 10000] },
  { name: 'wrong Sec-WebSocket-Accept', mode: 'bad-accept', args: base,
    check: (r) => [r.code === 1, r.json.error_detail.handshake === C, r.json.conns_open === 0] },
  { name: 'HTTP 200 instead of 101', mode: 'http200', args: base,
    check: (r) => [r.code === 1, r.json.error_detail.handshake === C] },
  { name: 'an extension that was not offered', mode: 'extension', args: base,
    check: (r) => [r.code === 1, r.json.error_detail.handshake === C] },
  { name: 'no handshake answer: the connect timeout ends it', mode: 'silent', args: [...base, '-T', '1'],
    check: (r) => [r.code === 1, r.json.error_detail.connect === C, r.ms < 4000] },
  ...['masked', 'rsv', 'opcode', 'badlen', 'huge', 'ctl-long', 'ctl-frag', 'cont-first', 'interleave',
    'close1', 'bad-utf8'].map((mode) => ({
    name: `protocol error: ${mode}`, mode, args: base,
    check: (r) => [r.code === 2, r.json.error_detail.protocol === C, r.json.msgs === 0, r.ms < 6000],
  })),
  { name: 'an altered echo is a mismatch', mode: 'mismatch', args: base,
    check: (r) => [r.code === 2, r.json.error_detail.mismatch > 0, r.json.msgs === 0] },
  { name: 'error frames count as server errors', mode: 'error-frame', args: base,
    check: (r) => [r.code === 2, r.json.error_detail.server > 0, r.json.msgs === 0] },
  { name: 'a server close is counted', mode: 'close', args: base,
    check: (r, s) => [r.code === 2, r.json.error_detail.closed === C, s.closes === C] },
  { name: 'a reset is counted', mode: 'reset', args: base,
    check: (r) => [r.code === 2, r.json.error_detail.closed === C] },
  { name: 'a stalled server: drain timeout, bounded run', mode: 'stall', args: [...base, '-d', '1'],
    check: (r) => [r.code === 2, r.json.error_detail.timeout === C, r.json.complete === true, r.ms < 8000] },
];

async function main() {
  if (process.argv[2] === 'serve') {
    const s = await serve(process.argv[3] || 'lengths', Number(process.argv[4] || 0));
    process.stdout.write(`listening ${s.address().port}\n`);
    return;
  }
  const loadgen = process.argv[2];
  if (!loadgen) {
    process.stderr.write('usage: node hostile-server.js LOADGEN | serve MODE PORT\n');
    process.exit(1);
  }
  let failed = 0;
  process.stdout.write(`TAP version 13\n1..${cases.length}\n`);
  for (let i = 0; i < cases.length; i++) {
    const tc = cases[i];
    const server = await serve(tc.mode, 0);
    const url = `127.0.0.1:${server.address().port}`;
    const r = await runLoadgen(loadgen, ['-l', tc.mode, '-u', url, ...tc.args], 30000);
    server.destroyAll();
    server.close();
    let results;
    if (!r.json) {
      results = [false];
    } else {
      try { results = tc.check(r, server.stats); } catch (e) { results = [false, String(e)]; }
    }
    const ok = results.every((x) => x === true);
    if (!ok) failed++;
    process.stdout.write(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${tc.name}\n`);
    if (!ok) {
      process.stdout.write(`  # checks: ${JSON.stringify(results)} exit ${r.code} ${r.signal || ''} ${r.ms} ms\n`);
      process.stdout.write(`  # json: ${r.out.trim()}\n  # stats: ${JSON.stringify(server.stats)}\n`);
      process.stdout.write(`  # stderr: ${r.err.trim().split('\n').slice(0, 5).join(' | ')}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
