'use strict';
// backpressure.js: a client that stops reading holds the handler back
// instead of growing the router; nothing is lost when it reads again.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

const MB = 1024;	// in KiB, as VmRSS counts

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

h.stackTest('a paused reader holds the handler back; every frame arrives after', stack(), async (s) => {
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
	assert.ok(peak - base < 64 * MB,
	    `router RSS grew by ${((peak - base) / MB).toFixed(1)} MB while the client was paused`);
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
	// Most of the stream was written after the client resumed: the
	// handler had been blocked, not buffered into the router.
	assert.ok(after >= n / 2, `only ${after} of ${n} frames were written after the resume`);

	const m = await s.metrics();
	assert.strictEqual(h.metricSum(m, 'wsrouter_queue_drops_total'), 0);
	assert.strictEqual(c.closeInfo, null);
});

h.stackTest('pushes to a client that never reads close it with 1008',
    stack({ send_queue_max: '2m' }), async (s) => {
	const c = await s.connectId('/ws');
	const pid = s.router.pid;
	const base = h.rssKb(pid);
	c.ws._socket.pause();
	const body = Buffer.alloc(65536, 0x61);
	let accepted = 0;
	let gone = 0;
	let peak = base;
	for (let i = 0; i < 400; i++) {
		const r = await s.api('POST', `/@connections/${c.id}`, body,
		    { 'Content-Type': 'text/plain' });
		if (r.status === 410) {
			gone++;
			break;
		}
		assert.ok(r.status >= 200 && r.status < 300, `push ${i}: status ${r.status}`);
		accepted++;
		if (i % 20 === 0)
			peak = Math.max(peak, h.rssKb(pid));
	}
	assert.strictEqual(gone, 1, `all ${accepted} pushes of 64 KiB were accepted`);
	assert.ok(peak - base < 64 * MB, `router RSS grew by ${(peak - base) / MB} MB`);
	const d = await s.waitDisconnect(c.id, 5000);
	assert.strictEqual(d.length, 1);
	assert.strictEqual(d[0].code, 1008);
	c.ws._socket.resume();
	const cl = await c.closed(10000);
	assert.ok(cl.code === 1008 || cl.code === 1006, `client saw close ${cl.code}`);
	assert.ok(await s.healthy());
	const m = await s.metrics();
	assert.ok(h.metricSum(m, 'wsrouter_queue_drops_total') !== undefined,
	    'no wsrouter_queue_drops_total');
});
