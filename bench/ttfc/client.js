// client.js: the time-to-first-chunk client. It opens one chat connection
// per user, has every user send a session_message at the same moment, round
// after round, and times each streamed answer's first chunk. Then it asks
// the fake model server for its request records, matches each answer to
// its request by a marker in the message text, and prints one JSON line:
// the time from the fake model writing its first token to the first
// assistant_message_chunk reaching this client (the gateway's share), and
// the parts of the user-visible time before it.
//
//   node client.js -u ws://127.0.0.1:PORT/ws -f http://127.0.0.1:FPORT
//                  [-c users] [-n rounds] [-w warmup rounds] [-l label]
//                  [-t tag] [-T round timeout s] [-s samples.jsonl]
//                  [-C pid,...] [-P pid] [-H hz]
//
// -C: the stack's processes (their children and threads count too), and
// -P: the fake model's, for their CPU use over the measured rounds; -H:
// clock ticks per second (getconf CLK_TCK).
// The HS256 secret the handler checks comes from TTFC_JWT_SECRET. Exit 0:
// a clean run; 2: a run with errors; 1: setup failure (no result line).
// All times are CLOCK_REALTIME, as the fake server's time.time_ns().
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { performance } = require('perf_hooks');
const WebSocket = require(path.join(__dirname, '..', 'node_modules', 'ws'));

const CONNECT_TIMEOUT_MS = 20000;	// all connections open and accepted
const GAP_MS = 100;			// pause between rounds
const MAX_ROUNDS = 1000;
const MAX_USERS = 1000;

function usage(msg) {
  if (msg) process.stderr.write(`client.js: ${msg}\n`);
  process.stderr.write('usage: client.js -u WS_URL -f FAKE_URL [-c users] [-n rounds] ' +
    '[-w warmup] [-l label] [-t tag] [-T seconds] [-s samples.jsonl]\n');
  process.exit(1);
}

function parseArgs(argv) {
  const o = { users: 50, rounds: 10, warmup: 1, label: 'ttfc', tag: crypto.randomBytes(4).toString('hex'),
    roundTimeoutS: 60, samples: null, url: null, fake: null, stackPids: [], fakePids: [], hz: 100 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (v === undefined) usage(`${argv[i]} needs a value`);
    switch (argv[i]) {
      case '-u': o.url = v; break;
      case '-f': o.fake = v; break;
      case '-c': o.users = Number(v); break;
      case '-n': o.rounds = Number(v); break;
      case '-w': o.warmup = Number(v); break;
      case '-l': o.label = v; break;
      case '-t': o.tag = v; break;
      case '-T': o.roundTimeoutS = Number(v); break;
      case '-s': o.samples = v; break;
      case '-C': o.stackPids = v.split(',').map(Number); break;
      case '-P': o.fakePids = v.split(',').map(Number); break;
      case '-H': o.hz = Number(v); break;
      default: usage(`unknown option ${argv[i]}`);
    }
    i++;
  }
  if (!o.url || !o.fake) usage('-u and -f are needed');
  for (const [k, lo, hi] of [['users', 1, MAX_USERS], ['rounds', 1, MAX_ROUNDS],
    ['warmup', 0, MAX_ROUNDS], ['roundTimeoutS', 1, 3600]]) {
    if (!Number.isInteger(o[k]) || o[k] < lo || o[k] > hi) usage(`${k}: not an integer in ${lo}..${hi}`);
  }
  if (!/^[A-Za-z0-9-]{1,32}$/.test(o.tag)) usage('tag: letters, digits and - only');
  if (![...o.stackPids, ...o.fakePids].every((p) => Number.isInteger(p) && p > 0)) usage('-C, -P: pids');
  if (!(o.hz > 0)) usage('-H: ticks per second');
  return o;
}

/*
 * CLOCK_REALTIME in microseconds, with sub-millisecond resolution. Node
 * has Date.now() (realtime, whole ms) and performance.now() (monotonic,
 * fine). calibrate() spins until Date.now() steps to the next millisecond:
 * the step happened between the monotonic readings taken around the last
 * two Date.now() calls, so the offset between the two clocks is known to
 * within their distance. It keeps the tightest of several steps, and only
 * one known to within CAL_MAX_US: a step read after a preemption (on a busy
 * machine) would be off by the length of the preemption. It runs before
 * every round, so a slewing clock cannot drift far from it.
 */
const CAL_MAX_US = 20;
const clock = { offsetMs: performance.timeOrigin, uncUs: null, calibrations: 0, failed: 0,
  first: null, spreadUs: 0 };

function calibrate(steps) {
  let best = null;
  for (let k = 0; k < steps; k++) {
    const d0 = Date.now();
    let prevA = -Infinity, a = -Infinity, b = 0, d = d0;
    for (let i = 0; i < 1000000; i++) {
      prevA = a;
      a = performance.now();
      d = Date.now();
      b = performance.now();
      if (d !== d0) break;
    }
    if (d === d0) continue;
    const unc = (b - prevA) * 1000;
    if (!best || unc < best.unc) best = { offsetMs: d - (b + prevA) / 2, unc };
  }
  if (!best || best.unc > CAL_MAX_US) {
    clock.failed++;
    return;
  }
  clock.offsetMs = best.offsetMs;
  clock.uncUs = best.unc;
  clock.calibrations++;
  if (clock.first === null) clock.first = best.offsetMs;
  clock.spreadUs = Math.max(clock.spreadUs, Math.abs(best.offsetMs - clock.first) * 1000);
}

function nowUs() {
  return (clock.offsetMs + performance.now()) * 1000;
}

function b64url(x) {
  return Buffer.from(x).toString('base64url');
}

function token(secret, sub) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, iat: now, exp: now + 3600 }));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function httpJson(method, url, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > 64 * 1024 * 1024) req.destroy(new Error(`${url}: answer too large`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`${method} ${url}: ${res.statusCode} ${text}`));
        else {
          try {
            resolve(JSON.parse(text));
          } catch (e) {
            reject(new Error(`${method} ${url}: ${e.message}`));
          }
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

// Nearest-rank percentile of sorted xs.
function pct(xs, p) {
  if (xs.length === 0) return null;
  return xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
}

function stats(values) {
  const xs = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return { n: 0 };
  const r = (x) => Math.round(x);
  return { n: xs.length, min_us: r(xs[0]), p50_us: r(pct(xs, 50)), p90_us: r(pct(xs, 90)),
    p99_us: r(pct(xs, 99)), max_us: r(xs[xs.length - 1]),
    mean_us: r(xs.reduce((a, b) => a + b, 0) / xs.length) };
}

function cpuTimes() {
  // Per core: [busy, total] jiffies from /proc/stat (steal counts as busy).
  try {
    return fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l))
      .map((l) => {
        const f = l.trim().split(/\s+/).slice(1).map(Number);
        const idle = f[3] + (f[4] || 0);
        const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
        return [total - idle, total];
      });
  } catch (e) {
    return [];
  }
}

// pid and its descendants, from /proc/PID/task/TID/children.
function family(pid, out = new Set(), depth = 0) {
  if (out.has(pid) || depth > 8 || out.size > 4096) return out;
  out.add(pid);
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch (e) {
    return out;
  }
  for (const t of tasks) {
    let kids = '';
    try {
      kids = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch (e) {
      continue;
    }
    for (const k of kids.trim().split(/\s+/).filter(Boolean)) family(Number(k), out, depth + 1);
  }
  return out;
}

// user + system ticks of each process of the families of pids (threads included).
function procTicks(pids) {
  const t = new Map();
  for (const root of pids) {
    for (const p of family(root)) {
      try {
        const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        t.set(p, Number(f[11]) + Number(f[12]));
      } catch (e) {
        // gone
      }
    }
  }
  return t;
}

// CPU % of one core used by the processes between two procTicks().
function procPct(a, b, hz, wallMs) {
  let ticks = 0;
  for (const [p, v] of b) ticks += v - (a.get(p) || 0);
  return Math.round(((ticks / hz) * 1000 / wallMs) * 1000) / 10;
}

class User {
  constructor(run, i) {
    this.run = run;
    this.i = i;
    this.sub = `ttfc-${run.o.tag}-u${i}`;
    this.session = crypto.randomUUID();
    this.ws = null;
    this.cur = null;	// the answer of the current round
    this.closed = false;
  }

  open(url, secret) {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      u.searchParams.set('token', token(secret, this.sub));
      const ws = new WebSocket(u.toString(), { perMessageDeflate: false,
        handshakeTimeout: CONNECT_TIMEOUT_MS });
      this.ws = ws;
      let accepted = false;
      ws.on('message', (data, isBinary) => {
        const at = nowUs();
        let f;
        try {
          f = JSON.parse(isBinary ? '' : data.toString('utf8'));
        } catch (e) {
          this.run.error('protocol', `${this.sub}: not JSON: ${String(data).slice(0, 80)}`);
          return;
        }
        if (!accepted) {
          if (f.type === 'connection' && f.status === 'connected') {
            accepted = true;
            resolve();
          } else {
            reject(new Error(`${this.sub}: first frame ${JSON.stringify(f).slice(0, 200)}`));
          }
          return;
        }
        this.frame(f, at);
      });
      ws.on('close', (code, reason) => {
        this.closed = true;
        if (!accepted) reject(new Error(`${this.sub}: closed ${code} ${reason}`));
        else if (!this.run.closing) this.run.error('closed', `${this.sub}: closed ${code} ${reason}`);
        if (this.cur && !this.cur.done) {
          this.cur.failed = `closed ${code}`;
          this.finish();
        }
      });
      ws.on('error', (e) => {
        if (!accepted) reject(e);
      });
    });
  }

  send(round, warm) {
    const marker = `[ttfc ${this.run.o.tag} ${warm ? 'w' : 'r'}${round} u${this.i}]`;
    this.cur = { marker, warm, round, user: this.i, sent_us: 0, user_message_us: null,
      start_us: null, first_chunk_us: null, first_chunk: null, first_chunk_stamp_ms: null,
      chunks: [], text: null,
      done: false, failed: null };
    const msg = JSON.stringify({ type: 'session_message', session_id: this.session,
      message_text: `How can I feel a little calmer before work tomorrow? ${marker}` });
    this.cur.sent_us = nowUs();
    this.ws.send(msg);
  }

  frame(f, at) {
    const a = this.cur;
    if (f.type === 'pong') return;
    if (!a || a.done) {
      this.run.error('unexpected', `${this.sub}: ${f.type} outside an answer`);
      return;
    }
    if (typeof f.timestamp !== 'string') this.run.error('protocol', `${this.sub}: ${f.type} without timestamp`);
    switch (f.type) {
      case 'user_message':
        if (a.user_message_us !== null) this.run.error('protocol', `${this.sub}: two user_message frames`);
        a.user_message_us = at;
        break;
      case 'assistant_message_start':
        if (a.user_message_us === null) this.run.error('protocol', `${this.sub}: start before user_message`);
        a.start_us = at;
        break;
      case 'assistant_message_chunk':
        if (a.start_us === null) this.run.error('protocol', `${this.sub}: chunk before start`);
        if (typeof f.chunk !== 'string' || f.is_complete !== false) {
          this.run.error('protocol', `${this.sub}: bad chunk ${JSON.stringify(f).slice(0, 200)}`);
          break;
        }
        if (a.first_chunk_us === null) {
          a.first_chunk_us = at;
          a.first_chunk = f.chunk;
          a.first_chunk_stamp_ms = Date.parse(f.timestamp);
        }
        a.chunks.push(f.chunk);
        break;
      case 'assistant_message_complete':
        a.text = f.message && typeof f.message.text === 'string' ? f.message.text : null;
        if (a.text === null) this.run.error('protocol', `${this.sub}: complete without text`);
        else if (a.text !== a.chunks.join('')) this.run.error('mismatch', `${this.sub}: chunks differ from the text`);
        this.finish();
        break;
      case 'error':
        a.failed = `error frame: ${f.error || f.code || '?'}: ${f.message}`;
        this.run.error('server', `${this.sub}: ${a.failed}`);
        this.finish();
        break;
      default:
        this.run.error('unexpected', `${this.sub}: unexpected ${f.type}`);
        break;
    }
  }

  finish() {
    if (this.cur.done) return;
    this.cur.done = true;
    this.run.answered(this);
  }
}

class Run {
  constructor(o) {
    this.o = o;
    this.users = [];
    this.answers = [];
    this.errors = { connect: 0, protocol: 0, closed: 0, unexpected: 0, server: 0, timeout: 0,
      mismatch: 0, unmatched: 0 };
    this.messages = [];
    this.closing = false;
    this.pending = 0;
    this.roundDone = null;
  }

  error(kind, msg) {
    this.errors[kind]++;
    if (this.messages.length < 20) this.messages.push(msg);
  }

  answered() {
    this.pending--;
    if (this.pending === 0 && this.roundDone) this.roundDone();
  }

  async connect(secret) {
    for (let i = 0; i < this.o.users; i++) this.users.push(new User(this, i + 1));
    let timer;
    const limit = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('connections: timeout')), CONNECT_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(this.users.map((u) => u.open(this.o.url, secret))), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  // One round: everyone sends at once; wait for every answer or the timeout.
  async round(n, warm) {
    calibrate(5);
    const live = this.users.filter((u) => !u.closed);
    this.pending = live.length;
    const done = new Promise((resolve) => {
      this.roundDone = resolve;
    });
    for (const u of live) u.send(n, warm);
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, this.o.roundTimeoutS * 1000);
    });
    await Promise.race([done, timeout]);
    clearTimeout(timer);
    this.roundDone = null;
    for (const u of live) {
      if (!u.cur.done) {
        u.cur.failed = 'timeout';
        u.cur.done = true;
        this.error('timeout', `${u.sub}: no complete answer within ${this.o.roundTimeoutS} s`);
      }
      if (!warm) this.answers.push(u.cur);
    }
    await new Promise((resolve) => setTimeout(resolve, GAP_MS));
  }

  close() {
    this.closing = true;
    for (const u of this.users) {
      if (u.ws) u.ws.close(1000);
    }
  }
}

/*
 * Pair each answer with the fake's record whose last user message holds
 * its marker, and work out the sample.
 */
function match(run, records) {
  const byMarker = new Map();
  const re = /\[ttfc [A-Za-z0-9-]+ [rw]\d+ u\d+\]/;
  for (const rec of records) {
    let last = '';
    for (const m of rec.messages || []) {
      if (m && m.role === 'user' && typeof m.content === 'string') last = m.content;
    }
    const k = re.exec(last);
    if (!k) continue;
    if (byMarker.has(k[0])) run.error('unmatched', `two model requests for ${k[0]}`);
    byMarker.set(k[0], rec);
  }
  const samples = [];
  for (const a of run.answers) {
    if (a.failed) continue;
    if (a.first_chunk_us === null) {
      run.error('protocol', `${a.marker}: an answer without a chunk`);
      continue;
    }
    const rec = byMarker.get(a.marker);
    if (!rec || !Number.isFinite(rec.first_token_ns)) {
      run.error('unmatched', `no model request with a first token for ${a.marker}`);
      continue;
    }
    if (typeof rec.text_sent !== 'string' || !rec.text_sent.startsWith(a.first_chunk)) {
      run.error('mismatch', `${a.marker}: the first chunk is not what the model sent first`);
      continue;
    }
    if (a.text !== null && a.text !== rec.text_sent) {
      run.error('mismatch', `${a.marker}: the answer differs from what the model sent`);
      continue;
    }
    const first = rec.first_token_ns / 1000, started = rec.started_ns / 1000;
    samples.push({
      round: a.round, user: a.user,
      gateway_us: a.first_chunk_us - first,
      // The handler's own stamp on the frame: whole ms, so within 1 ms.
      to_handler_stamp_us: Number.isFinite(a.first_chunk_stamp_ms) ?
        a.first_chunk_stamp_ms * 1000 - first : null,
      from_handler_stamp_us: Number.isFinite(a.first_chunk_stamp_ms) ?
        a.first_chunk_us - a.first_chunk_stamp_ms * 1000 : null,
      visible_us: a.first_chunk_us - a.sent_us,
      to_user_message_us: a.user_message_us - a.sent_us,
      to_model_us: started - a.sent_us,
      model_us: first - started,
    });
  }
  return samples;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const secret = process.env.TTFC_JWT_SECRET;
  if (!secret) usage('TTFC_JWT_SECRET is not set');
  const fake = o.fake.replace(/\/+$/, '');
  const totalS = (o.rounds + o.warmup) * (o.roundTimeoutS + 1) + 120;
  setTimeout(() => {
    process.stderr.write(`client.js: the run passed its deadline of ${totalS} s\n`);
    process.exit(3);
  }, totalS * 1000).unref();

  const run = new Run(o);
  calibrate(50);
  if (clock.calibrations === 0) {
    process.stderr.write(`client.js: could not tie performance.now() to Date.now() within ${CAL_MAX_US} us\n`);
    process.exit(1);
  }
  await httpJson('DELETE', `${fake}/_fake/requests`, 5000);
  try {
    await run.connect(secret);
  } catch (e) {
    process.stderr.write(`client.js: ${e.message}\n`);
    run.close();
    process.exit(1);
  }
  for (let w = 1; w <= o.warmup; w++) await run.round(w, true);
  const stack0 = procTicks(o.stackPids), fake0 = procTicks(o.fakePids);
  const cpu0 = process.cpuUsage(), cores0 = cpuTimes(), t0 = performance.now();
  for (let r = 1; r <= o.rounds; r++) await run.round(r, false);
  const cpu = process.cpuUsage(cpu0), cores1 = cpuTimes(), wallMs = performance.now() - t0;
  const stack1 = procTicks(o.stackPids), fake1 = procTicks(o.fakePids);
  run.close();
  const records = await httpJson('GET', `${fake}/_fake/requests`, 10000);
  const samples = match(run, records);

  const col = (k) => samples.map((s) => s[k]);
  const nerr = Object.values(run.errors).reduce((a, b) => a + b, 0);
  const out = {
    label: o.label, users: o.users, rounds: o.rounds, warmup_rounds: o.warmup,
    expected: o.users * o.rounds, samples: samples.length,
    gateway: stats(col('gateway_us')),
    to_handler_stamp: stats(col('to_handler_stamp_us')),
    from_handler_stamp: stats(col('from_handler_stamp_us')),
    visible: stats(col('visible_us')),
    parts_p50_us: {
      to_user_message: stats(col('to_user_message_us')).p50_us,
      to_model: stats(col('to_model_us')).p50_us,
      model: stats(col('model_us')).p50_us,
      gateway: stats(col('gateway_us')).p50_us,
    },
    negative_gateway: samples.filter((s) => s.gateway_us < 0).length,
    negative_to_model: samples.filter((s) => s.to_model_us < 0).length,
    duration_s: Math.round(wallMs) / 1000,
    client_cpu_pct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
    stack_cpu_pct: o.stackPids.length ? procPct(stack0, stack1, o.hz, wallMs) : null,
    stack_processes: stack1.size,
    fake_cpu_pct: o.fakePids.length ? procPct(fake0, fake1, o.hz, wallMs) : null,
    cores_busy_pct: cores1.map((c, i) => {
      const d = cores0[i] ? c[1] - cores0[i][1] : 0;
      return d > 0 ? Math.round(((c[0] - cores0[i][0]) / d) * 1000) / 10 : null;
    }),
    clock: { calibrations: clock.calibrations, failed: clock.failed,
      spread_us: Math.round(clock.spreadUs * 10) / 10 },
    errors: nerr, error_detail: run.errors, error_messages: run.messages,
  };
  if (o.samples) {
    fs.writeFileSync(o.samples, samples.map((s) => JSON.stringify(Object.assign({ label: o.label }, s)))
      .join('\n') + '\n');
  }
  const complete = samples.length === o.users * o.rounds;
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(nerr === 0 && complete ? 0 : 2));
}

main().catch((e) => {
  process.stderr.write(`client.js: ${e.stack || e.message}\n`);
  process.exit(1);
});
