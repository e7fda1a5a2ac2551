'use strict';
// demo.js: the demo chat page (www/) in headless Chromium, served by the
// router of the real chat stack: the answer streams into its bubble, the
// safety banner shows, peer text stays text, and a refused connection is
// not retried in a loop. Screenshots go to the stack's artifact directory.

const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const cs = require('./chatstack');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
cs.requireChat();
h.requireTools(['playwright-core', CHROMIUM]);
const { chromium } = require('playwright-core');

const SESSION_KEY = 'wsrouter-chat.session';
const PHONE = { width: 390, height: 844 };

async function launch() {
	return chromium.launch({
		executablePath: CHROMIUM,
		timeout: h.scaled(30000),
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
		    '--disable-background-networking', '--disable-component-update',
		    '--disable-sync'],
	});
}

/*
 * A browser with one page at the stack's demo URL; fn(page, errors) runs
 * with it, and the browser is closed whatever happens. errors collects
 * uncaught page errors and console errors.
 */
async function withPage(s, opts, fn) {
	const browser = await launch();
	try {
		const context = await browser.newContext({ viewport: opts.viewport || PHONE });
		const page = await context.newPage();
		page.setDefaultTimeout(h.scaled(10000));
		const errors = [];
		page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
		page.on('console', (m) => {
			if (m.type() === 'error')
				errors.push(`console: ${m.text()}`);
		});
		await page.goto(s.httpUrl + (opts.query || ''));
		return await fn(page, errors, context);
	} finally {
		await browser.close();
	}
}

async function connected(page) {
	await page.waitForSelector('#status[data-state="connected"]',
	    { timeout: h.scaled(15000) });
}

async function shot(page, s, t, name) {
	const file = path.join(s.artifactDir, name);
	fs.mkdirSync(s.artifactDir, { recursive: true });
	await page.screenshot({ path: file, fullPage: false });
	assert.ok(fs.statSync(file).size > 1000, `${file} is a real PNG`);
	t.diagnostic(`screenshot: ${file}`);
	return file;
}

async function storedAssistant(s, sessionId) {
	return h.waitFor(async () => {
		const rows = await s.sql(`SELECT content, status, token_count, risk_level
		    FROM chat_messages WHERE session_id = $1 AND role = 'assistant'
		    ORDER BY created_at DESC LIMIT 1`, [sessionId]);
		return rows.length === 1 ? rows[0] : null;
	}, 10000, `the stored assistant message of session ${sessionId}`);
}

// One look at the newest assistant bubble and the typing indicator.
function sample(page) {
	return page.evaluate(() => {
		const all = document.querySelectorAll('.msg.assistant');
		const b = all.length ? all[all.length - 1] : null;
		const cursor = b ? b.querySelector('.cursor') : null;
		const visible = (e) => e !== null && e.getClientRects().length > 0 &&
		    getComputedStyle(e).visibility !== 'hidden';
		return {
			bubbles: all.length,
			text: b ? b.querySelector('.text').textContent : null,
			streaming: b ? b.classList.contains('streaming') : false,
			cursor: visible(cursor),
			cursorLast: cursor !== null && cursor.nextSibling === null,
			typing: visible(document.querySelector('.typing')),
		};
	});
}

cs.chatTest('demo: an answer streams into the page, then matches the model and the database', {
	timeout: 90000,
	www: true,
	fake: { tokens: 40, tps: 20, first_token_delay_ms: 800 },
}, async (s, t) => {
	await withPage(s, {}, async (page, errors) => {
		await connected(page);
		const sessionId = await page.evaluate((k) => localStorage.getItem(k), SESSION_KEY);
		assert.match(sessionId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
		assert.strictEqual(await page.isDisabled('#send'), true, 'Send is off with an empty input');

		assert.strictEqual(await page.getByLabel('Your message').count(), 1,
		    'the input has a label');

		// Shift+Enter is a new line; Enter sends.
		const marker = `demo-${process.pid}-${Date.now()}`;
		const message = `Hello <b>there</b>,\nI had a long week (${marker})`;
		const [line1, line2] = message.split('\n');
		await page.focus('#input');
		await page.keyboard.insertText(line1);
		await page.keyboard.press('Shift+Enter');
		await page.keyboard.insertText(line2);
		assert.strictEqual(await page.inputValue('#input'), message);
		assert.strictEqual(await page.$$eval('.msg', (m) => m.length), 0, 'nothing sent yet');
		assert.strictEqual(await page.isDisabled('#send'), false);
		await page.keyboard.press('Enter');

		// The typing indicator, then the user's message confirmed.
		await page.waitForSelector('.typing', { state: 'visible', timeout: h.scaled(3000) });
		assert.strictEqual(await page.inputValue('#input'), '', 'the input is cleared');
		await page.waitForSelector('.msg.user:not(.pending)', { timeout: h.scaled(5000) });
		assert.strictEqual(await page.textContent('.msg.user .text'), message,
		    'the user bubble shows the text as text');
		assert.strictEqual(await page.$$eval('#messages b', (bs) => bs.length), 0,
		    'no markup from the message');

		// Sample while it streams: the text grows through increasing
		// prefixes, with the cursor at its end.
		const seen = [];
		let midShot = null;
		let last = null;
		const end = Date.now() + h.scaled(20000);
		for (let i = 0; i < 2000 && Date.now() < end; i++) {
			last = await sample(page);
			if (last.bubbles > 0 && !last.streaming)
				break;
			if (last.bubbles > 0) {
				assert.ok(last.cursor, `the cursor shows while streaming (${JSON.stringify(last)})`);
				assert.ok(last.cursorLast, 'the cursor is at the end of the text');
				assert.ok(!last.typing, 'the typing indicator is gone once text arrives');
				if (seen.length === 0 || seen[seen.length - 1] !== last.text)
					seen.push(last.text);
				if (midShot === null && seen.length >= 3)
					midShot = await shot(page, s, t, 'demo-mid-stream.png');
			}
			await h.sleep(40);
		}
		assert.ok(last && last.bubbles > 0 && !last.streaming,
		    `the answer completed in time (last sample ${JSON.stringify(last)})`);
		const streamed = seen.filter((x) => x !== '');
		assert.ok(streamed.length >= 3,
		    `at least 3 distinct partial texts before completion, saw ${streamed.length}`);
		for (let i = 1; i < streamed.length; i++)
			assert.ok(streamed[i].startsWith(streamed[i - 1]) &&
			    streamed[i].length > streamed[i - 1].length,
			    `partial text ${i} extends partial text ${i - 1}`);
		assert.ok(midShot !== null, 'a mid-stream screenshot was taken');

		// Complete: no cursor, no typing indicator, the final text.
		const final = await sample(page);
		assert.strictEqual(final.cursor, false, 'the cursor is gone after completion');
		assert.strictEqual(await page.$$eval('.cursor', (c) => c.length), 0);
		assert.strictEqual(final.typing, false);
		assert.ok(final.text.startsWith(streamed[streamed.length - 1]),
		    'the final text extends what streamed');
		const risk = await page.getAttribute('.msg.assistant', 'data-risk');
		assert.strictEqual(risk, 'none');
		assert.strictEqual(await page.isDisabled('#send'), true, 'Send is off until typed into');

		const rec = await s.fakeRecord(marker);
		assert.strictEqual(rec.tokens_sent, 40, 'the fake model sent 40 tokens');
		assert.strictEqual(final.text, rec.text_sent,
		    'the bubble holds exactly what the model sent');
		const row = await storedAssistant(s, sessionId);
		assert.strictEqual(row.status, 'complete');
		assert.strictEqual(row.content, final.text, 'the bubble holds the stored text');
		const users = await s.sql(`SELECT content FROM chat_messages
		    WHERE session_id = $1 AND role = 'user'`, [sessionId]);
		assert.deepStrictEqual(users.map((r) => r.content), [message]);
		const owner = await s.sql('SELECT user_id FROM chat_sessions WHERE id = $1',
		    [sessionId]);
		assert.deepStrictEqual(owner.map((r) => r.user_id), [s.devUser],
		    'the session belongs to the dev token\'s user');

		await shot(page, s, t, 'demo-final.png');
		assert.deepStrictEqual(errors, [], 'no errors in the page');
	});
});

cs.chatTest('demo: a high-risk message shows the safety banner until dismissed', {
	timeout: 90000,
	www: true,
	fake: { tokens: 12, tps: 40 },
}, async (s, t) => {
	await withPage(s, {}, async (page, errors) => {
		await connected(page);
		assert.strictEqual(await page.isHidden('#safety'), true, 'no banner at first');
		await page.fill('#input', 'I want to kill myself tonight');
		await page.click('#send');

		await page.waitForSelector('#safety', { state: 'visible', timeout: h.scaled(10000) });
		assert.strictEqual(await page.getAttribute('#safety', 'role'), 'alert');
		const banner = await page.textContent('#safety');
		assert.match(banner, /988/);
		assert.match(banner, /741741/);
		assert.strictEqual(await page.getAttribute('#safety-hotline', 'href'), 'tel:988');
		assert.ok((await page.textContent('#safety-message')).trim().length > 0,
		    'the escalation\'s message is shown');

		// The answer still streams and completes; the banner stays.
		await page.waitForSelector('.msg.assistant:not(.streaming)',
		    { timeout: h.scaled(15000) });
		assert.strictEqual(await page.getAttribute('.msg.assistant', 'data-risk'), 'high');
		await h.sleep(300);
		assert.strictEqual(await page.isVisible('#safety'), true,
		    'the banner stays after the answer');
		await shot(page, s, t, 'demo-safety.png');

		const sessionId = await page.evaluate((k) => localStorage.getItem(k), SESSION_KEY);
		const esc = await h.waitFor(async () => {
			const rows = await s.sql(`SELECT risk_level FROM safety_escalations
			    WHERE session_id = $1`, [sessionId]);
			return rows.length ? rows : null;
		}, 10000, 'the escalation row');
		assert.deepStrictEqual(esc.map((r) => r.risk_level), ['high']);

		await page.click('#safety-dismiss');
		await page.waitForSelector('#safety', { state: 'hidden', timeout: h.scaled(2000) });
		assert.deepStrictEqual(errors, [], 'no errors in the page');
	});
});

cs.chatTest('demo: model output with markup is shown as text', {
	timeout: 60000,
	www: true,
	fake: { tps: 200 },
}, async (s, t) => {
	const text = 'Try this: <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> & "quotes" \u2713';
	await s.fake.config({ text });
	await withPage(s, { viewport: { width: 1024, height: 700 } }, async (page, errors) => {
		await connected(page);
		await page.fill('#input', 'show me <img src=y onerror="window.__pwned=3">');
		await page.press('#input', 'Enter');
		await page.waitForSelector('.msg.assistant:not(.streaming)', { timeout: h.scaled(15000) });
		const shown = await page.textContent('.msg.assistant .text');
		const rec = (await s.fake.requests()).find((r) => r.text_sent !== '');
		assert.ok(rec, 'the fake model answered');
		assert.strictEqual(shown, rec.text_sent);
		assert.ok(shown.includes('<img src=x'), 'the markup is visible as text');
		assert.strictEqual(await page.$$eval('#messages img, #messages script',
		    (x) => x.length), 0, 'no element made from peer text');
		assert.strictEqual(await page.evaluate(() => window.__pwned), undefined);
		t.diagnostic(`shown: ${JSON.stringify(shown)}`);
		assert.deepStrictEqual(errors, [], 'no errors in the page');
	});
});

cs.chatTest('demo: over the per-user limit the page says so and does not retry in a loop', {
	timeout: 90000,
	www: true,
	env: { CHAT_MAX_CONNECTIONS: '1' },
}, async (s, t) => {
	const browser = await launch();
	try {
		const context = await browser.newContext({ viewport: PHONE });
		const first = await context.newPage();
		first.setDefaultTimeout(h.scaled(10000));
		await first.goto(s.httpUrl);
		await connected(first);

		const second = await context.newPage();
		second.setDefaultTimeout(h.scaled(10000));
		const attempts = [];
		second.on('websocket', (ws) => attempts.push(ws.url()));
		await second.goto(s.httpUrl);
		await second.waitForSelector('#status[data-state="reconnecting"], #status[data-state="closed"]',
		    { timeout: h.scaled(10000) });
		const status = await second.textContent('#status');
		assert.match(status, /4429/, `the status names the limit: ${status}`);
		assert.match(status, /too many/i);
		assert.strictEqual(await second.isDisabled('#send'), true, 'no sending while refused');
		// The next try is at least 15 s away: nothing more in 3 s.
		await h.sleep(3000);
		assert.strictEqual(attempts.length, 1,
		    `one attempt, no loop: ${attempts.length} WebSocket attempts`);
		assert.ok(attempts[0].includes('/ws?token='), attempts[0]);
		await shot(second, s, t, 'demo-limit.png');

		// The first page goes away; "Reconnect now" gets in.
		await first.close();
		await h.waitFor(async () => {
			const rows = await s.sql(`SELECT count(*)::int AS n FROM ws_connections
			    WHERE user_id = $1 AND ended_at IS NULL`, [s.devUser]);
			return rows[0].n === 0;
		}, 10000, 'the first connection closed in the database');
		await second.click('#reconnect');
		await connected(second);
		assert.strictEqual(attempts.length, 2);
	} finally {
		await browser.close();
	}
});

cs.chatTest('demo: the page reconnects by itself after the router restarts', {
	timeout: 90000,
	www: true,
	fake: { tokens: 8, tps: 100 },
}, async (s, t) => {
	await withPage(s, {}, async (page, errors) => {
		const attempts = [];
		page.on('websocket', (ws) => attempts.push(Date.now()));
		await connected(page);
		// Every status the page shows, in order.
		await page.evaluate(() => {
			window.statusLog = [];
			const st = document.getElementById('status');
			new MutationObserver(() => window.statusLog.push(
			    `${st.dataset.state}: ${st.textContent.trim()}`))
			    .observe(st, { subtree: true, childList: true,
			    characterData: true, attributes: true });
		});
		const sessionBefore = await page.evaluate((k) => localStorage.getItem(k), SESSION_KEY);

		await s.stack.stopRouter();
		await page.waitForSelector('#status[data-state="reconnecting"]',
		    { timeout: h.scaled(5000) });
		assert.strictEqual(await page.isDisabled('#send'), true, 'no sending while down');
		await h.sleep(1500);
		await s.stack.startRouter();
		await connected(page);

		const log = await page.evaluate(() => window.statusLog);
		t.diagnostic(`statuses: ${JSON.stringify([...new Set(log)])}`);
		assert.ok(log.some((x) => /^reconnecting: .*restarting|^reconnecting: .*lost/i.test(x)),
		    'the reason was shown while reconnecting');
		// Backoff: a handful of tries over the outage, not a loop.
		assert.ok(attempts.length >= 3 && attempts.length <= 8,
		    `${attempts.length} WebSocket attempts`);
		for (let i = 2; i < attempts.length; i++)
			assert.ok(attempts[i] - attempts[i - 1] >= 200,
			    `attempt ${i} came ${attempts[i] - attempts[i - 1]} ms after the one before`);

		// The same conversation goes on over the new connection.
		assert.strictEqual(await page.evaluate((k) => localStorage.getItem(k), SESSION_KEY),
		    sessionBefore);
		await page.fill('#input', 'Are you still there?');
		await page.press('#input', 'Enter');
		await page.waitForSelector('.msg.assistant:not(.streaming)', { timeout: h.scaled(15000) });
		const row = await storedAssistant(s, sessionBefore);
		assert.strictEqual(row.status, 'complete');
		assert.strictEqual(await page.textContent('.msg.assistant .text'), row.content);
		assert.deepStrictEqual(errors.filter((e) => !/WebSocket connection/.test(e)), [],
		    'no errors in the page besides the refused connections');
	});
});
