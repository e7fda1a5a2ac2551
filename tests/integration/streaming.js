'use strict';
// streaming.js: frames reach the client while the handler still produces
// them, in order, in every body mode, and pushes keep their order.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

const stack = {
	pools: { main: {} },
	config: (s) => s.poolConf('main') + `
endpoint /ws {
	route $connect main
	route $disconnect main
	route $default main
}
`,
};

// Read stream chunks until "done"; returns [chunks, done].
async function readStream(c, n, timeout) {
	const chunks = [];
	for (let i = 0; i < n + 1; i++) {
		const f = await c.json(timeout);
		if (f.type === 'done')
			return [chunks, f];
		assert.strictEqual(f.type, 'chunk', `unexpected frame ${JSON.stringify(f).slice(0, 200)}`);
		chunks.push(f);
	}
	throw new Error('no done frame after the chunks');
}

h.stackTest('a stream arrives frame by frame while the handler produces it', stack, async (s) => {
	const c = await s.connect('/ws');
	// Warm up the pool so the first timing is not a cold start.
	await c.request({ type: 'echo' });
	const n = 10;
	const interval = 100;
	const sentAt = h.nowUs();
	await c.send({ type: 'stream', n, interval_ms: interval, size: 32 });
	const [chunks, done] = await readStream(c, n, 5000);
	assert.strictEqual(chunks.length, n);
	assert.deepStrictEqual(done, { type: 'done', n });
	assert.deepStrictEqual(chunks.map((x) => x.seq), [...Array(n).keys()]);

	const arrive = chunks.map((x) => x.__at);
	const made = chunks.map((x) => x.ts_us);
	const span = (arrive[n - 1] - arrive[0]) / 1000;
	const produce = (made[n - 1] - made[0]) / 1000;
	// The handler took about (n-1) * interval to produce the stream, and the
	// client saw it over about the same time, not all at the end.
	assert.ok(produce >= 0.8 * (n - 1) * interval, `produced over ${produce} ms`);
	assert.ok(span >= 0.6 * produce, `arrived over ${span} ms, produced over ${produce} ms`);
	// The first frame arrived long before the last one was even written.
	assert.ok(arrive[0] < made[n - 1] - 0.5 * (n - 1) * interval * 1000,
	    'the first frame did not arrive before the stream was half made');
	const firstMs = (arrive[0] - sentAt) / 1000;
	assert.ok(firstMs < (n - 1) * interval / 2, `first frame after ${firstMs} ms`);

	// Each gap is about the interval.
	const gaps = [];
	for (let i = 1; i < n; i++)
		gaps.push((arrive[i] - arrive[i - 1]) / 1000);
	const mg = h.median(gaps);
	assert.ok(mg > 0.5 * interval && mg < 2.5 * interval, `median gap ${mg} ms (${gaps})`);

	// Each frame arrived soon after it was written, and before the next
	// one was written (allow one straggler on a busy machine).
	const lag = chunks.map((x) => (x.__at - x.ts_us) / 1000);
	assert.ok(lag.every((l) => l > -5), `frames arrived before they were written? ${lag}`);
	assert.ok(h.median(lag) < 40, `median lag ${h.median(lag)} ms`);
	let early = 0;
	for (let i = 0; i < n - 1; i++)
		if (arrive[i] < made[i + 1])
			early++;
	assert.ok(early >= n - 2, `only ${early} of ${n - 1} frames arrived before the next was made`);
});

h.stackTest('a thousand frames arrive in order', stack, async (s) => {
	const c = await s.connect('/ws');
	const n = 1000;
	await c.send({ type: 'stream', n, interval_ms: 0, size: 100 });
	const [chunks, done] = await readStream(c, n, 10000);
	assert.strictEqual(done.n, n);
	assert.strictEqual(chunks.length, n);
	for (let i = 0; i < n; i++) {
		assert.strictEqual(chunks[i].seq, i, `frame ${i} has seq ${chunks[i].seq}`);
		assert.ok(chunks[i].pad === undefined || typeof chunks[i].pad === 'string');
	}
	// Non-decreasing production times: the handler wrote them in order.
	for (let i = 1; i < n; i++)
		assert.ok(chunks[i].ts_us >= chunks[i - 1].ts_us);
});

h.stackTest('two streams on one connection run concurrently', stack, async (s) => {
	const c = await s.connect('/ws');
	// A slow stream, then a quick echo: the echo must not wait for it.
	await c.send({ type: 'stream', n: 8, interval_ms: 150, size: 8 });
	await h.sleep(200);
	const t0 = h.nowUs();
	await c.send({ type: 'echo', tag: 'quick' });
	const e = await c.jsonWhere((f) => f.type === 'echo', 5000);
	assert.strictEqual(e.tag, 'quick');
	const ms = (e.__at - t0) / 1000;
	assert.ok(ms < 500, `echo waited ${ms} ms behind a running stream`);
	const rest = [];
	for (let i = 0; i < 20; i++) {
		const f = await c.json(5000);
		if (f.type === 'done')
			break;
		rest.push(f);
	}
	const seqs = c.all.map((f) => JSON.parse(f.text)).filter((f) => f.type === 'chunk')
	    .map((f) => f.seq);
	assert.deepStrictEqual(seqs, [0, 1, 2, 3, 4, 5, 6, 7]);
});

h.stackTest('ndjson: every line is its own frame', stack, async (s) => {
	const c = await s.connect('/ws');
	const n = 25;
	await c.send({ type: 'ndjson', n });
	for (let i = 0; i < n; i++) {
		const f = await c.next();
		assert.strictEqual(f.isBinary, false);
		assert.deepStrictEqual(JSON.parse(f.text), { line: i },
		    `frame ${i}: ${JSON.stringify(f.text)}`);
	}
	await c.noFrame(200);
	// The connection carries on.
	assert.deepStrictEqual(await c.request({ type: 'echo', i: 1 }), { type: 'echo', i: 1 });
});

h.stackTest('plain body: the whole body is one text frame', stack, async (s) => {
	const c = await s.connect('/ws');
	for (const payload of [{ type: 'plain' }, { type: 'plain', text: 'a\nb\nc', u: '\u2713' }]) {
		const msg = JSON.stringify(payload);
		await c.send(msg);
		const f = await c.next();
		assert.strictEqual(f.isBinary, false);
		assert.strictEqual(f.text, 'plain:' + msg);
	}
	await c.noFrame(200);
});

h.stackTest('pushes through the management API keep their order', stack, async (s) => {
	const a = await s.connectId('/ws');
	const b = await s.connectId('/ws');
	const n = 200;
	await a.send({ type: 'push', to: b.id, count: n });
	const got = [];
	for (let i = 0; i < n; i++) {
		const f = await b.json(10000);
		assert.strictEqual(f.type, 'push', `unexpected frame ${JSON.stringify(f)}`);
		got.push(f.seq);
	}
	assert.deepStrictEqual(got, [...Array(n).keys()]);
	// The pusher reports success; the target got nothing else.
	const r = await a.jsonWhere((f) => f.type === 'pushed', 10000);
	assert.ok(r.status >= 200 && r.status < 300, `push status ${r.status}`);
	await b.noFrame(200);

	// A single text push.
	await a.send({ type: 'push', to: b.id, text: 'hi b' });
	const f = await b.next();
	assert.strictEqual(f.isBinary, false);
	assert.strictEqual(f.text, 'hi b');
	const r2 = await a.jsonWhere((x) => x.type === 'pushed', 5000);
	assert.ok(r2.status >= 200 && r2.status < 300, `push status ${r2.status}`);
});
