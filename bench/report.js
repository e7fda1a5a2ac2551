// report.js: the benchmark's bookkeeping.
//   node report.js meta KEY=VALUE...  one {"meta":true,...} JSON line
//   node report.js line RUN < LINE    a one-line summary of a loadgen result
//   node report.js table FILE.jsonl   the markdown table: medians per server,
//                                     ratios against node-ws, every run
'use strict';

const fs = require('fs');
const { median, fmt } = require('./stats');

const REF = 'node-ws';

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fmt(a / b, 2)}×` : '–';
}

function split(r) {
  const each = r.server_cpu_s_each || [];
  if (each.length === 2 && r.msgs > 0) {
    const k = 100000 / r.msgs;
    return `router ${fmt(each[0] * k, 2)} + handler ${fmt(each[1] * k, 2)}`;
  }
  return '';
}

// CPU time others used on the server's and on the load generator's core.
function others(r, m) {
  const busy = r.cores_busy_pct || [];
  const sc = Number(m.server_cpu), lc = Number(m.load_cpu);
  if (busy.length <= Math.max(sc, lc) || sc === lc) return [NaN, NaN];
  return [Math.max(0, busy[sc] - r.server_cpu_pct), Math.max(0, busy[lc] - r.client_cpu_pct)];
}

function meta(args) {
  const m = { meta: true };
  for (const a of args) {
    const i = a.indexOf('=');
    if (i > 0) m[a.slice(0, i)] = a.slice(i + 1);
  }
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

function line(run) {
  const r = JSON.parse(fs.readFileSync(0, 'utf8').trim());
  process.stdout.write(`run ${run} ${r.server}: ${fmt(r.msgs_per_s)} msgs/s, ` +
    `rtt p50 ${fmt(r.rtt_p50_us)} us p99 ${fmt(r.rtt_p99_us)} us max ${fmt(r.rtt_max_us)} us, ` +
    `server ${fmt(r.server_cpu_s_per_100k_msgs, 2)} CPU s/100k msgs (${fmt(r.server_cpu_pct)}% of a core), ` +
    `loadgen ${fmt(r.client_cpu_pct)}%, cores busy ${(r.cores_busy_pct || []).map((x) => fmt(x)).join('/')}%, ` +
    `errors ${r.errors}\n`);
}

function table(file) {
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const m = rows.find((r) => r.meta) || {};
  const results = rows.filter((r) => !r.meta);
  const servers = [...new Set(results.map((r) => r.server))];
  const med = {};
  // A run with errors (a crash, busy answers) measured something else:
  // the medians use the clean runs when there are any.
  for (const s of servers) {
    const all = results.filter((r) => r.server === s);
    const clean = all.filter((r) => r.errors === 0 && r.complete);
    const rs = clean.length > 0 ? clean : all;
    const pick = (k) => median(rs.map((r) => r[k]));
    med[s] = {
      runs: `${clean.length}/${all.length}`,
      msgs_per_s: pick('msgs_per_s'),
      p50: pick('rtt_p50_us'),
      p99: pick('rtt_p99_us'),
      max: pick('rtt_max_us'),
      cpu100k: pick('server_cpu_s_per_100k_msgs'),
      srvpct: pick('server_cpu_pct'),
      cli: pick('client_cpu_pct'),
      other0: median(rs.map((r) => others(r, m)[0])),
      other1: median(rs.map((r) => others(r, m)[1])),
      errors: all.reduce((n, r) => n + (r.errors || 0), 0),
    };
  }
  const ref = med[REF];
  const o = [];
  o.push(`Echo: ${m.conns} connections, closed loop, ${m.msg_size}-byte text messages, ` +
    `${m.duration} s measured after ${m.warmup} s warmup, ${m.runs} runs per server, ` +
    'medians of the runs without errors ("clean"; errors are summed over all runs). ' +
    `Server on CPU ${m.server_cpu}, load generator on CPU ${m.load_cpu}.`);
  o.push('');
  o.push('| server | clean runs | msgs/s | vs node-ws | RTT p50 µs | RTT p99 µs | RTT max µs | server CPU s per 100k msgs | vs node-ws | server CPU % | loadgen CPU % | others on the server / loadgen CPU % | errors |');
  o.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const s of servers) {
    const x = med[s];
    o.push(`| ${s} | ${x.runs} | ${fmt(x.msgs_per_s)} | ${ref ? ratio(x.msgs_per_s, ref.msgs_per_s) : '–'} | ` +
      `${fmt(x.p50)} | ${fmt(x.p99)} | ${fmt(x.max)} | ${fmt(x.cpu100k, 2)} | ` +
      `${ref ? ratio(x.cpu100k, ref.cpu100k) : '–'} | ${fmt(x.srvpct)} | ${fmt(x.cli)} | ` +
      `${fmt(x.other0)} / ${fmt(x.other1)} | ${x.errors} |`);
  }
  o.push('');
  o.push('Every run, in the order run:');
  o.push('');
  o.push('| # | server | msgs/s | RTT p50 µs | RTT p99 µs | RTT max µs | CPU s per 100k msgs | of which | server CPU % | others on the server / loadgen CPU % | errors |');
  o.push('|--:|---|--:|--:|--:|--:|--:|---|--:|--:|--:|');
  results.forEach((r, i) => {
    const [o0, o1] = others(r, m);
    o.push(`| ${i + 1} | ${r.server} | ${fmt(r.msgs_per_s)} | ${fmt(r.rtt_p50_us)} | ${fmt(r.rtt_p99_us)} | ` +
      `${fmt(r.rtt_max_us)} | ${fmt(r.server_cpu_s_per_100k_msgs, 2)} | ${split(r)} | ${fmt(r.server_cpu_pct)} | ` +
      `${fmt(o0)} / ${fmt(o1)} | ${r.errors} |`);
  });
  o.push('');
  o.push(`Versions: wsrouter ${m.wsrouter_version} (git ${m.wsrouter_rev}, CFLAGS ${m.cflags}), ` +
    `libwebsockets ${m.libwebsockets}, libfcgi ${m.libfcgi}, Node ${m.node}, ws ${m.ws}, ` +
    `Linux ${m.kernel}, ${m.ncpu} × ${m.cpu}. Echo handler: ${m.handler_threads} threads, ` +
    `pool concurrency ${m.pool_concurrency}. Load average before: ${m.loadavg_before}. Date: ${m.date}.`);
  process.stdout.write(`${o.join('\n')}\n`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'meta') meta(args);
else if (cmd === 'line') line(args[0] || '?');
else if (cmd === 'table' && args[0]) table(args[0]);
else {
  process.stderr.write('usage: report.js meta K=V... | line RUN < LINE | table FILE.jsonl\n');
  process.exit(1);
}
