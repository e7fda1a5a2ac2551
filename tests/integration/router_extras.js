'use strict';
// router_extras.js: static_root file serving on the WebSocket listener, the
// Sec-WebSocket-Protocol rule, the WS_ROUTER_INSTANCE param, and handler
// counters ("count" control messages) in /metrics.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

/*
 * The site: SITE/www is the root; SITE/secret.txt and
 * SITE/www-private/secret.txt sit next to it and must never be served.
 */
const SECRET = 'secret-' + Math.random().toString(36).slice(2);
const site = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrt-site-'));
const root = path.join(site, 'www');
const files = {
	'index.html': '<!doctype html><title>index</title><p>the index page</p>\n',
	'app.js': 'console.log("app");\n',
	'style.css': 'body { color: #123456; }\n',
	'data.json': '{"ok":true,"n":42}\n',
	'sub/index.html': '<p>the sub index</p>\n',
	'sub/page.html': '<p>a sub page</p>\n',
	'empty/.keep.txt': '',
	'noext': 'a file without an extension\n',
};
fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
fs.mkdirSync(path.join(root, 'empty'));
for (const [name, text] of Object.entries(files))
	fs.writeFileSync(path.join(root, name), text);
// A binary file: every byte value, so any re-encoding shows.
const pngBytes = Buffer.from(Array.from({ length: 512 }, (x, i) => i & 255));
fs.writeFileSync(path.join(root, 'image.png'), pngBytes);
fs.writeFileSync(path.join(site, 'secret.txt'), SECRET + '\n');
fs.mkdirSync(path.join(site, 'www-private'));
fs.writeFileSync(path.join(site, 'www-private', 'secret.txt'), SECRET + '\n');
process.on('exit', () => fs.rmSync(site, { recursive: true, force: true }));

/*
 * One HTTP/1.1 request on a fresh socket, the target sent exactly as
 * given (no normalisation by a client library). Resolves {status (0 when
 * the router closed without an answer), headers, body}.
 */
function rawGet(port, target, headers = {}, method = 'GET') {
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, '127.0.0.1');
		const chunks = [];
		const t = setTimeout(() => {
			sock.destroy();
			reject(new Error(`${method} ${target}: no end within ${h.scaled(5000)} ms`));
		}, h.scaled(5000));
		sock.on('connect', () => {
			let req = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
			    'Connection: close\r\n';
			for (const [k, v] of Object.entries(headers))
				req += `${k}: ${v}\r\n`;
			sock.write(req + '\r\n');
		});
		sock.on('data', (d) => chunks.push(d));
		sock.on('error', () => { /* a reset: judged by what arrived */ });
		sock.on('close', () => {
			clearTimeout(t);
			resolve(parseResponse(Buffer.concat(chunks), method));
		});
	});
}

function parseResponse(buf, method) {
	const end = buf.indexOf('\r\n\r\n');
	if (end === -1)
		return { status: 0, headers: {}, body: buf, raw: buf };
	const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
	const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
	const headers = {};
	for (const l of lines.slice(1)) {
		const i = l.indexOf(':');
		if (i > 0)
			headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
	}
	let body = buf.subarray(end + 4);
	if (headers['content-length'] !== undefined && method !== 'HEAD')
		body = body.subarray(0, Number(headers['content-length']));
	return { status: m ? Number(m[1]) : 0, headers, body, raw: buf };
}

const endpoints = `
endpoint /ws {
	route $connect main
	route $disconnect main
	route $default main
}
`;

const withStatic = {
	pools: { main: {} },
	globals: { static_root: root },
	config: (s) => s.poolConf('main') + endpoints,
};

const noStatic = {
	pools: { main: {} },
	config: (s) => s.poolConf('main') + endpoints,
};

h.stackTest('static_root serves files with their content type', withStatic, async (s) => {
	const cases = [
		['/index.html', 'index.html', /^text\/html\b/],
		['/app.js', 'app.js', /^(text|application)\/javascript\b/],
		['/style.css', 'style.css', /^text\/css\b/],
		['/data.json', 'data.json', /^application\/json\b/],
		['/sub/page.html', 'sub/page.html', /^text\/html\b/],
		['/index.html?v=123', 'index.html', /^text\/html\b/],
	];
	for (const [target, file, type] of cases) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 200, `${target}: status ${r.status}`);
		assert.match(String(r.headers['content-type']), type,
		    `${target}: content-type ${r.headers['content-type']}`);
		assert.strictEqual(r.body.toString('utf8'), files[file], `${target}: body`);
		assert.strictEqual(Number(r.headers['content-length']),
		    Buffer.byteLength(files[file]), `${target}: content-length`);
	}
	const png = await rawGet(s.port, '/image.png');
	assert.strictEqual(png.status, 200);
	assert.match(String(png.headers['content-type']), /^image\/png\b/);
	assert.ok(png.body.equals(pngBytes), 'image.png comes back byte for byte');

	// HEAD: the headers without the body.
	const head = await rawGet(s.port, '/style.css', {}, 'HEAD');
	assert.strictEqual(head.status, 200);
	assert.strictEqual(Number(head.headers['content-length']),
	    Buffer.byteLength(files['style.css']));
	assert.strictEqual(head.raw.length, head.raw.indexOf('\r\n\r\n') + 4,
	    'HEAD answered with a body');
});

h.stackTest('static_root: / and a directory give index.html; no listing; misses are 404', withStatic, async (s) => {
	for (const target of ['/', '/?x=1']) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 200, `${target}: status ${r.status}`);
		assert.match(String(r.headers['content-type']), /^text\/html\b/);
		assert.strictEqual(r.body.toString('utf8'), files['index.html']);
	}
	for (const target of ['/sub/', '/sub']) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 200, `${target}: status ${r.status}`);
		assert.strictEqual(r.body.toString('utf8'), files['sub/index.html'], target);
	}
	// A directory without index.html is not listed.
	for (const target of ['/empty/', '/empty']) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 404, `${target}: status ${r.status}`);
		assert.ok(!r.body.toString('latin1').includes('.keep.txt'),
		    `${target} lists the directory`);
	}
	for (const target of ['/missing.html', '/sub/missing.css', '/nodir/x.js', '/ws']) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 404, `${target}: status ${r.status}`);
	}
	// A file whose type is unknown is refused, not sent as something.
	const r = await rawGet(s.port, '/noext');
	assert.strictEqual(r.status, 415, `/noext: status ${r.status}`);
	assert.ok(!r.body.toString('utf8').includes('without an extension'));
});

h.stackTest('static_root: no-store and an ETag that revalidates', withStatic, async (s) => {
	const r = await rawGet(s.port, '/app.js');
	assert.strictEqual(r.status, 200);
	assert.strictEqual(r.headers['cache-control'], 'no-store');
	const etag = r.headers.etag;
	assert.ok(etag, 'no ETag');
	const again = await rawGet(s.port, '/app.js', { 'If-None-Match': etag });
	assert.strictEqual(again.status, 304, `If-None-Match: status ${again.status}`);
	assert.strictEqual(again.body.length, 0);
	const other = await rawGet(s.port, '/app.js', { 'If-None-Match': '"nope"' });
	assert.strictEqual(other.status, 200);
	// A changed file gets a new ETag (size and mtime), so a cached copy
	// is not kept past a deploy.
	fs.writeFileSync(path.join(root, 'app.js'), files['app.js'] + '// v2\n');
	try {
		const changed = await rawGet(s.port, '/app.js', { 'If-None-Match': etag });
		assert.strictEqual(changed.status, 200, 'a changed file still revalidates');
		assert.notStrictEqual(changed.headers.etag, etag);
		assert.strictEqual(changed.body.toString('utf8'), files['app.js'] + '// v2\n');
	} finally {
		fs.writeFileSync(path.join(root, 'app.js'), files['app.js']);
	}
});

h.stackTest('static_root: path traversal never leaves the root', withStatic, async (s) => {
	// Normalisation does happen inside the root: these reach index.html.
	for (const target of ['/sub/../index.html', '/./index.html', '/sub/%2e%2e/index.html',
	    '/sub/%2E%2E/index.html', '//index.html']) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 200, `${target}: status ${r.status}`);
		assert.strictEqual(r.body.toString('utf8'), files['index.html'], target);
	}
	const attempts = [
		'/../secret.txt',
		'/../../secret.txt',
		'/sub/../../secret.txt',
		'/./../secret.txt',
		'//../secret.txt',
		'/%2e%2e/secret.txt',
		'/%2E%2E/secret.txt',
		'/.%2e/secret.txt',
		'/%2e./secret.txt',
		'/sub/%2e%2e/%2e%2e/secret.txt',
		'/..%2fsecret.txt',
		'/%2e%2e%2fsecret.txt',
		'/%2E%2E%2Fsecret.txt',
		'/sub%2f..%2f..%2fsecret.txt',
		'/sub/..%2f..%2fsecret.txt',
		'/..%5csecret.txt',
		'/..\\secret.txt',
		'/%252e%252e/secret.txt',
		'/%c0%ae%c0%ae/secret.txt',
		'/../www-private/secret.txt',
		'/%2e%2e/www-private/secret.txt',
		'/..%2fwww-private%2fsecret.txt',
		`/${path.relative('/', site)}/secret.txt`,
		`/..${site}/secret.txt`,
		'/secret.txt%00.html',
		'/../secret.txt%00.html',
		'http://127.0.0.1/../secret.txt',
	];
	for (const target of attempts) {
		const r = await rawGet(s.port, target);
		assert.ok(!r.raw.toString('latin1').includes(SECRET),
		    `${target} served the file outside the root`);
		assert.ok(r.status === 0 || (r.status >= 400 && r.status < 500),
		    `${target}: status ${r.status}`);
	}
	// The router is still there and still serves.
	assert.ok(await s.healthy());
	assert.strictEqual((await rawGet(s.port, '/data.json')).status, 200);
});

h.stackTest('static_root: WebSocket upgrades on endpoints still work', withStatic, async (s) => {
	const c = await s.connectId('/ws');
	assert.match(c.id, /^[A-Za-z0-9_-]{22}$/);
	assert.strictEqual((await c.request({ type: 'echo', n: 1 })).n, 1);
	// Files and the socket side by side on one listener.
	const r = await rawGet(s.port, '/data.json');
	assert.strictEqual(r.body.toString('utf8'), files['data.json']);
	assert.strictEqual((await c.request({ type: 'echo', n: 2 })).n, 2);
	// An upgrade on a path that is a file, not an endpoint: still 404.
	await assert.rejects(s.connect('/index.html'), (e) => e.statusCode === 404);
	await assert.rejects(s.connect('/'), (e) => e.statusCode === 404);
	c.close(1000);
	await c.closed();
	await s.waitDisconnect(c.id);
});

h.stackTest('without static_root plain HTTP gets 404', noStatic, async (s) => {
	for (const target of ['/', '/index.html', '/ws']) {
		const r = await rawGet(s.port, target);
		assert.strictEqual(r.status, 404, `${target}: status ${r.status}`);
		assert.ok(!r.body.toString('utf8').includes('the index page'));
	}
	const c = await s.connectId('/ws');
	assert.match(c.id, /^[A-Za-z0-9_-]{22}$/);
});

/*
 * A hand-made upgrade with a Sec-WebSocket-Protocol header written as
 * given. Resolves {status, headers}.
 */
function rawUpgrade(port, target, protocol) {
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, '127.0.0.1');
		let buf = Buffer.alloc(0);
		const t = setTimeout(() => {
			sock.destroy();
			reject(new Error(`upgrade ${target}: no answer within ${h.scaled(5000)} ms`));
		}, h.scaled(5000));
		const done = () => {
			clearTimeout(t);
			sock.destroy();
			resolve(parseResponse(buf, 'HEAD'));
		};
		sock.on('connect', () => sock.write(`GET ${target} HTTP/1.1\r\n` +
		    `Host: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
		    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
		    `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`));
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			if (buf.includes('\r\n\r\n'))
				done();
		});
		sock.on('error', () => {});
		sock.on('close', done);
	});
}

h.stackTest('Sec-WebSocket-Protocol must offer wsrouter; the CONNECT handler sees it all', noStatic, async (s) => {
	const q = 'params=HTTP_SEC_WEBSOCKET_PROTOCOL';
	// Offered with a token: the router answers "wsrouter".
	const c = await s.connectUrl(s.wsUrl('/ws', q), ['wsrouter', 'bearer.x']);
	assert.strictEqual(c.ws.protocol, 'wsrouter');
	let p = await c.json();
	assert.deepStrictEqual(p, { type: 'params', event: 'CONNECT',
		params: { HTTP_SEC_WEBSOCKET_PROTOCOL: 'wsrouter,bearer.x' } });
	assert.strictEqual((await c.request({ type: 'echo', k: 1 })).k, 1);

	// Any position, and a JWT-like token.
	const jwt = 'bearer.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
	const d = await s.connectUrl(s.wsUrl('/ws', q), [jwt, 'wsrouter']);
	assert.strictEqual(d.ws.protocol, 'wsrouter');
	p = await d.json();
	assert.strictEqual(p.params.HTTP_SEC_WEBSOCKET_PROTOCOL, `${jwt},wsrouter`);

	// Spaces around the entries, as browsers write them.
	const up = await rawUpgrade(s.port, '/ws', ' bearer.abc ,  wsrouter ');
	assert.strictEqual(up.status, 101, `spaced list: status ${up.status}`);
	assert.strictEqual(up.headers['sec-websocket-protocol'], 'wsrouter');

	// libwebsockets 4.1.6 takes lists of up to 126 bytes; the router
	// shortens longer ones for it (subproto.c) and the CONNECT handler
	// still sees the whole list: a real JWT fits.
	for (const n of [126, 127, 1200, 8000]) {
		const list = 'wsrouter,bearer.' + 'a'.repeat(n - 16);
		const l = await rawUpgrade(s.port, '/ws', list);
		assert.strictEqual(l.status, 101, `${n}-byte list: status ${l.status}`);
		assert.strictEqual(l.headers['sec-websocket-protocol'], 'wsrouter');
	}
	const token = 'bearer.' + 'x'.repeat(900);
	const f = await s.connectUrl(s.wsUrl('/ws', q), [token, 'wsrouter']);
	assert.strictEqual(f.ws.protocol, 'wsrouter');
	p = await f.json();
	assert.strictEqual(p.params.HTTP_SEC_WEBSOCKET_PROTOCOL, `${token},wsrouter`);
	assert.strictEqual((await f.request({ type: 'echo', k: 3 })).k, 3);

	// No header: as before, and the handler sees none.
	const e = await s.connect('/ws', q);
	assert.strictEqual(e.ws.protocol, '');
	p = await e.json();
	assert.deepStrictEqual(p.params, { HTTP_SEC_WEBSOCKET_PROTOCOL: null });
	assert.strictEqual((await e.request({ type: 'echo', k: 2 })).k, 2);
});

h.stackTest('Sec-WebSocket-Protocol without wsrouter, or naming wsrouter-fcgi, is 400', noStatic, async (s) => {
	const before = h.metricSum(await s.metrics(), 'wsrouter_errors_total',
	    { kind: 'bad_upgrade' }) || 0;
	const refused = [
		['bearer.x'],
		['chat', 'superchat'],
		['wsrouter-fcgi'],
		['wsrouter-fcgi', 'wsrouter'],
		['wsrouter', 'wsrouter-fcgi'],
		['wsrouterx'],
		['WSROUTER'],
	];
	for (const protos of refused) {
		const err = await s.connectUrl(s.wsUrl('/ws'), protos).then(() => null, (x) => x);
		assert.ok(err, `${protos}: opened`);
		assert.strictEqual(err.statusCode, 400, `${protos}: ${err.message}`);
	}
	// A real HTTP/1.1 answer, not a dropped socket; also for long lists
	// (which libwebsockets alone would drop unanswered) and one past the
	// 8 KiB the router keeps for a handler.
	const raw = ['bearer.only', 'bearer.' + 'a'.repeat(300),
	    'wsrouter-fcgi,wsrouter,bearer.' + 'a'.repeat(2000),
	    'wsrouter,bearer.' + 'a'.repeat(8200)];
	for (const p of raw) {
		const up = await rawUpgrade(s.port, '/ws', p);
		assert.strictEqual(up.status, 400, `${p.length} bytes: status ${up.status}`);
		assert.match(up.raw.toString('latin1'), /^HTTP\/1\.1 400 /);
	}
	const after = h.metricSum(await s.metrics(), 'wsrouter_errors_total',
	    { kind: 'bad_upgrade' });
	assert.strictEqual(after - before, refused.length + raw.length,
	    'bad_upgrade errors counted');
	// No refused connection reached a handler.
	await h.sleep(200);
	assert.deepStrictEqual(s.disconnects(), []);
	assert.strictEqual(h.metricSum(await s.metrics(), 'wsrouter_connections_total'), 0);
	// And the router still takes good ones.
	const c = await s.connectUrl(s.wsUrl('/ws'), ['wsrouter']);
	assert.strictEqual(c.ws.protocol, 'wsrouter');
});

const PARAM_NAMES = 'WS_ROUTER_INSTANCE,WS_EVENT';

async function instanceSeen(s) {
	const c = await s.connect('/ws', `params=${PARAM_NAMES}`);
	const onConnect = await c.json();
	assert.strictEqual(onConnect.event, 'CONNECT');
	const onMessage = await c.request({ type: 'params', names: PARAM_NAMES });
	assert.strictEqual(onMessage.params.WS_EVENT, 'MESSAGE');
	return [onConnect.params.WS_ROUTER_INSTANCE, onMessage.params.WS_ROUTER_INSTANCE];
}

h.stackTest('WS_ROUTER_INSTANCE is the configured instance', {
	pools: { main: {} },
	globals: { instance: 'edge-7_b' },
	config: (s) => s.poolConf('main') + endpoints,
}, async (s) => {
	assert.deepStrictEqual(await instanceSeen(s), ['edge-7_b', 'edge-7_b']);
});

h.stackTest('WS_ROUTER_INSTANCE defaults to <hostname>-<pid>', noStatic, async (s) => {
	const want = `${os.hostname().slice(0, 64)}-${s.router.pid}`;
	assert.deepStrictEqual(await instanceSeen(s), [want, want]);
});

// An application/websocket-events CONTROL event, written by hand.
function control(obj) {
	const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
	return `CONTROL ${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`;
}

// Have the test handler write body as its raw response; the next frame's text.
async function rawReply(c, body) {
	await c.send({ type: 'raw', data: body });
	const f = await c.next();
	assert.strictEqual(f.isBinary, false);
	return f.text;
}

function appCount(samples, pool, name) {
	return h.metricSum(samples, 'wsrouter_app_events_total', { pool, name });
}

const counting = {
	pools: { main: {}, aux: {} },
	config: (s) => s.poolConf('main') + s.poolConf('aux') + endpoints + `
endpoint /aux {
	route $default aux
}
`,
};

h.stackTest('count control messages add up in /metrics by pool and name', counting, async (s) => {
	let m = await s.metrics();
	assert.strictEqual(appCount(m, 'main', 'db_write_failed'), undefined);
	const c = await s.connect('/ws');
	assert.deepStrictEqual(await c.request({ type: 'count', name: 'db_write_failed' }),
	    { type: 'counted', rv: 0 });
	assert.deepStrictEqual(await c.request({ type: 'count', name: 'db_write_failed', by: 5 }),
	    { type: 'counted', rv: 0 });
	assert.deepStrictEqual(await c.request({ type: 'count', name: 'cache_hit_2', by: 1000000 }),
	    { type: 'counted', rv: 0 });
	m = await s.metrics();
	assert.strictEqual(appCount(m, 'main', 'db_write_failed'), 6);
	assert.strictEqual(appCount(m, 'main', 'cache_hit_2'), 1000000);

	// Another pool has its own series.
	const a = await s.connect('/aux');
	assert.strictEqual((await a.request({ type: 'count', name: 'db_write_failed', by: 2 })).rv, 0);
	m = await s.metrics();
	assert.strictEqual(appCount(m, 'aux', 'db_write_failed'), 2);
	assert.strictEqual(appCount(m, 'main', 'db_write_failed'), 6);

	// The SDK refuses bad names and increments and sends nothing.
	const bad = [
		{ name: 'Bad' }, { name: '' }, { name: 'a-b' }, { name: 'x'.repeat(65) },
		{ name: 'ok_name', by: 0 }, { name: 'ok_name', by: -3 },
		{ name: 'ok_name', by: 1000001 },
	];
	for (const b of bad) {
		assert.deepStrictEqual(await c.request(Object.assign({ type: 'count' }, b)),
		    { type: 'counted', rv: -1 }, JSON.stringify(b));
	}
	assert.strictEqual((await c.request({ type: 'count', name: 'x'.repeat(64) })).rv, 0);
	m = await s.metrics();
	assert.strictEqual(appCount(m, 'main', 'ok_name'), undefined);
	assert.strictEqual(appCount(m, 'main', 'x'.repeat(64)), 1);
	const r = await s.api('GET', '/metrics');
	assert.match(r.text, /^# TYPE wsrouter_app_events_total counter$/m);
});


h.stackTest('bad count control messages are ignored and logged; the router stays up', counting, async (s) => {
	const c = await s.connect('/ws');
	const bad = [
		{ type: 'count', name: 'Bad_Name' },
		{ type: 'count', name: 'has space' },
		{ type: 'count', name: 'quote"x' },
		{ type: 'count', name: 'nl\nx' },
		{ type: 'count', name: 'brace}x' },
		{ type: 'count', name: '\u00fcn\u00ef' },
		{ type: 'count', name: 'x'.repeat(65) },
		{ type: 'count', name: '' },
		{ type: 'count' },
		{ type: 'count', name: 5 },
		{ type: 'count', name: null },
		{ type: 'count', name: ['a'] },
		{ type: 'count', name: 'by_zero', by: 0 },
		{ type: 'count', name: 'by_negative', by: -1 },
		{ type: 'count', name: 'by_huge', by: 1000001 },
		{ type: 'count', name: 'by_string', by: '5' },
		{ type: 'count', name: 'by_real', by: 2.5 },
		{ type: 'count', name: 'by_null', by: null },
		{ type: 'count', name: 'by_true', by: true },
	];
	const good = [
		{ type: 'count', name: 'raw_ok' },
		{ type: 'count', name: 'raw_ok', by: 1000000 },
	];
	const before = (s.log().match(/count needs a name/g) || []).length;
	const body = bad.map(control).join('') + good.map(control).join('') +
	    'TEXT 4\r\ndone\r\n';
	assert.strictEqual(await rawReply(c, body), 'done');
	const m = await s.metrics();		// parses every line, or throws
	assert.strictEqual(appCount(m, 'main', 'raw_ok'), 1000001);
	const names = m.filter((x) => x.name === 'wsrouter_app_events_total')
	    .map((x) => `${x.labels.pool}/${x.labels.name}`);
	assert.deepStrictEqual(names, ['main/raw_ok'], 'only the good series');
	await h.waitFor(() => (s.log().match(/count needs a name/g) || []).length - before ===
	    bad.length, 3000, `${bad.length} warnings in the router log`);

	// Broken JSON, and a NUL in a name (refused by the JSON parser), are
	// each one "invalid control message".
	const invalid = (s.log().match(/invalid control message/g) || []).length;
	assert.strictEqual(await rawReply(c, control('{"type":"count","name":') +
	    control('{"type":"count","name":"raw_ok\\u0000x"}') + 'TEXT 4\r\nmore\r\n'),
	    'more');
	await h.waitFor(() => (s.log().match(/invalid control message/g) || []).length ===
	    invalid + 2, 3000, 'two "invalid control message" warnings');
	assert.strictEqual(appCount(await s.metrics(), 'main', 'raw_ok'), 1000001);

	assert.ok(await s.healthy());
	assert.strictEqual((await c.request({ type: 'echo', k: 3 })).k, 3);
	const d = await s.connect('/ws');
	assert.strictEqual((await d.request({ type: 'count', name: 'raw_ok' })).rv, 0);
	assert.strictEqual(appCount(await s.metrics(), 'main', 'raw_ok'), 1000002);
});

h.stackTest('past 256 series, new counter names add up under "other"', counting, async (s) => {
	const c = await s.connect('/ws');
	const total = 300;
	let body = '';
	for (let i = 0; i < total; i++)
		body += control({ type: 'count', name: `name_${String(i).padStart(3, '0')}` });
	assert.strictEqual(await rawReply(c, body + 'TEXT 4\r\ndone\r\n'), 'done');
	let m = (await s.metrics()).filter((x) => x.name === 'wsrouter_app_events_total');
	assert.ok(m.length <= 257, `${m.length} series`);
	const sum = m.reduce((a, x) => a + x.value, 0);
	assert.strictEqual(sum, total, 'every count is somewhere');
	const other = m.find((x) => x.labels.pool === 'main' && x.labels.name === 'other');
	assert.ok(other, 'no "other" series');
	assert.strictEqual(other.value, total - (m.length - 1));
	// A known name still counts under its own name; a new one under other.
	assert.strictEqual(await rawReply(c, control({ type: 'count', name: 'name_000', by: 7 }) +
	    control({ type: 'count', name: 'brand_new', by: 3 }) + 'TEXT 4\r\ndone\r\n'), 'done');
	m = await s.metrics();
	assert.strictEqual(appCount(m, 'main', 'name_000'), 8);
	assert.strictEqual(appCount(m, 'main', 'brand_new'), undefined);
	assert.strictEqual(appCount(m, 'main', 'other'), other.value + 3);
	// Another pool's counts are not lost either.
	const a = await s.connect('/aux');
	assert.strictEqual((await a.request({ type: 'count', name: 'aux_name', by: 4 })).rv, 0);
	m = await s.metrics();
	assert.strictEqual((appCount(m, 'aux', 'aux_name') || 0) + (appCount(m, 'aux', 'other') || 0),
	    4, 'the aux pool\'s count is lost');
});

const countOnBye = {
	pools: { main: {}, bye: {} },
	config: (s) => s.poolConf('main') + s.poolConf('bye', 'param WS_TEST_COUNT bye_seen') + `
endpoint /ws {
	route $connect main
	route $disconnect bye
	route $default main
}
`,
};

h.stackTest('a CONNECT handler may count', countOnBye, async (s) => {
	await s.connectId('/ws', 'count=hello_seen');
	await s.connectId('/ws', 'count=hello_seen');
	// The handler counts after accepting: the count may come in after a
	// MESSAGE answer on the connection it accepted.
	await h.waitFor(async () => appCount(await s.metrics(), 'main', 'hello_seen') === 2,
	    2000, 'two CONNECT counts');
	// A rejected CONNECT cannot: the SDK sends nothing after a reject.
	await assert.rejects(s.connectId('/ws', 'reject=403&count=hello_seen'));
	await h.sleep(300);
	assert.strictEqual(appCount(await s.metrics(), 'main', 'hello_seen'), 2);
});

/*
 * Controls of an invocation whose connection is closing or gone are
 * dropped, except count: a DISCONNECT handler's counts reach /metrics.
 */
h.stackTest('a DISCONNECT handler may count', countOnBye, async (s) => {
	const c = await s.connectId('/ws');
	const d = await s.connectId('/ws');
	c.close(1000);
	await c.closed();
	d.terminate();
	await s.waitDisconnect(c.id);
	await s.waitDisconnect(d.id);
	await h.waitFor(async () => appCount(await s.metrics(), 'bye', 'bye_seen') === 2, 2000,
	    'two DISCONNECT counts');
});

/*
 * A request head that libwebsockets drops part-way (over its 16 KiB),
 * with a long subprotocol line the router had already planned to rewrite,
 * must leave nothing behind for the next socket given the same descriptor.
 */
h.stackTest('a dropped head leaves no subprotocol rewrite for the next socket', noStatic, async (s) => {
	// More header fragments than lws takes: it gives up within its first
	// read, before the subprotocol line.
	const filler = Array.from({ length: 170 }, (_, i) => `Accept: text/x-filler-${i}\r\n`).join('');
	const head = 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n' +
	    'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
	    'Sec-WebSocket-Version: 13\r\n' + filler +
	    `Sec-WebSocket-Protocol: wsrouter, bearer.${'t'.repeat(300)}\r\n\r\n`;
	for (let round = 0; round < 5; round++) {
		await new Promise((resolve) => {
			const sock = net.connect(s.port, '127.0.0.1', () => sock.end(head));
			sock.on('error', () => {});
			sock.on('close', resolve);
			sock.resume();
		});
		// Long enough to reach where the dropped head's rewrite was due.
		const q = `params=QUERY_STRING&marker=round${round}-${'m'.repeat(6000)}`;
		const c = await s.connect('/ws', q);
		const p = await c.json();
		assert.strictEqual(p.params.QUERY_STRING, q,
		    `round ${round}: the next socket's request was rewritten`);
		assert.strictEqual((await c.request({ type: 'echo', k: round })).k, round);
		c.close(1000);
	}
});
