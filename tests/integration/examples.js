'use strict';
// examples.js: the shipped example handlers (handlers/examples/echo and
// stream) behind spawn-fcgi, through the router.

const h = require('./harness');
const path = require('node:path');
const fs = require('node:fs');
const echoBin = path.join(h.paths.handlers, 'examples', 'echo');
const streamBin = path.join(h.paths.handlers, 'examples', 'stream');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', echoBin, streamBin]);
const assert = require('node:assert');

const stack = {
	pools: { echo: { bin: echoBin }, stream: { bin: streamBin } },
	config: (s) => s.poolConf('echo') + s.poolConf('stream') + `
endpoint /echo {
	route $connect echo
	route $disconnect echo
	route $default echo
}
endpoint /stream {
	route $default stream
}
`,
};

h.stackTest('examples/echo: CONNECT accepted, text and binary echoed', stack, async (s) => {
	const c = await s.connect('/echo', 'a=1');
	await c.noFrame(200);
	for (const text of ['hello', '{"type":"x","n":[1,2]}', '\u00e9\u2713\ud83d\ude80', 'y'.repeat(100000)]) {
		await c.send(text);
		const f = await c.next();
		assert.strictEqual(f.isBinary, false);
		assert.strictEqual(f.text, text);
	}
	const bin = Buffer.alloc(5000);
	for (let i = 0; i < bin.length; i++)
		bin[i] = (i * 31) & 255;
	await c.send(bin);
	const f = await c.next();
	assert.strictEqual(f.isBinary, true);
	assert.ok(f.data.equals(bin));
	// Concurrent connections each get their own answers.
	const cs = await Promise.all([1, 2, 3, 4, 5].map(() => s.connect('/echo')));
	await Promise.all(cs.map((x, i) => x.send(`conn ${i}`)));
	const got = await Promise.all(cs.map((x) => x.next()));
	assert.deepStrictEqual(got.map((x) => x.text), cs.map((x, i) => `conn ${i}`));
	c.close(1000);
	await c.closed();
});

h.stackTest('examples/stream: numbered frames arrive progressively', stack, async (s) => {
	const c = await s.connect('/stream');
	const n = 6;
	const interval = 100;
	const t0 = h.nowUs();
	await c.send({ n, interval_ms: interval });
	const frames = [];
	for (let i = 0; i < n; i++)
		frames.push(await c.json(5000));
	assert.deepStrictEqual(frames.map((f) => f.seq), [1, 2, 3, 4, 5, 6]);
	assert.ok(frames.every((f) => f.n === n));
	const first = (frames[0].__at - t0) / 1000;
	const span = (frames[n - 1].__at - frames[0].__at) / 1000;
	assert.ok(first < 0.5 * (n - 1) * interval, `first frame after ${first} ms`);
	assert.ok(span > 0.6 * (n - 1) * interval, `frames spread over ${span} ms only`);
	await c.noFrame(300);
	// Defaults: 20 frames.
	await c.send('go');
	for (let i = 1; i <= 20; i++)
		assert.deepStrictEqual(await c.json(5000), { seq: i, n: 20 });
	// A bad request gets the error frame.
	await c.send({ n: -1 });
	const e = await c.json();
	assert.strictEqual(typeof e.error, 'string', `answer to n=-1: ${JSON.stringify(e)}`);
	assert.strictEqual(e.seq, undefined);
});

h.stackTest('examples/stream stops when the client goes away', stack, async (s) => {
	const c = await s.connect('/stream');
	await c.send({ n: 1000, interval_ms: 20 });
	for (let i = 1; i <= 3; i++)
		assert.strictEqual((await c.json(5000)).seq, i);
	c.terminate();
	const log = s.pool('stream').log;
	await h.waitFor(() => /cancelled after \d+ frames/.test(fs.readFileSync(log, 'utf8')),
	    5000, 'the stream handler to notice the client left');
	const m = /cancelled after (\d+) frames/.exec(fs.readFileSync(log, 'utf8'));
	assert.ok(Number(m[1]) < 500, `cancelled only after ${m[1]} frames`);
	assert.ok(await s.healthy());
});
