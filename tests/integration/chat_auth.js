'use strict';
// chat_auth.js: who may connect to the chat service, and what is kept of
// it: the JWT attack set over the wire (each refused with 4401 before any
// frame, leaving no connection row), HS256 and RS256 pinning, the three
// places a token may come from, the handler's refusal to start with a
// weak key, the ws_connections rows and the per-user limit with stale
// rows reconciled, and isolation between users' sessions (docs/auth.md,
// docs/chat-protocol.md, docs/database.md).

const assert = require('node:assert');
const child_process = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, test } = require('node:test');
const h = require('./harness');
const cs = require('./chatstack');

cs.requireChat();

const ISSUER = 'https://auth.chat-test.example';
const AUDIENCE = 'chat-test';

// One RSA pair for the file: the handler gets the public key as a file.
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrt-jwt-'));
after(() => fs.rmSync(keyDir, { recursive: true, force: true }));
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
const privatePem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' });
const publicFile = path.join(keyDir, 'public.pem');
const privateFile = path.join(keyDir, 'private.pem');
fs.writeFileSync(publicFile, publicPem);
fs.writeFileSync(privateFile, privatePem, { mode: 0o600 });

function b64url(x) {
	return Buffer.from(x).toString('base64url');
}

function signRS256(claims, header = { alg: 'RS256', typ: 'JWT' }) {
	const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
	return `${input}.${crypto.sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`;
}

function unsigned(claims, header) {
	return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.`;
}

function now() {
	return Math.floor(Date.now() / 1000);
}

/*
 * Each case: a refused connection closes with 4401 and the reason,
 * before any frame, and leaves no ws_connections row for its user.
 */
async function assertRefused(s, name, user, dialOpts, reason) {
	const r = await s.refusal(dialOpts);
	assert.deepStrictEqual(r, { code: 4401, reason, frames: [] }, name);
	if (user !== null) {
		assert.deepStrictEqual(s.sql('SELECT id FROM ws_connections WHERE user_id = $1',
		    [user]), [], `${name}: a connection row`);
	}
}

cs.chatTest('HS256 with issuer and audience: the JWT attack set is refused with 4401', {
	env: { CHAT_JWT_ISSUER: ISSUER, CHAT_JWT_AUDIENCE: AUDIENCE },
}, async (s) => {
	const rowsBefore = s.sql('SELECT count(*)::int AS n FROM ws_connections')[0].n;
	const claims = (sub, extra = {}) => Object.assign({ sub, iat: now(), exp: now() + 600,
	    iss: ISSUER, aud: AUDIENCE }, extra);
	const tokens = [];
	const refuse = async (name, token, reason, user) => {
		tokens.push(token);
		await assertRefused(s, name, user, { token }, reason);
	};

	await assertRefused(s, 'no token', null, { token: null }, 'missing token');
	await assertRefused(s, 'an empty token', null, { token: '' }, 'missing token');
	let u = s.user('none');
	await refuse('alg none', unsigned(claims(u), { alg: 'none', typ: 'JWT' }),
	    'algorithm not allowed', u);
	u = s.user('none');
	await refuse('alg NONE with a signature', unsigned(claims(u), { alg: 'NONE' }) + 'AAAA',
	    'algorithm not allowed', u);
	u = s.user('rs');
	await refuse('an RS256 token to an HS256 server', signRS256(claims(u)),
	    'algorithm not allowed', u);
	u = s.user('hs512');
	const h512 = `${b64url('{"alg":"HS512","typ":"JWT"}')}.${b64url(JSON.stringify(claims(u)))}`;
	await refuse('HS512 with the right secret', `${h512}.${crypto.createHmac('sha512', s.secret)
	    .update(h512).digest('base64url')}`, 'algorithm not allowed', u);
	u = s.user('exp');
	await refuse('expired', s.sign(claims(u, { iat: now() - 3600, exp: now() - 120 })),
	    'expired', u);
	u = s.user('noexp');
	const noexp = claims(u);
	delete noexp.exp;
	await refuse('no exp', s.sign(noexp), 'missing expiry', u);
	u = s.user('nbf');
	await refuse('nbf in the future', s.sign(claims(u, { nbf: now() + 600 })),
	    'not yet valid', u);
	u = s.user('iss');
	await refuse('wrong iss', s.sign(claims(u, { iss: 'https://evil.example' })),
	    'wrong issuer', u);
	u = s.user('iss');
	const noiss = claims(u);
	delete noiss.iss;
	await refuse('no iss', s.sign(noiss), 'wrong issuer', u);
	u = s.user('aud');
	await refuse('wrong aud', s.sign(claims(u, { aud: 'other-service' })), 'wrong audience', u);
	u = s.user('aud');
	await refuse('aud list without ours', s.sign(claims(u, { aud: ['a', 'b'] })),
	    'wrong audience', u);
	u = s.user('sig');
	await refuse('signed with another secret', cs.signHS256(crypto.randomBytes(32), claims(u)),
	    'bad signature', u);
	u = s.user('sig');
	const good = s.sign(claims(u));
	const [hd, , sig] = good.split('.');
	const victim = s.user('victim');
	await refuse('claims swapped under a valid signature',
	    `${hd}.${b64url(JSON.stringify(claims(victim)))}.${sig}`, 'bad signature', victim);
	for (const bad of ['garbage', 'a.b', 'a.b.c.d', `${hd}..${sig}`, `${hd}.e30=.${sig}`,
	    `${hd}.${b64url('{"sub":"x"}')}.${sig}!`])
		await refuse(`malformed ${JSON.stringify(bad.slice(0, 20))}`, bad, 'malformed token', null);
	u = s.user('header');
	await assertRefused(s, 'Authorization: Bearer with a bad signature', u,
	    { token: null, headers: { Authorization: `Bearer ${cs.signHS256('x'.repeat(32),
	    claims(u))}` } }, 'bad signature');
	assert.strictEqual(s.sql('SELECT count(*)::int AS n FROM ws_connections')[0].n, rowsBefore,
	    'a refused connection left a row');

	// The same claims, rightly signed, are accepted: in the query, in an
	// aud list, within the leeway, and in the Authorization header.
	u = s.user('ok');
	const c1 = await s.open(u, { token: s.sign(claims(u)) });
	u = s.user('ok');
	const c2 = await s.open(u, { token: s.sign(claims(u, { aud: ['x', AUDIENCE] })) });
	u = s.user('ok');
	const c3 = await s.open(u, { token: s.sign(claims(u, { exp: now() - 5 })) });
	const hdrUser = s.user('hdr');
	const c4 = await s.dial({ headers: { Authorization: `bearer  ${s.sign(claims(hdrUser))}` } });
	const f = await c4.json();
	assert.strictEqual(f.type, 'connection');
	assert.strictEqual(s.sql('SELECT user_id FROM ws_connections WHERE user_id = $1',
	    [hdrUser]).length, 1);
	for (const c of [c1, c2, c3, c4])
		c.close(1000);

	// No token reaches a log.
	const logs = s.handlerLog() + s.stack.log();
	for (const t of tokens) {
		for (const part of t.split('.').filter((x) => x.length > 20))
			assert.ok(!logs.includes(part), `a token is in a log: ${part}`);
	}
});

cs.chatTest('RS256 pinned: a valid RS256 token is accepted; HS256 signed with the public key is not', {
	env: { CHAT_JWT_ALG: 'RS256', CHAT_JWT_KEY_FILE: publicFile },
}, async (s) => {
	const claims = (sub, extra = {}) => Object.assign({ sub, iat: now(), exp: now() + 600 },
	    extra);
	let u = s.user('conf');
	// Algorithm confusion: the public key file's bytes as the HMAC key.
	await assertRefused(s, 'HS256 signed with the RSA public key', u,
	    { token: cs.signHS256(publicPem, claims(u)) }, 'algorithm not allowed');
	u = s.user('conf');
	await assertRefused(s, 'HS256 signed with the public key, trimmed', u,
	    { token: cs.signHS256(publicPem.trim(), claims(u)) }, 'algorithm not allowed');
	u = s.user('none');
	await assertRefused(s, 'alg none', u, { token: unsigned(claims(u), { alg: 'none' }) },
	    'algorithm not allowed');
	u = s.user('hs');
	await assertRefused(s, 'an HS256 token', u, { token: s.token(u) }, 'algorithm not allowed');
	u = s.user('rs');
	await assertRefused(s, 'RS256 from another key', u, { token: (() => {
		const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
		const input = `${b64url('{"alg":"RS256"}')}.${b64url(JSON.stringify(claims(u)))}`;
		return `${input}.${crypto.sign('sha256', Buffer.from(input), other.privateKey)
		    .toString('base64url')}`;
	})() }, 'bad signature');
	u = s.user('rs');
	await assertRefused(s, 'RS256 expired', u,
	    { token: signRS256(claims(u, { exp: now() - 300 })) }, 'expired');

	u = s.user('rs');
	const c = await s.open(u, { token: signRS256(claims(u)) });
	assert.strictEqual(s.sql('SELECT user_id FROM ws_connections WHERE user_id = $1 AND ended_at IS NULL',
	    [u]).length, 1);
	const pong = await c.request({ type: 'ping' });
	assert.strictEqual(pong.type, 'pong');
	c.close(1000);
});

cs.chatTest('token sources: query first, then Authorization, then Sec-WebSocket-Protocol', {},
    async (s, t) => {
	// A short token fits lws 4.1's 128-byte Sec-WebSocket-Protocol copy.
	const shortUser = 'swp';
	const short = cs.signHS256(s.secret, { sub: shortUser, exp: now() + 600 }, { alg: 'HS256' });
	assert.ok(`wsrouter, bearer.${short}`.length <= 126, `short token: ${short.length}`);
	const c1 = await s.dial({ protocols: ['wsrouter', `bearer.${short}`] });
	assert.strictEqual(c1.ws.protocol, 'wsrouter', 'the server selects wsrouter');
	assert.strictEqual((await c1.json()).type, 'connection');
	assert.strictEqual(s.sql('SELECT 1 FROM ws_connections WHERE user_id = $1 AND ended_at IS NULL',
	    [shortUser]).length, 1);
	c1.close(1000);

	// The query wins, and a bad token there is not rescued by a good header.
	const u = s.user();
	await assertRefused(s, 'bad query token, good header', u, { token: 'x.y.z',
	    headers: { Authorization: `Bearer ${s.token(u)}` } }, 'malformed token');
	const c2 = await s.dial({ token: s.token(u), headers: { Authorization: 'Bearer x.y.z' } });
	assert.strictEqual((await c2.json()).type, 'connection');
	c2.close(1000);
	// Another scheme is no token.
	await assertRefused(s, 'Basic auth', null, { headers: { Authorization: `Basic ${b64url('a:b')}` } },
	    'missing token');

	// A real token (about 160 bytes) in Sec-WebSocket-Protocol.
	const ru = s.user('swp');
	const token = s.token(ru);
	let c3;
	try {
		c3 = await s.dial({ protocols: ['wsrouter', `bearer.${token}`] });
	} catch (e) {
		if (e.statusCode === 400 && `wsrouter, bearer.${token}`.length > 126) {
			t.todo('lws 4.1.6 refuses a Sec-WebSocket-Protocol header over 126 bytes ' +
			    '(docs/auth.md); the router answers 400');
			return;
		}
		throw e;
	}
	assert.strictEqual(c3.ws.protocol, 'wsrouter');
	assert.strictEqual((await c3.json()).type, 'connection');
	assert.strictEqual(s.sql('SELECT 1 FROM ws_connections WHERE user_id = $1', [ru]).length, 1);
	c3.close(1000);
});

test('the handler refuses to start with a weak or misplaced key', () => {
	const base = {
		PATH: process.env.PATH,
		CHAT_DATABASE_URL: 'postgresql://wsrouter@127.0.0.1:1/wsrouter',
		CHAT_LLM_URL: 'http://127.0.0.1:1',
		CHAT_SAFETY_LEXICON: cs.paths.lexicon,
	};
	const runChat = (env) => child_process.spawnSync(cs.paths.chat, [], {
		env: Object.assign({}, base, env), input: '', encoding: 'utf8',
		timeout: h.scaled(10000),
	});
	const refusals = [
		[{ CHAT_JWT_SECRET: '0123456789' }, /HS256 key is shorter than 32 bytes/],
		[{ CHAT_JWT_SECRET: 'x'.repeat(31) }, /shorter than 32/],
		[{ CHAT_JWT_ALG: 'HS256', CHAT_JWT_KEY_FILE: publicFile }, /PEM|public key/i],
		[{ CHAT_JWT_ALG: 'RS256', CHAT_JWT_KEY_FILE: privateFile }, /private/i],
		[{ CHAT_JWT_ALG: 'RS256', CHAT_JWT_SECRET: 'y'.repeat(40) }, /RS256|PEM|key/i],
		[{ CHAT_JWT_ALG: 'none', CHAT_JWT_SECRET: 'y'.repeat(40) }, /CHAT_JWT_ALG/],
	];
	for (const [env, re] of refusals) {
		const r = runChat(env);
		const what = `${JSON.stringify(env).slice(0, 80)}: ${r.status} ${r.stderr}`;
		assert.strictEqual(r.signal, null, `killed: ${what}`);
		assert.notStrictEqual(r.status, 0, `started: ${what}`);
		assert.match(r.stderr, re, what);
		assert.ok(!r.stderr.includes('0123456789') && !r.stderr.includes('y'.repeat(40)),
		    `the key is in the message: ${what}`);
	}
	// The same settings with a good key get past the check: run outside
	// FastCGI, it answers one CGI request and exits 0.
	for (const env of [{ CHAT_JWT_SECRET: 'z'.repeat(32) },
	    { CHAT_JWT_ALG: 'RS256', CHAT_JWT_KEY_FILE: publicFile }]) {
		const r = runChat(env);
		assert.strictEqual(r.status, 0, `${JSON.stringify(env).slice(0, 60)}: ${r.stderr}`);
		assert.match(r.stdout, /not a wsrouter event/);
	}
});

// The user's connection rows, oldest first.
function connRows(s, user) {
	return s.sql(`SELECT id, user_id, router_instance, remote_addr, user_agent,
	    extract(epoch FROM connected_at)::float8 AS connected_at,
	    extract(epoch FROM ended_at)::float8 AS ended_at, close_code, close_reason
	    FROM ws_connections WHERE user_id = $1 ORDER BY connected_at, id`, [user]);
}

const INSTANCE = 'chatauth1';

cs.chatTest('ws_connections: a row per connection, closed with its code', {
	globals: { instance: INSTANCE },
	fake: { tokens: 3, tps: 0 },
}, async (s) => {
	const user = s.user();
	const t0 = Date.now() / 1000;
	const c1 = await s.open(user, { ws: { headers: { 'User-Agent': 'chat-auth-test/2.0 (x)' } } });
	const c2 = await s.open(user);
	const open = connRows(s, user);
	assert.strictEqual(open.length, 2);
	const [r1] = open.filter((r) => r.user_agent === 'chat-auth-test/2.0 (x)');
	assert.ok(r1, `no row with the user agent: ${JSON.stringify(open)}`);
	const r2 = open.find((r) => r !== r1);
	for (const r of open) {
		assert.strictEqual(r.user_id, user);
		assert.strictEqual(r.router_instance, INSTANCE);
		assert.strictEqual(r.remote_addr, '127.0.0.1');
		assert.ok(Math.abs(r.connected_at - t0) < 10, `connected_at ${r.connected_at}`);
		assert.strictEqual(r.ended_at, null);
		assert.strictEqual(r.close_code, null);
		assert.match(r.id, /^[A-Za-z0-9_-]{16,}$/);
	}
	// The id is the router's: the management API knows it.
	const info = await s.stack.api('GET', `/@connections/${encodeURIComponent(r1.id)}`);
	assert.strictEqual(info.status, 200, info.text);

	// A message carries its connection's id.
	const session = cs.uuid();
	const a = cs.answer(await cs.ask(c1, session, 'which connection?'));
	assert.ok(a.complete);
	assert.deepStrictEqual(s.sql('SELECT DISTINCT connection_id FROM chat_messages WHERE session_id = $1',
	    [session]), [{ connection_id: r1.id }]);

	c1.close(1000, 'bye now');
	await c1.closed();
	let rows = await s.waitSql('SELECT close_code FROM ws_connections WHERE id = $1', [r1.id],
	    (x) => x.length === 1 && x[0].close_code !== null, 'the first row closed');
	let r = connRows(s, user).find((x) => x.id === r1.id);
	assert.strictEqual(r.close_code, 1000);
	assert.strictEqual(r.close_reason, 'bye now');
	assert.ok(r.ended_at >= r.connected_at && r.ended_at - Date.now() / 1000 < 5,
	    `ended_at ${r.ended_at}`);

	// A socket dropped without a close frame: 1006.
	c2.terminate();
	rows = await s.waitSql('SELECT close_code FROM ws_connections WHERE id = $1', [r2.id],
	    (x) => x.length === 1 && x[0].close_code !== null, 'the terminated row closed');
	assert.strictEqual(rows[0].close_code, 1006);
	r = connRows(s, user).find((x) => x.id === r2.id);
	assert.notStrictEqual(r.ended_at, null);

	// The router closing a connection (management API DELETE) is recorded too.
	const c3 = await s.open(user);
	const r3 = connRows(s, user).find((x) => x.ended_at === null);
	const del = await s.stack.api('DELETE', `/@connections/${encodeURIComponent(r3.id)}`);
	assert.ok(del.status >= 200 && del.status < 300, `DELETE: ${del.status}`);
	const closed = await c3.closed();
	rows = await s.waitSql('SELECT close_code FROM ws_connections WHERE id = $1', [r3.id],
	    (x) => x.length === 1 && x[0].close_code !== null, 'the deleted row closed');
	assert.strictEqual(rows[0].close_code, closed.code);
});

cs.chatTest('the per-user connection limit, and stale rows reconciled', {
	globals: { instance: INSTANCE },
	env: { CHAT_MAX_CONNECTIONS: '2' },
}, async (s) => {
	const a = s.user('a');
	const b = s.user('b');
	const a1 = await s.open(a);
	const a2 = await s.open(a);
	const r = await s.refusal({ token: s.token(a) });
	assert.deepStrictEqual(r, { code: 4429, reason: 'too many connections', frames: [] });
	assert.strictEqual(connRows(s, a).length, 2, 'the refused connection left a row');
	// Another user is not affected.
	const b1 = await s.open(b);
	const b2 = await s.open(b);
	// The open connections still work.
	assert.strictEqual((await a1.request({ type: 'ping' })).type, 'pong');
	// One closes; once its DISCONNECT is recorded, a new one is accepted.
	a2.close(1000);
	await s.waitSql('SELECT 1 FROM ws_connections WHERE user_id = $1 AND ended_at IS NULL', [a],
	    (x) => x.length === 1, 'the closed connection recorded');
	const a3 = await s.open(a);
	assert.deepStrictEqual(await s.refusal({ token: s.token(a) }),
	    { code: 4429, reason: 'too many connections', frames: [] });

	// Stale rows: open rows of this router instance whose connections the
	// router does not know (a DISCONNECT lost in a restart) are closed
	// when the limit is hit; rows of another instance are left alone.
	const c = s.user('c');
	const stale = `stale${s.tag}AAAAAAAAAA`;
	const elsewhere = `else${s.tag}BBBBBBBBBBB`;
	s.exec(`INSERT INTO ws_connections (id, user_id, router_instance, remote_addr,
	    connected_at) VALUES ($1, $2, $3, '127.0.0.1', now() - interval '1 hour')`,
	[stale, c, INSTANCE]);
	s.exec(`INSERT INTO ws_connections (id, user_id, router_instance, remote_addr,
	    connected_at) VALUES ($1, $2, 'otherrouter', '127.0.0.1', now() - interval '1 hour')`,
	[elsewhere, c]);
	const c1 = await s.open(c);
	const rows = connRows(s, c);
	const st = rows.find((x) => x.id === stale);
	assert.notStrictEqual(st.ended_at, null, 'the stale row was not closed');
	assert.strictEqual(st.close_code, 1006);
	assert.strictEqual(typeof st.close_reason, 'string');
	assert.strictEqual(rows.find((x) => x.id === elsewhere).ended_at, null,
	    'another instance\'s row was closed');
	// Now the limit holds: the other instance's row and c1 are two.
	assert.deepStrictEqual(await s.refusal({ token: s.token(c) }),
	    { code: 4429, reason: 'too many connections', frames: [] });
	assert.strictEqual(connRows(s, c).filter((x) => x.ended_at === null).length, 2);
	for (const x of [a1, a3, b1, b2, c1])
		x.close(1000);
});

cs.chatTest('isolation: another user\'s session is forbidden and nothing is stored', {
	fake: { tokens: 4, tps: 0 },
}, async (s) => {
	const a = s.user('a');
	const b = s.user('b');
	const ca = await s.open(a);
	const cb = await s.open(b);
	const sa = cs.uuid();
	assert.ok(cs.answer(await cs.ask(ca, sa, `A's private words ${s.tag}`)).complete);
	const before = (await s.fake.requests()).length;
	const escBefore = s.sql('SELECT count(*)::int AS n FROM safety_escalations')[0].n;

	// B writes into A's session: as given, in upper case, and high-risk.
	for (const id of [sa, sa.toUpperCase()]) {
		for (const text of ['let me in', 'I want to kill myself']) {
			let f = await cb.request({ type: 'session_message', session_id: id,
			    message_text: text });
			// A person in crisis gets the resources, refused or not.
			if (text.includes('kill')) {
				assert.strictEqual(f.type, 'safety_escalation', JSON.stringify(f));
				f = await cb.json();
			}
			assert.strictEqual(f.type, 'error', JSON.stringify(f));
			assert.strictEqual(f.error, 'forbidden', JSON.stringify(f));
			assert.match(f.timestamp, cs.TIMESTAMP_RE);
		}
	}
	await cb.noFrame(200);
	assert.strictEqual(s.sql('SELECT 1 FROM chat_messages WHERE session_id = $1', [sa]).length, 2);
	assert.deepStrictEqual(s.sql('SELECT 1 FROM chat_messages WHERE user_id = $1', [b]), []);
	assert.deepStrictEqual(s.sql('SELECT user_id FROM chat_sessions WHERE id = $1', [sa]),
	    [{ user_id: a }]);
	assert.strictEqual(s.sql('SELECT count(*)::int AS n FROM safety_escalations')[0].n, escBefore);
	assert.strictEqual((await s.fake.requests()).length, before, 'B\'s text reached the model');

	// A new session id becomes B's; then A is the one refused.
	const sb = cs.uuid();
	const ab = cs.answer(await cs.ask(cb, sb, `B's own words ${s.tag}`));
	assert.ok(ab.complete, JSON.stringify(ab.error));
	assert.deepStrictEqual(s.sql('SELECT user_id FROM chat_sessions WHERE id = $1', [sb]),
	    [{ user_id: b }]);
	assert.deepStrictEqual(s.sql('SELECT DISTINCT user_id FROM chat_messages WHERE session_id = $1',
	    [sb]), [{ user_id: b }]);
	const f = await ca.request({ type: 'session_message', session_id: sb, message_text: 'hi' });
	assert.strictEqual(f.error, 'forbidden', JSON.stringify(f));
	// B's history never reached A's request, nor A's B's.
	const recB = await s.fakeRecord(`B's own words ${s.tag}`);
	assert.ok(!JSON.stringify(recB.messages).includes('private words'));
	ca.close(1000);
	cb.close(1000);
});
