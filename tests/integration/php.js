'use strict';
// php.js: an endpoint served by PHP-FPM running handlers/examples/echo.php,
// the contract seen from a handler in another language.

const h = require('./harness');
const path = require('node:path');
const script = path.join(h.paths.top_srcdir, 'handlers', 'examples', 'echo.php');
const fpmConf = path.join(h.paths.top_srcdir, 'handlers', 'examples', 'php-fpm-echo.conf');
h.requireTools(['ws', 'php-fpm', 'wsrouter', script, fpmConf]);
const assert = require('node:assert');

// The php-fpm config shipped next to echo.php, as its comment says to run it.
const stack = {
	phpPools: { php: { conf: fpmConf } },
	config: (s) => s.poolConf('php', `param SCRIPT_FILENAME ${script}`) + `
endpoint /php {
	route $connect php
	route $disconnect php
	route $default php
}
`,
};

h.stackTest('PHP-FPM: CONNECT accepted, text echoed', stack, async (s) => {
	const c = await s.connect('/php', 'x=1');
	for (const text of ['hello from node', '{"type":"anything","n":1}', '\u00e9\u2713 \ud83d\ude80']) {
		await c.send(text);
		const f = await c.next(5000);
		assert.strictEqual(f.isBinary, false);
		assert.strictEqual(f.text, text);
	}
	// Several connections at once, over the pool's workers.
	const cs = await Promise.all([0, 1, 2, 3].map(() => s.connect('/php')));
	await Promise.all(cs.map((x, i) => x.send(`php ${i}`)));
	const got = await Promise.all(cs.map((x) => x.next(5000)));
	assert.deepStrictEqual(got.map((f) => f.text), ['php 0', 'php 1', 'php 2', 'php 3']);
	c.close(1000);
	await c.closed();
	assert.ok(await s.healthy());
});

h.stackTest('PHP-FPM: binary messages come back binary', stack, async (s) => {
	const c = await s.connect('/php');
	const bin = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
	await c.send(bin);
	const f = await c.next(5000);
	assert.strictEqual(f.isBinary, true);
	assert.ok(f.data.equals(bin), `got ${f.data.toString('hex')}`);
});
