'use strict';
// hygiene.js: the router's security and operational hygiene: handshake
// refusals (h2c, origins, versions, keys, paths), keep-alive pings, the
// idle timeout, loopback-only listeners, `wsrouter -t`, secrets kept out
// of the log, the SIGTERM drain and the SIGHUP reload.

const h = require('../integration/harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');
const child_process = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const { RawWs, OP, httpExchange, upgradeRequest, poolConf, survives } = require('./rawws');

const echoEndpoint = (s, extra = '') => poolConf(s, 'echo') + `
endpoint /ws {
	route $default echo
${extra}}
`;

function basic(globals = {}, extra = {}) {
	return Object.assign({
		pools: { echo: { workers: 2 } },
		globals,
		config: (s) => echoEndpoint(s),
	}, extra);
}

// Send a raw request; return the response (its socket destroyed).
async function exchange(s, text) {
	const r = await httpExchange(s.port, text);
	r.sock.destroy();
	return r;
}

// The upgrade request was refused with status, never upgraded.
async function refused(s, headers, status, p = '/ws') {
	const r = await exchange(s, upgradeRequest(s.port, p, headers).text);
	assert.strictEqual(r.status, status,
	    `${JSON.stringify(headers)}: expected ${status}, got ${r.statusLine}`);
	assert.match(r.statusLine, /^HTTP\/1\.1 /, 'status line');
	assert.ok(!('sec-websocket-accept' in r.headers), 'a refusal carries an accept key');
	return r;
}

/* ---- handshake refusals ---- */

const H2_SETTINGS = 'AAMAAABkAARAAAAAAAIAAAAA';

h.stackTest('an h2c upgrade is refused, never switched to HTTP/2', basic(), async (s) => {
	const reqs = [
		`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n` +
		    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
		    `HTTP2-Settings: ${H2_SETTINGS}\r\n\r\n`,
		`GET / HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n` +
		    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
		    `HTTP2-Settings: ${H2_SETTINGS}\r\n\r\n`,
		`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n` +
		    'Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
		// A WebSocket upgrade that also carries HTTP2-Settings.
		upgradeRequest(s.port, '/ws', { 'HTTP2-Settings': H2_SETTINGS }).text,
		// HTTP/2 with prior knowledge.
		'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
	];
	for (const text of reqs) {
		const what = JSON.stringify(text.split('\r\n')[0]);
		const sock = await h.waitFor(() => new Promise((resolve) => {
			const c = net.connect({ host: '127.0.0.1', port: s.port });
			c.on('connect', () => resolve(c));
			c.on('error', () => resolve(null));
		}), 3000, 'a connection');
		const chunks = [];
		const done = new Promise((resolve) => {
			sock.on('data', (d) => chunks.push(d));
			sock.on('end', resolve);
			sock.on('close', resolve);
			sock.on('error', resolve);
		});
		sock.write(text);
		// An HTTP/2 server would answer with a SETTINGS frame and keep
		// the connection open: read for at most 3 s.
		await Promise.race([done, h.sleep(h.scaled(3000))]);
		sock.destroy();
		const out = Buffer.concat(chunks);
		const head = out.toString('latin1');
		if (out.length > 0) {
			assert.match(head, /^HTTP\/1\.[01] [1-5]\d\d /, `${what}: not an HTTP/1 answer`);
			assert.doesNotMatch(head, /^HTTP\/1\.[01] 101/, `${what}: switched protocols`);
			const status = Number(head.slice(9, 12));
			assert.ok(status >= 400, `${what}: status ${status}`);
		}
		// Not the 9-byte header of an HTTP/2 SETTINGS frame (type 4).
		assert.ok(!(out.length >= 9 && out[3] === 0x04 && out[4] === 0),
		    `${what}: the answer looks like HTTP/2`);
	}
	await survives(s);
});

h.stackTest('Sec-WebSocket-Version 8 gets 426 naming version 13', basic(), async (s) => {
	const r = await refused(s, { 'Sec-WebSocket-Version': '8' }, 426);
	assert.strictEqual(r.headers['sec-websocket-version'], '13');
	await survives(s);
});

h.stackTest('a missing Sec-WebSocket-Key gets 400', basic(), async (s) => {
	await refused(s, { 'Sec-WebSocket-Key': null }, 400);
	await survives(s);
});

h.stackTest('an unknown endpoint path gets 404', basic(), async (s) => {
	await refused(s, {}, 404, '/nope');
	await refused(s, {}, 404, '/wsx');
	await refused(s, {}, 404, '/');
	await survives(s);
});

/* ---- origins ---- */

const GOOD = 'https://good.example';

h.stackTest('only the configured Origin is upgraded; others get 403', basic({ origin: GOOD }),
    async (s) => {
	const c = await RawWs.open(s.port, { headers: { Origin: GOOD } });
	await c.text('from the good origin');
	assert.strictEqual((await c.data(5000)).payload.toString(), 'from the good origin');
	c.destroy();
	for (const origin of [
		'https://good.example.evil',
		'http://good.example',
		null,				// no Origin at all
		'HTTPS://GOOD.EXAMPLE',
		'https://Good.Example',
		'https://good.example/',
		'https://good.example:8443',
		'https://evil.example',
		'null',
		'',
	])
		await refused(s, { Origin: origin }, 403);
	const m = await s.metrics();
	assert.strictEqual(h.metricSum(m, 'wsrouter_errors_total', { kind: 'origin_refused' }), 10,
	    'origin refusals counted in wsrouter_errors_total');
	// A ws client with the good origin works; without one it is refused.
	const ok = await s.connect('/ws', '', { origin: GOOD });
	await ok.send('ok');
	assert.strictEqual((await ok.next(5000)).text, 'ok');
	await assert.rejects(s.connect('/ws'), (e) => e.statusCode === 403);
	assert.ok(await s.healthy(), '/healthz');
});

/* ---- keep-alive and idle timeout ---- */

h.stackTest('a client that never answers pings is closed; one that does stays',
    basic({ ping_interval: '1s', idle_timeout: '0' }), async (s) => {
	const raw = await RawWs.open(s.port);
	const good = await s.connect('/ws');
	const t0 = Date.now();
	// The raw client reads but never answers.
	assert.ok(await raw.tcpClosed(8000),
	    'a client that never answers pings was still open after 8 s');
	const took = Date.now() - t0;
	const pings = raw.all.filter((f) => f.opcode === OP.PING).length;
	assert.ok(pings >= 1, 'the router sent no ping');
	assert.ok(took >= 900, `closed after ${took} ms, before one interval`);
	assert.ok(took <= h.scaled(4500), `closed after ${took} ms (interval 1 s)`);
	// The ws client answers pings: open across 4 intervals, then echoes.
	await h.sleep(Math.max(0, 4200 - (Date.now() - t0)));
	assert.strictEqual(good.closeInfo, null,
	    `the answering client was closed: ${JSON.stringify(good.closeInfo)}`);
	await good.send('still here');
	assert.strictEqual((await good.next(5000)).text, 'still here');
	await survives(s);
});

h.stackTest('a pong that waits behind a full socket still carries the client\'s ping payload',
    basic({ ping_interval: '1s', idle_timeout: '0' }), async (s) => {
	/*
	 * lws 4.1.6 keeps a pending pong's payload in the buffer its own
	 * keepalive ping overwrites with a timestamp. Block the router's
	 * output (a 9 MB flood the client does not read), ping, and let the
	 * router's keepalive come due before reading again.
	 */
	const c = await RawWs.open(s.port);
	await c.text(JSON.stringify({ type: 'flood', n: 150, size: 60000 }));
	c.sock.pause();
	await h.sleep(200);
	await c.ping('client-ping-1');
	// The keepalive comes due 1 s after the upgrade; 2 s without a pong
	// is a hang-up.
	await h.sleep(1100);
	c.sock.resume();
	let pong = null;
	const end = Date.now() + h.scaled(10000);
	while (pong === null) {
		const f = await c.nextUntil(end);
		assert.ok(f !== null, 'the router closed the connection');
		if (f.opcode === OP.PING)
			await c.send({ opcode: OP.PONG, payload: f.payload });
		else if (f.opcode === OP.PONG)
			pong = f;
		else
			assert.notStrictEqual(f.opcode, OP.CLOSE, `closed with ${f.code}`);
	}
	assert.strictEqual(pong.payload.toString('latin1'), 'client-ping-1',
	    'the pong\'s payload is not the ping\'s');
	c.destroy();
	await survives(s);
});

h.stackTest('idle_timeout closes a silent client with 1001', basic({ idle_timeout: '1s',
    ping_interval: '0' }), async (s) => {
	const silent = await RawWs.open(s.port);
	const busy = await RawWs.open(s.port);
	const t0 = Date.now();
	// busy sends a message every 300 ms for 3 s.
	const chatter = (async () => {
		for (let i = 0; i < 10; i++) {
			await busy.text(`m${i}`);
			assert.strictEqual((await busy.data(5000)).payload.toString(), `m${i}`);
			await h.sleep(300);
		}
	})();
	const r = await silent.closeFrame(6000);
	const took = r.at - t0;
	assert.strictEqual(r.code, 1001, `expected close 1001, got ${JSON.stringify(r)}`);
	assert.ok(took >= 900, `closed after ${took} ms, before the timeout`);
	assert.ok(took <= h.scaled(3500), `closed after ${took} ms (timeout 1 s)`);
	await chatter;
	assert.ok(!busy.all.some((f) => f.opcode === OP.CLOSE), 'the busy client was closed');
	busy.destroy();
	silent.destroy();
	await survives(s);
});

/* ---- loopback-only listeners ---- */

h.stackTest('the API on 127.0.0.1 is not reachable on 127.0.0.2', basic(), async (s) => {
	// Also loopback, but not the bound address: proves no wildcard bind.
	for (const port of [s.apiPort, s.port]) {
		const r = await new Promise((resolve) => {
			const c = net.connect({ host: '127.0.0.2', port });
			c.on('connect', () => {
				c.destroy();
				resolve('open');
			});
			c.on('error', (e) => resolve(e.code));
		});
		assert.strictEqual(r, 'ECONNREFUSED', `port ${port} on 127.0.0.2: ${r}`);
	}
	assert.ok(await s.healthy(), '/healthz on 127.0.0.1');
});

/*
 * Listeners from a non-loopback address. The probe runs in a network
 * namespace of its own (unshare -n) with a veth pair carrying
 * documentation-range addresses, so nothing reaches a real network.
 */
const NETNS_SETUP = [
	'ip link set lo up',
	'ip link add wsr0 type veth peer name wsr1',
	'ip addr add 198.51.100.1/24 dev wsr0',
	'ip -6 addr add 2001:db8::1/64 dev wsr0 nodad',
	'ip link set wsr0 up',
	'ip link set wsr1 up',
].join(' && ');

let netnsWhy;
function netnsUnavailable() {
	if (netnsWhy !== undefined)
		return netnsWhy;
	netnsWhy = false;
	if (typeof process.getuid !== 'function' || process.getuid() !== 0)
		netnsWhy = 'needs root for a network namespace';
	else {
		const r = child_process.spawnSync('unshare', ['-n', 'sh', '-c', NETNS_SETUP],
		    { encoding: 'utf8', timeout: 10000 });
		if (r.status !== 0)
			netnsWhy = `no network namespace with a veth pair: ${(r.stderr || r.error ||
			    '').toString().trim()}`;
	}
	return netnsWhy;
}

function netnsProbe(variant) {
	const r = child_process.spawnSync('unshare', ['-n', 'sh', '-c',
	    `${NETNS_SETUP} && exec "$0" "$1" "$2"`, process.execPath,
	    path.join(__dirname, 'netns_probe.js'), variant],
	    { encoding: 'utf8', timeout: h.scaled(40000), env: process.env });
	const line = (r.stdout || '').trim().split('\n').pop();
	try {
		return JSON.parse(line);
	} catch (e) {
		throw new Error(`netns probe ${variant}: ${r.status} ${r.stdout} ${r.stderr}`);
	}
}

for (const [variant, what] of [
	['ipv4', 'API and listener on 127.0.0.1'],
	['ipv6', 'API and listener on [::1]'],
	['localhost', 'API on localhost'],
]) {
	test(`${what}: not reachable from a non-loopback address`, {
		timeout: h.scaled(60000),
		skip: netnsUnavailable() || undefined,
	}, async (t) => {
		const out = netnsProbe(variant);
		assert.ok(!out.error, out.error);
		if (out.addresses.length === 0) {
			t.skip('no non-loopback address in the namespace');
			return;
		}
		const r = out.result;
		assert.ok(!r.error, `${variant}: ${r.error}`);
		assert.strictEqual(r.loopback.api, 200, 'the API on loopback');
		assert.strictEqual(r.loopback.ws, 404, 'the listener on loopback (plain GET /)');
		assert.ok(r.alive, 'the router died');
		assert.ok(r.other.length > 0);
		for (const o of r.other) {
			assert.strictEqual(o.api, 'refused', `the API on ${o.address}: ${o.api}`);
			assert.strictEqual(o.ws, 'refused', `the listener on ${o.address}: ${o.ws}`);
		}
	});
}

/* ---- robustness of the listeners ---- */

h.stackTest('connections that close before or during a request leave the router up',
    basic(), async (s) => {
	const partial = [
		null,				// connect, then close
		'GET /healthz HT',		// half a request line
		'GET /healthz HTTP/1.1\r\nHost: x\r\n',	// headers not finished
	];
	for (const port of [s.apiPort, s.port]) {
		for (const text of partial) {
			const c = await new Promise((resolve, reject) => {
				const x = net.connect({ host: '127.0.0.1', port });
				x.on('connect', () => resolve(x));
				x.on('error', reject);
			});
			if (text !== null)
				c.write(text);
			await h.sleep(50);
			c.destroy();
			await h.sleep(100);
			assert.ok(s.routerAlive(), `the router died ` +
			    `(${JSON.stringify(s.routerExit)}) after ` +
			    `${text === null ? 'a bare connect' : JSON.stringify(text)} ` +
			    `to the ${port === s.apiPort ? 'API' : 'WebSocket'} port`);
		}
	}
	await survives(s);
});

/* ---- wsrouter -t ---- */

function checkConfig(text) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrt-conf-'));
	const file = path.join(dir, 'wsrouter.conf');
	fs.writeFileSync(file, text);
	try {
		const r = child_process.spawnSync(h.paths.wsrouter, ['-t', '-c', file],
		    { encoding: 'utf8', timeout: 10000 });
		return { file, status: r.status, stdout: r.stdout, stderr: r.stderr,
		    out: r.stdout + r.stderr };
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

function escapeRe(s) {
	return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Config lines; errs: [LINE, KEY] that must be reported.
const GOOD_CONF = [
	'# a valid configuration',
	'listen 127.0.0.1:18080',
	'api 127.0.0.1:19001',
	'max_message_size 64k',
	'ping_interval 30s',
	'',
	'pool a {',
	'\taddress unix:/nonexistent/a.sock',
	'}',
	'',
	'endpoint /ws {',
	'\troute $default a',
	'}',
];

test('wsrouter -t accepts a valid configuration', () => {
	const r = checkConfig(GOOD_CONF.join('\n') + '\n');
	assert.strictEqual(r.status, 0, r.out);
	assert.match(r.out, /is valid/);
	assert.doesNotMatch(r.out, /:\d+: /, 'an error line for a valid file');
});

test('wsrouter -t reports each error as FILE:LINE: KEY: message', () => {
	// Each replaces line LINE of the valid file (or is inserted there).
	const cases = [
		{ line: 5, key: 'frobnicate', text: 'frobnicate yes', msg: /unknown/, insert: true },
		{ line: 4, key: 'max_message_size', text: 'max_message_size 12q', msg: /size/ },
		{ line: 3, key: 'api', text: 'api 192.0.2.1:9001', msg: /loopback/ },
		{ line: 3, key: 'api', text: 'api 0.0.0.0:9001', msg: /loopback/ },
		{ line: 3, key: 'api', text: 'api [2001:db8::1]:9001', msg: /loopback/ },
		{ line: 12, key: 'route', text: '\troute $default nosuchpool', msg: /nosuchpool/ },
	];
	for (const c of cases) {
		const lines = GOOD_CONF.slice();
		lines.splice(c.line - 1, c.insert ? 0 : 1, c.text);
		const r = checkConfig(lines.join('\n') + '\n');
		const what = JSON.stringify(c.text);
		assert.strictEqual(r.status, 1, `${what}: exit ${r.status}\n${r.out}`);
		const re = new RegExp(`^${escapeRe(r.file)}:${c.line}: ${escapeRe(c.key)}: (.+)$`, 'm');
		const m = re.exec(r.out);
		assert.ok(m, `${what}: no "${r.file}:${c.line}: ${c.key}: ..." line in:\n${r.out}`);
		assert.match(m[1], c.msg, `${what}: message`);
		assert.strictEqual(r.out.match(/:\d+: /g).length, 1, `${what}: one error only:\n${r.out}`);
		assert.doesNotMatch(r.out, /is valid/, `${what}: called valid`);
	}
	// All errors of a file, each with its own line number.
	const all = [
		'# several errors',			// 1
		'listen 127.0.0.1:18080',		// 2
		'api 192.0.2.1:9001',			// 3
		'max_message_size 12q',			// 4
		'frobnicate yes',			// 5
		'',					// 6
		'pool a {',				// 7
		'\taddress unix:/nonexistent/a.sock',	// 8
		'}',					// 9
		'',					// 10
		'endpoint /ws {',			// 11
		'\troute $default nosuchpool',		// 12
		'}',					// 13
	];
	const r = checkConfig(all.join('\n') + '\n');
	assert.strictEqual(r.status, 1, r.out);
	const got = [...r.out.matchAll(new RegExp(`^${escapeRe(r.file)}:(\\d+): (\\S+): `, 'mg'))]
	    .map((m) => `${m[1]} ${m[2]}`).sort();
	assert.deepStrictEqual(got, ['12 route', '3 api', '4 max_message_size', '5 frobnicate'],
	    r.out);
});

/* ---- secrets stay out of the log ---- */

h.stackTest('the log never holds tokens, even at log_level debug', basic({ log_level: 'debug' }, {
	config: (s) => poolConf(s, 'echo') + `
endpoint /ws {
	route $connect echo
	route $disconnect echo
	route $default echo
}
`,
}), async (s) => {
	const secrets = ['SECRET123', 'SECRET456', 'SECRET789', 'SECRETabc'];
	const c = await s.connect('/ws', 'token=SECRET123&x=1', {
		headers: { Authorization: 'Bearer SECRET456', Cookie: 'sid=SECRET789' },
	});
	await c.send({ type: 'echo', n: 1 });
	assert.strictEqual((await c.json(5000)).n, 1);
	await c.send('plain text');
	assert.strictEqual((await c.next(5000)).text, 'plain text');
	const w = await c.request({ type: 'whoami' });
	// A failing invocation, whose error path may log its request.
	await c.send({ type: 'status', code: 500 });
	await c.jsonWhere((f) => f.type === 'error', 5000);
	c.close(1000, 'bye');
	await c.closed(5000);
	// A refused connection and an unknown path carry tokens too.
	const rej = await s.connect('/ws', 'reject=401&token=SECRETabc');
	assert.strictEqual((await rej.closed(5000)).code, 4401);
	await refused(s, { Authorization: 'Bearer SECRET456' }, 404, '/nope?token=SECRET123');
	// Wait until the DISCONNECT ran, so the whole life is in the log.
	await h.waitFor(() => s.log().includes(w.connection_id) &&
	    /closed|disconnect/i.test(s.log()), 5000, 'the connection in the log');
	await h.sleep(300);
	const log = s.log();
	assert.ok(/debug/.test(log), 'no debug lines: the check would prove nothing');
	for (const secret of secrets) {
		const lines = log.split('\n').filter((l) => l.includes(secret));
		assert.deepStrictEqual(lines, [], `${secret} is in the log`);
	}
});

/* ---- SIGTERM drain ---- */

async function rawRefusedOrClosed(port) {
	// A new connection during the drain: no 101.
	try {
		const c = await RawWs.open(port);
		c.destroy();
		return 'upgraded';
	} catch (e) {
		return e.status !== undefined ? e.status : e.code || e.message;
	}
}

h.stackTest('SIGTERM drains: idle closes at once, a stream finishes, then exit 0',
    basic({ shutdown_timeout: '10s' }), async (s) => {
	const streaming = await s.connect('/ws');
	const idle = await s.connect('/ws');
	await streaming.send({ type: 'stream', n: 10, interval_ms: 100 });
	const first = await streaming.json(5000);
	assert.strictEqual(first.type, 'chunk');
	const t0 = Date.now();
	s.routerStoppedByTest = true;
	assert.ok(h.signal(s.router.pid, 'SIGTERM'));
	const ic = await idle.closed(3000);
	assert.strictEqual(ic.code, 1001, `idle: ${JSON.stringify(ic)}`);
	assert.ok(Date.now() - t0 < h.scaled(1500), `idle closed after ${Date.now() - t0} ms`);
	// New connections are refused while draining.
	const during = await rawRefusedOrClosed(s.port);
	assert.notStrictEqual(during, 'upgraded', 'a new connection was upgraded during the drain');
	// A new message on the draining connection gets shutting_down.
	await streaming.send({ type: 'echo', late: true });
	const frames = [first];
	for (let i = 0; i < 50; i++) {
		let f;
		try {
			f = await streaming.json(5000);
		} catch (e) {
			break;
		}
		frames.push(f);
	}
	const sc = await streaming.closed(5000);
	const chunks = frames.filter((f) => f.type === 'chunk').map((f) => f.seq);
	assert.deepStrictEqual(chunks, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'chunks');
	const types = frames.map((f) => f.type);
	assert.ok(types.includes('done'), `no done in ${JSON.stringify(types)}`);
	const err = frames.find((f) => f.type === 'error');
	assert.ok(err, `no error frame for the late message: ${JSON.stringify(types)}`);
	assert.strictEqual(err.error, 'shutting_down');
	assert.ok(!frames.some((f) => f.late), 'the late message was dispatched');
	assert.strictEqual(sc.code, 1001, `streaming: ${JSON.stringify(sc)}`);
	assert.ok(sc.at / 1000 >= frames.find((f) => f.type === 'done').__at / 1000,
	    'closed before done');
	const exit = await Promise.race([s.routerExited, h.sleep(h.scaled(8000)).then(() => null)]);
	assert.ok(exit, 'the router did not exit after the drain');
	assert.deepStrictEqual(exit, { code: 0, signal: null }, 'exit status');
	assert.ok(Date.now() - t0 < h.scaled(6000), `exit after ${Date.now() - t0} ms`);
});

h.stackTest('SIGTERM with a hung handler: closed with 1001 at shutdown_timeout, then exit',
    basic({ shutdown_timeout: '1s' }), async (s) => {
	const c = await s.connect('/ws');
	await c.send({ type: 'hang' });
	await h.sleep(300);		// the invocation is in flight
	const t0 = Date.now();
	s.routerStoppedByTest = true;
	assert.ok(h.signal(s.router.pid, 'SIGTERM'));
	const ci = await c.closed(h.scaled(6000));
	const took = Date.now() - t0;
	assert.strictEqual(ci.code, 1001, JSON.stringify(ci));
	assert.ok(took >= 800, `closed after ${took} ms, before shutdown_timeout`);
	assert.ok(took <= h.scaled(3500), `closed after ${took} ms (shutdown_timeout 1 s)`);
	const exit = await Promise.race([s.routerExited, h.sleep(h.scaled(8000)).then(() => null)]);
	assert.ok(exit, 'the router did not exit');
	assert.deepStrictEqual(exit, { code: 0, signal: null }, 'exit status');
});

/* ---- SIGHUP reload ---- */

h.stackTest('SIGHUP: a valid config takes over for new connections; a bad one is refused',
    (() => {
	const o = {
		pools: { echo: { workers: 2 } },
		version: 1,
		config: (s) => {
			if (o.version === 1)
				return echoEndpoint(s);
			if (o.version === 2)
				return echoEndpoint(s, '\troute whoami echo\n') +
				    '\nendpoint /new {\n\troute $default echo\n}\n';
			// Version 3: an error on a line the test knows.
			return echoEndpoint(s, '\tfrobnicate yes\n');
		},
	};
	return o;
})(), async (s) => {
	const old = await s.connect('/ws');
	let w = await old.request({ type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');
	await assert.rejects(s.connect('/new'), (e) => e.statusCode === 404);

	s.opts.version = 2;
	s.writeConfig();
	const mark = s.log().length;
	assert.ok(h.signal(s.router.pid, 'SIGHUP'));
	await h.waitFor(() => /reload/i.test(s.log().slice(mark)), 5000, 'the reload in the log');
	const fresh = await h.waitFor(async () => {
		const c = await s.connect('/ws');
		const x = await c.request({ type: 'whoami' });
		if (x.route_key === 'whoami')
			return c;
		c.close(1000);
		return null;
	}, 5000, 'a new connection with the new route');
	assert.ok(fresh);
	const n = await s.connect('/new');
	await n.send('on the new endpoint');
	assert.strictEqual((await n.next(5000)).text, 'on the new endpoint');
	// The old connection works, with the configuration it started with.
	await old.send('old still works');
	assert.strictEqual((await old.next(5000)).text, 'old still works');
	w = await old.request({ type: 'whoami' });
	assert.strictEqual(w.route_key, '$default', 'the old connection changed its routes');

	// A configuration with an error is refused and the current one stays.
	s.opts.version = 3;
	s.writeConfig();
	const text = fs.readFileSync(s.confFile, 'utf8').split('\n');
	const badLine = text.findIndex((l) => /frobnicate/.test(l)) + 1;
	assert.ok(badLine > 0);
	const mark2 = s.log().length;
	assert.ok(h.signal(s.router.pid, 'SIGHUP'));
	await h.waitFor(() => /keeping|errors/i.test(s.log().slice(mark2)), 5000,
	    'the refusal in the log');
	const why = s.log().slice(mark2);
	assert.match(why, new RegExp(`${escapeRe(s.confFile)}:${badLine}: frobnicate: `),
	    `the log does not say why:\n${why}`);
	assert.ok(s.routerAlive(), 'the router died on a bad config');
	const after = await s.connect('/ws');
	assert.strictEqual((await after.request({ type: 'whoami' })).route_key, 'whoami',
	    'a new connection after the bad reload does not use the last good config');
	const n2 = await s.connect('/new');
	await n2.send('x');
	assert.strictEqual((await n2.next(5000)).text, 'x');
	assert.ok(await s.healthy());
});
