'use strict';
// connect.js: the CONNECT event: rejection close codes, identity and
// context, the handler's first frame, and CONNECT failures.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

const stack = {
	pools: { main: { workers: 2 }, auth: {}, msg: {} },
	config: (s) => s.poolConf('main') + s.poolConf('msg') +
	    s.poolConf('auth', 'first_byte_timeout 1500ms\nconcurrency 1\nqueue 0') +
	    s.poolConf('down', '', 'nothing-listens-here') + `
endpoint /ws {
	route $connect main
	route $disconnect main
	route $default msg
}
endpoint /auth {
	route $connect auth
	route $disconnect main
	route $default msg
}
endpoint /down {
	route $connect down
	route $disconnect main
	route $default msg
}
endpoint /open {
	route $disconnect main
	route $default msg
}
`,
};

h.stackTest('a rejected CONNECT closes with 4000 + status and nothing else', stack, async (s) => {
	// A witness connection: a leaked MESSAGE from a rejected connection
	// would push a frame to it.
	const witness = await s.connectId('/ws');
	for (const [status, code] of [[401, 4401], [403, 4403], [429, 4429], [500, 4500], [503, 4503], [302, 4500]]) {
		// The handler takes a while to decide, so the client's messages
		// are already at the router when the answer comes.
		const c = await s.connect('/ws', `reject=${status}&connect_delay_ms=300`);
		await c.send({ type: 'push', to: witness.id, text: `leak from ${status}` });
		await c.send('plain text that would be echoed');
		await c.send(Buffer.from([1, 2, 3]));
		const cl = await c.closed(5000);
		assert.strictEqual(cl.code, code, `reject=${status}: close code ${cl.code}`);
		assert.strictEqual(c.all.length, 0,
		    `reject=${status}: frames before the close: ${c.all.map((f) => f.text)}`);
	}
	// No MESSAGE was dispatched: nothing was pushed to the witness.
	await witness.noFrame(500);
	// And no DISCONNECT for the rejected ones.
	assert.deepStrictEqual(s.disconnects(), []);
	const w = await witness.request({ type: 'whoami' });
	assert.strictEqual(w.type, 'whoami');
});

h.stackTest('identity and context from CONNECT reach later events', stack, async (s) => {
	const c = await s.connect('/ws', 'identity=alice&x=1');
	const w = await c.request({ type: 'whoami' });
	assert.strictEqual(w.type, 'whoami');
	assert.strictEqual(w.identity, 'alice');
	assert.deepStrictEqual(w.context, { via: 'testhandler', q: 'identity=alice&x=1' });
	assert.strictEqual(w.event, 'MESSAGE');
	assert.strictEqual(w.endpoint, '/ws');
	assert.strictEqual(w.route_key, '$default');
	assert.match(w.connection_id, /^[A-Za-z0-9_-]{22}$/);
	assert.strictEqual(typeof w.request_id, 'string');
	assert.ok(w.request_id.length > 0);

	const w2 = await c.request({ type: 'whoami' });
	assert.strictEqual(w2.connection_id, w.connection_id);
	assert.notStrictEqual(w2.request_id, w.request_id, 'request ids repeat');
	assert.strictEqual(w2.identity, 'alice');

	// Another connection has another id and its own identity.
	const d = await s.connect('/ws', 'identity=bob');
	const wd = await d.request({ type: 'whoami' });
	assert.notStrictEqual(wd.connection_id, w.connection_id);
	assert.strictEqual(wd.identity, 'bob');
	assert.deepStrictEqual(wd.context, { via: 'testhandler', q: 'identity=bob' });

	// Without identity= the handler sets none, but still a context.
	const e = await s.connect('/ws', '');
	const we = await e.request({ type: 'whoami' });
	assert.ok(we.identity === null || we.identity === undefined || we.identity === '',
	    `identity without one: ${JSON.stringify(we.identity)}`);
	assert.deepStrictEqual(we.context, { via: 'testhandler', q: '' });
});

h.stackTest('messages sent during a slow CONNECT wait for its answer', stack, async (s) => {
	const c = await s.connect('/ws', 'identity=carol&connect_delay_ms=500');
	// Sent before the CONNECT handler has answered.
	await c.send({ type: 'whoami' });
	await c.send({ type: 'echo', n: 2 });
	// Two invocations may answer in either order.
	const got = [await c.json(5000), await c.json(5000)];
	const w = got.find((f) => f.type === 'whoami');
	assert.ok(w, `no whoami answer: ${JSON.stringify(got)}`);
	assert.strictEqual(w.identity, 'carol', 'a MESSAGE ran before CONNECT had set the identity');
	assert.deepStrictEqual(got.find((f) => f.type === 'echo'), { type: 'echo', n: 2 });
});

h.stackTest('the CONNECT handler can send the first frame', stack, async (s) => {
	const c = await s.connect('/ws', 'hello=1&identity=dan');
	const f = await c.json(5000);
	assert.deepStrictEqual(f, { type: 'connection', status: 'connected' });
	const w = await c.request({ type: 'whoami' });
	assert.strictEqual(w.identity, 'dan');
	// Without hello=1 there is no such frame.
	const d = await s.connect('/ws', 'identity=eve');
	await d.noFrame(300);
});

h.stackTest('set-context replaces the context for later events', stack, async (s) => {
	const c = await s.connect('/ws', 'identity=frank');
	let w = await c.request({ type: 'whoami' });
	assert.deepStrictEqual(w.context, { via: 'testhandler', q: 'identity=frank' });
	const r = await c.request({ type: 'setctx', context: { room: 'r1', n: 2, nested: { ok: true } } });
	assert.deepStrictEqual(r, { type: 'ctx-set' });
	w = await c.request({ type: 'whoami' });
	assert.deepStrictEqual(w.context, { room: 'r1', n: 2, nested: { ok: true } });
	assert.strictEqual(w.identity, 'frank', 'set-context changed the identity');
	// Other connections keep theirs.
	const d = await s.connect('/ws', 'identity=gina');
	const wd = await d.request({ type: 'whoami' });
	assert.deepStrictEqual(wd.context, { via: 'testhandler', q: 'identity=gina' });
});

h.stackTest('a crashing CONNECT handler closes with 1011', stack, async (s) => {
	const c = await s.connect('/ws', 'connect_crash=1');
	const cl = await c.closed(5000);
	assert.strictEqual(cl.code, 1011);
	assert.strictEqual(c.all.length, 0);
	// The other worker still serves new connections.
	const d = await s.connect('/ws', 'identity=ok');
	assert.strictEqual((await d.request({ type: 'whoami' })).identity, 'ok');
	assert.ok(await s.healthy());
});

h.stackTest('a CONNECT pool with nothing listening closes with 1011', stack, async (s) => {
	const c = await s.connect('/down', '');
	// The close may come before this is sent.
	await c.send({ type: 'echo' }).catch(() => {});
	const cl = await c.closed(5000);
	assert.strictEqual(cl.code, 1011);
	assert.strictEqual(c.all.length, 0);
	await h.sleep(300);
	assert.deepStrictEqual(s.disconnects(), [], 'DISCONNECT for a connection never accepted');
	// Without a $connect route every connection is accepted.
	const o = await s.connect('/open', '');
	const w = await o.request({ type: 'whoami' });
	assert.strictEqual(w.type, 'whoami');
	assert.ok(await s.healthy());
});

h.stackTest('a CONNECT handler past first_byte_timeout closes with 1011', stack, async (s) => {
	const c = await s.connect('/auth', 'connect_delay_ms=4000');
	const t0 = Date.now();
	const cl = await c.closed(6000);
	assert.strictEqual(cl.code, 1011);
	assert.ok(Date.now() - t0 < 3500, `closed after ${Date.now() - t0} ms`);
	assert.strictEqual(c.all.length, 0);
});

h.stackTest('a busy CONNECT pool closes with 1013', stack, async (s) => {
	// The auth pool runs one CONNECT at a time and queues none.
	const slow = await s.connect('/auth', 'connect_delay_ms=1000&identity=first');
	await h.sleep(100);
	const c = await s.connect('/auth', 'identity=second');
	const cl = await c.closed(5000);
	assert.strictEqual(cl.code, 1013);
	assert.strictEqual(c.all.length, 0);
	const w = await slow.request({ type: 'whoami' }, 5000);
	assert.strictEqual(w.identity, 'first');
});

h.stackTest('messages held behind a slow CONNECT are not busy at max_inflight', Object.assign({}, stack, {
	globals: { max_inflight: 2 },
}), async (s) => {
	/*
	 * The messages wait at the router while CONNECT runs, and go to the
	 * handler as soon as its answer is in: the CONNECT invocation may not
	 * have finished yet then, and must not take one of the two slots.
	 */
	for (let i = 0; i < 10; i++) {
		const c = await s.connect('/ws', 'connect_delay_ms=50');
		await c.send({ type: 'echo', n: 1 });
		await c.send({ type: 'echo', n: 2 });
		const got = [];
		while (got.length < 2) {
			const f = await c.json(5000);
			assert.notStrictEqual(f.type, 'error', `round ${i}: ${JSON.stringify(f)}`);
			if (f.type === 'echo')
				got.push(f.n);
		}
		assert.deepStrictEqual(got.sort(), [1, 2]);
		c.close();
	}
});
