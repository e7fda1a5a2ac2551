// report.js: the time-to-first-chunk benchmark's summaries.
//   node report.js line < LINE         one line about one client.js result
//   node report.js summary FILE.jsonl  the plain-text summary: per run and
//                                      medians over runs, both scenarios,
//                                      the ratio, the parts, the machine
'use strict';

const fs = require('fs');
const { median } = require('../stats');

// Microseconds as milliseconds, two decimals.
function ms(us) {
  return Number.isFinite(us) ? (us / 1000).toFixed(2) : '-';
}

function pad(s, n, left) {
  s = String(s);
  return left ? s.padEnd(n) : s.padStart(n);
}

function line() {
  const r = JSON.parse(fs.readFileSync(0, 'utf8').trim());
  const g = r.gateway || {};
  const p = r.parts_p50_us || {};
  process.stdout.write(`run ${r.run} ${r.label}: ${r.samples}/${r.expected} samples, ` +
    `gateway p50 ${ms(g.p50_us)} p90 ${ms(g.p90_us)} p99 ${ms(g.p99_us)} max ${ms(g.max_us)} ms; ` +
    `visible p50 ${ms((r.visible || {}).p50_us)} ms = to model ${ms(p.to_model)} + model ${ms(p.model)} + ` +
    `gateway ${ms(p.gateway)}; CPU % stack ${r.stack_cpu_pct} fake ${r.fake_cpu_pct} ` +
    `client ${r.client_cpu_pct}, cores busy ${(r.cores_busy_pct || []).join('/')}; errors ${r.errors}` +
    `${r.errors ? ` ${JSON.stringify(r.error_detail)}` : ''}\n`);
  for (const m of r.error_messages || []) process.stdout.write(`  ${m}\n`);
}

// Fill words into lines of at most width columns.
function wrap(text, width = 78) {
  const out = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (cur && cur.length + 1 + w.length > width) {
      out.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) out.push(cur);
  return out;
}

/*
 * How busy each of the two cores was beyond our own processes: the stack
 * on the server CPU, the client on the load CPU, the fake model on its.
 */
function others(r, m) {
  const busy = r.cores_busy_pct || [];
  const sc = Number(m.server_cpu), lc = Number(m.load_cpu), fc = Number(m.fake_cpu);
  if (sc === lc || busy.length <= Math.max(sc, lc)) return [NaN, NaN];
  const own = (c) => (c === sc ? r.stack_cpu_pct : 0) + (c === lc ? r.client_cpu_pct : 0) +
    (c === fc ? r.fake_cpu_pct : 0);
  return [sc, lc].map((c) => Math.max(0, busy[c] - own(c)));
}

function summary(file) {
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const m = rows.find((r) => r.meta) || {};
  const results = rows.filter((r) => !r.meta);
  const labels = ['concurrent', 'baseline'].filter((l) => results.some((r) => r.label === l));
  const streams = (l) => (l === 'concurrent' ? Number(m.users) : 1);
  const name = (l) => `${streams(l)} stream${streams(l) === 1 ? '' : 's'}`;
  const keys = ['p50_us', 'p90_us', 'p99_us', 'max_us'];
  const med = {};
  const o = [];

  const prose = (t) => o.push(...wrap(t));
  prose('Time to first chunk added by the gateway: for each streamed answer, the wall-clock ' +
    'time its first assistant_message_chunk reached the client, minus the fake model ' +
    'server\'s first_token_ns for that request (taken right after it wrote the first ' +
    'content token); both CLOCK_REALTIME on the same machine. The gateway is the chat ' +
    'handler (libcurl, the SSE parser, FastCGI out) and the router (FastCGI in, WebSocket ' +
    'out), with both loopback hops.');
  o.push('');
  prose(`Concurrent: ${m.users} users, one connection each, all sending a session_message at ` +
    `the same moment; ${m.rounds} rounds per run (${Number(m.users) * Number(m.rounds)} samples) ` +
    `after ${m.warmup} warmup round(s). Baseline: 1 user, ${m.base_rounds} rounds per run. ` +
    `Fake model (tools/wsrouter-fakellm, OpenAI format): ${m.tokens} tokens at ${m.tps} ` +
    `tokens/s, the first after ${m.first_token_delay_ms} ms. ${m.runs} run(s), the two ` +
    'scenarios in alternating order, each on a fresh router, handler and fake model; one ' +
    'PostgreSQL cluster for the session. ' +
    `Router, chat handler (${m.handler_threads} threads, pool concurrency ${m.pool_concurrency}, ` +
    `keepalive ${m.keepalive}) and PostgreSQL on CPU ${m.server_cpu}; the client (Node, ws) on ` +
    `CPU ${m.load_cpu}; the fake model on CPU ${m.fake_cpu}` +
    `${m.nice && m.nice !== '0' ? `; all of them at nice ${m.nice}` : ''}.`);
  o.push('');
  o.push('Gateway time to first chunk, ms:');
  o.push('');
  o.push(`${pad('', 22, true)}${pad('samples', 8)}${pad('p50', 9)}${pad('p90', 9)}${pad('p99', 9)}` +
    `${pad('max', 9)}${pad('errors', 8)}`);
  for (const l of labels) {
    const rs = results.filter((r) => r.label === l);
    for (const r of rs) {
      const g = r.gateway || {};
      o.push(`${pad(`${name(l)}, run ${r.run}`, 22, true)}${pad(`${r.samples}`, 8)}` +
        `${keys.map((k) => pad(ms(g[k]), 9)).join('')}${pad(r.errors, 8)}`);
    }
    const clean = rs.filter((r) => r.errors === 0 && r.samples === r.expected);
    const use = clean.length > 0 ? clean : rs;
    med[l] = {};
    for (const k of keys) med[l][k] = median(use.map((r) => (r.gateway || {})[k]));
    for (const k of ['to_user_message', 'to_model', 'model', 'gateway'])
      med[l][k] = median(use.map((r) => (r.parts_p50_us || {})[k]));
    med[l].visible = median(use.map((r) => (r.visible || {}).p50_us));
    for (const k of ['to_handler_stamp', 'from_handler_stamp'])
      med[l][k] = ['p50_us', 'p99_us', 'max_us'].map((q) => median(use.map((r) => (r[k] || {})[q])));
    med[l].negative = use.reduce((n, r) => n + (r.negative_gateway || 0), 0);
    med[l].negModel = use.reduce((n, r) => n + (r.negative_to_model || 0), 0);
    med[l].spread = Math.max(...use.map((r) => (r.clock || {}).spread_us || 0));
    med[l].stack = median(use.map((r) => r.stack_cpu_pct));
    med[l].client = median(use.map((r) => r.client_cpu_pct));
    med[l].fake = median(use.map((r) => r.fake_cpu_pct));
    med[l].others = [0, 1].map((i) => median(use.map((r) => others(r, m)[i])));
    o.push(`${pad(`${name(l)}, median of ${use.length}`, 22, true)}${pad('', 8)}` +
      `${keys.map((k) => pad(ms(med[l][k]), 9)).join('')}` +
      `${pad(rs.reduce((n, r) => n + r.errors, 0), 8)}`);
    o.push('');
  }
  const few = labels.filter((l) => results.some((r) => r.label === l && r.samples > 0 && r.samples < 100));
  if (few.length > 0) {
    prose(`With fewer than 100 samples in a run (${few.map(name).join(', ')}), its p99 is its max.`);
    o.push('');
  }
  if (med.concurrent && med.baseline) {
    o.push(`${pad(`ratio ${name('concurrent')} / 1`, 22, true)}${pad('', 8)}` +
      `${keys.map((k) => pad(`${(med.concurrent[k] / med.baseline[k]).toFixed(1)}x`, 9)).join('')}`);
    o.push('');
  }
  o.push('User-visible time to first chunk (send to first chunk), p50, ms, and its parts');
  o.push('(medians over runs of each part\'s p50, so the parts need not add up exactly):');
  o.push('');
  o.push(`${pad('', 12, true)}${pad('send->', 10)}${pad('send->', 10)}${pad('model', 10)}${pad('gateway', 10)}` +
    `${pad('visible', 10)}`);
  o.push(`${pad('', 12, true)}${pad('user_msg', 10)}${pad('model req', 10)}${pad('1st token', 10)}` +
    `${pad('', 10)}${pad('total', 10)}`);
  for (const l of labels) {
    const x = med[l];
    o.push(`${pad(name(l), 12, true)}${pad(ms(x.to_user_message), 10)}${pad(ms(x.to_model), 10)}` +
      `${pad(ms(x.model), 10)}${pad(ms(x.gateway), 10)}${pad(ms(x.visible), 10)}`);
  }
  o.push('');
  prose('The gateway time split at the timestamp the handler puts on the first chunk\'s ' +
    'frame (whole milliseconds, so each part is within 1 ms), p50 / p99 / max, ms (medians ' +
    'over runs): first token to the handler\'s stamp (libcurl, the parser, the frame), and ' +
    'the stamp to the client (FastCGI out, the router, WebSocket out, the client).');
  o.push('');
  for (const l of labels) {
    const x = med[l];
    o.push(`${pad(name(l), 12, true)}to the handler ${x.to_handler_stamp.map(ms).join(' / ')}; ` +
      `from it ${x.from_handler_stamp.map(ms).join(' / ')}`);
  }
  o.push('');
  prose('send->user_msg: the router, the handler storing the message in PostgreSQL, and ' +
    'back. send->model req: until the fake model had the whole request: the above, the ' +
    'safety check, the history query and libcurl\'s request. model: the fake model\'s ' +
    'own first-token delay.');
  o.push('');
  o.push('CPU, % of one core over the measured rounds (medians over runs): ours, and');
  o.push('what others used on the same cores (other processes, softirq, steal):');
  o.push('');
  o.push(`${pad('', 12, true)}${pad('stack', 8)}${pad('client', 8)}${pad('fake', 8)}` +
    `${pad(`others CPU ${m.server_cpu}`, 14)}${pad(`others CPU ${m.load_cpu}`, 14)}`);
  for (const l of labels) {
    const x = med[l];
    const f = (v) => (Number.isFinite(v) ? v.toFixed(0) : '-');
    o.push(`${pad(name(l), 12, true)}${pad(f(x.stack), 8)}${pad(f(x.client), 8)}${pad(f(x.fake), 8)}` +
      `${pad(f(x.others[0]), 14)}${pad(f(x.others[1]), 14)}`);
  }
  o.push('');
  o.push('Clock checks (all runs): samples with a negative gateway time, or a model');
  o.push('request before the send; the largest change of the client\'s calibration of');
  o.push('performance.now() against the realtime clock within a run.');
  o.push('');
  for (const l of labels) {
    o.push(`${pad(name(l), 12, true)}gateway < 0: ${med[l].negative}, model request before the send: ` +
      `${med[l].negModel}, calibration drift: ${med[l].spread.toFixed(1)} us`);
  }
  o.push('');
  prose(`Versions: wsrouter ${m.wsrouter_version} (git ${m.wsrouter_rev}, CFLAGS ${m.cflags}` +
    `${m.debug === 'yes' ? ', DEBUG BUILD -O0' : ''}), libwebsockets ${m.libwebsockets}, ` +
    `libfcgi ${m.libfcgi}, libcurl ${m.libcurl}, PostgreSQL ${m.postgres}, Node ${m.node}, ws ${m.ws}, ` +
    `Python ${m.python}, Linux ${m.kernel}, ${m.ncpu} x ${m.cpu}. ` +
    `Load average before: ${m.loadavg_before}. Date: ${m.date}.`);
  process.stdout.write(`${o.join('\n')}\n`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'line') line();
else if (cmd === 'summary' && args[0]) summary(args[0]);
else {
  process.stderr.write('usage: report.js line < LINE | summary FILE.jsonl\n');
  process.exit(1);
}
