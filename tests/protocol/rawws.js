'use strict';
// rawws.js: a WebSocket client over a bare TCP socket, for the protocol
// tests. It does the RFC 6455 handshake itself, builds any frame by hand
// (also broken ones), and parses every frame the server sends back, so a
// test can check the exact close code and reason the router chose.

const assert = require('node:assert');
const crypto = require('node:crypto');
const net = require('node:net');

const h = require('../integration/harness');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const OP = {
	CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa,
};

function acceptFor(key) {
	return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

/*
 * One frame as bytes. opts: fin (true), rsv (0..7, RSV1 is 4), opcode,
 * payload (Buffer or string), mask (true), maskKey (4 bytes), length (the
 * declared payload length, when it must differ from the payload's).
 */
function frame(opts) {
	const fin = opts.fin === undefined ? true : opts.fin;
	const mask = opts.mask === undefined ? true : opts.mask;
	let payload = opts.payload === undefined ? Buffer.alloc(0) : opts.payload;
	if (!Buffer.isBuffer(payload))
		payload = Buffer.from(payload);
	const len = opts.length === undefined ? payload.length : opts.length;
	const head = [(fin ? 0x80 : 0) | ((opts.rsv || 0) << 4) | (opts.opcode & 0x0f)];
	const mbit = mask ? 0x80 : 0;
	let ext = Buffer.alloc(0);
	if (len < 126) {
		head.push(mbit | len);
	} else if (len < 65536) {
		head.push(mbit | 126);
		ext = Buffer.alloc(2);
		ext.writeUInt16BE(len);
	} else {
		head.push(mbit | 127);
		ext = Buffer.alloc(8);
		ext.writeBigUInt64BE(BigInt(len));
	}
	if (!mask)
		return Buffer.concat([Buffer.from(head), ext, payload]);
	const key = opts.maskKey || crypto.randomBytes(4);
	const masked = Buffer.alloc(payload.length);
	for (let i = 0; i < payload.length; i++)
		masked[i] = payload[i] ^ key[i & 3];
	return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

// A close frame's payload: 2-byte code, then the reason.
function closePayload(code, reason = '') {
	if (code === undefined)
		return Buffer.alloc(0);
	const b = Buffer.alloc(2);
	b.writeUInt16BE(code);
	return Buffer.concat([b, Buffer.from(reason)]);
}

/*
 * Parse server frames out of buf. Returns {frames, rest}. A server frame
 * must not be masked; one that is gets masked: true and the test decides.
 */
function parseFrames(buf) {
	const frames = [];
	let off = 0;
	for (let i = 0; i < 100000; i++) {
		if (buf.length - off < 2)
			break;
		const b0 = buf[off];
		const b1 = buf[off + 1];
		let len = b1 & 0x7f;
		let p = off + 2;
		if (len === 126) {
			if (buf.length - p < 2)
				break;
			len = buf.readUInt16BE(p);
			p += 2;
		} else if (len === 127) {
			if (buf.length - p < 8)
				break;
			len = Number(buf.readBigUInt64BE(p));
			p += 8;
		}
		const masked = (b1 & 0x80) !== 0;
		let key = null;
		if (masked) {
			if (buf.length - p < 4)
				break;
			key = buf.subarray(p, p + 4);
			p += 4;
		}
		if (buf.length - p < len)
			break;
		let payload = Buffer.from(buf.subarray(p, p + len));
		if (masked)
			for (let j = 0; j < payload.length; j++)
				payload[j] ^= key[j & 3];
		const f = {
			fin: (b0 & 0x80) !== 0,
			rsv: (b0 >> 4) & 7,
			opcode: b0 & 0x0f,
			masked,
			payload,
		};
		if (f.opcode === OP.CLOSE) {
			f.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
			f.reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
		}
		frames.push(f);
		off = p + len;
	}
	return { frames, rest: buf.subarray(off) };
}

// Read an HTTP response head from a socket; resolves {status, headers, rest}.
function readHead(sock, timeout) {
	return new Promise((resolve, reject) => {
		let buf = Buffer.alloc(0);
		const t = setTimeout(() => finish(new Error(`no HTTP response in ${timeout} ms`)),
		    timeout);
		function finish(err, v) {
			clearTimeout(t);
			sock.off('data', onData);
			sock.off('end', onEnd);
			sock.off('close', onEnd);
			sock.off('error', onError);
			if (err)
				reject(err);
			else
				resolve(v);
		}
		function onData(d) {
			buf = Buffer.concat([buf, d]);
			const i = buf.indexOf('\r\n\r\n');
			if (i === -1) {
				if (buf.length > 65536)
					finish(new Error('HTTP response head over 64 KiB'));
				return;
			}
			const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
			const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
			if (!m) {
				finish(new Error(`bad status line ${JSON.stringify(lines[0])}`));
				return;
			}
			const headers = {};
			for (const l of lines.slice(1)) {
				const c = l.indexOf(':');
				if (c > 0)
					headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
			}
			finish(null, {
				version: m[1], status: Number(m[2]), statusText: m[3] || '',
				statusLine: lines[0], headers, rest: buf.subarray(i + 4),
			});
		}
		function onEnd() {
			// Closed before a whole head: status 0, with what came.
			finish(null, { status: 0, closed: true, headers: {}, rest: buf,
			    statusLine: buf.toString('latin1').split('\r\n')[0] });
		}
		function onError(e) {
			if (e.code === 'ECONNRESET' || e.code === 'EPIPE')
				onEnd();
			else
				finish(e);
		}
		sock.on('data', onData);
		sock.on('end', onEnd);
		sock.on('close', onEnd);
		sock.on('error', onError);
	});
}

function connectTcp(port, host = '127.0.0.1', timeout = 5000) {
	return new Promise((resolve, reject) => {
		const sock = net.connect({ port, host });
		const t = setTimeout(() => {
			sock.destroy();
			reject(new Error(`TCP connect to ${host}:${port}: timeout`));
		}, timeout);
		sock.once('connect', () => {
			clearTimeout(t);
			sock.setNoDelay(true);
			resolve(sock);
		});
		sock.once('error', (e) => {
			clearTimeout(t);
			reject(e);
		});
	});
}

/*
 * Send the raw request text and read the response head. Resolves
 * {status, headers, rest, sock, body (what followed the head in 500 ms
 * at most, for non-101 answers)}. status 0 means the server closed first.
 */
async function httpExchange(port, text, opts = {}) {
	const timeout = h.scaled(opts.timeout || 5000);
	const sock = await connectTcp(port, opts.host || '127.0.0.1', timeout);
	sock.on('error', () => {});
	const headP = readHead(sock, timeout);
	sock.write(text);
	const r = await headP;
	r.sock = sock;
	return r;
}

// An upgrade request; headers: name -> value, null drops a default one.
function upgradeRequest(port, path = '/ws', headers = {}) {
	const key = crypto.randomBytes(16).toString('base64');
	const all = Object.assign({
		Host: `127.0.0.1:${port}`,
		Upgrade: 'websocket',
		Connection: 'Upgrade',
		'Sec-WebSocket-Key': key,
		'Sec-WebSocket-Version': '13',
	}, headers);
	let text = `GET ${path} HTTP/1.1\r\n`;
	for (const [k, v] of Object.entries(all))
		if (v !== null && v !== undefined)
			text += `${k}: ${v}\r\n`;
	return { text: text + '\r\n', key: all['Sec-WebSocket-Key'] };
}

class RawWs {
	constructor(sock, rest) {
		this.sock = sock;
		this.buf = Buffer.alloc(0);
		this.frames = [];	// not yet taken
		this.all = [];		// every frame, in order
		this.ended = false;	// the TCP connection is closed
		this.waiters = [];
		sock.on('data', (d) => this.feed(d));
		const onEnd = () => {
			this.ended = true;
			this.wake();
		};
		sock.on('end', onEnd);
		sock.on('close', onEnd);
		sock.on('error', onEnd);
		if (rest && rest.length > 0)
			this.feed(rest);
	}

	/*
	 * Open a WebSocket: handshake, check the 101 and the accept key.
	 * opts: path, headers (as upgradeRequest), host, timeout.
	 */
	static async open(port, opts = {}) {
		const req = upgradeRequest(port, opts.path || '/ws', opts.headers || {});
		const r = await httpExchange(port, req.text, opts);
		if (r.status !== 101) {
			r.sock.destroy();
			const e = new Error(`no upgrade: ${r.statusLine || 'closed'}`);
			e.status = r.status;
			throw e;
		}
		assert.strictEqual((r.headers.upgrade || '').toLowerCase(), 'websocket',
		    'Upgrade header of the 101');
		assert.match(r.headers.connection || '', /upgrade/i, 'Connection header of the 101');
		assert.strictEqual(r.headers['sec-websocket-accept'], acceptFor(req.key),
		    'Sec-WebSocket-Accept');
		return new RawWs(r.sock, r.rest);
	}

	feed(d) {
		this.buf = Buffer.concat([this.buf, d]);
		const { frames, rest } = parseFrames(this.buf);
		this.buf = Buffer.from(rest);
		for (const f of frames) {
			this.frames.push(f);
			this.all.push(f);
		}
		if (frames.length > 0)
			this.wake();
	}

	wake() {
		for (const w of this.waiters.splice(0))
			w();
	}

	async wait(ms) {
		await new Promise((resolve) => {
			const t = setTimeout(resolve, ms);
			this.waiters.push(() => {
				clearTimeout(t);
				resolve();
			});
		});
	}

	write(buf) {
		return new Promise((resolve) => {
			if (this.sock.destroyed || !this.sock.writable) {
				resolve(false);
				return;
			}
			this.sock.write(buf, (err) => resolve(!err));
		});
	}

	send(opts) {
		return this.write(frame(opts));
	}

	text(s, opts = {}) {
		return this.send(Object.assign({ opcode: OP.TEXT, payload: s }, opts));
	}

	binary(b, opts = {}) {
		return this.send(Object.assign({ opcode: OP.BINARY, payload: b }, opts));
	}

	ping(b = '', opts = {}) {
		return this.send(Object.assign({ opcode: OP.PING, payload: b }, opts));
	}

	close(code, reason = '') {
		return this.send({ opcode: OP.CLOSE, payload: closePayload(code, reason) });
	}

	// The next frame, at most timeout ms away; null if the TCP side closed.
	next(timeout = 5000) {
		return this.nextUntil(Date.now() + h.scaled(timeout));
	}

	async nextUntil(end) {
		for (;;) {
			if (this.frames.length > 0) {
				const f = this.frames.shift();
				assert.strictEqual(f.masked, false, 'the server sent a masked frame');
				return f;
			}
			if (this.ended)
				return null;
			const left = end - Date.now();
			if (left <= 0)
				throw new Error('no frame in time');
			await this.wait(left);
		}
	}

	// The next data (non-control) frame; pings are answered with pongs.
	async data(timeout = 5000) {
		const end = Date.now() + h.scaled(timeout);
		for (let i = 0; i < 10000; i++) {
			const f = await this.nextUntil(end);
			if (f === null)
				throw new Error('connection closed while waiting for a data frame');
			if (f.opcode === OP.PING) {
				await this.send({ opcode: OP.PONG, payload: f.payload });
				continue;
			}
			if (f.opcode === OP.CLOSE)
				throw new Error(`close ${f.code} ${JSON.stringify(f.reason)} while ` +
				    'waiting for a data frame');
			return f;
		}
		throw new Error('too many frames');
	}

	/*
	 * Wait for the server's close frame, skipping other frames (kept in
	 * .all). Resolves {code, reason, at} or, when the TCP connection
	 * closed without a close frame, {code: null, tcpOnly: true}.
	 */
	async closeFrame(timeout = 5000) {
		const end = Date.now() + h.scaled(timeout);
		for (let i = 0; i < 100000; i++) {
			const f = await this.nextUntil(end);
			if (f === null)
				return { code: null, reason: '', tcpOnly: true, at: Date.now() };
			if (f.opcode === OP.CLOSE)
				return { code: f.code, reason: f.reason, at: Date.now(), frame: f };
		}
		throw new Error('too many frames before the close');
	}

	// Wait until the TCP connection is closed; false after timeout ms.
	async tcpClosed(timeout = 5000) {
		const end = Date.now() + h.scaled(timeout);
		while (!this.ended) {
			const left = end - Date.now();
			if (left <= 0)
				return false;
			await this.wait(left);
		}
		return true;
	}

	destroy() {
		this.sock.destroy();
	}
}

/*
 * A pool block for the test handler socket of a stack (without the
 * harness's DISCONNECT log param); extra is more directive lines.
 */
function poolConf(s, name, extra = '') {
	return `pool ${name} {\n` +
	    `\taddress unix:${s.sock(name)}\n` +
	    '\tconnect_timeout 1s\n' +
	    '\tfirst_byte_timeout 10s\n' +
	    '\tidle_timeout 10s\n' +
	    extra.split('\n').map((l) => l.trim()).filter(Boolean)
		.map((l) => `\t${l}\n`).join('') +
	    '}\n';
}

// A fresh ordinary connection still echoes, and /healthz answers 200.
async function survives(s) {
	const c = await s.connect('/ws');
	const tag = `alive-${crypto.randomBytes(6).toString('hex')}`;
	await c.send(tag);
	const f = await c.next(5000);
	assert.strictEqual(f.text, tag, 'echo on a fresh connection');
	c.close(1000);
	assert.ok(await s.healthy(), '/healthz is not 200');
	assert.ok(s.routerAlive(), 'the router died');
}

module.exports = {
	OP,
	RawWs,
	acceptFor,
	closePayload,
	connectTcp,
	frame,
	httpExchange,
	parseFrames,
	poolConf,
	survives,
	upgradeRequest,
};
