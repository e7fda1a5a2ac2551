'use strict';
// chat_faults.js: the chat service when things break: the model failing
// mid-stream, answering an error status, unreachable, stalling or slow to
// start; the client leaving mid-answer (the model's transfer closed within
// a second, the answer stored as interrupted); PostgreSQL stopped and
// started under a live session; and the safety webhook retried until a
// person is told (docs/chat-protocol.md, docs/chat-handler.md).

const assert = require('node:assert');
const http = require('node:http');
const { after, before } = require('node:test');
const h = require('./harness');
const cs = require('./chatstack');

cs.requireChat();

// Made before the stacks that use them start: a port nothing listens on,
// and a webhook receiver.
let closedPort = 0;
let hook = null;
before(async () => {
	[closedPort] = await h.freePorts(1);
	hook = await webhookServer();
});
after(() => hook && hook.server.close());

// Wall-clock nanoseconds, comparable with the fake model's records.
function nowNs() {
	return Math.round((performance.timeOrigin + performance.now()) * 1e6);
}

// The session's stored messages, oldest first.
function rows(s, session) {
	return s.sql(`SELECT role, content, status, token_count, error
	    FROM chat_messages WHERE session_id = $1 ORDER BY created_at`, [session]);
}

/*
 * An interrupted answer: the frames ended by the error code, the chunks
 * so far equal to what the model sent and to the stored text, and no
 * assistant_message_complete.
 */
async function checkInterrupted(s, c, text, code, outcome) {
	const session = cs.uuid();
	const frames = await cs.ask(c, session, text);
	const a = cs.answer(frames);
	assert.ok(a.error, `no error frame: ${a.types.join(' ')}`);
	assert.strictEqual(a.error.error, code, JSON.stringify(a.error));
	assert.strictEqual(typeof a.error.message, 'string');
	assert.match(a.error.timestamp, cs.TIMESTAMP_RE);
	assert.strictEqual(a.complete, null);
	assert.deepStrictEqual(a.types.filter((x) => x !== 'assistant_message_chunk'),
	    ['user_message', 'assistant_message_start', 'error']);
	assert.strictEqual(a.user.text, text);
	let rec = null;
	if (outcome !== null) {
		rec = await s.fakeRecord(text);
		assert.strictEqual(rec.outcome, outcome, JSON.stringify(rec));
		assert.strictEqual(a.text, rec.text_sent, 'the chunks are what the model sent');
	}
	const stored = rows(s, session);
	assert.strictEqual(stored.length, 2, JSON.stringify(stored));
	assert.deepStrictEqual([stored[0].role, stored[0].content, stored[0].status],
	    ['user', text, 'complete']);
	assert.strictEqual(stored[1].role, 'assistant');
	assert.strictEqual(stored[1].status, 'interrupted');
	assert.strictEqual(stored[1].content, a.text, 'the stored answer is what was sent');
	assert.strictEqual(typeof stored[1].error, 'string', 'an interrupted row says why');
	// No more frames belong to this answer.
	await c.noFrame(100);
	return { a, rec, stored };
}

cs.chatTest('the model fails: mid-stream, with an error status, stalls, starts late', {
	fake: { tokens: 8, tps: 0 },
	env: { CHAT_LLM_STALL_TIMEOUT: '1s', CHAT_LLM_FIRST_TOKEN_TIMEOUT: '1500ms' },
}, async (s) => {
	const c = await s.open(s.user());
	const interruptedBefore = await s.appEvents('answers_interrupted');

	await s.fake.config({ error_after: 3 });
	let r = await checkInterrupted(s, c, `error after three ${s.tag}`, 'upstream_error', 'error');
	assert.strictEqual(r.a.chunks.length, 3);
	assert.strictEqual(r.rec.tokens_sent, 3);

	await s.fake.config({ error_after: 0 });
	r = await checkInterrupted(s, c, `error before any ${s.tag}`, 'upstream_error', 'error');
	assert.strictEqual(r.a.text, '');

	for (const status of [500, 429, 503, 400]) {
		await s.fake.config({ error_after: null, http_status: status });
		r = await checkInterrupted(s, c, `status ${status} ${s.tag}`, 'upstream_error',
		    'http_error');
		assert.strictEqual(r.rec.http_status, status);
		assert.strictEqual(r.a.text, '');
	}

	// A stall between tokens: the handler gives up after 1 s and closes
	// the model's connection.
	await s.fake.config({ http_status: null, hang_after: 2, hang_max_s: 20 });
	const t0 = Date.now();
	r = await checkInterrupted(s, c, `stall ${s.tag}`, 'upstream_timeout', null);
	const took = Date.now() - t0;
	assert.strictEqual(r.a.chunks.length, 2);
	const gap = (r.a.error.__at - r.a.chunks[1].__at) / 1000;
	assert.ok(gap >= 900 && gap < 4000, `the stall was cut after ${gap} ms`);
	assert.ok(took < 5000, `took ${took} ms`);
	r.rec = await s.fakeRecord(`stall ${s.tag}`);
	assert.strictEqual(r.rec.outcome, 'client_closed', 'the handler closed the stalled transfer');
	assert.strictEqual(r.rec.text_sent, r.a.text);

	// No first token within CHAT_LLM_FIRST_TOKEN_TIMEOUT.
	await s.fake.config({ hang_after: null, first_token_delay_ms: 4000 });
	r = await checkInterrupted(s, c, `late start ${s.tag}`, 'upstream_timeout', 'client_closed');
	assert.strictEqual(r.a.text, '');

	assert.ok(await s.appEvents('answers_interrupted') >= interruptedBefore + 8);
	// And then it works again.
	await s.fake.config({ first_token_delay_ms: 0 });
	assert.ok(cs.answer(await cs.ask(c, cs.uuid(), `fine again ${s.tag}`)).complete);
});

cs.chatTest('the model cannot be reached: upstream_unavailable', {
	env: {
		get CHAT_LLM_URL() {
			return `http://127.0.0.1:${closedPort}`;
		},
	},
}, async (s) => {
	// (the port was free when the stack started, and nothing listens on it)
	const c = await s.open(s.user());
	const r = await checkInterrupted(s, c, `unreachable ${s.tag}`, 'upstream_unavailable', null);
	assert.strictEqual(r.a.text, '');
	assert.deepStrictEqual(await s.fake.requests(), [], 'the fake model was asked');
	assert.strictEqual((await c.request({ type: 'ping' })).type, 'pong');
});

/*
 * Terminate the client after n chunks of an answer; the model must see
 * its connection closed within 1.5 s of that, and the answer so far is
 * stored as interrupted.
 */
async function leaveMidStream(s, user, text, n) {
	const c = await s.open(user);
	const conn = s.sql('SELECT id FROM ws_connections WHERE user_id = $1 AND ended_at IS NULL',
	    [user]);
	assert.strictEqual(conn.length, 1);
	const session = cs.uuid();
	await c.send({ type: 'session_message', session_id: session, message_text: text });
	let chunks = 0;
	const frames = await cs.framesUntil(c, (f) => f.type === 'assistant_message_chunk' &&
	    ++chunks === n, 10000);
	const closeNs = nowNs();
	c.terminate();
	const a = cs.answer(frames);
	assert.strictEqual(a.chunks.length, n);

	const rec = await s.fakeRecord(text, 5000);
	assert.strictEqual(rec.outcome, 'client_closed', JSON.stringify(rec));
	assert.ok(rec.closed_ns !== null);
	const ms = (rec.closed_ns - closeNs) / 1e6;
	assert.ok(ms > -50 && ms < 1500, `the model saw the close ${ms} ms after the client's`);
	const stored = await s.waitSql(`SELECT role, content, status, error FROM chat_messages
	    WHERE session_id = $1 ORDER BY created_at`, [session], (x) => x.length === 2,
	'the interrupted answer stored');
	assert.deepStrictEqual(stored.map((x) => [x.role, x.status]),
	    [['user', 'complete'], ['assistant', 'interrupted']]);
	assert.strictEqual(stored[1].content, rec.text_sent, 'stored: what the model sent');
	// The client got a prefix of it: chunks in flight when it left (two
	// tokens can come close together on a loaded machine) are stored, as
	// sent, but never reached it.
	assert.ok(stored[1].content.startsWith(a.text),
	    `stored ${JSON.stringify(stored[1].content)} does not start with what the client ` +
	    `got, ${JSON.stringify(a.text)}`);
	assert.strictEqual(typeof stored[1].error, 'string');
	const end = await s.waitSql('SELECT close_code FROM ws_connections WHERE id = $1',
	    [conn[0].id], (x) => x[0].close_code !== null, 'the DISCONNECT recorded');
	assert.strictEqual(end[0].close_code, 1006);
	return ms;
}

cs.chatTest('the client leaves mid-answer: the model\'s transfer is closed at once', {
	fake: { tokens: 40, tps: 5 },
}, async (s, t) => {
	const routerPid = s.stack.router.pid;
	const poolPids = s.stack.pool('chat').pids;
	const user = s.user();
	// Between tokens of a slow stream, and while the model hangs.
	const ms1 = await leaveMidStream(s, user, `slow stream ${s.tag}`, 3);
	const ms2 = await leaveMidStream(s, user, `[[fake hang_after=2 tps=0]] hanging ${s.tag}`, 2);
	t.diagnostic(`close seen by the model after ${ms1.toFixed(1)} ms and ${ms2.toFixed(1)} ms`);

	// The router and the handler go on serving.
	assert.ok(s.stack.routerAlive());
	assert.strictEqual(s.stack.router.pid, routerPid);
	assert.deepStrictEqual(s.stack.pool('chat').pids, poolPids);
	assert.ok(s.stack.pool('chat').children.every((x) => !h.exited(x)), 'a worker died');
	await s.fake.config({ tps: 0 });
	const c = await s.open(user);
	const a = cs.answer(await cs.ask(c, cs.uuid(), `after the leaving ${s.tag}`));
	assert.ok(a.complete, JSON.stringify(a.error));
});

cs.chatTest('PostgreSQL stopped under a live session, then started again', {
	fake: { tokens: 5, tps: 0 },
	timeout: 90000,
}, async (s) => {
	const user = s.user();
	const c = await s.open(user);
	assert.ok(cs.answer(await cs.ask(c, cs.uuid(), `before ${s.tag}`)).complete);
	const routerPid = s.stack.router.pid;
	const pool = s.stack.pool('chat');
	const poolPids = pool.pids;
	const unavailable0 = await s.appEvents('db_unavailable');
	const writeFailed0 = await s.appEvents('safety_write_failed');
	const fakeBefore = (await s.fake.requests()).length;

	s.pg.stop();
	try {
		// A message: a clear error, and nothing else.
		const down = cs.uuid();
		let frames = await cs.ask(c, down, `while down ${s.tag}`);
		assert.deepStrictEqual(frames.map((f) => f.type), ['error']);
		assert.strictEqual(frames[0].error, 'unavailable', JSON.stringify(frames[0]));
		assert.ok(frames[0].message.length > 0);
		assert.match(frames[0].timestamp, cs.TIMESTAMP_RE);

		// High risk: the resources still come first.
		frames = await cs.ask(c, down, `I want to end my life ${s.tag}`);
		assert.deepStrictEqual(frames.map((f) => f.type), ['safety_escalation', 'error']);
		assert.strictEqual(frames[0].risk_level, 'high');
		assert.strictEqual(frames[0].emergency_resources.crisis_hotline, '988');
		assert.strictEqual(frames[0].emergency_resources.crisis_text, '741741');
		assert.strictEqual(typeof frames[0].emergency_resources.message, 'string');
		assert.strictEqual(frames[1].error, 'unavailable');

		// No database, no new connection: 4503 before any frame.
		assert.deepStrictEqual(await s.refusal({ token: s.token(s.user()) }),
		    { code: 4503, reason: 'database unavailable', frames: [] });
		// What needs no database still works.
		assert.strictEqual((await c.request({ type: 'ping' })).type, 'pong');

		assert.ok(await s.appEvents('db_unavailable') >= unavailable0 + 2);
		assert.strictEqual(await s.appEvents('safety_write_failed'), writeFailed0 + 1);
		assert.strictEqual((await s.fake.requests()).length, fakeBefore,
		    'the model was asked while nothing could be stored');
		assert.ok(s.stack.routerAlive());
		assert.ok(pool.children.every((x) => !h.exited(x)), 'a worker died');
		for (const pid of [routerPid, ...poolPids])
			assert.ok(h.signal(pid, 0), `process ${pid} is gone`);
	} finally {
		await s.pg.start();
	}

	// Back: the same connection and a new one are served, without a
	// restart of anything.
	const again = cs.uuid();
	const a = cs.answer(await cs.ask(c, again, `after ${s.tag}`));
	assert.ok(a.complete, `same connection: ${JSON.stringify(a.error)}`);
	assert.deepStrictEqual(rows(s, again).map((x) => [x.role, x.status]),
	    [['user', 'complete'], ['assistant', 'complete']]);
	assert.strictEqual(rows(s, again)[1].content, a.text);
	const c2 = await s.open(user);
	const session2 = cs.uuid();
	const a2 = cs.answer(await cs.ask(c2, session2, `new connection ${s.tag}`));
	assert.ok(a2.complete, JSON.stringify(a2.error));
	assert.strictEqual(rows(s, session2).length, 2);
	assert.strictEqual(s.stack.router.pid, routerPid);
	assert.deepStrictEqual(pool.pids, poolPids);
	assert.ok(pool.children.every((x) => !h.exited(x)));
	// Nothing of what was refused was stored.
	assert.deepStrictEqual(s.sql(`SELECT content FROM chat_messages WHERE user_id = $1
	    AND content LIKE '%' || $2 || '%' AND (content LIKE 'while down%' OR content LIKE 'I want%')`,
	[user, s.tag]), []);
});

/*
 * A webhook receiver: answers each POST with the next status of the
 * plan (200 when the plan is used up) and keeps what it got.
 */
async function webhookServer() {
	const srv = { got: [], plan: [] };
	srv.server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (x) => chunks.push(x));
		req.on('end', () => {
			srv.got.push({ method: req.method, url: req.url, headers: req.headers,
			    body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
			const status = srv.plan.length > 0 ? srv.plan.shift() : 200;
			res.writeHead(status, { 'Content-Type': 'text/plain' });
			res.end(status === 200 ? 'ok' : 'no');
		});
	});
	await new Promise((resolve) => srv.server.listen(0, '127.0.0.1', resolve));
	srv.url = `http://127.0.0.1:${srv.server.address().port}/hook`;
	return srv;
}

cs.chatTest('the safety webhook (docs/safety.md): its body, retried after a 500, not after a 404', {
	fake: { tokens: 3, tps: 0 },
	env: {
		get CHAT_SAFETY_WEBHOOK() {
			return hook.url;
		},
		CHAT_SAFETY_WEBHOOK_RETRIES: '3',
	},
}, async (s) => {
	try {
		const user = s.user();
		const c = await s.open(user);
		const conn = s.sql('SELECT id FROM ws_connections WHERE user_id = $1', [user])[0];
		hook.plan = [500];
		const session = cs.uuid();
		const text = `I want to kill myself ${s.tag}`;
		const a = cs.answer(await cs.ask(c, session, text));
		assert.ok(a.escalation && a.complete);
		await h.waitFor(() => hook.got.length >= 2, 5000, 'two webhook calls');
		const [first, second] = hook.got;
		assert.strictEqual(first.body, second.body, 'the retry sends the same body');
		assert.ok(second.at - first.at >= 150, `retried after ${second.at - first.at} ms`);
		assert.strictEqual(first.method, 'POST');
		assert.strictEqual(first.url, '/hook');
		assert.match(first.headers['content-type'], /^application\/json/);
		assert.match(first.headers['user-agent'], /^wsrouter-chat\//);
		assert.strictEqual(first.headers.expect, undefined);
		const esc = await s.waitSql(`SELECT id, category, matched_phrase, notified_at,
		    notify_error FROM safety_escalations WHERE session_id = $1`, [session],
		(x) => x.length === 1 && x[0].notified_at !== null, 'notified_at set');
		assert.strictEqual(esc[0].notify_error, null);
		const body = JSON.parse(first.body);
		assert.match(body.timestamp, cs.TIMESTAMP_RE);
		delete body.timestamp;
		assert.deepStrictEqual(body, {
			event: 'safety_escalation',
			escalation_id: esc[0].id,
			user_id: user,
			session_id: session,
			connection_id: conn.id,
			risk_level: 'high',
			category: esc[0].category,
			matched: esc[0].matched_phrase,
			message_excerpt: text,
		});
		assert.strictEqual(hook.got.length, 2, 'called again after a success');

		// A webhook that keeps failing: four attempts, then the row says so.
		hook.got = [];
		hook.plan = [500, 503, 429, 500, 500];
		const session2 = cs.uuid();
		assert.ok(cs.answer(await cs.ask(c, session2, `I am going to kill myself ${s.tag}`))
		    .escalation);
		const esc2 = await s.waitSql(`SELECT notified_at, notify_error FROM safety_escalations
		    WHERE session_id = $1`, [session2], (x) => x.length === 1 && x[0].notify_error !== null,
		'notify_error set', 10000);
		assert.strictEqual(esc2[0].notified_at, null);
		assert.strictEqual(hook.got.length, 4, '1 + CHAT_SAFETY_WEBHOOK_RETRIES attempts');
		// A 404 is not worth another try.
		hook.got = [];
		hook.plan = [404, 200];
		const session3 = cs.uuid();
		assert.ok(cs.answer(await cs.ask(c, session3, `I will kill myself ${s.tag}`)).escalation);
		await s.waitSql(`SELECT notify_error FROM safety_escalations WHERE session_id = $1`,
		    [session3], (x) => x.length === 1 && x[0].notify_error !== null, 'notify_error set');
		await h.sleep(500);
		assert.strictEqual(hook.got.length, 1, 'a 404 was tried again');
		// A long message is cut to an excerpt on a character boundary.
		hook.got = [];
		hook.plan = [];
		const long = `I want to kill myself ${'é'.repeat(300)} ${s.tag}`;
		assert.ok(cs.answer(await cs.ask(c, cs.uuid(), long)).escalation);
		await h.waitFor(() => hook.got.length >= 1, 5000, 'the webhook call');
		const ex = JSON.parse(hook.got[0].body).message_excerpt;
		assert.ok(ex.length > 0 && long.startsWith(ex) && Buffer.byteLength(ex) <= 200,
		    `excerpt ${JSON.stringify(ex)}`);
	} finally {
		hook.plan = [];
	}
});
