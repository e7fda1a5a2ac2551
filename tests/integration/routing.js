'use strict';
// routing.js: route selection by a JSON field, $default, no_route, and
// text and binary frames in both directions.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

// Two pools of the same handler; "b" is killed midway, so whatever still
// answers afterwards was routed to "a".
const twoPools = {
	pools: { a: {}, b: {} },
	config: (s) => s.poolConf('a') + s.poolConf('b') + `
endpoint /ws {
	route_selection type
	route $connect a
	route $disconnect a
	route whoami a
	route binary b
	route plain b
	route $default a
}
endpoint /act {
	route_selection $request.body.action
	route go a
	route stop b
	route $default a
}
endpoint /deep {
	route_selection meta.kind
	route k1 a
	route $default a
}
endpoint /nodefault {
	route $connect a
	route whoami a
}
`,
};

h.stackTest('the route key selects the pool; keys of a dead pool fail alone', twoPools, async (s) => {
	const c = await s.connect('/ws');
	let w = await c.request({ type: 'whoami' });
	assert.strictEqual(w.route_key, 'whoami');
	assert.strictEqual(w.event, 'MESSAGE');
	assert.strictEqual(w.endpoint, '/ws');

	await c.send({ type: 'plain', x: 1 });
	assert.strictEqual((await c.next()).text, 'plain:{"type":"plain","x":1}');
	await s.killPool('b');

	// plain and binary go to pool b, which is gone now.
	await c.send({ type: 'plain' });
	h.assertErrorFrame(await c.json(), 'handler_unavailable', 'plain');
	await c.send({ type: 'binary', size: 16 });
	h.assertErrorFrame(await c.json(), 'handler_unavailable', 'binary');

	// whoami and $default go to pool a, which still answers.
	w = await c.request({ type: 'whoami' });
	assert.strictEqual(w.type, 'whoami');
	assert.strictEqual(w.route_key, 'whoami');
	const e = await c.request({ type: 'echo', v: 'still here' });
	assert.deepStrictEqual(e, { type: 'echo', v: 'still here' });

	// A binary message is never routed by its content: this one would
	// select "binary" (pool b) if it were text, but goes to $default.
	const asBinary = Buffer.from('{"type":"binary","size":4}');
	await c.send(asBinary);
	const f = await c.next();
	assert.strictEqual(f.isBinary, true, `a binary message was routed by its content: ${f.text}`);
	assert.ok(f.data.equals(asBinary));
});

h.stackTest('$request.body.action and dotted paths select routes', twoPools, async (s) => {
	const c = await s.connect('/act');
	let w = await c.request({ action: 'go', type: 'whoami' });
	assert.strictEqual(w.type, 'whoami');
	assert.strictEqual(w.route_key, 'go');
	assert.strictEqual(w.endpoint, '/act');
	// The field named "type" means nothing on this endpoint.
	w = await c.request({ type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');
	w = await c.request({ action: 'unknown-key', type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');
	// A non-string value does not select a route.
	w = await c.request({ action: 7, type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');
	w = await c.request({ action: { go: 1 }, type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');

	await s.killPool('b');
	await c.send({ action: 'stop', type: 'whoami' });
	h.assertErrorFrame(await c.json(), 'handler_unavailable', 'stop');

	const d = await s.connect('/deep');
	w = await d.request({ meta: { kind: 'k1' }, type: 'whoami' });
	assert.strictEqual(w.route_key, 'k1');
	w = await d.request({ meta: { kind: 'k2' }, type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');
	w = await d.request({ kind: 'k1', type: 'whoami' });
	assert.strictEqual(w.route_key, '$default');
});

h.stackTest('non-JSON text and unknown keys go to $default', twoPools, async (s) => {
	const c = await s.connect('/ws');
	// Not JSON: the handler echoes it.
	for (const text of ['hello', '{not json', '[1,2,3]', '"type"', '{"type":']) {
		await c.send(text);
		const f = await c.next();
		assert.strictEqual(f.isBinary, false);
		assert.strictEqual(f.text, text);
	}
	// An unknown key reaches $default with WS_ROUTE_KEY $default.
	const w = await c.request({ type: 'whoami', n: 1 });
	assert.strictEqual(w.route_key, 'whoami');
	const e = await c.request({ type: 'no-such-route', payload: [1, 2] });
	assert.deepStrictEqual(e, { type: 'no-such-route', payload: [1, 2] });
});

h.stackTest('without $default an unmatched message gets no_route', twoPools, async (s) => {
	const c = await s.connect('/nodefault');
	const w = await c.request({ type: 'whoami' });
	assert.strictEqual(w.route_key, 'whoami');

	for (const msg of ['not json', JSON.stringify({ type: 'echo' }), JSON.stringify({ x: 1 })]) {
		await c.send(msg);
		const f = await c.next();
		const e = JSON.parse(f.text);
		assert.deepStrictEqual(Object.keys(e).sort(),
		    ['error', 'message', 'request_id', 'route', 'timestamp', 'type'],
		    `no_route frame keys: ${f.text}`);
		h.assertErrorFrame(e, 'no_route');
		assert.ok(e.message.length > 0);
	}
	await c.send(Buffer.from([1, 2, 3]));
	h.assertErrorFrame(await c.json(), 'no_route');
	// The connection is still usable.
	const again = await c.request({ type: 'whoami' });
	assert.strictEqual(again.type, 'whoami');
});

h.stackTest('text frames both ways keep every UTF-8 character', twoPools, async (s) => {
	const c = await s.connect('/ws');
	const samples = [
		'plain ascii',
		'h\u00e9llo w\u00f6rld \u2713 \u4e2d\u6587 \ud83d\ude80',
		'x'.repeat(60000),
		'line one\nline two\r\nline three',
		'\u0000 nul inside',
	];
	for (const text of samples) {
		await c.send(text);
		const f = await c.next();
		assert.strictEqual(f.isBinary, false);
		assert.strictEqual(f.text, text);
	}
	// JSON text whose field routes it: the handler answers "plain:" + payload.
	const msg = JSON.stringify({ type: 'plain', v: '\u00e9\u2713' });
	await c.send(msg);
	const f = await c.next();
	assert.strictEqual(f.isBinary, false);
	assert.strictEqual(f.text, 'plain:' + msg);
});

h.stackTest('binary frames both ways keep every byte', twoPools, async (s) => {
	const c = await s.connect('/ws');
	const all = Buffer.alloc(256);
	for (let i = 0; i < 256; i++)
		all[i] = i;
	const big = Buffer.alloc(100000);
	for (let i = 0; i < big.length; i++)
		big[i] = (i * 7 + 3) & 255;
	// Not valid UTF-8, so it could never pass as text.
	for (const b of [all, big, Buffer.from([0xff, 0xfe, 0x00])]) {
		await c.send(b);
		const f = await c.next();
		assert.strictEqual(f.isBinary, true, 'echo of a binary message is binary');
		assert.ok(f.data.equals(b), `binary echo of ${b.length} bytes differs`);
	}
	// A binary frame produced by the handler.
	for (const size of [1, 256, 70000]) {
		await c.send({ type: 'binary', size });
		const f = await c.next();
		assert.strictEqual(f.isBinary, true);
		assert.strictEqual(f.data.length, size);
		for (let i = 0; i < size; i++)
			if (f.data[i] !== (i & 255))
				assert.fail(`byte ${i} of ${size} is ${f.data[i]}`);
	}
});
