'use strict';
// failures.js: handler failures turn into the documented error frames,
// and the connection and the router survive every one of them.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

// Messages pick their pool by the "pool" field; the handler acts on "type".
function stack(globals = {}) {
	return {
		pools: { good: { workers: 2 }, stale: {}, crashy: {}, slow: {}, narrow: {}, qt: {} },
		globals,
		config: (s) => s.poolConf('good') +
		    s.poolConf('down', '', 'nothing-here') +
		    s.poolConf('stale') +
		    s.poolConf('crashy') +
		    s.poolConf('slow', 'first_byte_timeout 1s\nidle_timeout 1s') +
		    s.poolConf('narrow', 'concurrency 1\nqueue 1\nqueue_timeout 10s') +
		    s.poolConf('qt', 'concurrency 1\nqueue 5\nqueue_timeout 500ms') + `
endpoint /ws {
	route_selection pool
	route $connect good
	route $disconnect good
	route down down
	route stale stale
	route crashy crashy
	route slow slow
	route narrow narrow
	route qt qt
	route $default good
}
`,
	};
}

// The connection and the router still work.
async function survives(s, c) {
	const tag = Math.random().toString(36).slice(2);
	await c.send({ type: 'echo', tag });
	const r = await c.jsonWhere((f) => f.type === 'echo' && f.tag === tag, 5000);
	assert.strictEqual(r.tag, tag);
	assert.strictEqual(c.closeInfo, null, 'the connection was closed');
	assert.ok(await s.healthy(), '/healthz');
	assert.ok(s.routerAlive(), 'the router died');
}

h.stackTest('a pool with nothing listening gives handler_unavailable', stack(), async (s) => {
	await s.killPool('stale');	// leaves its socket file behind
	const c = await s.connect('/ws');
	for (const pool of ['down', 'stale', 'down']) {
		const t0 = Date.now();
		await c.send({ pool, type: 'echo' });
		const e = await c.json(5000);
		h.assertErrorFrame(e, 'handler_unavailable', pool);
		assert.ok(Date.now() - t0 < 2500, `${pool}: answer took ${Date.now() - t0} ms`);
		await survives(s, c);
	}
});

h.stackTest('a worker killed mid-stream: frames, then handler_error', stack(), async (s) => {
	const c = await s.connect('/ws');
	await c.send({ pool: 'crashy', type: 'stream', n: 200, interval_ms: 30, size: 16 });
	for (let i = 0; i < 3; i++) {
		const f = await c.json(5000);
		assert.strictEqual(f.type, 'chunk');
		assert.strictEqual(f.seq, i);
	}
	await s.killPool('crashy');
	let next = 3;
	let err = null;
	for (let i = 0; i < 250 && !err; i++) {
		const f = await c.json(5000);
		if (f.type === 'chunk') {
			assert.strictEqual(f.seq, next++, 'chunks out of order or missing');
		} else {
			err = f;
		}
	}
	h.assertErrorFrame(err, 'handler_error', 'crashy');
	assert.ok(next < 200, 'the stream completed although its worker was killed');
	await c.noFrame(300);
	await survives(s, c);
	// The pool is gone now: its messages are unavailable, quickly.
	await c.send({ pool: 'crashy', type: 'echo' });
	h.assertErrorFrame(await c.json(5000), 'handler_unavailable', 'crashy');
	await survives(s, c);
});

h.stackTest('a handler that crashes after a frame gives handler_error', stack(), async (s) => {
	const c = await s.connect('/ws');
	await c.send({ pool: 'crashy', type: 'crash' });
	assert.deepStrictEqual(await c.json(5000), { type: 'before-crash' });
	h.assertErrorFrame(await c.json(5000), 'handler_error', 'crashy');
	await survives(s, c);
});

h.stackTest('a stopped worker gives handler_timeout (first byte and idle)', stack(), async (s) => {
	const c = await s.connect('/ws');
	const [pid] = s.pool('slow').pids;
	// Warm up, so the worker is waiting in accept.
	assert.strictEqual((await c.request({ pool: 'slow', type: 'echo', n: 0 })).n, 0);

	await h.stopProcess(pid);
	let t0 = Date.now();
	await c.send({ pool: 'slow', type: 'echo', n: 1 });
	h.assertErrorFrame(await c.json(6000), 'handler_timeout', 'slow');
	let ms = Date.now() - t0;
	assert.ok(ms >= 800 && ms < 4000, `first-byte timeout after ${ms} ms`);
	await survives(s, c);
	await h.contProcess(pid);
	await h.sleep(300);

	// A stream that stops halfway.
	await c.send({ pool: 'slow', type: 'stream', n: 200, interval_ms: 50, size: 16 });
	for (let i = 0; i < 2; i++)
		assert.strictEqual((await c.jsonWhere((f) => f.type === 'chunk', 5000)).seq, i);
	t0 = Date.now();
	await h.stopProcess(pid);
	let err = null;
	for (let i = 0; i < 50 && !err; i++) {
		const f = await c.json(6000);
		if (f.type !== 'chunk')
			err = f;
	}
	h.assertErrorFrame(err, 'handler_timeout', 'slow');
	ms = Date.now() - t0;
	assert.ok(ms >= 700 && ms < 4000, `idle timeout after ${ms} ms`);
	await h.contProcess(pid);
	await survives(s, c);
});

h.stackTest('a hanging handler gives handler_timeout', stack(), async (s) => {
	const c = await s.connect('/ws');
	await c.send({ pool: 'slow', type: 'hang' });
	h.assertErrorFrame(await c.json(6000), 'handler_timeout', 'slow');
	await survives(s, c);
});

h.stackTest('a full pool and queue give busy; the queued ones still run', stack(), async (s) => {
	const c = await s.connect('/ws');
	const t0 = Date.now();
	for (let i = 0; i < 3; i++)
		await c.send({ pool: 'narrow', type: 'slowfirst', delay_ms: 1500 });
	// One runs, one waits, the third is refused at once.
	const e = await c.json(5000);
	h.assertErrorFrame(e, 'busy', 'narrow');
	assert.ok(Date.now() - t0 < 1400, `busy after ${Date.now() - t0} ms`);
	assert.deepStrictEqual(await c.json(5000), { type: 'late' });
	assert.deepStrictEqual(await c.json(5000), { type: 'late' });
	const ms = Date.now() - t0;
	// One after the other: concurrency 1.
	assert.ok(ms >= 2800, `two queued requests took only ${ms} ms at concurrency 1`);
	await c.noFrame(300);
	await survives(s, c);
});

h.stackTest('a wait in the queue past queue_timeout gives busy', stack(), async (s) => {
	const c = await s.connect('/ws');
	const t0 = Date.now();
	await c.send({ pool: 'qt', type: 'slowfirst', delay_ms: 2500 });
	await c.send({ pool: 'qt', type: 'echo', n: 2 });
	const e = await c.json(5000);
	h.assertErrorFrame(e, 'busy', 'qt');
	const ms = Date.now() - t0;
	assert.ok(ms >= 400 && ms < 2300, `queue timeout after ${ms} ms`);
	assert.deepStrictEqual(await c.json(5000), { type: 'late' });
	await survives(s, c);
});

h.stackTest('max_inflight limits one connection, not the others', stack({ max_inflight: 2 }), async (s) => {
	const c = await s.connect('/ws');
	const other = await s.connect('/ws');
	for (let i = 0; i < 3; i++)
		await c.send({ type: 'slowfirst', delay_ms: 1000 });
	h.assertErrorFrame(await c.json(3000), 'busy', '$default');
	// Another connection is not limited by this one.
	const t0 = Date.now();
	assert.deepStrictEqual(await other.request({ type: 'echo', x: 1 }), { type: 'echo', x: 1 });
	assert.ok(Date.now() - t0 < 900, 'another connection waited for the busy one');
	assert.deepStrictEqual(await c.json(5000), { type: 'late' });
	assert.deepStrictEqual(await c.json(5000), { type: 'late' });
	// With the slots free again, it runs.
	await survives(s, c);
});

h.stackTest('a handler status turns into handler_status after its body', stack(), async (s) => {
	const c = await s.connect('/ws');
	for (const code of [400, 404, 500, 503]) {
		await c.send({ type: 'status', code });
		assert.deepStrictEqual(await c.json(), { type: 'status-body' });
		const e = await c.json();
		h.assertErrorFrame(e, 'handler_status', '$default');
		assert.strictEqual(e.status, code);
	}
	await survives(s, c);
});
