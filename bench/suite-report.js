// suite-report.js: the benchmark suite's tables, from its JSON lines.
//   node suite-report.js brief < FILE.jsonl   one line on the last result
//   node suite-report.js table FILE.jsonl     the markdown: one table per
//                                             scenario with ratios against
//                                             node-ws, then the targets
'use strict';

const fs = require('fs');
const { median, fmt } = require('./stats');

const REF = 'node-ws';

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

function fratio(a, b) {
  const r = ratio(a, b);
  return Number.isFinite(r) ? `${fmt(r, 2)}×` : '–';
}

function load(file) {
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  return { meta: rows.find((r) => r.meta) || {}, results: rows.filter((r) => !r.meta) };
}

// A run is clean when it finished without errors; the medians use the
// clean runs when there are any (a crashed run measured something else).
function medians(results, kase, keys) {
  const out = {};
  const servers = [...new Set(results.filter((r) => r.case === kase).map((r) => r.server))];
  for (const s of servers) {
    const all = results.filter((r) => r.case === kase && r.server === s);
    const clean = all.filter((r) => r.errors === 0 && r.complete);
    const rs = clean.length > 0 ? clean : all;
    const x = { clean: clean.length, runs: all.length, errors: all.reduce((n, r) => n + (r.errors || 0), 0) };
    for (const k of keys) x[k] = median(rs.map((r) => r[k]));
    out[s] = x;
  }
  return out;
}

function brief() {
  const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.trim());
  const r = JSON.parse(lines[lines.length - 1]);
  let what = '';
  if (r.scenario === 'echo') {
    what = `${fmt(r.msgs_per_s)} msgs/s, rtt p50 ${fmt(r.rtt_p50_us)} p99 ${fmt(r.rtt_p99_us)} us, ` +
      `${fmt(r.server_cpu_s_per_100k_msgs, 2)} CPU s/100k msgs`;
  } else if (r.scenario === 'stream') {
    what = `${r.streams_done}/${r.streams} streams, ${fmt(r.tokens_per_s)} tokens/s, added latency ` +
      `p50 ${fmt(r.lat_p50_us)} p99 ${fmt(r.lat_p99_us)} max ${fmt(r.lat_max_us)} us, ` +
      `${fmt(r.server_cpu_s_per_100k_tokens, 2)} CPU s/100k tokens`;
  } else if (r.scenario === 'idle') {
    what = `${r.conns_held}/${r.conns} held, ${fmt(r.server_rss_bytes_per_conn)} B RSS and ` +
      `${fmt(r.server_pss_bytes_per_conn)} B PSS per connection, pongs ${r.pongs}/${r.pings_sent}`;
  }
  process.stdout.write(`  ${r.case || r.scenario} ${r.server} run ${r.run}: ${what}, ` +
    `server ${fmt(r.server_cpu_pct)}% loadgen ${fmt(r.client_cpu_pct)}%, errors ${r.errors}\n`);
}

function table(file) {
  const { meta: m, results } = load(file);
  const o = [];
  const yes = (b) => (b ? '**met**' : '**missed**');
  const targets = [];

  // Echo.
  const echo = medians(results, 'echo', ['msgs_per_s', 'rtt_p50_us', 'rtt_p99_us', 'rtt_max_us',
    'server_cpu_s_per_100k_msgs', 'server_cpu_pct', 'client_cpu_pct']);
  if (Object.keys(echo).length > 0) {
    const ref = echo[REF] || {};
    o.push(`### echo: ${m.echo_conns} connections, closed loop, 64-byte text, ${m.echo_secs} s after 1 s warmup`);
    o.push('');
    o.push('| server | clean runs | msgs/s | vs node-ws | RTT p50 µs | RTT p99 µs | vs node-ws | RTT max µs | server CPU s per 100k msgs | vs node-ws | server CPU % | loadgen CPU % | errors |');
    o.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const [s, x] of Object.entries(echo)) {
      o.push(`| ${s} | ${x.clean}/${x.runs} | ${fmt(x.msgs_per_s)} | ${fratio(x.msgs_per_s, ref.msgs_per_s)} | ` +
        `${fmt(x.rtt_p50_us)} | ${fmt(x.rtt_p99_us)} | ${fratio(x.rtt_p99_us, ref.rtt_p99_us)} | ${fmt(x.rtt_max_us)} | ` +
        `${fmt(x.server_cpu_s_per_100k_msgs, 2)} | ${fratio(x.server_cpu_s_per_100k_msgs, ref.server_cpu_s_per_100k_msgs)} | ` +
        `${fmt(x.server_cpu_pct)} | ${fmt(x.client_cpu_pct)} | ${x.errors} |`);
    }
    o.push('');
    const w = echo.wsrouter || {};
    const rn = ratio(w.msgs_per_s, ref.msgs_per_s);
    const rd = ratio(w.msgs_per_s, (echo.websocketd || {}).msgs_per_s);
    targets.push(['echo msgs/s', '≥ 1.0× node-ws and ≥ 2× websocketd',
      `${fmt(rn, 2)}× node-ws, ${fmt(rd, 2)}× websocketd`, rn >= 1 && rd >= 2]);
    const rp = ratio(w.rtt_p99_us, ref.rtt_p99_us);
    targets.push(['echo p99 round trip', '≤ 1.0× node-ws', `${fmt(rp, 2)}× (${fmt(w.rtt_p99_us)} µs)`, rp <= 1]);
  }

  // Stream and its burst variant.
  for (const kase of ['stream', 'stream-burst']) {
    const st = medians(results, kase, ['streams_done', 'streams', 'tokens_per_s', 'lat_p50_us', 'lat_p99_us',
      'lat_max_us', 'first_p99_us', 'gap_p99_us', 'server_cpu_s_per_100k_tokens', 'server_cpu_pct']);
    if (Object.keys(st).length === 0) continue;
    const ref = st[REF] || {};
    o.push(`### ${kase}: ${m.stream_streams} streams × ${m.stream_tokens} tokens at ${m.stream_rate} tokens/s, ` +
      `requests spread over ${kase === 'stream' ? '1 s' : '20 ms'}`);
    o.push('');
    o.push('Added latency: the client\'s CLOCK_MONOTONIC when a token arrives minus the server\'s just before it wrote it.');
    o.push('');
    o.push('| server | clean runs | streams done | tokens/s | added latency p50 µs | p99 µs | max µs | first token p99 µs | token gap p99 µs | server CPU s per 100k tokens | vs node-ws | server CPU % | errors |');
    o.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const [s, x] of Object.entries(st)) {
      o.push(`| ${s} | ${x.clean}/${x.runs} | ${fmt(x.streams_done)}/${fmt(x.streams)} | ${fmt(x.tokens_per_s)} | ` +
        `${fmt(x.lat_p50_us)} | ${fmt(x.lat_p99_us)} | ${fmt(x.lat_max_us)} | ${fmt(x.first_p99_us)} | ${fmt(x.gap_p99_us)} | ` +
        `${fmt(x.server_cpu_s_per_100k_tokens, 2)} | ${fratio(x.server_cpu_s_per_100k_tokens, ref.server_cpu_s_per_100k_tokens)} | ` +
        `${fmt(x.server_cpu_pct)} | ${x.errors} |`);
    }
    o.push('');
    const w = st.wsrouter || {};
    if (kase === 'stream') {
      const rc = ratio(w.server_cpu_s_per_100k_tokens, ref.server_cpu_s_per_100k_tokens);
      targets.push(['stream: server CPU per 100k tokens', '≤ 0.5× node-ws',
        `${fmt(rc, 2)}× (${fmt(w.server_cpu_s_per_100k_tokens, 2)} s against ${fmt(ref.server_cpu_s_per_100k_tokens, 2)})`, rc <= 0.5]);
      targets.push(['stream: added token latency p99', '≤ 0.25 ms', `${fmt(w.lat_p99_us / 1000, 3)} ms`, w.lat_p99_us <= 250]);
    } else {
      const all = results.filter((r) => r.case === kase && r.server === 'wsrouter');
      const done = all.every((r) => r.streams_done === r.streams && r.errors === 0);
      targets.push(['stream-burst: every stream completes', 'all', `${all.map((r) => `${r.streams_done}/${r.streams}`).join(', ')}`, all.length > 0 && done]);
    }
  }

  // Idle.
  const idle = medians(results, 'idle', ['conns_held', 'conns', 'server_rss_bytes_per_conn',
    'server_pss_bytes_per_conn', 'server_rss_kb', 'pongs', 'pings_sent', 'pong_p99_us']);
  if (Object.keys(idle).length > 0) {
    const ref = idle[REF] || {};
    o.push(`### idle: ${m.idle_conns} connections held 5 s, each pinged`);
    o.push('');
    o.push('Memory: the server\'s process trees (/proc/PID/smaps_rollup) at the end of the hold minus before the first connection, per connection held.');
    o.push('');
    o.push('| server | held | RSS per connection, bytes | vs node-ws | PSS per connection, bytes | vs node-ws | server RSS, MiB | pongs / pings | pong p99 µs | errors |');
    o.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const [s, x] of Object.entries(idle)) {
      o.push(`| ${s} | ${fmt(x.conns_held)}/${fmt(x.conns)} | ${fmt(x.server_rss_bytes_per_conn)} | ` +
        `${fratio(x.server_rss_bytes_per_conn, ref.server_rss_bytes_per_conn)} | ${fmt(x.server_pss_bytes_per_conn)} | ` +
        `${fratio(x.server_pss_bytes_per_conn, ref.server_pss_bytes_per_conn)} | ${fmt(x.server_rss_kb / 1024, 1)} | ` +
        `${fmt(x.pongs)} / ${fmt(x.pings_sent)} | ${fmt(x.pong_p99_us)} | ${x.errors} |`);
    }
    o.push('');
    const w = idle.wsrouter || {};
    const rr = ratio(w.server_rss_bytes_per_conn, ref.server_rss_bytes_per_conn);
    targets.push(['idle: RSS per connection', '≤ 0.5× node-ws (about 3 KB)',
      `${fmt(rr, 2)}× (${fmt(w.server_rss_bytes_per_conn)} B against ${fmt(ref.server_rss_bytes_per_conn)} B)`, rr <= 0.5]);
  }

  // Scale: the load generators' lines summed.
  const sc = results.filter((r) => r.case === 'scale');
  if (sc.length > 0) {
    const sum = (k) => sc.reduce((n, r) => n + (Number(r[k]) || 0), 0);
    const held = sum('conns_held');
    const pings = sum('pings_sent');
    const pongs = sum('pongs');
    const errors = sum('errors');
    const est = Math.max(...sc.map((r) => r.established_seen || 0));
    const rss = Math.max(...sc.map((r) => r.server_rss_kb || 0));
    o.push(`### scale: ${m.scale_conns} idle connections, ${m.scale_routers} router processes on one port (SO_REUSEPORT), ${m.scale_clients} load generators`);
    o.push('');
    o.push('| connections asked | held to the end | established (ss, mid-hold) | pongs / pings | pong p99 µs (worst client) | routers and handler RSS, MiB | errors |');
    o.push('|--:|--:|--:|--:|--:|--:|--:|');
    o.push(`| ${fmt(sum('conns'))} | ${fmt(held)} | ${fmt(est)} | ${fmt(pongs)} / ${fmt(pings)} | ` +
      `${fmt(Math.max(...sc.map((r) => r.pong_p99_us || 0)))} | ${fmt(rss / 1024, 1)} | ${errors} |`);
    o.push('');
    targets.push(['scale: concurrent idle connections, pings answered', '≥ 60,000',
      `${fmt(held)} held, ${fmt(pongs)} of ${fmt(pings)} pings answered`, held >= 60000 && pongs === pings && errors === 0]);
  }

  const head = [];
  head.push('### targets');
  head.push('');
  head.push('| figure | must reach | measured | |');
  head.push('|---|---|---|---|');
  for (const [f, t, v, ok] of targets) head.push(`| ${f} | ${t} | ${v} | ${yes(ok)} |`);
  head.push('');
  o.push(`Versions: wsrouter ${m.wsrouter_version} (git ${m.wsrouter_rev}, CFLAGS ${m.cflags}), ` +
    `libwebsockets ${m.libwebsockets}, libfcgi ${m.libfcgi}, Node ${m.node}, ws ${m.ws}, socket.io ${m.socketio}, ` +
    `websocketd ${m.websocketd}, Pushpin ${m.pushpin}, Linux ${m.kernel}, ${m.ncpu} × ${m.cpu}, ` +
    `open file limit ${m.nofile}. Servers on CPU ${m.server_cpu}, load generators on CPU ${m.load_cpu}. ` +
    `${m.runs} runs of echo and stream per server (medians of the clean ones), one of idle and scale. ` +
    `Load average before: ${m.loadavg_before}. Date: ${m.date}${m.quick === 'yes' ? ' (quick mode: not a measurement)' : ''}.`);
  process.stdout.write(`${head.concat(o).join('\n')}\n`);
}

const [cmd, arg] = process.argv.slice(2);
if (cmd === 'brief') brief();
else if (cmd === 'table' && arg) table(arg);
else {
  process.stderr.write('usage: suite-report.js brief < FILE.jsonl | table FILE.jsonl\n');
  process.exit(1);
}
