'use strict';
// reuseport.js: several routers on one port with "reuseport on"
// (SO_REUSEPORT, set by router/listenshare.c): the kernel spreads new
// connections over them, each router serves its own, and the port stays
// served while one of them stops. Without it a second router on a taken
// port refuses to start, saying why.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const NCONN = 24;
const endpoint = `
endpoint /ws {
	route $connect echo
	route $default echo
}
`;

// Which router (instance) a new connection reached, from its CONNECT event.
async function instanceOf(s) {
	const c = await s.connect('/ws', 'params=WS_ROUTER_INSTANCE');
	const onConnect = await c.json();
	assert.strictEqual(onConnect.event, 'CONNECT');
	return { c, instance: onConnect.params.WS_ROUTER_INSTANCE };
}

/*
 * A second router on s's port, with its own API port and instance name,
 * sending its events to s's handler. Stop it with second.stop().
 */
async function secondRouter(s, instance, reuseport) {
	const b = new h.Stack({
		routerStart: false,
		globals: { instance, reuseport },
		config: () => s.poolConf('echo') + endpoint,
	});
	await b.start();
	b.port = s.port;
	b.writeConfig();
	return b;
}

// The first router, started by stackTest.
const first = {
	pools: { echo: {} },
	globals: { instance: 'rp-a', reuseport: 'on' },
	config: (s) => s.poolConf('echo') + endpoint,
};

h.stackTest('two routers share a port with reuseport; each serves the connections it takes', first,
    async (s) => {
	const b = await secondRouter(s, 'rp-b', 'on');
	let failure = null;
	try {
		await b.startRouterOnce();
		const seen = { 'rp-a': 0, 'rp-b': 0 };
		const clients = [];
		for (let i = 0; i < NCONN; i++) {
			const { c, instance } = await instanceOf(s);
			assert.ok(instance in seen, `unknown instance ${instance}`);
			seen[instance]++;
			clients.push(c);
			// Each router answers its own connections' messages.
			const r = await c.request({ type: 'params', names: 'WS_ROUTER_INSTANCE' });
			assert.strictEqual(r.params.WS_ROUTER_INSTANCE, instance);
		}
		// 24 connections all hashed to one listener: about 1 in 8 million.
		assert.ok(seen['rp-a'] > 0 && seen['rp-b'] > 0,
		    `connections spread over both routers: ${JSON.stringify(seen)}`);
		assert.strictEqual(h.metricSum(await s.metrics(), 'wsrouter_connections'),
		    seen['rp-a'], 'router a counts its own connections');
		assert.strictEqual(h.metricSum(await b.metrics(), 'wsrouter_connections'),
		    seen['rp-b'], 'router b counts its own connections');
		for (const c of clients)
			c.close();
		// One router stops (a rolling restart): the port stays served.
		await s.stopRouter();
		for (let i = 0; i < 8; i++) {
			const { c, instance } = await instanceOf(s);
			assert.strictEqual(instance, 'rp-b', 'the remaining router takes every connection');
			c.close();
		}
	} catch (e) {
		e.message += `\n--- the second router's log ---\n${b.log()}`;
		failure = e;
	}
	const problem = await b.stop().catch((e) => e);
	b.cleanup();
	if (failure || problem)
		throw failure || problem;
});

h.stackTest('without reuseport a second router on a taken port exits, saying so', first,
    async (s) => {
	const b = await secondRouter(s, 'rp-b', 'off');
	try {
		const log = path.join(b.dir, 'second.log');
		const fd = fs.openSync(log, 'w');
		const child = spawn(h.paths.wsrouter, ['-c', b.confFile],
		    { stdio: ['ignore', fd, fd] });
		fs.closeSync(fd);
		const code = await Promise.race([
			new Promise((resolve) => child.on('exit', resolve)),
			h.sleep(h.scaled(10000)).then(() => null),
		]);
		if (code === null)
			child.kill('SIGKILL');
		assert.notStrictEqual(code, null, 'the second router kept running');
		assert.notStrictEqual(code, 0, 'the second router exited 0');
		assert.match(fs.readFileSync(log, 'utf8'),
		    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${s.port}`));
		// The first router was not disturbed.
		const { c, instance } = await instanceOf(s);
		assert.strictEqual(instance, 'rp-a');
		c.close();
	} finally {
		b.cleanup();
	}
});
