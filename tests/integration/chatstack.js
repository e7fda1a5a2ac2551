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
	if (!fs.readdirSync('/usr/lib/postgresql', { withFileTypes: true }).length)
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
	 * Rows of a query, as objects. $1, $2 ... are bound from params (as
	 * text, through psql variables, never pasted into the SQL).
	 */
	sql(text, params = []) {
		const args = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', this.url];
		params.forEach((p, i) => args.push('-v', `p${i + 1}=${p === null ? '' : String(p)}`));
		const q = text.replace(/\$(\d+)/g, (m, n) => `:'p${n}'`);
		const out = run(paths.psql, args, {
			input: `SELECT coalesce(json_agg(t), '[]') FROM (${q}) t;\n`,
		});
		return JSON.parse(out.trim() || '[]');
	}
}

let cluster = null;

async function theCluster() {
	if (!cluster) {
		cluster = new Cluster();
		after(() => cluster.destroy());
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

	sql(text, params) {
		return this.pg.sql(text, params);
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
	const end = Date.now() + h.scaled(timeout);
	for (let i = 0; i < 100000; i++) {
		const f = await c.json(Math.max(1, (end - Date.now()) / (Number(process.env.WSR_TIME_SCALE) || 1)));
		got.push(f);
		if (pred(f))
			return got;
	}
	throw new Error('too many frames');
}

// Send a session message and collect the frames up to the answer's end.
async function ask(c, session_id, message_text, timeout = 20000) {
	await c.send({ type: 'session_message', session_id, message_text });
	return framesUntil(c, (f) => f.type === 'assistant_message_complete' || f.type === 'error',
	    timeout);
}

module.exports = {
	ChatStack,
	ask,
	artifactDir,
	chatTest,
	framesUntil,
	paths,
	requireChat,
	signHS256,
	theCluster,
};
