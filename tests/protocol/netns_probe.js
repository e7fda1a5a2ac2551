'use strict';
/*
 * netns_probe.js: run by hygiene.js inside a private network namespace
 * that has loopback plus one non-loopback interface. For the listener
 * configuration named on the command line it starts the router, then
 * sends an HTTP request to the WebSocket and API ports on the loopback
 * and on every non-loopback address the namespace has. Prints one JSON
 * line with what happened; hygiene.js judges it.
 */

const child_process = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const h = require('../integration/harness');

// Listener configurations; lo is the loopback address to reach them on.
const VARIANTS = [
	{ name: 'ipv4', listen: '127.0.0.1', api: '127.0.0.1', lo: '127.0.0.1' },
	{ name: 'ipv6', listen: '[::1]', api: '[::1]', lo: '::1' },
	{ name: 'localhost', listen: '127.0.0.1', api: 'localhost', lo: '127.0.0.1' },
];

// GET path on host:port: the HTTP status, or how the connection failed.
function tryHttp(host, port, p = '/healthz', timeout = 2000) {
	return new Promise((resolve) => {
		const req = http.request({ host, port, path: p, agent: false }, (res) => {
			res.resume();
			res.on('end', () => resolve(res.statusCode));
			res.on('error', () => resolve(res.statusCode));
		});
		req.setTimeout(timeout, () => {
			req.destroy();
			resolve('timeout');
		});
		req.on('error', (e) => resolve(e.code === 'ECONNREFUSED' ? 'refused' :
		    e.code || String(e)));
		req.end();
	});
}

function addresses() {
	const out = [];
	for (const [ifname, list] of Object.entries(os.networkInterfaces())) {
		for (const a of list || []) {
			if (a.internal)
				continue;
			if (a.family === 'IPv6' && a.scopeid)
				continue;	/* link-local: needs a scope */
			out.push({ ifname, family: a.family, address: a.address });
		}
	}
	return out;
}

async function probe(v, addrs, dir) {
	const [port, apiPort] = await h.freePorts(2);
	const conf = path.join(dir, `${v.name}.conf`);
	const log = path.join(dir, `${v.name}.log`);
	fs.writeFileSync(conf, `listen ${v.listen}:${port}\napi ${v.api}:${apiPort}\n` +
	    'log_level info\nshutdown_timeout 1s\n');
	const fd = fs.openSync(log, 'a');
	const r = child_process.spawn(h.paths.wsrouter, ['-c', conf],
	    { stdio: ['ignore', fd, fd] });
	fs.closeSync(fd);
	let exited = null;
	r.on('exit', (code, sig) => {
		exited = { code, sig };
	});
	const res = { variant: v.name, listen: v.listen, api: v.api, port, apiPort };
	try {
		await h.waitFor(async () => exited !== null ||
		    (await tryHttp(v.lo, apiPort, '/healthz', 500)) === 200, 10000,
		    'the API\'s /healthz');
		if (exited !== null) {
			res.error = `router exited ${JSON.stringify(exited)}: ` +
			    fs.readFileSync(log, 'utf8');
			return res;
		}
		res.loopback = {
			api: await tryHttp(v.lo, apiPort, '/healthz'),
			ws: await tryHttp(v.lo, port, '/'),
		};
		res.other = [];
		for (const a of addrs) {
			res.other.push({
				address: a.address,
				api: await tryHttp(a.address, apiPort, '/healthz'),
				ws: await tryHttp(a.address, port, '/'),
			});
		}
		res.alive = exited === null;
	} catch (e) {
		res.error = `${e.message}: ${fs.readFileSync(log, 'utf8')}`;
	} finally {
		if (exited === null) {
			r.kill('SIGTERM');
			await h.waitFor(() => exited !== null, 10000, 'the router to exit')
			    .catch(() => r.kill('SIGKILL'));
		}
	}
	return res;
}

(async () => {
	const addrs = addresses();
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrt-netns-'));
	const out = { addresses: addrs };
	const v = VARIANTS.find((x) => x.name === process.argv[2]);
	try {
		if (!v)
			out.error = `unknown variant ${process.argv[2]}`;
		else if (addrs.length > 0)
			out.result = await probe(v, addrs, dir);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
	process.stdout.write(JSON.stringify(out) + '\n');
	process.exit(0);
})().catch((e) => {
	process.stdout.write(JSON.stringify({ error: String(e && e.stack) }) + '\n');
	process.exit(0);
});
