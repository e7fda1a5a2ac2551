'use strict';
// disconnect.js: DISCONNECT reaches the handler exactly once for every
// accepted connection, however it ends, and never for a rejected one.

const h = require('./harness');
h.requireTools(['ws', 'spawn-fcgi', 'wsrouter', 'testhandler']);
const assert = require('node:assert');

function stack(globals = {}) {
	return {
		pools: { main: {}, bye: {} },
		globals,
		config: (s) => s.poolConf('main') + s.poolConf('bye') + `
endpoint /ws {
	route $connect main
	route $disconnect bye
	route $default main
}
`,
	};
}

// Wait for the DISCONNECT of c, then a little longer for a duplicate.
async function onlyDisconnect(s, c, code, reason) {
	await s.waitDisconnect(c.id, 5000);
	await h.sleep(400);
	const lines = s.disconnects().filter((d) => d.id === c.id);
	assert.strictEqual(lines.length, 1, `DISCONNECT lines for ${c.id}: ${JSON.stringify(lines)}`);
	if (code !== undefined)
		assert.strictEqual(lines[0].code, code, `close code in ${lines[0].line}`);
	if (reason !== undefined)
		assert.strictEqual(lines[0].reason, reason, `close reason in ${lines[0].line}`);
	return lines[0];
}

h.stackTest('client close with 4000 gives one DISCONNECT with that code', stack(), async (s) => {
	const c = await s.connectId('/ws');
	c.close(4000, 'client bye');
	const cl = await c.closed();
	assert.strictEqual(cl.code, 4000);
	await onlyDisconnect(s, c, 4000, 'client bye');
	// A normal close without a code, too.
	const d = await s.connectId('/ws');
	d.close(1000);
	await d.closed();
	await onlyDisconnect(s, d, 1000);
	assert.strictEqual(s.disconnects().length, 2);
});

h.stackTest('a dropped TCP connection gives one DISCONNECT with 1006', stack(), async (s) => {
	const c = await s.connectId('/ws');
	c.ws._socket.destroy();
	await onlyDisconnect(s, c, 1006);
	assert.ok(await s.healthy());
});

h.stackTest('DELETE through the management API gives one DISCONNECT', stack(), async (s) => {
	const c = await s.connectId('/ws');
	const r = await s.api('DELETE', `/@connections/${c.id}?code=4000`);
	assert.ok(r.status >= 200 && r.status < 300, `DELETE status ${r.status}`);
	const cl = await c.closed();
	assert.strictEqual(cl.code, 4000);
	await onlyDisconnect(s, c, 4000);
	// Deleting again changes nothing.
	const r2 = await s.api('DELETE', `/@connections/${c.id}?code=4001`);
	assert.strictEqual(r2.status, 410);
	await h.sleep(300);
	assert.strictEqual(s.disconnects().length, 1);
});

h.stackTest('the idle timeout closes with 1001 and one DISCONNECT',
    stack({ idle_timeout: '1s', ping_interval: '0' }), async (s) => {
	const c = await s.connectId('/ws');
	const t0 = Date.now();
	const cl = await c.closed(5000);
	assert.strictEqual(cl.code, 1001);
	const ms = Date.now() - t0;
	assert.ok(ms > 500 && ms < 4000, `closed after ${ms} ms of idleness`);
	await onlyDisconnect(s, c, 1001);
	// A connection that keeps talking stays open past the timeout.
	const d = await s.connectId('/ws');
	for (let i = 0; i < 6; i++) {
		await h.sleep(400);
		assert.deepStrictEqual(await d.request({ type: 'echo', i }), { type: 'echo', i });
	}
	assert.strictEqual(d.closeInfo, null);
});

h.stackTest('the handler close action gives one DISCONNECT with its code', stack(), async (s) => {
	const c = await s.connectId('/ws');
	await c.send({ type: 'close', code: 4321, reason: 'handler says bye' });
	const cl = await c.closed();
	assert.strictEqual(cl.code, 4321);
	assert.strictEqual(cl.reason, 'handler says bye');
	await onlyDisconnect(s, c, 4321, 'handler says bye');
});

h.stackTest('router SIGTERM closes with 1001 and delivers every DISCONNECT', stack(), async (s) => {
	const cs = [];
	for (let i = 0; i < 3; i++)
		cs.push(await s.connectId('/ws'));
	const exit = await s.stopRouter('SIGTERM', 10000);
	assert.deepStrictEqual(exit, { code: 0, signal: null });
	for (const c of cs) {
		const cl = await c.closed(2000);
		assert.strictEqual(cl.code, 1001);
	}
	const d = s.disconnects();
	assert.deepStrictEqual(d.map((x) => x.id).sort(), cs.map((c) => c.id).sort(),
	    `DISCONNECT log after SIGTERM: ${JSON.stringify(d)}`);
	assert.ok(d.every((x) => x.code === 1001), `codes: ${d.map((x) => x.code)}`);
});

h.stackTest('rejected connections never get a DISCONNECT', stack(), async (s) => {
	const rejected = [];
	for (const q of ['reject=401', 'reject=403', 'reject=500']) {
		const c = await s.connect('/ws', q);
		rejected.push((await c.closed()).code);
	}
	assert.deepStrictEqual(rejected, [4401, 4403, 4500]);
	const ok = await s.connectId('/ws');
	ok.close(1000);
	await onlyDisconnect(s, ok, 1000);
	await h.sleep(500);
	assert.strictEqual(s.disconnects().length, 1,
	    `DISCONNECT lines: ${JSON.stringify(s.disconnects())}`);
});

h.stackTest('many connections closing at once each get one DISCONNECT', stack(), async (s) => {
	const cs = [];
	for (let i = 0; i < 20; i++)
		cs.push(await s.connectId('/ws'));
	cs.forEach((c, i) => (i % 2 ? c.close(4000 + i) : c.terminate()));
	await h.waitFor(() => s.disconnects().length >= cs.length, 10000, 'all DISCONNECTs');
	await h.sleep(500);
	const d = s.disconnects();
	assert.strictEqual(d.length, cs.length, `lines: ${d.length}`);
	cs.forEach((c, i) => {
		const mine = d.filter((x) => x.id === c.id);
		assert.strictEqual(mine.length, 1, `connection ${i}`);
		assert.strictEqual(mine[0].code, i % 2 ? 4000 + i : 1006);
	});
});
