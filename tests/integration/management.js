'use strict';
// management.js: the management API: push, inspect and close connections,
// publish to channels, health and Prometheus metrics.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');
const crypto = require('node:crypto');

const stack = {
	pools: { main: {} },
	config: (s) => s.poolConf('main') + s.poolConf('down', '', 'nothing-here') + `
endpoint /ws {
	route $connect main
	route $disconnect main
	route broken down
	route $default main
}
`,
};

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function unknownId() {
	return crypto.randomBytes(16).toString('base64url');
}

h.stackTest('POST sends text and binary frames to one connection', stack, async (s) => {
	const c = await s.connectId('/ws');
	const other = await s.connectId('/ws');
	let r = await s.api('POST', `/@connections/${c.id}`, 'hello \u2713',
	    { 'Content-Type': 'text/plain; charset=utf-8' });
	assert.ok(r.status >= 200 && r.status < 300, `POST text: ${r.status} ${r.text}`);
	let f = await c.next();
	assert.strictEqual(f.isBinary, false);
	assert.strictEqual(f.text, 'hello \u2713');

	const bin = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80]);
	r = await s.api('POST', `/@connections/${c.id}`, bin,
	    { 'Content-Type': 'application/octet-stream' });
	assert.ok(r.status >= 200 && r.status < 300, `POST binary: ${r.status} ${r.text}`);
	f = await c.next();
	assert.strictEqual(f.isBinary, true);
	assert.ok(f.data.equals(bin));

	r = await s.api('POST', `/@connections/${c.id}`, { type: 'note', n: 1 },
	    { 'Content-Type': 'application/json' });
	assert.ok(r.status >= 200 && r.status < 300);
	f = await c.next();
	assert.strictEqual(f.isBinary, false);
	assert.deepStrictEqual(JSON.parse(f.text), { type: 'note', n: 1 });

	// Only the addressed connection got them.
	await other.noFrame(300);
});

h.stackTest('GET describes a connection', stack, async (s) => {
	const before = Date.now();
	const c = await s.connect('/ws', 'identity=bob',
	    { headers: { 'User-Agent': 'wsrouter-test/1.0' } });
	const w = await c.request({ type: 'whoami' });
	const id = w.connection_id;
	let r = await s.api('GET', `/@connections/${id}`);
	assert.strictEqual(r.status, 200);
	assert.match(String(r.headers['content-type']), /application\/json/);
	const info = r.json();
	assert.match(info.connectedAt, ISO);
	assert.match(info.lastActiveAt, ISO);
	const connectedAt = Date.parse(info.connectedAt);
	assert.ok(connectedAt >= before - 2000 && connectedAt <= Date.now() + 2000,
	    `connectedAt ${info.connectedAt}`);
	assert.strictEqual(info.identity.sourceIp, '127.0.0.1');
	assert.strictEqual(info.identity.userAgent, 'wsrouter-test/1.0');
	assert.strictEqual(info.identity.principalId, 'bob');
	assert.deepStrictEqual(info.context, { via: 'testhandler', q: 'identity=bob' });

	// lastActiveAt moves with the client's messages.
	await h.sleep(1100);
	await c.request({ type: 'echo' });
	r = await s.api('GET', `/@connections/${id}`);
	const info2 = r.json();
	assert.strictEqual(info2.connectedAt, info.connectedAt);
	assert.ok(Date.parse(info2.lastActiveAt) > Date.parse(info.lastActiveAt),
	    `lastActiveAt ${info.lastActiveAt} -> ${info2.lastActiveAt}`);

	// set-context shows up too.
	await c.request({ type: 'setctx', context: { room: 'x' } });
	assert.deepStrictEqual((await s.api('GET', `/@connections/${id}`)).json().context,
	    { room: 'x' });
});

h.stackTest('DELETE closes with the code given; closed and unknown ids are 410', stack, async (s) => {
	const c = await s.connectId('/ws');
	let r = await s.api('DELETE', `/@connections/${c.id}?code=4000`);
	assert.ok(r.status >= 200 && r.status < 300, `DELETE: ${r.status}`);
	assert.strictEqual((await c.closed()).code, 4000);
	// Just closed: gone for every method.
	for (const [m, body] of [['GET'], ['POST', 'x'], ['DELETE']]) {
		r = await s.api(m, `/@connections/${c.id}`, body);
		assert.strictEqual(r.status, 410, `${m} of a closed id: ${r.status}`);
	}
	const id = unknownId();
	for (const [m, body] of [['GET'], ['POST', 'x'], ['DELETE']]) {
		r = await s.api(m, `/@connections/${id}`, body);
		assert.strictEqual(r.status, 410, `${m} of an unknown id: ${r.status}`);
	}
	// Without a code: 1000.
	const d = await s.connectId('/ws');
	r = await s.api('DELETE', `/@connections/${d.id}`);
	assert.ok(r.status >= 200 && r.status < 300);
	assert.strictEqual((await d.closed()).code, 1000);
	// A closed client's id, closed from its side.
	const e = await s.connectId('/ws');
	e.close(1000);
	await e.closed();
	await h.waitFor(async () => (await s.api('GET', `/@connections/${e.id}`)).status === 410,
	    3000, 'GET of a client-closed id to say 410');
});

h.stackTest('channel publishes reach every member and no one else', stack, async (s) => {
	const a = await s.connectId('/ws');
	const b = await s.connectId('/ws');
	const c = await s.connectId('/ws');
	assert.deepStrictEqual(await a.request({ type: 'join', channel: 'room1' }),
	    { type: 'joined', channel: 'room1' });
	assert.deepStrictEqual(await b.request({ type: 'join', channel: 'room1' }),
	    { type: 'joined', channel: 'room1' });
	assert.deepStrictEqual(await c.request({ type: 'join', channel: 'room2' }),
	    { type: 'joined', channel: 'room2' });

	let r = await s.api('POST', '/@channels/room1', 'to room1', { 'Content-Type': 'text/plain' });
	assert.ok(r.status >= 200 && r.status < 300, `publish: ${r.status} ${r.text}`);
	assert.strictEqual((await a.next()).text, 'to room1');
	assert.strictEqual((await b.next()).text, 'to room1');
	await c.noFrame(300);

	const bin = Buffer.from([9, 8, 7]);
	r = await s.api('POST', '/@channels/room1', bin, { 'Content-Type': 'application/octet-stream' });
	assert.ok(r.status >= 200 && r.status < 300);
	for (const x of [a, b]) {
		const f = await x.next();
		assert.strictEqual(f.isBinary, true);
		assert.ok(f.data.equals(bin));
	}

	assert.deepStrictEqual(await a.request({ type: 'leave', channel: 'room1' }),
	    { type: 'left', channel: 'room1' });
	r = await s.api('POST', '/@channels/room1', 'second', { 'Content-Type': 'text/plain' });
	assert.ok(r.status >= 200 && r.status < 300);
	assert.strictEqual((await b.next()).text, 'second');
	await a.noFrame(300);
	await c.noFrame(0);

	// A member that disconnects is dropped from the channel.
	b.close(1000);
	await b.closed();
	await s.waitDisconnect(b.id);
	r = await s.api('POST', '/@channels/room1', 'nobody', { 'Content-Type': 'text/plain' });
	assert.ok(r.status < 500, `publish to an empty channel: ${r.status}`);
	r = await s.api('POST', '/@channels/room2', 'to room2', { 'Content-Type': 'text/plain' });
	assert.strictEqual((await c.next()).text, 'to room2');
	await a.noFrame(200);
});

h.stackTest('/healthz answers 200', stack, async (s) => {
	const r = await s.api('GET', '/healthz');
	assert.strictEqual(r.status, 200);
	const nf = await s.api('GET', '/no/such/path');
	assert.strictEqual(nf.status, 404);
});

h.stackTest('/metrics is Prometheus text and its counters move', stack, async (s) => {
	const raw = await s.api('GET', '/metrics');
	assert.strictEqual(raw.status, 200);
	assert.match(String(raw.headers['content-type']), /^text\/plain/);
	// Every line: a comment or name{labels} value.
	for (const line of raw.text.split('\n')) {
		if (line === '' || line.startsWith('#'))
			continue;
		assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?([0-9.]+([eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)( -?\d+)?$/);
	}
	for (const line of raw.text.split('\n').filter((l) => l.startsWith('# TYPE ')))
		assert.match(line, /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/);
	const m0 = h.parseMetrics(raw.text);

	const conns = 'wsrouter_connections';
	const msgsIn = 'wsrouter_messages_in_total';
	const msgsOut = 'wsrouter_messages_out_total';
	const bytesIn = 'wsrouter_bytes_in_total';
	const bytesOut = 'wsrouter_bytes_out_total';
	for (const name of [conns, 'wsrouter_connections_total', msgsIn, msgsOut, bytesIn, bytesOut])
		assert.notStrictEqual(h.metricSum(m0, name), undefined, `no ${name}`);
	assert.strictEqual(h.metricSum(m0, 'wsrouter_queue_drops_total'), 0);
	const accepted0 = h.metricSum(m0, 'wsrouter_connections_total');

	const c = await s.connect('/ws');
	const n = 7;
	for (let i = 0; i < n; i++)
		assert.deepStrictEqual(await c.request({ type: 'echo', i }), { type: 'echo', i });
	await c.send({ type: 'broken' });
	h.assertErrorFrame(await c.json(), 'handler_unavailable', 'broken');
	const m1 = await s.metrics();

	assert.strictEqual(h.metricSum(m1, conns) - h.metricSum(m0, conns), 1,
	    `${conns} with one more client open`);
	assert.strictEqual(h.metricSum(m1, 'wsrouter_connections_total') - accepted0, 1);
	assert.strictEqual(h.metricSum(m1, msgsIn) - h.metricSum(m0, msgsIn), n + 1, msgsIn);
	// The n echoes and the error frame.
	assert.strictEqual(h.metricSum(m1, msgsOut) - h.metricSum(m0, msgsOut), n + 1, msgsOut);
	const sent = n * JSON.stringify({ type: 'echo', i: 0 }).length +
	    JSON.stringify({ type: 'broken' }).length;
	assert.strictEqual(h.metricSum(m1, bytesIn) - h.metricSum(m0, bytesIn), sent, bytesIn);
	assert.ok(h.metricSum(m1, bytesOut) - h.metricSum(m0, bytesOut) >= sent, bytesOut);

	// Handler invocations by route and status.
	const invName = 'wsrouter_handler_invocations_total';
	const inv = m1.filter((x) => x.name === invName);
	assert.ok(inv.length > 0, `no ${invName}`);
	assert.ok(inv.every((x) => x.labels.route !== undefined && x.labels.status !== undefined),
	    `${invName} without route and status labels`);
	const byRoute = (ms, route, status) => ms.filter((x) => x.name === invName &&
	    x.labels.route === route && (status === undefined || x.labels.status === status))
	    .reduce((a, x) => a + x.value, 0);
	assert.strictEqual(byRoute(m1, '$default', '200') - byRoute(m0, '$default', '200'), n,
	    `${invName}{route="$default",status="200"}`);
	assert.ok(byRoute(m1, '$connect', '200') >= 1, `${invName}{route="$connect",status="200"}`);
	assert.strictEqual(byRoute(m1, 'broken') - byRoute(m0, 'broken'), 1,
	    `${invName}{route="broken"}`);

	// A latency histogram.
	const buckets = m1.filter((x) => x.name.endsWith('_bucket') && x.labels.le !== undefined);
	assert.ok(buckets.length > 0, 'no histogram buckets');
	const hist = 'wsrouter_handler_duration_seconds';
	assert.ok(m1.some((x) => x.name === `${hist}_sum`), `${hist}_sum`);
	assert.ok(m1.some((x) => x.name === `${hist}_count`), `${hist}_count`);
	assert.ok(buckets.some((x) => x.name === `${hist}_bucket` && x.labels.le === '+Inf'),
	    `${hist}_bucket{le="+Inf"}`);
	const cnt0 = h.metricSum(m0, `${hist}_count`) || 0;
	assert.ok(h.metricSum(m1, `${hist}_count`) - cnt0 >= n, `${hist}_count moved`);
	// Buckets are cumulative.
	const series = m1.filter((x) => x.name === `${hist}_bucket`);
	const key = (x) => JSON.stringify(Object.entries(x.labels).filter(([k]) => k !== 'le').sort());
	const groups = new Map();
	for (const x of series) {
		if (!groups.has(key(x)))
			groups.set(key(x), []);
		groups.get(key(x)).push(x);
	}
	for (const g of groups.values()) {
		g.sort((p, q) => Number(p.labels.le === '+Inf' ? Infinity : p.labels.le) -
		    Number(q.labels.le === '+Inf' ? Infinity : q.labels.le));
		for (let i = 1; i < g.length; i++)
			assert.ok(g[i].value >= g[i - 1].value, `non-cumulative buckets ${key(g[i])}`);
	}

	// Errors by kind.
	const errs = (ms, kind) => h.metricSum(ms, 'wsrouter_errors_total', { kind });
	assert.strictEqual(errs(m1, 'handler_unavailable') - (errs(m0, 'handler_unavailable') || 0), 1,
	    'wsrouter_errors_total{kind="handler_unavailable"}');
	assert.strictEqual(errs(m1, 'handler_timeout'), 0);
	assert.strictEqual(h.metricSum(m1, 'wsrouter_queue_drops_total'), 0);
});
