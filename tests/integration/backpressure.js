'use strict';
// backpressure.js: a client that stops reading holds the handler back
// instead of growing the router; nothing is lost when it reads again.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

const MB = 1024;	// in KiB, as VmRSS counts

// Assert the router grew by less than limit KiB (where RSS means anything).
function assertRss(t, grown, limit, what) {
	t.diagnostic(`router RSS grew by ${(grown / MB).toFixed(1)} MB ${what}`);
	if (h.routerRssMeaningful())
		assert.ok(grown < limit, `router RSS grew by ${(grown / MB).toFixed(1)} MB ${what}`);
}

function stack(globals = {}) {
	return {
		pools: { main: {} },
		globals: Object.assign({
			send_queue_high: '256k',
			send_queue_low: '64k',
			idle_timeout: '0',
			ping_interval: '0',
		}, globals),
		timeout: 120000,
		config: (s) => s.poolConf('main', 'idle_timeout 30s\nfirst_byte_timeout 30s') + `
endpoint /ws {
	route $connect main
	route $disconnect main
	route $default main
}
`,
	};
}

h.stackTest('a paused reader holds the handler back; every frame arrives after', stack(), async (s, t) => {
	const c = await s.connect('/ws');
	assert.deepStrictEqual(await c.request({ type: 'echo' }), { type: 'echo' });
	const other = await s.connect('/ws');
	const pid = s.router.pid;
	const base = h.rssKb(pid);

	const n = 800;
	const size = 65536;	// about 52 MB in all
	c.ws._socket.pause();
	await c.send({ type: 'stream', n, interval_ms: 0, size });

	let peak = base;
	const pauseEnd = Date.now() + 4000;
	let probes = 0;
	while (Date.now() < pauseEnd) {
		await h.sleep(100);
		peak = Math.max(peak, h.rssKb(pid));
		if (probes++ % 10 === 5) {
			// The router still serves everyone else promptly.
			const t0 = Date.now();
			const r = await other.request({ type: 'echo', p: probes });
			assert.strictEqual(r.p, probes);
			assert.ok(Date.now() - t0 < 1000, `echo took ${Date.now() - t0} ms during the flood`);
		}
	}
	assertRss(t, peak - base, 64 * MB, 'while the client was paused');
	assert.ok(s.routerAlive());

	const resumedAt = h.nowUs();
	c.ws._socket.resume();
	let done = null;
	const seqs = [];
	let after = 0;
	for (let i = 0; i < n + 1 && !done; i++) {
		const f = await c.json(30000);
		if (f.type === 'done') {
			done = f;
			break;
		}
		assert.strictEqual(f.type, 'chunk', `unexpected frame ${JSON.stringify(f).slice(0, 300)}`);
		assert.strictEqual(f.pad.length >= size / 2, true, 'short frame');
		seqs.push(f.seq);
		if (f.ts_us > resumedAt)
			after++;
	}
	assert.deepStrictEqual(done, { type: 'done', n });
	assert.strictEqual(seqs.length, n);
	for (let i = 0; i < n; i++)
		assert.strictEqual(seqs[i], i, `frame ${i} has seq ${seqs[i]}`);
	t.diagnostic(`${after} of ${n} frames were written after the resume`);
	// Most of the stream was written after the client resumed: the
	// handler had been blocked, not buffered into the router.
	assert.ok(after >= n / 2, `only ${after} of ${n} frames were written after the resume`);

	const m = await s.metrics();
	assert.strictEqual(h.metricSum(m, 'wsrouter_queue_drops_total'), 0);
	assert.strictEqual(c.closeInfo, null);
});

h.stackTest('a flood of small frames to a paused reader loses none', stack(), async (s, t) => {
	const c = await s.connect('/ws');
	const n = 20000;
	const size = 200;
	c.ws._socket.pause();
	await c.send({ type: 'flood', n, size });
	await h.sleep(1500);
	// Meanwhile the handler is held back, so the queue stays small.
	const id = (await (await s.connect('/ws')).request({ type: 'whoami' })).connection_id;
	assert.ok(id);
	c.ws._socket.resume();
	for (let i = 0; i < n; i++) {
		const f = await c.next(10000);
		assert.strictEqual(f.data.length, size, `frame ${i} has ${f.data.length} bytes`);
		const seq = JSON.parse(f.text).seq;
		if (seq !== i)
			assert.fail(`frame ${i} has seq ${seq}`);
	}
	assert.deepStrictEqual(await c.json(10000), { type: 'done', n });
	assert.strictEqual(h.metricSum(await s.metrics(), 'wsrouter_queue_drops_total'), 0);
});

h.stackTest('pushes to a client that never reads stay bounded by send_queue_max',
    stack({ send_queue_max: '2m' }), async (s, t) => {
	const c = await s.connectId('/ws');
	const pid = s.router.pid;
	const base = h.rssKb(pid);
	c.ws._socket.pause();
	const body = Buffer.alloc(65536, 0x61);
	let accepted = 0;
	let refused = null;
	let peak = base;
	for (let i = 0; i < 400 && refused === null; i++) {
		const r = await s.api('POST', `/@connections/${c.id}`, body,
		    { 'Content-Type': 'text/plain' });
		if (r.status >= 200 && r.status < 300)
			accepted++;
		else
			refused = r.status;
		if (i % 20 === 0)
			peak = Math.max(peak, h.rssKb(pid));
	}
	assert.notStrictEqual(refused, null, `all ${accepted} pushes of 64 KiB were accepted`);
	assertRss(t, peak - base, 64 * MB, 'under pushes');
	if (refused === 429) {
		// Refused, not queued: the queue stays under the cap.
		const info = (await s.api('GET', `/@connections/${c.id}`)).json();
		assert.ok(info.queuedBytes <= 2 * 1024 * 1024, `queuedBytes ${info.queuedBytes}`);
	} else {
		// Or closed, as the contract's close code 1008 says.
		assert.strictEqual(refused, 410, `push refused with ${refused}`);
		const d = await s.waitDisconnect(c.id, 5000);
		assert.strictEqual(d[0].code, 1008);
	}
	// Reading again, the client gets every accepted frame, in full.
	c.ws._socket.resume();
	let got = 0;
	while (got < accepted) {
		const f = await c.next(10000);
		assert.strictEqual(f.data.length, body.length);
		got++;
	}
	if (refused === 429) {
		await c.noFrame(200);
		assert.strictEqual((await c.request({ type: 'echo', ok: 1 })).ok, 1);
	}
	assert.strictEqual(h.metricSum(await s.metrics(), 'wsrouter_queue_drops_total'), 0);
});

h.stackTest('channel publishes to a member that never reads close it with 1008',
    stack({ send_queue_max: '2m' }), async (s, t) => {
	const c = await s.connectId('/ws');
	const other = await s.connectId('/ws');
	assert.strictEqual((await c.request({ type: 'join', channel: 'news' })).type, 'joined');
	const pid = s.router.pid;
	const base = h.rssKb(pid);
	c.ws._socket.pause();
	const body = Buffer.alloc(65536, 0x62);
	let peak = base;
	let closed = false;
	for (let i = 0; i < 400 && !closed; i++) {
		const r = await s.api('POST', '/@channels/news', body, { 'Content-Type': 'text/plain' });
		assert.ok(r.status >= 200 && r.status < 300, `publish ${i}: ${r.status}`);
		if (i % 10 === 0) {
			peak = Math.max(peak, h.rssKb(pid));
			closed = s.disconnects().some((d) => d.id === c.id);
		}
	}
	// The close frame cannot reach a client that does not read; the
	// connection must still end, and DISCONNECT must say why.
	const d = await s.waitDisconnect(c.id, 12000);
	assert.strictEqual(d.length, 1);
	assert.strictEqual(d[0].code, 1008, `DISCONNECT ${d[0].line}`);
	assertRss(t, peak - base, 64 * MB, 'under publishes');
	assert.strictEqual((await s.api('GET', `/@connections/${c.id}`)).status, 410);
	c.ws._socket.resume();
	const cl = await c.closed(10000);
	assert.ok(cl.code === 1008 || cl.code === 1006, `client saw close ${cl.code}`);
	// Everyone else is fine.
	assert.strictEqual((await other.request({ type: 'echo', ok: 2 })).ok, 2);
	const m = await s.metrics();
	assert.ok(h.metricSum(m, 'wsrouter_errors_total', { kind: 'queue_overflow' }) >= 1);
});
