'use strict';
// chatstack.js: the whole chat stack for a test: a throwaway PostgreSQL
// cluster (one per test file, migrated once), the fake model server, the
// chat handler (wsrouter-chat) under spawn-fcgi, and the router, all on
// free loopback ports. Each test uses its own users, so tests sharing the
// cluster do not see each other's rows.
//
//   const cs = require('./chatstack');
//   cs.requireChat();
//   cs.chatTest('name', { fake: { tokens: 10 } }, async (s, t) => { ... });
//
// opts: timeout, fake (the fake model's defaults, POST /_fake/config),
// env (extra CHAT_* settings), workers (handler processes, 1), threads
// (per process, WSH_THREADS), www (serve the demo page), provider
// ('openai' or 'ollama'), pool (extra lines for the chat pool block),
// globals (extra router directives).
//
// Helpers for the chat tests: cs.uuid(), cs.TIMESTAMP_RE, cs.answer(frames)
// (one answer's frames by kind), s.dial(opts) (a connection with headers or
// subprotocols), s.refusal(opts) (a refused connection's close and frames),
// s.fakeRecord(marker) (the fake model's record of one request),
// s.appEvents(name) (a handler counter on the router's /metrics),
// s.waitSql(...) (poll a query), s.exec(...) (a statement without rows).

const assert = require('node:assert');
const child_process = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { after } = require('node:test');
const h = require('./harness');

const paths = {
	chat: process.env.WSROUTER_CHAT ||
	    path.join(h.paths.top_builddir, 'handlers', 'chat', 'wsrouter-chat'),
	fakellm: path.join(h.paths.top_srcdir, 'tools', 'wsrouter-fakellm'),
	pgTmp: path.join(h.paths.top_srcdir, 'scripts', 'pg-tmp'),
	migrate: path.join(h.paths.top_srcdir, 'sql', 'wsrouter-migrate'),
	lexicon: path.join(h.paths.top_srcdir, 'handlers', 'chat', 'safety-lexicon.txt'),
	www: path.join(h.paths.top_srcdir, 'www'),
	psql: ['/usr/lib/postgresql/15/bin/psql', '/usr/bin/psql'].find((p) => fs.existsSync(p)),
	python: process.env.PYTHON3 || 'python3',
};

const artifactDir = path.join(h.paths.top_builddir, 'tests', 'artifacts');

function requireChat() {
	const missing = [];
	for (const [what, p] of [['the chat handler', paths.chat], ['pg-tmp', paths.pgTmp],
	    ['wsrouter-migrate', paths.migrate], ['the fake model', paths.fakellm]]) {
		if (!fs.existsSync(p))
			missing.push(`${what} (${p})`);
	}
	if (!paths.psql)
		missing.push('psql (apt-get install postgresql)');
	const pgLib = '/usr/lib/postgresql';
	if (!fs.existsSync(pgLib) || fs.readdirSync(pgLib).length === 0)
		missing.push('postgresql');
	if (missing.length > 0) {
		process.stdout.write(`1..0 # SKIP missing ${missing.join(', ')}\n`);
		process.exit(0);
	}
	return h.requireTools(['ws', 'spawn-fcgi', 'wsrouter']);
}

function run(cmd, args, opts = {}) {
	const r = child_process.spawnSync(cmd, args, Object.assign({ encoding: 'utf8',
	    timeout: 60000 }, opts));
	if (r.status !== 0)
		throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
	return r.stdout;
}

/*
 * The file's PostgreSQL cluster: started on first use, stopped when the
 * file's tests end (and at exit, whatever happens).
 */
class Cluster {
	constructor() {
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrt-pg-'));
		fs.chmodSync(this.dir, 0o755);
		this.url = null;
		this.port = null;
		this.running = false;
	}

	async start() {
		if (!this.port)
			[this.port] = await h.freePorts(1);
		this.url = run(paths.pgTmp, ['start', this.dir, String(this.port)]).trim().split('\n').pop();
		this.running = true;
		if (!this.migrated) {
			run(paths.migrate, ['-d', this.url]);
			this.migrated = true;
		}
		return this;
	}

	stop() {
		if (this.running)
			run(paths.pgTmp, ['stop', this.dir]);
		this.running = false;
	}

	destroy() {
		try {
			this.stop();
		} catch (e) { /* going anyway */ }
		if (!process.env.WSR_KEEP_TMP)
			fs.rmSync(this.dir, { recursive: true, force: true });
	}

	/*
	 * Run psql on wrap(text) with $1, $2 ... bound from params (as text,
	 * through psql variables, never pasted into the SQL); psql's output.
	 */
	psql(text, params, wrap) {
		const args = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', this.url];
		params.forEach((p, i) => args.push('-v', `p${i + 1}=${p === null ? '' : String(p)}`));
		const q = text.replace(/\$(\d+)/g, (m, n) => `:'p${n}'`);
		return run(paths.psql, args, { input: wrap(q) });
	}

	// Rows of a query, as objects.
	sql(text, params = []) {
		const out = this.psql(text, params,
		    (q) => `SELECT coalesce(json_agg(t), '[]') FROM (${q}) t;\n`);
		return JSON.parse(out.trim() || '[]');
	}

	// Run one statement that returns no rows (INSERT, UPDATE, ...).
	exec(text, params = []) {
		return this.psql(text, params, (q) => `${q};\n`);
	}
}

let cluster = null;

/*
 * Registered when the test file loads it, so the hook is the file's: one
 * registered from inside the first test would run when that test ends.
 */
after(() => {
	if (cluster)
		cluster.destroy();
	cluster = null;
});

async function theCluster() {
	if (!cluster) {
		cluster = new Cluster();
		process.on('exit', () => {
			if (cluster)
				cluster.destroy();
		});
		await cluster.start();
	}
	if (!cluster.running)
		await cluster.start();
	return cluster;
}

function b64url(x) {
	return Buffer.from(x).toString('base64url');
}

// An HS256 JWT, made here (not by the code under test).
function signHS256(secret, claims, header = { alg: 'HS256', typ: 'JWT' }) {
	const head = b64url(JSON.stringify(header));
	const body = b64url(JSON.stringify(claims));
	const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
	return `${head}.${body}.${sig}`;
}

/* The fake model server: a child process with its control API. */
class Fake {
	constructor(stack) {
		this.stack = stack;
		this.portFile = path.join(stack.dir, 'fake.port');
	}

	async start(defaults) {
		const fd = this.stack.logFd('fakellm.log');
		this.child = this.stack.spawn(paths.python, [paths.fakellm, '--listen', '127.0.0.1:0',
		    '--port-file', this.portFile], { stdio: ['ignore', fd, fd] });
		fs.closeSync(fd);
		await h.waitFor(() => {
			if (h.exited(this.child))
				throw new Error('the fake model exited at start');
			return fs.existsSync(this.portFile) && fs.readFileSync(this.portFile, 'utf8').trim();
		}, 10000, 'the fake model server');
		this.port = Number(fs.readFileSync(this.portFile, 'utf8').trim());
		this.url = `http://127.0.0.1:${this.port}`;
		if (defaults && Object.keys(defaults).length > 0)
			await this.config(defaults);
	}

	request(method, p, body) {
		const data = body === undefined ? undefined : JSON.stringify(body);
		return new Promise((resolve, reject) => {
			const req = http.request({ host: '127.0.0.1', port: this.port, method, path: p,
			    agent: false, headers: data ? { 'Content-Type': 'application/json',
			    'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => {
					const text = Buffer.concat(chunks).toString('utf8');
					if (res.statusCode >= 300)
						reject(new Error(`fake model ${method} ${p}: ${res.statusCode} ${text}`));
					else
						resolve(text ? JSON.parse(text) : null);
				});
			});
			req.setTimeout(5000, () => req.destroy(new Error('fake model: timeout')));
			req.on('error', reject);
			if (data)
				req.write(data);
			req.end();
		});
	}

	config(obj) {
		return this.request('POST', '/_fake/config', obj);
	}

	requests() {
		return this.request('GET', '/_fake/requests');
	}
}

/* A chat stack: a harness Stack with the chat pieces around it. */
class ChatStack {
	constructor(opts) {
		this.opts = opts;
		this.secret = crypto.randomBytes(32).toString('hex');
		this.users = 0;
		this.tag = crypto.randomBytes(4).toString('hex');
		this.devUser = `dev-${this.tag}`;
		this.artifactDir = artifactDir;
		fs.mkdirSync(artifactDir, { recursive: true });
	}

	// A fresh user id, unique to this test.
	user(name = 'user') {
		return `${name}-${this.tag}-${++this.users}`;
	}

	token(sub, extra = {}) {
		const now = Math.floor(Date.now() / 1000);
		return signHS256(this.secret, Object.assign({ sub, iat: now, exp: now + 3600 }, extra));
	}

	sign(claims, header) {
		return signHS256(this.secret, claims, header);
	}

	wsUrl(token) {
		return this.stack.wsUrl('/ws', token === undefined ? '' : { token });
	}

	get httpUrl() {
		return `http://127.0.0.1:${this.stack.port}/`;
	}

	// Open a chat connection as sub (or with a given token: {token}).
	async connect(sub, opts = {}) {
		const token = opts.token !== undefined ? opts.token : this.token(sub);
		const c = await this.stack.connect('/ws', token === null ? '' : { token }, opts.ws || {});
		return c;
	}

	// Connect and take the "connection" frame.
	async open(sub, opts = {}) {
		const c = await this.connect(sub, opts);
		const f = await c.json(h.scaled(5000));
		assert.strictEqual(f.type, 'connection', `first frame: ${JSON.stringify(f)}`);
		assert.strictEqual(f.status, 'connected');
		return c;
	}

	/*
	 * Open a WebSocket with more than a token: opts.token (put in the
	 * query unless null), opts.query (an object), opts.headers,
	 * opts.protocols (subprotocols). Resolves the Client once open;
	 * rejects on a refused handshake (err.statusCode for an HTTP answer).
	 */
	dial(opts = {}) {
		const query = Object.assign({}, opts.query || {});
		if (opts.token !== undefined && opts.token !== null)
			query.token = opts.token;
		const url = this.stack.wsUrl('/ws', Object.keys(query).length ? query : '');
		return this.stack.connectUrl(url, opts.protocols || [],
		    opts.headers ? { headers: opts.headers } : {});
	}

	/*
	 * A connection that the server should refuse: dial with opts, wait for
	 * the close. Returns {code, reason, frames} (frames: texts received
	 * before the close, which should be none).
	 */
	async refusal(opts = {}, timeout = 5000) {
		const c = await this.dial(opts);
		const info = await c.closed(timeout);
		return { code: info.code, reason: info.reason,
		    frames: c.all.map((f) => (f.isBinary ? `<binary ${f.data.length}>` : f.text)) };
	}

	/*
	 * The fake model's record of the request whose last user message
	 * holds marker, once it has ended (outcome not null), or now when
	 * running is true.
	 */
	async fakeRecord(marker, timeout = 10000, running = false) {
		return h.waitFor(async () => {
			const recs = await this.fake.requests();
			const rec = recs.find((r) => {
				const users = (r.messages || []).filter((m) => m.role === 'user');
				const last = users[users.length - 1];
				return last && typeof last.content === 'string' &&
				    last.content.includes(marker);
			});
			return rec && (running || rec.outcome !== null) ? rec : null;
		}, timeout, `the fake model's request with ${marker}`);
	}

	// A handler counter on the router's /metrics (0 when absent).
	async appEvents(name) {
		return h.metricSum(await this.stack.metrics(), 'wsrouter_app_events_total',
		    { pool: 'chat', name }) || 0;
	}

	sql(text, params) {
		return this.pg.sql(text, params);
	}

	exec(text, params) {
		return this.pg.exec(text, params);
	}

	// Poll a query until pred(rows) holds; returns the rows.
	async waitSql(text, params, pred, what, timeout = 5000) {
		let rows;
		try {
			await h.waitFor(() => pred(rows = this.sql(text, params)), timeout, what);
		} catch (e) {
			e.message += `; last rows: ${JSON.stringify(rows)}`;
			throw e;
		}
		return rows;
	}

	env() {
		return Object.assign({
			CHAT_JWT_ALG: 'HS256',
			CHAT_JWT_SECRET: this.secret,
			CHAT_DATABASE_URL: this.pg.url,
			CHAT_DB_TIMEOUT: '2s',
			CHAT_LLM_PROVIDER: this.opts.provider || 'openai',
			CHAT_LLM_URL: this.fake.url,
			CHAT_LLM_MODEL: 'fake-model',
			CHAT_LLM_CONNECT_TIMEOUT: '2s',
			CHAT_LLM_FIRST_TOKEN_TIMEOUT: '10s',
			CHAT_LLM_STALL_TIMEOUT: '10s',
			CHAT_SAFETY_LEXICON: paths.lexicon,
			CHAT_LOG_LEVEL: 'debug',
			WSH_THREADS: String(this.opts.threads || 32),
		}, this.opts.env || {});
	}

	async start() {
		this.pg = await theCluster();
		this.stack = new h.Stack({
			routerStart: false,
			globals: this.opts.globals,
			config: (s) => s.poolConf('chat', [
				'concurrency 64', 'queue 256', 'first_byte_timeout 30s',
				'idle_timeout 60s', this.opts.pool || ''].join('\n')) + `
endpoint /ws {
	route_selection type
	route $connect chat
	route $disconnect chat
	route $default chat
}
`,
		});
		await this.stack.start();
		this.fake = new Fake(this.stack);
		await this.fake.start(this.opts.fake);
		if (this.opts.www) {
			this.www = path.join(this.stack.dir, 'www');
			fs.mkdirSync(this.www);
			for (const f of fs.readdirSync(paths.www))
				if (/\.(html|js|css|svg|png|ico)$/.test(f))
					fs.copyFileSync(path.join(paths.www, f), path.join(this.www, f));
			const exp = Math.floor(Date.now() / 1000) + 3600;
			fs.writeFileSync(path.join(this.www, 'dev-token.json'), JSON.stringify({
				token: this.token(this.devUser, { exp }),
				user: this.devUser,
				expires_at: new Date(exp * 1000).toISOString(),
			}));
			this.stack.opts.globals = Object.assign({}, this.stack.opts.globals,
			    { static_root: this.www });
		}
		await this.stack.startPool('chat', { bin: paths.chat, workers: this.opts.workers || 1,
		    env: this.env() });
		this.stack.writeConfig();
		await this.stack.startRouter();
		return this;
	}

	// The handler log, for assertions about what was (not) logged.
	handlerLog() {
		return fs.readFileSync(this.stack.pools.chat.log, 'utf8');
	}

	async stop() {
		return this.stack ? this.stack.stop() : undefined;
	}
}

/*
 * A test with its own chat stack (and the file's cluster); the logs are
 * printed when it fails.
 */
function chatTest(name, opts, fn) {
	const { test } = require('node:test');
	test(name, { timeout: h.scaled(opts.timeout || 60000) }, async (t) => {
		const s = new ChatStack(opts);
		let failure = null;
		try {
			await s.start();
			await fn(s, t);
		} catch (e) {
			failure = e;
		}
		if (cluster && !cluster.running) {
			try {
				await cluster.start();	// a test stopped it
			} catch (e) {
				failure = failure || e;
			}
		}
		const problem = s.stack ? await s.stop().catch((e) => e) : null;
		if (s.stack) {
			if (failure || problem)
				s.stack.dump(String((failure || problem).message).split('\n')[0]);
			s.stack.cleanup();
		}
		if (failure)
			throw failure;
		if (problem)
			throw problem;
	});
}

// Take frames until pred matches one; returns every frame taken.
async function framesUntil(c, pred, timeout = 20000) {
	const got = [];
	await c.jsonWhere((f) => {
		got.push(f);
		return pred(f);
	}, timeout, 100000);
	return got;
}

// Send a session message and collect the frames up to the answer's end.
async function ask(c, session_id, message_text, timeout = 20000) {
	await c.send({ type: 'session_message', session_id, message_text });
	return framesUntil(c, (f) => f.type === 'assistant_message_complete' || f.type === 'error',
	    timeout);
}

// A random UUID, for session ids.
function uuid() {
	return crypto.randomUUID();
}

// The timestamp every server frame carries: ISO-8601 UTC, milliseconds.
const TIMESTAMP_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/*
 * The frames of one answer (as ask returns them), by kind: user (the
 * user_message frame), escalation, start, chunks (the chunk frames),
 * text (the chunks joined), complete, error, types (every frame's type,
 * in order).
 */
function answer(frames) {
	const a = { user: null, escalation: null, start: null, chunks: [], complete: null,
	    error: null, types: frames.map((f) => f.type) };
	for (const f of frames) {
		if (f.type === 'user_message')
			a.user = f;
		else if (f.type === 'safety_escalation')
			a.escalation = f;
		else if (f.type === 'assistant_message_start')
			a.start = f;
		else if (f.type === 'assistant_message_chunk')
			a.chunks.push(f);
		else if (f.type === 'assistant_message_complete')
			a.complete = f;
		else if (f.type === 'error')
			a.error = f;
	}
	a.text = a.chunks.map((f) => f.chunk).join('');
	return a;
}

module.exports = {
	ChatStack,
	TIMESTAMP_RE,
	answer,
	ask,
	uuid,
	artifactDir,
	chatTest,
	framesUntil,
	paths,
	requireChat,
	signHS256,
	theCluster,
};
