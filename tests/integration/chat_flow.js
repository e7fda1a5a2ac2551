'use strict';
// chat_flow.js: the chat service's message flow end to end, on the wire
// and in PostgreSQL: the frames of an answer and their order, timestamps,
// the stored rows, the history sent to the model and its budget, both
// providers, ping, every malformed message, U+0000 on the way in and out,
// multi-byte output cut into chunks, hostile strings stored verbatim, and
// the safety escalation (docs/chat-protocol.md).

const assert = require('node:assert');
const h = require('./harness');
const cs = require('./chatstack');

cs.requireChat();

const SYSTEM_PROMPT = 'You are the flow test assistant. Answer briefly.';
const SAFETY_PROMPT = 'The person may be in danger: be calm, direct, and point to help now.';
const CRISIS = {
	CHAT_CRISIS_HOTLINE: '555-0100',
	CHAT_CRISIS_TEXT: '55501',
	CHAT_CRISIS_MESSAGE: 'If you are in immediate danger, call 555-0100 or text 55501.',
};

// Every frame the client got on c: text JSON with a millisecond UTC
// timestamp close to its arrival.
function assertTimestamps(c) {
	assert.ok(c.all.length > 0, 'no frames at all');
	for (const f of c.all) {
		assert.strictEqual(f.isBinary, false, 'a binary frame from the chat service');
		const v = JSON.parse(f.text);
		assert.match(String(v.timestamp), cs.TIMESTAMP_RE, `timestamp of ${f.text}`);
		const skew = Math.abs(Date.parse(v.timestamp) - f.at / 1000);
		assert.ok(skew < 5000, `timestamp ${v.timestamp} is ${skew} ms from the arrival`);
	}
}

// The messages of a session, oldest first, as stored.
function rows(s, session) {
	return s.sql(`SELECT role, content, status, token_count, risk_level, intent,
	    error, connection_id, user_id, encode(convert_to(content, 'UTF8'), 'hex') AS hex
	    FROM chat_messages WHERE session_id = $1 ORDER BY created_at`, [session]);
}

/*
 * One answer on the wire against the fake model's record and the stored
 * rows: the frame order, text == chunks == text_sent == stored, the
 * user row, statuses and counts. Returns the stored assistant row.
 */
function checkAnswer(s, frames, rec, sent, stored, opts = {}) {
	const a = cs.answer(frames);
	const types = a.types.filter((x) => x !== 'assistant_message_chunk');
	const want = ['user_message'].concat(opts.escalated ? ['safety_escalation'] : [],
	    ['assistant_message_start', 'assistant_message_complete']);
	assert.deepStrictEqual(types, want, `frame order: ${a.types.join(' ')}`);
	// The chunks come between start and complete, nothing else does.
	const first = a.types.indexOf('assistant_message_chunk');
	const last = a.types.lastIndexOf('assistant_message_chunk');
	assert.ok(first > a.types.indexOf('assistant_message_start'), 'a chunk before start');
	assert.strictEqual(last, a.types.length - 2, 'chunks end right before complete');
	assert.strictEqual(a.user.text, sent, 'user_message echoes the text sent');
	assert.ok(a.chunks.length >= 1, 'no chunk');
	for (const f of a.chunks) {
		assert.strictEqual(f.is_complete, false);
		assert.strictEqual(typeof f.chunk, 'string');
		assert.notStrictEqual(f.chunk, '', 'an empty chunk');
	}
	assert.ok(a.chunks.length <= rec.tokens_sent,
	    `${a.chunks.length} chunks for ${rec.tokens_sent} tokens`);
	const m = a.complete.message;
	assert.strictEqual(m.text, a.text, 'complete text == the chunks joined');
	assert.strictEqual(rec.outcome, 'complete');
	assert.strictEqual(m.text, opts.modelText !== undefined ? opts.modelText : rec.text_sent,
	    'complete text == what the model sent');
	assert.strictEqual(m.risk_level, opts.risk || 'none');
	assert.strictEqual(m.intent, opts.intent || 'chat');

	const n = stored.length;
	assert.ok(n >= 2, `${n} rows stored`);
	const [u, asst] = stored.slice(n - 2);
	assert.strictEqual(u.role, 'user');
	assert.strictEqual(u.content, sent);
	assert.strictEqual(u.hex, Buffer.from(sent, 'utf8').toString('hex'),
	    'the user text is stored byte for byte');
	assert.strictEqual(u.status, 'complete');
	assert.strictEqual(u.token_count, null, 'a user message has no token count');
	assert.strictEqual(u.risk_level, opts.risk || 'none');
	assert.strictEqual(asst.role, 'assistant');
	assert.strictEqual(asst.content, m.text, 'stored answer == complete text');
	assert.strictEqual(asst.hex, Buffer.from(a.text, 'utf8').toString('hex'),
	    'stored answer == the chunks, byte for byte');
	assert.strictEqual(asst.status, 'complete');
	assert.ok(asst.token_count > 0, `token_count ${asst.token_count}`);
	assert.strictEqual(asst.token_count, rec.tokens_sent, 'token_count is the model\'s count');
	assert.strictEqual(asst.risk_level, opts.risk || 'none');
	assert.strictEqual(asst.intent, opts.intent || 'chat');
	assert.strictEqual(asst.error, null);
	assert.strictEqual(asst.connection_id, u.connection_id);
	return asst;
}

/*
 * The flow both providers must give: an answer streamed progressively
 * and stored, and a second message in the session sending the first
 * turn to the model after the system prompt.
 */
async function fullFlow(s, provider) {
	const user = s.user();
	const c = await s.open(user, { ws: { headers: { 'User-Agent': 'chat-flow-test/1.0' } } });
	const conn = s.sql('SELECT id FROM ws_connections WHERE user_id = $1', [user]);
	assert.strictEqual(conn.length, 1, 'one ws_connections row');

	const pong = await c.request({ type: 'ping' });
	assert.strictEqual(pong.type, 'pong');

	const session = cs.uuid();
	const text1 = `First message ${s.tag} one: I had a long day at work.`;
	const frames1 = await cs.ask(c, session, text1);
	const rec1 = await s.fakeRecord(`${s.tag} one`);
	assert.strictEqual(rec1.provider, provider);
	assert.strictEqual(rec1.model, 'fake-model');
	assert.strictEqual(rec1.stream, true);
	assert.deepStrictEqual(rec1.messages, [
		{ role: 'system', content: SYSTEM_PROMPT },
		{ role: 'user', content: text1 },
	], 'the first request: the system prompt, then the message');
	const stored1 = rows(s, session);
	assert.strictEqual(stored1.length, 2);
	const asst1 = checkAnswer(s, frames1, rec1, text1, stored1);
	assert.strictEqual(stored1[0].connection_id, conn[0].id);
	assert.strictEqual(stored1[0].user_id, user);

	// Streamed, not buffered: at 40 tokens a second the 12 chunks come
	// over about 275 ms, and the first well before the end.
	const a1 = cs.answer(frames1);
	const span = (a1.chunks[a1.chunks.length - 1].__at - a1.chunks[0].__at) / 1000;
	assert.ok(span > 150, `the chunks arrived within ${span} ms: not streamed`);
	assert.ok(a1.complete.__at - a1.chunks[0].__at > 150000, 'the first chunk came late');

	const owner = s.sql('SELECT user_id FROM chat_sessions WHERE id = $1', [session]);
	assert.deepStrictEqual(owner, [{ user_id: user }]);

	const text2 = `Second message ${s.tag} two: what can I do about it?`;
	const frames2 = await cs.ask(c, session, text2);
	const rec2 = await s.fakeRecord(`${s.tag} two`);
	assert.deepStrictEqual(rec2.messages, [
		{ role: 'system', content: SYSTEM_PROMPT },
		{ role: 'user', content: text1 },
		{ role: 'assistant', content: asst1.content },
		{ role: 'user', content: text2 },
	], 'the second request carries the first turn');
	const stored2 = rows(s, session);
	assert.strictEqual(stored2.length, 4);
	checkAnswer(s, frames2, rec2, text2, stored2);
	assertTimestamps(c);
	c.close(1000, 'done');
	await c.closed();
}

const FLOW_OPTS = {
	fake: { tokens: 12, tps: 40 },
	env: { CHAT_SYSTEM_PROMPT: SYSTEM_PROMPT },
};

cs.chatTest('the full flow over OpenAI SSE: frames, timestamps, rows, history',
    Object.assign({ provider: 'openai' }, FLOW_OPTS), async (s) => {
	await fullFlow(s, 'openai');
});

cs.chatTest('the full flow over Ollama NDJSON', Object.assign({ provider: 'ollama' }, FLOW_OPTS),
    async (s) => {
	await fullFlow(s, 'ollama');
});

cs.chatTest('malformed messages get their error frame and store nothing', {
	fake: { tokens: 3, tps: 0 },
	env: { CHAT_MAX_MESSAGE_BYTES: '64' },
}, async (s) => {
	const user = s.user();
	const c = await s.open(user);
	const before = (await s.fake.requests()).length;
	const sessions = [];
	const msg = (text, session = cs.uuid()) => {
		sessions.push(session);
		return JSON.stringify({ type: 'session_message', session_id: session,
		    message_text: text });
	};
	const cases = [
		['not json', 'bad_request'],
		['{"type":"session_message",', 'bad_request'],
		['[1,2,3]', 'bad_request'],
		['"ping"', 'bad_request'],
		['{"type":42}', 'bad_request'],
		['{}', 'bad_request'],
		['{"type":"subscribe","channel":"x"}', 'unknown_type'],
		['{"type":"PING"}', 'unknown_type'],
		[JSON.stringify({ type: 'session_message', message_text: 'no session' }),
		    'invalid_session_id'],
		[JSON.stringify({ type: 'session_message', session_id: 'not-a-uuid',
		    message_text: 'hi' }), 'invalid_session_id'],
		[JSON.stringify({ type: 'session_message', session_id: 12345,
		    message_text: 'hi' }), 'invalid_session_id'],
		[JSON.stringify({ type: 'session_message', session_id: cs.uuid() + 'x',
		    message_text: 'hi' }), 'invalid_session_id'],
		[msg(''), 'invalid_message'],
		[msg(' \t\n '), 'invalid_message'],
		[msg(42), 'invalid_message'],
		[JSON.stringify({ type: 'session_message', session_id: cs.uuid() }), 'invalid_message'],
		// U+0000, sent as the JSON escape \u0000.
		[msg('before\u0000after'), 'invalid_message'],
		[msg('\u0000'), 'invalid_message'],
		// 65 bytes, and 33 characters that are 66 bytes: the cap is bytes.
		[msg('x'.repeat(65)), 'too_large'],
		[msg('é'.repeat(33)), 'too_large'],
	];
	assert.ok(cases[16][0].includes('\\u0000'), 'U+0000 goes as the JSON escape');
	for (const [payload, code] of cases) {
		const f = await c.request(payload);
		assert.strictEqual(f.type, 'error', `${payload} -> ${JSON.stringify(f)}`);
		assert.strictEqual(f.error, code, `${payload} -> ${JSON.stringify(f)}`);
		assert.strictEqual(typeof f.message, 'string');
		assert.ok(f.message.length > 0);
	}
	// A binary frame, even one holding a valid message.
	await c.send(Buffer.from(msg('binary hello')), { binary: true });
	const fb = await c.json();
	assert.strictEqual(fb.type, 'error');
	assert.strictEqual(fb.error, 'bad_request', JSON.stringify(fb));

	assert.strictEqual(s.sql('SELECT 1 FROM chat_messages WHERE user_id = $1', [user]).length, 0,
	    'a refused message was stored');
	assert.strictEqual(s.sql('SELECT 1 FROM chat_sessions WHERE id::text = ANY(string_to_array($1, \',\'))',
	    [sessions.join(',')]).length, 0, 'a refused message made a session');
	assert.strictEqual((await s.fake.requests()).length, before, 'a refused message reached the model');

	// The connection still works, and the cap counts bytes: 32 "é" are 64.
	const f = await c.request({ type: 'ping' });
	assert.strictEqual(f.type, 'pong');
	const session = cs.uuid();
	const ok = cs.answer(await cs.ask(c, session, 'é'.repeat(32)));
	assert.ok(ok.complete, `64 bytes refused: ${JSON.stringify(ok.error)}`);
	assert.strictEqual(rows(s, session).length, 2);
	assertTimestamps(c);
});

cs.chatTest('the history sent to the model keeps to CHAT_HISTORY_MESSAGES', {
	fake: { tokens: 4, tps: 0 },
	env: { CHAT_HISTORY_MESSAGES: '3', CHAT_SYSTEM_PROMPT: SYSTEM_PROMPT },
}, async (s) => {
	const c = await s.open(s.user());
	const session = cs.uuid();
	const texts = [1, 2, 3, 4].map((i) => `turn ${i} of ${s.tag}`);
	const answers = [];
	for (const t of texts) {
		const a = cs.answer(await cs.ask(c, session, t));
		assert.ok(a.complete, JSON.stringify(a.error));
		answers.push(a.complete.message.text);
	}
	const rec3 = await s.fakeRecord(texts[2]);
	assert.deepStrictEqual(rec3.messages, [
		{ role: 'system', content: SYSTEM_PROMPT },
		{ role: 'user', content: texts[1] },
		{ role: 'assistant', content: answers[1] },
		{ role: 'user', content: texts[2] },
	], 'the newest three messages, oldest first, after the system prompt');
	const rec4 = await s.fakeRecord(texts[3]);
	assert.deepStrictEqual(rec4.messages.map((m) => m.content),
	    [SYSTEM_PROMPT, texts[2], answers[2], texts[3]]);
	// Another session's turns are never part of it.
	const other = cs.uuid();
	await cs.ask(c, other, `elsewhere ${s.tag}`);
	const rec5 = await s.fakeRecord(`elsewhere ${s.tag}`);
	assert.deepStrictEqual(rec5.messages.map((m) => m.role), ['system', 'user']);
	assert.strictEqual(rows(s, session).length, 8);
});

cs.chatTest('U+0000 in the model\'s output is dropped from chunks and stored text alike', {
	fake: { tokens: 8, tps: 0, nul: true },
}, async (s) => {
	const c = await s.open(s.user());
	const session = cs.uuid();
	const sent = `nul output ${s.tag}`;
	const frames = await cs.ask(c, session, sent);
	const rec = await s.fakeRecord(sent);
	assert.ok(rec.text_sent.includes('\u0000'), 'the fake model did send a U+0000');
	const clean = rec.text_sent.replace(/\u0000/g, '');
	checkAnswer(s, frames, rec, sent, rows(s, session), { modelText: clean });
	for (const f of c.all)
		assert.ok(!f.data.includes('\\u0000') && !f.data.includes(0), `U+0000 in ${f.text}`);
});

// Is buf valid UTF-8 on its own?
function validUtf8(buf) {
	try {
		new TextDecoder('utf-8', { fatal: true }).decode(buf);
		return true;
	} catch (e) {
		return false;
	}
}

for (const provider of ['openai', 'ollama']) {
	cs.chatTest(`multi-byte output over ${provider}: no chunk splits a character, text intact`, {
		provider,
		fake: { tokens: 64, tps: 0, multibyte: true },
	}, async (s) => {
		const c = await s.open(s.user());
		const session = cs.uuid();
		const sent = `multibyte ${provider} ${s.tag}`;
		const frames = await cs.ask(c, session, sent);
		const rec = await s.fakeRecord(sent);
		assert.ok(/[\u0800-\uffff]/.test(rec.text_sent) && /[\ud800-\udbff]/.test(rec.text_sent),
		    'the model sent 3- and 4-byte characters');
		checkAnswer(s, frames, rec, sent, rows(s, session));
		checkChunkBytes(c);
	});
}

// Each chunk frame, from its raw bytes: valid UTF-8 alone, its chunk
// free of lone surrogates (a character cut in two and escaped).
function checkChunkBytes(c) {
	let n = 0;
	for (const f of c.all) {
		assert.ok(validUtf8(f.data), `a frame is not valid UTF-8: ${f.data.toString('hex')}`);
		const v = JSON.parse(f.data.toString('utf8'));
		if (v.type !== 'assistant_message_chunk')
			continue;
		n++;
		assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v.chunk),
		    `chunk ${JSON.stringify(v.chunk)} holds half a character`);
		const bytes = Buffer.from(v.chunk, 'utf8');
		assert.ok(validUtf8(bytes));
		assert.strictEqual(bytes.toString('utf8'), v.chunk);
	}
	assert.ok(n > 10, `only ${n} chunks`);
}

cs.chatTest('hostile strings are stored and echoed verbatim', {
	fake: { echo: true, tps: 0 },
}, async (s) => {
	const user = s.user();
	const c = await s.open(user);
	const session = cs.uuid();
	const hostile = [
		'Robert\'); DROP TABLE chat_messages; --',
		'\'; DELETE FROM chat_sessions WHERE \'1\'=\'1',
		'" OR 1=1 -- \' OR \'\'=\'',
		'back\\slash \\\\ double \\x00 \\u0000 \\\' end\\',
		'$1 $2 $$ $tag$ dollar $tag$ :p1 :\'p1\' %s %n {0}',
		'E\'\\\\\' || chr(39) || \'',
		'ünïcødé 日本語 한국어 🎉 👩‍💻 \u202eevil\u202c ゼロ\u200b幅',
		'line one\nline two\r\n\ttabbed',
		'</script><script>alert(1)</script> & &amp; <b>',
	];
	for (const text of hostile) {
		const a = cs.answer(await cs.ask(c, session, text));
		assert.ok(a.complete, `${JSON.stringify(text)}: ${JSON.stringify(a.error)}`);
		assert.strictEqual(a.user.text, text, 'user_message echoes it verbatim');
		// The fake echoes the text trimmed at both ends.
		assert.strictEqual(a.complete.message.text, text.trim(), 'the answer echoes it');
		assert.strictEqual(a.text, text.trim());
	}
	const stored = rows(s, session);
	assert.strictEqual(stored.length, hostile.length * 2);
	hostile.forEach((text, i) => {
		const u = stored[2 * i];
		const asst = stored[2 * i + 1];
		assert.strictEqual(u.role, 'user');
		assert.strictEqual(u.hex, Buffer.from(text, 'utf8').toString('hex'),
		    `stored byte for byte: ${JSON.stringify(text)}`);
		assert.strictEqual(asst.hex, Buffer.from(text.trim(), 'utf8').toString('hex'));
	});
	const tables = s.sql(`SELECT count(*)::int AS n FROM information_schema.tables
	    WHERE table_name IN ('chat_messages', 'chat_sessions', 'ws_connections',
	    'safety_escalations')`);
	assert.deepStrictEqual(tables, [{ n: 4 }]);
});

cs.chatTest('a high-risk message escalates before the answer; a negated one does not', {
	fake: { tokens: 6, tps: 0 },
	env: Object.assign({ CHAT_SYSTEM_PROMPT: SYSTEM_PROMPT, CHAT_SAFETY_PROMPT: SAFETY_PROMPT },
	    CRISIS),
}, async (s) => {
	const user = s.user();
	const c = await s.open(user);
	const conn = s.sql('SELECT id FROM ws_connections WHERE user_id = $1', [user])[0];
	const escalationsBefore = await s.appEvents('safety_escalations');

	const session = cs.uuid();
	const text = `I want to kill myself tonight ${s.tag}`;
	const frames = await cs.ask(c, session, text);
	const a = cs.answer(frames);
	assert.ok(a.escalation, `no safety_escalation: ${a.types.join(' ')}`);
	assert.ok(a.types.indexOf('safety_escalation') < a.types.indexOf('assistant_message_start'),
	    'the escalation comes before the answer');
	assert.deepStrictEqual({ risk_level: a.escalation.risk_level,
	    emergency_resources: a.escalation.emergency_resources }, {
		risk_level: 'high',
		emergency_resources: {
			crisis_hotline: CRISIS.CHAT_CRISIS_HOTLINE,
			crisis_text: CRISIS.CHAT_CRISIS_TEXT,
			message: CRISIS.CHAT_CRISIS_MESSAGE,
		},
	});
	const rec = await s.fakeRecord(s.tag);
	assert.deepStrictEqual(rec.messages, [
		{ role: 'system', content: SYSTEM_PROMPT },
		{ role: 'system', content: SAFETY_PROMPT },
		{ role: 'user', content: text },
	], 'the safety prompt steers the model');
	const stored = rows(s, session);
	checkAnswer(s, frames, rec, text, stored, { escalated: true, risk: 'high',
	    intent: 'crisis_support' });
	const esc = s.sql(`SELECT e.user_id, e.connection_id, e.risk_level, e.category,
	    e.matched_phrase, e.notified_at, m.role, m.content
	    FROM safety_escalations e LEFT JOIN chat_messages m ON m.id = e.message_id
	    WHERE e.session_id = $1`, [session]);
	assert.deepStrictEqual(esc, [{ user_id: user, connection_id: conn.id, risk_level: 'high',
	    category: 'suicide', matched_phrase: esc[0] && esc[0].matched_phrase, notified_at: null,
	    role: 'user', content: text }]);
	assert.match(esc[0].matched_phrase, /kill/);
	assert.strictEqual(await s.appEvents('safety_escalations'), escalationsBefore + 1);

	// Negated: no escalation, no safety prompt, no row.
	const session2 = cs.uuid();
	const text2 = `I am not going to hurt myself, I promise ${s.tag}`;
	const frames2 = await cs.ask(c, session2, text2);
	const a2 = cs.answer(frames2);
	assert.strictEqual(a2.escalation, null, 'a negated phrase escalated');
	assert.notStrictEqual(a2.complete.message.risk_level, 'high');
	const rec2 = await s.fakeRecord('I promise');
	assert.deepStrictEqual(rec2.messages.map((m) => m.role), ['system', 'user']);
	assert.strictEqual(s.sql('SELECT 1 FROM safety_escalations WHERE session_id = $1',
	    [session2]).length, 0);
	assert.strictEqual(await s.appEvents('safety_escalations'), escalationsBefore + 1);
	assertTimestamps(c);
});

cs.chatTest('a refused high-risk message still gets the crisis resources first', {
	fake: { tokens: 4, tps: 0 },
	env: CRISIS,
}, async (s) => {
	const owner = s.user('owner');
	const other = s.user('other');
	const a = await s.open(owner);
	const session = cs.uuid();
	const first = cs.answer(await cs.ask(a, session, `hello ${s.tag}`));
	assert.ok(first.complete, 'the owner is answered');
	const b = await s.open(other);
	const crisis = `I want to kill myself ${s.tag}`;
	const cases = [
		[{ session_id: session, message_text: crisis }, 'forbidden'],
		[{ session_id: 'not-a-uuid', message_text: crisis }, 'invalid_session_id'],
		[{ session_id: cs.uuid(), message_text: `${crisis}\u0000` }, 'invalid_message'],
		[{ session_id: cs.uuid(), message_text: `${crisis} ${'x'.repeat(9000)}` }, 'too_large'],
	];
	for (const [msg, code] of cases) {
		await b.send(Object.assign({ type: 'session_message' }, msg));
		const esc = await b.json();
		assert.strictEqual(esc.type, 'safety_escalation', `${code}: ${JSON.stringify(esc)}`);
		assert.strictEqual(esc.emergency_resources.crisis_hotline, CRISIS.CHAT_CRISIS_HOTLINE);
		const err = await b.json();
		assert.strictEqual(err.type, 'error');
		assert.strictEqual(err.error, code, JSON.stringify(err));
	}
	// A refused message that is not high risk gets the error alone.
	await b.send({ type: 'session_message', session_id: session, message_text: 'hi' });
	assert.strictEqual((await b.json()).error, 'forbidden');
	await b.noFrame(200);
	// Nothing of the other user's was stored.
	assert.strictEqual(s.sql(`SELECT 1 FROM chat_messages WHERE user_id = $1
	    UNION ALL SELECT 1 FROM safety_escalations WHERE user_id = $1`, [other]).length, 0);
});

cs.chatTest('CHAT_LLM_MAX_TOKENS=0 sends no limit to the model', {
	fake: { tokens: 3, tps: 0 },
	env: { CHAT_LLM_MAX_TOKENS: '0' },
}, async (s) => {
	const c = await s.open(s.user());
	const a = cs.answer(await cs.ask(c, cs.uuid(), `no limit ${s.tag}`));
	assert.ok(a.complete, JSON.stringify(a.error));
	const rec = await s.fakeRecord(`no limit ${s.tag}`);
	assert.strictEqual(rec.max_tokens, null, `max_tokens sent: ${rec.max_tokens}`);
});
