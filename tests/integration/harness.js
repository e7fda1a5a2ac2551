'use strict';
// harness.js: start a real router and real FastCGI handler pools on free
// loopback ports in a temporary directory, drive them with WebSocket and
// HTTP clients, and tear everything down again, also when a test fails.

const assert = require('node:assert');
const child_process = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const top_srcdir = process.env.top_srcdir || path.resolve(__dirname, '..', '..');
const top_builddir = process.env.top_builddir || top_srcdir;

const paths = {
	wsrouter: process.env.WSROUTER || path.join(top_builddir, 'router', 'wsrouter'),
	testhandler: process.env.TESTHANDLER ||
	    path.join(top_builddir, 'tests', 'handlers', 'testhandler'),
	handlers: process.env.HANDLERS || path.join(top_builddir, 'handlers'),
	spawnFcgi: process.env.SPAWN_FCGI || which('spawn-fcgi'),
	phpFpm: process.env.PHP_FPM || which('php-fpm8.2') || which('php-fpm'),
	top_srcdir,
	top_builddir,
};

// Extra time for slow builds (valgrind, sanitizers): WSR_TIME_SCALE=5.
const TIME_SCALE = Number(process.env.WSR_TIME_SCALE || 1) || 1;
// A command to run the router under, e.g. "valgrind --error-exitcode=1 -q".
const WRAPPER = (process.env.WSROUTER_WRAPPER || '').split(/\s+/).filter(Boolean);

// What a sanitizer or valgrind writes when it finds a memory error.
const MEMORY_ERROR = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|Invalid read|Invalid write/;

const live = new Set();		// every stack not stopped yet, for exit cleanup

function which(name) {
	for (const dir of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/sbin'])) {
		if (!dir)
			continue;
		const p = path.join(dir, name);
		try {
			fs.accessSync(p, fs.constants.X_OK);
			return p;
		} catch (e) { /* next */ }
	}
	return '';
}

function isExecutable(p) {
	try {
		fs.accessSync(p, fs.constants.X_OK);
		return fs.statSync(p).isFile();
	} catch (e) {
		return false;
	}
}

function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// Wall-clock microseconds, comparable with CLOCK_REALTIME in a handler.
function nowUs() {
	return (performance.timeOrigin + performance.now()) * 1000;
}

// promise's value, or value after ms (the timer does not outlive it).
function within(promise, ms, value = null) {
	let t;
	return Promise.race([promise, new Promise((resolve) => {
		t = setTimeout(() => resolve(value), ms);
	})]).finally(() => clearTimeout(t));
}

function scaled(ms) {
	return Math.round(ms * TIME_SCALE);
}

// Poll fn until it returns a truthy value; throw what after timeout ms.
async function waitFor(fn, timeout, what, interval = 25) {
	const end = Date.now() + scaled(timeout);
	let last;
	for (let i = 0; ; i++) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > end)
			throw new Error(`timed out after ${scaled(timeout)} ms waiting for ${what}`);
		await sleep(Math.min(interval * (1 + Math.floor(i / 20)), 200));
	}
}

/*
 * Print "1..0 # SKIP reason" and exit when a tool is missing. needs is a
 * list of: 'ws', 'spawn-fcgi', 'wsrouter', 'testhandler', 'php-fpm',
 * 'socket.io-client', 'playwright-core', or an absolute path.
 */
function requireTools(needs) {
	const missing = [];
	for (const n of needs) {
		if (n === 'ws' || n === 'socket.io-client' || n === 'playwright-core') {
			try {
				require.resolve(n);
			} catch (e) {
				missing.push(`node module ${n} (run npm ci in tests/)`);
			}
		} else if (n === 'spawn-fcgi') {
			if (!paths.spawnFcgi || !isExecutable(paths.spawnFcgi))
				missing.push('spawn-fcgi');
		} else if (n === 'wsrouter') {
			if (!isExecutable(paths.wsrouter))
				missing.push(`router binary ${paths.wsrouter}`);
		} else if (n === 'testhandler') {
			if (!isExecutable(paths.testhandler))
				missing.push(`test handler ${paths.testhandler}`);
		} else if (n === 'php-fpm') {
			if (!paths.phpFpm || !isExecutable(paths.phpFpm))
				missing.push('php-fpm');
		} else if (path.isAbsolute(n)) {
			if (!fs.existsSync(n))
				missing.push(n);
		} else {
			missing.push(`unknown requirement ${n}`);
		}
	}
	if (missing.length > 0) {
		process.stdout.write(`1..0 # SKIP missing ${missing.join(', ')}\n`);
		process.exit(0);
	}
	return require('ws');
}

// Does something accept TCP connections on 127.0.0.1:port?
function tcpOpen(port) {
	return new Promise((resolve) => {
		const sock = net.connect(port, '127.0.0.1');
		const done = (ok) => {
			sock.destroy();
			resolve(ok);
		};
		sock.setTimeout(1000, () => done(false));
		sock.once('connect', () => done(true));
		sock.once('error', () => done(false));
	});
}

// Pick n distinct free loopback TCP ports.
async function freePorts(n) {
	const servers = [];
	try {
		for (let i = 0; i < n; i++) {
			const srv = net.createServer();
			await new Promise((resolve, reject) => {
				srv.once('error', reject);
				srv.listen(0, '127.0.0.1', resolve);
			});
			servers.push(srv);
		}
		return servers.map((s) => s.address().port);
	} finally {
		await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
	}
}

// A child we spawned has exited (so its pid may belong to another now).
function exited(c) {
	return c.exitCode !== null || c.signalCode !== null;
}

function signal(pid, sig) {
	try {
		process.kill(pid, sig);
		return true;
	} catch (e) {
		return false;
	}
}

/*
 * Whether the router's memory use means anything: not under valgrind, and
 * not with AddressSanitizer (its quarantine keeps freed memory resident).
 */
let rssMeaningful;
function routerRssMeaningful() {
	if (rssMeaningful === undefined) {
		rssMeaningful = WRAPPER.length === 0;
		try {
			if (fs.readFileSync(paths.wsrouter).includes('__asan_init'))
				rssMeaningful = false;
		} catch (e) { /* checked at start */ }
	}
	return rssMeaningful;
}

// The state letters of every thread of a process, from /proc.
function threadStates(pid) {
	const out = [];
	for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
		try {
			const st = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
			out.push(st[st.lastIndexOf(')') + 2]);
		} catch (e) { /* the thread just exited */ }
	}
	return out;
}

/*
 * SIGSTOP a process and wait until every thread of it has stopped: the
 * signal reaches one thread first, and the others run on until it acts.
 */
async function stopProcess(pid) {
	signal(pid, 'SIGSTOP');
	await waitFor(() => threadStates(pid).every((x) => x === 'T' || x === 't'), 3000,
	    `process ${pid} to stop`, 5);
}

async function contProcess(pid) {
	signal(pid, 'SIGCONT');
	await waitFor(() => threadStates(pid).every((x) => x !== 'T'), 3000,
	    `process ${pid} to continue`, 5);
}

// The resident set size of a process in KiB, from /proc/PID/status.
function rssKb(pid) {
	const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return m ? Number(m[1]) : NaN;
}

/*
 * Prometheus text format: every line is a comment, empty, or
 * "name{labels} value [timestamp]". Returns a list of samples
 * {name, labels, value}; throws on a malformed line.
 */
function parseMetrics(text) {
	const samples = [];
	const lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
	const labelRe = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
	for (const line of text.split('\n')) {
		if (line === '' || line.startsWith('#'))
			continue;
		const m = lineRe.exec(line);
		if (!m)
			throw new Error(`malformed metrics line: ${JSON.stringify(line)}`);
		const labels = {};
		if (m[3] !== undefined && m[3] !== '') {
			labelRe.lastIndex = 0;
			while (labelRe.lastIndex < m[3].length) {
				const at = labelRe.lastIndex;
				const l = labelRe.exec(m[3]);
				if (!l || labelRe.lastIndex === at)
					throw new Error(`malformed labels in metrics line: ${JSON.stringify(line)}`);
				labels[l[1]] = l[2].replace(/\\(.)/g, (x, c) => (c === 'n' ? '\n' : c));
			}
		}
		const v = m[4];
		let value;
		if (v === '+Inf')
			value = Infinity;
		else if (v === '-Inf')
			value = -Infinity;
		else if (v === 'NaN')
			value = NaN;
		else if (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v))
			value = Number(v);
		else
			throw new Error(`malformed value in metrics line: ${JSON.stringify(line)}`);
		samples.push({ name: m[1], labels, value });
	}
	return samples;
}

// Sum the samples named name whose labels include every pair of match.
function metricSum(samples, name, match = {}) {
	let sum = 0;
	let found = false;
	for (const s of samples) {
		if (s.name !== name)
			continue;
		if (Object.entries(match).some(([k, v]) => s.labels[k] !== v))
			continue;
		sum += s.value;
		found = true;
	}
	return found ? sum : undefined;
}

/*
 * One WebSocket client: collects every frame with its arrival time, so a
 * test can await them one by one, and remembers how the connection closed.
 */
class Client {
	constructor(ws, url) {
		this.ws = ws;
		this.url = url;
		this.frames = [];	// not yet taken
		this.all = [];		// every frame, in order
		this.waiters = [];
		this.closeInfo = null;
		this.closeWaiters = [];
		this.error = null;
		ws.on('message', (data, isBinary) => {
			const f = {
				data: Buffer.isBuffer(data) ? data : Buffer.concat(data),
				isBinary,
				at: nowUs(),
			};
			f.text = isBinary ? null : f.data.toString('utf8');
			this.all.push(f);
			this.frames.push(f);
			this.wake();
		});
		ws.on('close', (code, reason) => {
			this.closeInfo = { code, reason: reason.toString('utf8'), at: nowUs() };
			this.wake();
			for (const w of this.closeWaiters.splice(0))
				w();
		});
		ws.on('error', (e) => {
			this.error = e;
		});
	}

	wake() {
		for (const w of this.waiters.splice(0))
			w();
	}

	// The next frame, waiting at most timeout ms.
	async next(timeout = 5000) {
		const end = Date.now() + scaled(timeout);
		for (;;) {
			if (this.frames.length > 0)
				return this.frames.shift();
			if (this.closeInfo)
				throw new Error(`connection closed (${this.closeInfo.code} ` +
				    `${JSON.stringify(this.closeInfo.reason)}) while waiting for a frame`);
			const left = end - Date.now();
			if (left <= 0)
				throw new Error(`no frame within ${scaled(timeout)} ms`);
			await new Promise((resolve) => {
				const t = setTimeout(resolve, left);
				this.waiters.push(() => {
					clearTimeout(t);
					resolve();
				});
			});
		}
	}

	// The next frame, which must be a text frame holding JSON.
	async json(timeout = 5000) {
		const f = await this.next(timeout);
		assert.strictEqual(f.isBinary, false, 'expected a text frame, got binary');
		try {
			const v = JSON.parse(f.text);
			if (v !== null && typeof v === 'object')
				Object.defineProperty(v, '__at', { value: f.at, enumerable: false });
			return v;
		} catch (e) {
			throw new Error(`frame is not JSON: ${JSON.stringify(f.text.slice(0, 200))}`);
		}
	}

	// The next JSON frame, skipping those pred rejects (at most max).
	async jsonWhere(pred, timeout = 5000, max = 10000) {
		const end = Date.now() + scaled(timeout);
		for (let i = 0; i < max; i++) {
			const v = await this.json(Math.max(1, (end - Date.now()) / TIME_SCALE));
			if (pred(v))
				return v;
		}
		throw new Error('no matching frame');
	}

	// Assert that no frame arrives (and the connection stays open) for ms.
	async noFrame(ms = 300) {
		await sleep(ms);
		assert.deepStrictEqual(this.frames.map((f) => f.text ?? `<binary ${f.data.length}>`),
		    [], 'unexpected frames');
	}

	send(x, opts) {
		if (typeof x === 'object' && !Buffer.isBuffer(x) && !(x instanceof Uint8Array))
			x = JSON.stringify(x);
		return new Promise((resolve, reject) => {
			this.ws.send(x, opts || {}, (err) => (err ? reject(err) : resolve()));
		});
	}

	// Send a JSON request and return the next JSON frame.
	async request(obj, timeout = 5000) {
		await this.send(obj);
		return this.json(timeout);
	}

	// Wait for the close; returns {code, reason}.
	async closed(timeout = 5000) {
		if (!this.closeInfo) {
			await new Promise((resolve, reject) => {
				const t = setTimeout(() => reject(new Error(
				    `connection not closed within ${scaled(timeout)} ms`)), scaled(timeout));
				this.closeWaiters.push(() => {
					clearTimeout(t);
					resolve();
				});
			});
		}
		return this.closeInfo;
	}

	close(code, reason) {
		this.ws.close(code, reason);
	}

	terminate() {
		this.ws.terminate();
	}
}

/*
 * A stack: a temporary directory, handler pools, a router. opts:
 *   pools: { NAME: { bin, workers, args, env } }  (bin defaults to the
 *          test handler; workers to 1)
 *   phpPools: { NAME: { workers } }               (php-fpm, static pm)
 *   globals: { key: value }  extra global directives (after listen/api)
 *   config: (stack) => string  the rest of the config: pools, endpoints
 *   routerStart: false to start the router later with stack.startRouter()
 */
class Stack {
	constructor(opts = {}) {
		this.opts = opts;
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrt-'));
		this.pools = {};
		this.clients = [];
		this.children = [];
		this.router = null;
		this.routerExit = null;
		this.stopped = false;
		this.disconnectLog = path.join(this.dir, 'disconnect.log');
		this.routerLog = path.join(this.dir, 'router.log');
		this.confFile = path.join(this.dir, 'wsrouter.conf');
		live.add(this);
	}

	sock(name) {
		return path.join(this.dir, `${name}.sock`);
	}

	/*
	 * A pool block for the named socket; extra is more directive lines,
	 * which replace the defaults of the same keys.
	 */
	poolConf(name, extra = '', sockName = name) {
		const lines = extra.split('\n').map((l) => l.trim()).filter(Boolean);
		const given = new Set(lines.map((l) => l.split(/\s+/)[0]));
		const defaults = [
			['connect_timeout', '1s'],
			['first_byte_timeout', '10s'],
			['idle_timeout', '10s'],
		].filter(([k]) => !given.has(k)).map(([k, v]) => `${k} ${v}`);
		if (!given.has('address')) {
			const started = sockName === name && this.pools[name];
			const socks = started ? this.pools[name].socks : [this.sock(sockName)];
			defaults.unshift(...socks.map((x) => `address unix:${x}`));
		}
		defaults.push(`param WS_TEST_LOG ${this.disconnectLog}`);
		return `pool ${name} {\n` + defaults.concat(lines).map((l) => `\t${l}\n`).join('') +
		    '}\n';
	}

	async start() {
		[this.port, this.apiPort] = await freePorts(2);
		for (const [name, p] of Object.entries(this.opts.pools || {}))
			await this.startPool(name, p);
		for (const [name, p] of Object.entries(this.opts.phpPools || {}))
			await this.startPhpPool(name, p);
		this.writeConfig();
		if (this.opts.routerStart !== false)
			await this.startRouter();
		return this;
	}

	writeConfig() {
		const globals = Object.assign({
			listen: `127.0.0.1:${this.port}`,
			api: `127.0.0.1:${this.apiPort}`,
			log_level: process.env.WSR_LOG_LEVEL || 'info',
			shutdown_timeout: '2s',
		}, this.opts.globals || {});
		let text = '# generated by tests/integration/harness.js\n';
		for (const [k, v] of Object.entries(globals))
			text += `${k} ${v}\n`;
		text += '\n' + (this.opts.config ? this.opts.config(this) : '');
		fs.writeFileSync(this.confFile, text);
	}

	logFd(name) {
		return fs.openSync(path.join(this.dir, name), 'a');
	}

	/*
	 * Start a pool of FastCGI workers: one "spawn-fcgi -n" per worker, each
	 * on its own socket (DIR/NAME.sock, DIR/NAME-2.sock, ...), so that each
	 * worker is our own child: its pid is known, stays ours until we see
	 * it exit, and can be killed or stopped alone. poolConf() lists every
	 * socket as an address of the pool.
	 */
	async startPool(name, p = {}) {
		const bin = p.bin || paths.testhandler;
		const workers = p.workers || 1;
		const logName = `pool-${name}.log`;
		const env = Object.assign({}, process.env, p.env || {});
		const pool = {
			name, bin, socks: [], children: [], log: path.join(this.dir, logName),
			get pids() {
				return this.children.map((c) => c.pid);
			},
		};
		this.pools[name] = pool;
		const fd = this.logFd(logName);
		try {
			for (let i = 0; i < workers; i++) {
				const sock = i === 0 ? this.sock(name) : this.sock(`${name}-${i + 1}`);
				const c = this.spawn(paths.spawnFcgi,
				    ['-n', '-s', sock, '-M', '0600', '--', bin, ...(p.args || [])],
				    { stdio: ['ignore', fd, fd], env });
				pool.socks.push(sock);
				pool.children.push(c);
			}
		} finally {
			fs.closeSync(fd);
		}
		try {
			await waitFor(() => {
				if (pool.children.some(exited))
					throw new Error(`pool ${name} exited at start`);
				return pool.socks.every((x) => fs.existsSync(x));
			}, 10000, `the sockets of pool ${name}`);
		} catch (e) {
			e.message += `\n--- pool log ---\n${fs.readFileSync(pool.log, 'utf8')}`;
			throw e;
		}
		return pool;
	}

	// Spawn a child we keep track of until it exits.
	spawn(cmd, args, opts) {
		const c = child_process.spawn(cmd, args, opts);
		c.on('error', () => {});
		c.exited = new Promise((resolve) => c.on('exit', resolve));
		this.children.push(c);
		return c;
	}

	/*
	 * A php-fpm pool on DIR/NAME.sock. p.conf: a php-fpm config of one's
	 * own, which takes its listen path from ${WSH_PHP_LISTEN}; else one
	 * is generated.
	 */
	async startPhpPool(name, p = {}) {
		const sock = this.sock(name);
		const conf = p.conf || path.join(this.dir, `php-${name}.conf`);
		const log = path.join(this.dir, `pool-${name}.log`);
		if (!p.conf) {
			fs.writeFileSync(conf, [
				'[global]',
				`error_log = ${log}`,
				'daemonize = no',
				'log_level = notice',
				`[${name}]`,
				`listen = ${sock}`,
				'listen.mode = 0600',
				'pm = static',
				`pm.max_children = ${p.workers || 2}`,
				'catch_workers_output = yes',
				'clear_env = no',
				'php_admin_value[output_buffering] = 0',
				'',
			].join('\n'));
		}
		const args = ['-F', '-y', conf];
		if (process.getuid && process.getuid() === 0)
			args.unshift('-R');
		const fd = this.logFd(`pool-${name}.log`);
		const c = this.spawn(paths.phpFpm, args, {
			stdio: ['ignore', fd, fd],
			env: Object.assign({}, process.env, { WSH_PHP_LISTEN: sock }),
		});
		fs.closeSync(fd);
		const pool = {
			name, socks: [sock], children: [c], log, php: true,
			get pids() {
				return this.children.map((x) => x.pid);
			},
		};
		this.pools[name] = pool;
		await waitFor(() => fs.existsSync(sock) || exited(c), 10000,
		    `socket of php-fpm pool ${name}`);
		if (exited(c))
			throw new Error(`php-fpm exited ${c.exitCode}:\n` +
			    fs.readFileSync(log, 'utf8'));
		return pool;
	}

	/*
	 * Start the router. freePorts() releases the ports it found, so another
	 * process may take one before the router binds it: on a first start
	 * that fails to listen, pick new ports and try again.
	 */
	async startRouter() {
		for (let tries = 1; ; tries++) {
			try {
				return await this.startRouterOnce();
			} catch (e) {
				if (this.routerStarted || tries === 3 || !/cannot listen on/.test(this.log()))
					throw e;
				[this.port, this.apiPort] = await freePorts(2);
				this.writeConfig();
				fs.truncateSync(this.routerLog, 0);
			}
		}
	}

	async startRouterOnce() {
		const fd = this.logFd('router.log');
		const argv = [...WRAPPER, paths.wsrouter, '-c', this.confFile];
		const c = this.spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
		fs.closeSync(fd);
		this.router = c;
		this.routerExit = null;
		this.routerExited = c.exited.then(() => {
			this.routerExit = { code: c.exitCode, signal: c.signalCode };
			return this.routerExit;
		});
		try {
			await waitFor(async () => {
				if (this.routerExit)
					throw new Error(`router exited early: ${JSON.stringify(this.routerExit)}`);
				try {
					const r = await this.api('GET', '/healthz', undefined, {}, 1000);
					// Both ports ours: a router that lost one of them to
					// another process exits, and another's API may answer.
					return r.status === 200 && await tcpOpen(this.port);
				} catch (e) {
					return false;
				}
			}, 10000, 'the router\'s /healthz');
		} catch (e) {
			e.message += `\n--- router log ---\n${this.log()}`;
			throw e;
		}
		this.routerStarted = true;
	}

	// The router's log so far.
	log() {
		try {
			return fs.readFileSync(this.routerLog, 'utf8');
		} catch (e) {
			return '';
		}
	}

	// SIGTERM (or sig) the router as part of a test; resolves its exit.
	async stopRouter(sig = 'SIGTERM', timeout = 10000) {
		this.routerStoppedByTest = true;
		signal(this.router.pid, sig);
		const exit = await within(this.routerExited, scaled(timeout));
		if (exit === null)
			throw new Error(`the router did not exit within ${scaled(timeout)} ms of ${sig}`);
		return exit;
	}

	routerAlive() {
		return this.router !== null && this.routerExit === null;
	}

	wsUrl(p = '/ws', query = '') {
		if (query && typeof query === 'object')
			query = new URLSearchParams(query).toString();
		return `ws://127.0.0.1:${this.port}${p}${query ? '?' + query : ''}`;
	}

	// Open a WebSocket; resolves once it is open (rejects on a refusal).
	connect(p = '/ws', query = '', opts = {}) {
		return this.connectUrl(this.wsUrl(p, query), [], opts);
	}

	/*
	 * Open a WebSocket to url offering the subprotocols protocols (a
	 * list, maybe empty); opts go to ws (headers, ...). Resolves the
	 * Client once open; rejects on a refusal (e.statusCode for an HTTP
	 * answer).
	 */
	async connectUrl(url, protocols = [], opts = {}) {
		const WebSocket = require('ws');
		const ws = new WebSocket(url, protocols,
		    Object.assign({ handshakeTimeout: scaled(5000) }, opts));
		const c = new Client(ws, url);
		this.clients.push(c);
		await new Promise((resolve, reject) => {
			const t = setTimeout(() => reject(new Error(`${url}: not open after 5 s`)),
			    scaled(5000));
			const done = (err) => {
				clearTimeout(t);
				if (err)
					reject(err);
				else
					resolve();
			};
			ws.once('open', () => done());
			ws.once('unexpected-response', (req, res) => {
				const e = new Error(`${url}: HTTP ${res.statusCode}`);
				e.statusCode = res.statusCode;
				res.resume();
				req.destroy();
				done(e);
			});
			ws.once('error', (e) => done(e));
			ws.once('close', (code) => done(new Error(`${url}: closed (${code}) before open`)));
		});
		return c;
	}

	// Connect and learn the connection's id through the handler.
	async connectId(p = '/ws', query = '', opts = {}) {
		const c = await this.connect(p, query, opts);
		const w = await c.request({ type: 'whoami' });
		assert.strictEqual(w.type, 'whoami', `expected whoami, got ${JSON.stringify(w)}`);
		c.id = w.connection_id;
		return c;
	}

	/*
	 * A management API request. body: a string, Buffer, or an object sent
	 * as JSON. Resolves {status, headers, body (Buffer), text, json()}.
	 */
	api(method, p, body, headers = {}, timeout = 5000) {
		let data = body;
		const h = Object.assign({}, headers);
		if (data !== undefined && !Buffer.isBuffer(data) && typeof data === 'object') {
			data = JSON.stringify(data);
			if (!h['Content-Type'])
				h['Content-Type'] = 'application/json';
		}
		if (data !== undefined)
			h['Content-Length'] = Buffer.byteLength(data);
		return new Promise((resolve, reject) => {
			const req = http.request({
				host: '127.0.0.1', port: this.apiPort, method, path: p, headers: h,
				agent: false,
			}, (res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => {
					const b = Buffer.concat(chunks);
					resolve({
						status: res.statusCode,
						headers: res.headers,
						body: b,
						text: b.toString('utf8'),
						json() {
							return JSON.parse(b.toString('utf8'));
						},
					});
				});
				res.on('error', reject);
			});
			req.setTimeout(scaled(timeout), () =>
			    req.destroy(new Error(`${method} ${p}: no answer in ${scaled(timeout)} ms`)));
			req.on('error', reject);
			if (data !== undefined)
				req.write(data);
			req.end();
		});
	}

	async metrics() {
		const r = await this.api('GET', '/metrics');
		assert.strictEqual(r.status, 200, '/metrics status');
		return parseMetrics(r.text);
	}

	async healthy() {
		const r = await this.api('GET', '/healthz');
		return r.status === 200;
	}

	// The DISCONNECT log: [{id, code, reason}] in the order written.
	disconnects() {
		let text = '';
		try {
			text = fs.readFileSync(this.disconnectLog, 'utf8');
		} catch (e) {
			return [];
		}
		return text.split('\n').filter((l) => l !== '').map((l) => {
			const m = /^(\S+) (\S+) ?(.*)$/.exec(l);
			if (!m)
				return { id: l, code: NaN, reason: '', line: l };
			return { id: m[1], code: Number(m[2]), reason: m[3], line: l };
		});
	}

	// Wait until the DISCONNECT log has a line for id; returns them all.
	async waitDisconnect(id, timeout = 5000) {
		await waitFor(() => this.disconnects().some((d) => d.id === id), timeout,
		    `the DISCONNECT of ${id}`);
		return this.disconnects().filter((d) => d.id === id);
	}

	pool(name) {
		const p = this.pools[name];
		assert.ok(p, `no pool ${name}`);
		return p;
	}

	// Kill every worker of a pool with SIGKILL and wait until they are gone.
	async killPool(name) {
		const p = this.pool(name);
		for (let i = 0; i < p.children.length; i++)
			await this.killWorker(name, i);
	}

	// Kill worker i of a pool with SIGKILL and wait for it.
	async killWorker(name, i = 0) {
		const c = this.pool(name).children[i];
		if (!exited(c))
			c.kill('SIGKILL');
		const e = await within(c.exited, scaled(5000), 'timeout');
		if (e === 'timeout')
			throw new Error(`worker ${i} of pool ${name} did not die`);
	}

	/*
	 * Stop everything: SIGTERM the router (and wait for it, bounded), then
	 * the clients and the pools; remove the directory. Returns an Error
	 * when the router had died before, or exited badly.
	 */
	async stop() {
		if (this.stopped)
			return null;
		this.stopped = true;
		let problem = null;
		if (this.router) {
			if (this.routerExit !== null && !this.routerStoppedByTest) {
				problem = new Error(`the router died during the test: ` +
				    `${JSON.stringify(this.routerExit)}`);
			} else if (this.routerExit === null) {
				signal(this.router.pid, 'SIGTERM');
				const exit = await within(this.routerExited, scaled(10000));
				if (exit === null) {
					signal(this.router.pid, 'SIGKILL');
					problem = new Error('the router did not exit within 10 s of SIGTERM');
					await within(this.routerExited, 2000);
				} else if (exit.code !== 0) {
					problem = new Error(`the router exited with ${JSON.stringify(exit)} ` +
					    'after SIGTERM');
				}
			}
			if (!problem && MEMORY_ERROR.test(this.log()))
				problem = new Error('the router log reports a memory error');
		}
		for (const c of this.clients) {
			try {
				c.terminate();
			} catch (e) { /* already gone */ }
		}
		const kids = this.children.filter((c) => c !== this.router && !exited(c));
		for (const c of kids) {
			c.kill('SIGCONT');
			c.kill('SIGTERM');
		}
		await within(Promise.all(kids.map((c) => c.exited)), 3000);
		for (const c of kids.filter((x) => !exited(x)))
			c.kill('SIGKILL');
		await within(Promise.all(kids.map((c) => c.exited)), 2000);
		// The handlers' sanitizer reports too (they are written at exit).
		for (const p of Object.values(this.pools)) {
			let t = '';
			try {
				t = fs.readFileSync(p.log, 'utf8');
			} catch (e) { /* no log */ }
			if (!problem && MEMORY_ERROR.test(t))
				problem = new Error(`the log of pool ${p.name} reports a memory error`);
		}
		return problem;
	}

	// Remove the temporary directory (after stop()).
	cleanup() {
		if (!process.env.WSR_KEEP_TMP)
			fs.rmSync(this.dir, { recursive: true, force: true });
		live.delete(this);
	}

	// Print the logs, for a failed test.
	dump(why) {
		let out = `\n### ${why || 'test failed'}; router log (${this.routerLog}):\n`;
		out += this.log().split('\n').slice(-200).join('\n');
		for (const p of Object.values(this.pools)) {
			try {
				const t = fs.readFileSync(p.log, 'utf8');
				if (t.trim())
					out += `\n### pool ${p.name} log:\n${t.split('\n').slice(-50).join('\n')}`;
			} catch (e) { /* none */ }
		}
		const d = this.disconnects();
		if (d.length > 0)
			out += `\n### DISCONNECT log:\n${d.map((x) => x.line).join('\n')}`;
		process.stderr.write(out + '\n');
	}
}

process.on('exit', () => {
	for (const s of live) {
		for (const c of s.children) {
			if (!exited(c))
				c.kill('SIGKILL');
		}
		if (!process.env.WSR_KEEP_TMP)
			fs.rmSync(s.dir, { recursive: true, force: true });
	}
});

/*
 * A test case with its own stack: starts it, runs fn(stack, t), and stops
 * it whatever happens. The logs are printed when the case fails, unless
 * opts.todo (passed to node:test) marks it a known deviation, an expected
 * failure.
 */
function stackTest(name, opts, fn) {
	test(name, { timeout: scaled(opts.timeout || 60000), todo: opts.todo }, async (t) => {
		const s = new Stack(opts);
		let failure = null;
		try {
			await s.start();
			await fn(s, t);
		} catch (e) {
			failure = e;
		}
		// A drain we did not ask for: a signal from outside the test.
		const outside = !s.routerStoppedByTest && /drain_start/.test(s.log());
		const problem = await s.stop().catch((e) => e);
		if (failure && outside)
			failure.message += ' (the router was told to shut down by a signal ' +
			    'from outside this test)';
		if (failure && !opts.todo)
			s.dump(String(failure.message).split('\n')[0]);
		else if (!failure && problem)
			s.dump(problem.message);
		s.cleanup();
		if (failure)
			throw failure;
		if (problem)
			throw problem;
	});
}

// Assert the shape of an error frame from the contract.
function assertErrorFrame(f, code, route) {
	assert.strictEqual(f.type, 'error', `expected an error frame, got ${JSON.stringify(f)}`);
	assert.strictEqual(f.error, code, `expected error ${code}, got ${JSON.stringify(f)}`);
	assert.strictEqual(typeof f.message, 'string');
	assert.strictEqual(typeof f.request_id, 'string');
	assert.match(f.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
	if (route !== undefined)
		assert.strictEqual(f.route, route, `error route in ${JSON.stringify(f)}`);
	else
		assert.strictEqual(typeof f.route, 'string');
}

function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
}

module.exports = {
	Client,
	Stack,
	assertErrorFrame,
	freePorts,
	median,
	metricSum,
	nowUs,
	parseMetrics,
	paths,
	exited,
	requireTools,
	routerRssMeaningful,
	rssKb,
	scaled,
	contProcess,
	signal,
	sleep,
	stopProcess,
	stackTest,
	waitFor,
};
