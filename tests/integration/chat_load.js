'use strict';
// chat_load.js: the chat service under load: twenty users streaming at
// once, every answer intact on the wire and in PostgreSQL; and a client
// that stops reading mid-answer loses nothing (docs/chat-protocol.md,
// "No silent loss").

const assert = require('node:assert');
const h = require('./harness');
const cs = require('./chatstack');

cs.requireChat();

const USERS = 20;

cs.chatTest(`${USERS} users streaming at once, every answer intact`, {
	fake: { tokens: 100, tps: 100 },
	threads: 32,
}, async (s, t) => {
	const users = [];
	for (let i = 0; i < USERS; i++)
		users.push(s.user(`load${i}`));
	const clients = await Promise.all(users.map((u) => s.open(u)));
	const sessions = users.map(() => cs.uuid());
	const texts = users.map((u, i) => `load ${i} marker ${s.tag}-${i}-end`);
	const t0 = Date.now();
	const results = await Promise.all(clients.map((c, i) =>
	    cs.ask(c, sessions[i], texts[i], 30000)));
	const took = Date.now() - t0;
	t.diagnostic(`${USERS} answers of 100 tokens at 100 tokens/s in ${took} ms`);

	const recs = await Promise.all(texts.map((x) => s.fakeRecord(`${x}`, 10000)));
	for (let i = 0; i < USERS; i++) {
		const a = cs.answer(results[i]);
		const what = `user ${i}`;
		assert.ok(a.complete, `${what}: ${JSON.stringify(a.error)}`);
		assert.strictEqual(a.user.text, texts[i], what);
		assert.strictEqual(recs[i].outcome, 'complete', what);
		assert.strictEqual(recs[i].tokens_sent, 100, what);
		assert.strictEqual(a.text, recs[i].text_sent, `${what}: chunks == the model's text`);
		assert.strictEqual(a.complete.message.text, a.text, `${what}: complete == chunks`);
		assert.ok(a.chunks.length > 1 && a.chunks.length <= 100, `${what}: ${a.chunks.length}`);
		// Each client got only its own answer's frames.
		assert.deepStrictEqual(clients[i].all.slice(1).map((f) => JSON.parse(f.text).type)
		    .filter((x) => x === 'user_message'), ['user_message']);
		const stored = s.sql(`SELECT role, content, status, user_id FROM chat_messages
		    WHERE session_id = $1 ORDER BY created_at`, [sessions[i]]);
		assert.deepStrictEqual(stored.map((r) => [r.role, r.status, r.user_id]),
		    [['user', 'complete', users[i]], ['assistant', 'complete', users[i]]], what);
		assert.strictEqual(stored[0].content, texts[i], what);
		assert.strictEqual(stored[1].content, a.text, `${what}: stored == chunks`);
	}
	// They really ran at once: every stream started before any ended, and
	// the whole took far less than twenty one-second answers in a row.
	const lastStart = Math.max(...recs.map((r) => r.started_ns));
	const firstEnd = Math.min(...recs.map((r) => r.ended_ns));
	assert.ok(lastStart < firstEnd, 'the streams did not overlap');
	assert.ok(took < 10000, `${took} ms for ${USERS} one-second answers`);
	const all = s.sql(`SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'complete')::int
	    AS complete FROM chat_messages WHERE user_id = ANY(string_to_array($1, ','))`,
	[users.join(',')]);
	assert.deepStrictEqual(all, [{ n: 2 * USERS, complete: 2 * USERS }]);
	for (const c of clients)
		c.close(1000);
});

/*
 * About 2 MB of chunk frames, sent as fast as the fake model can. (On
 * loopback the kernel's socket buffers take most of it, so the router's
 * own queue stays small here; backpressure.js fills it with the test
 * handler, which writes faster.)
 */
const TOKENS = 20000;

cs.chatTest('a client that stops reading mid-answer loses nothing', {
	fake: { tokens: TOKENS, tps: 0 },
	env: { CHAT_LLM_MAX_TOKENS: String(TOKENS) },
	timeout: 60000,
}, async (s, t) => {
	const user = s.user();
	const c = await s.open(user);
	const session = cs.uuid();
	const text = `slow reader ${s.tag}`;
	await c.send({ type: 'session_message', session_id: session, message_text: text });
	let seen = 0;
	await cs.framesUntil(c, (f) => f.type === 'assistant_message_chunk' && ++seen === 20);
	// Stop reading from the socket for 3 s, then read again.
	const drops0 = h.metricSum(await s.stack.metrics(), 'wsrouter_queue_drops_total') || 0;
	c.ws._socket.pause();
	const atPause = await s.fakeRecord(text, 5000, true);
	assert.strictEqual(atPause.outcome, null, 'the answer was over before the pause');
	// Meanwhile: how much the router holds for this connection.
	const id = s.sql('SELECT id FROM ws_connections WHERE user_id = $1', [user])[0].id;
	let queued = 0;
	for (let i = 0; i < 15; i++) {
		await h.sleep(h.scaled(200));
		const r = await s.stack.api('GET', `/@connections/${encodeURIComponent(id)}`);
		assert.strictEqual(r.status, 200, r.text);
		queued = Math.max(queued, r.json().queuedBytes);
	}
	const during = await s.fakeRecord(text, 5000, true);
	c.ws._socket.resume();
	// (the frames are many: look at the newest only, not take each)
	const last = () => {
		const f = c.all[c.all.length - 1];
		return f && /"type":"(assistant_message_complete|error)"/.test(f.text) ? f : null;
	};
	await h.waitFor(last, 40000, 'the end of the answer', 50);
	const a = cs.answer(c.all.slice(1).map((f) => JSON.parse(f.text)));
	assert.strictEqual(a.types[a.types.length - 1], 'assistant_message_complete',
	    last().text.slice(0, 200));
	assert.strictEqual(a.error, null);
	const rec = await s.fakeRecord(text);
	assert.strictEqual(rec.outcome, 'complete');
	assert.strictEqual(rec.tokens_sent, TOKENS);
	assert.strictEqual(a.text, rec.text_sent, 'the chunks are the whole answer');
	assert.strictEqual(a.complete.message.text, a.text);
	const stored = s.sql(`SELECT content, status FROM chat_messages WHERE session_id = $1
	    AND role = 'assistant'`, [session]);
	assert.deepStrictEqual(stored, [{ content: a.text, status: 'complete' }]);
	t.diagnostic(`during the 3 s pause the model sent ${during.tokens_sent} of ${TOKENS} ` +
	    `tokens and the router queued at most ${queued} bytes; the answer took ` +
	    `${Math.round((rec.ended_ns - rec.started_ns) / 1e6)} ms`);
	// Not cut off, and nothing dropped.
	assert.strictEqual(c.closeInfo, null);
	assert.strictEqual(h.metricSum(await s.stack.metrics(), 'wsrouter_queue_drops_total') || 0,
	    drops0, 'the router dropped frames');
	c.close(1000);
});
