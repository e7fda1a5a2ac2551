// chat.js: the demo chat page's client: token, WebSocket with backoff,
// and the conversation view. All peer text goes through textContent.
'use strict';

(function () {
	const BACKOFF_MIN_MS = 500;
	const BACKOFF_MAX_MS = 30000;
	const STABLE_MS = 10000;	// connected this long: backoff starts over
	const PING_MS = 25000;
	const LIMIT_MIN_MS = 15000;	// 4429: wait at least this long
	const LIMIT_MAX_TRIES = 5;	// 4429 this often in a row: stop
	const TURN_IDLE_MS = 120000;	// an answer silent this long is given up
	const SESSION_KEY = 'wsrouter-chat.session';
	const TOKEN_KEY = 'wsrouter-chat.token';

	const el = {};
	const state = {
		token: null,		// the JWT in use
		tokenSource: null,	// 'url' or 'dev'
		tokenExpires: null,	// Date or null
		ws: null,
		connected: false,	// the "connection" frame arrived
		attempt: 0,		// failed attempts since the last stable one
		limitTries: 0,
		retryTimer: null,
		retryAt: 0,
		countdown: null,
		stableTimer: null,
		pingTimer: null,
		stopped: false,		// no automatic reconnect
		sessionId: null,
		turn: null,		// the exchange in progress: typing, bubble, text
		turnTimer: null,
		stick: true,		// follow the newest message
		pending: [],		// user bubbles waiting for user_message
	};

	document.addEventListener('DOMContentLoaded', init);

	function init() {
		for (const id of ['status', 'status-text', 'reconnect', 'new-session',
		    'safety', 'safety-message', 'safety-hotline', 'safety-text',
		    'safety-hotline-item', 'safety-text-item', 'safety-dismiss',
		    'notice', 'intro', 'messages', 'composer', 'input', 'send',
		    'session-label'])
			el[id.replace(/-(.)/g, (m, c) => c.toUpperCase())] =
			    document.getElementById(id);

		state.sessionId = loadSession();
		showSession();

		el.composer.addEventListener('submit', (e) => {
			e.preventDefault();
			send();
		});
		el.input.addEventListener('keydown', (e) => {
			if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
				e.preventDefault();
				send();
			}
		});
		el.input.addEventListener('input', () => {
			grow();
			updateSend();
		});
		el.newSession.addEventListener('click', newSession);
		el.reconnect.addEventListener('click', () => {
			state.stopped = false;
			state.limitTries = 0;
			reconnectNow(true);
		});
		el.safetyDismiss.addEventListener('click', () => {
			el.safety.hidden = true;
			el.input.focus();
		});
		const box = el.messages.parentElement;
		box.addEventListener('scroll', () => {
			state.stick = box.scrollHeight - box.scrollTop -
			    box.clientHeight < 80;
		}, { passive: true });
		window.addEventListener('resize', () => keepScrolled());
		window.addEventListener('online', () => {
			if (state.retryTimer !== null)
				reconnectNow(false);
		});
		start();
	}

	/* Token. */

	// The token: ?token= in the URL (kept for this tab, then taken out of
	// the address bar), else dev-token.json from the local stack.
	async function start() {
		const params = new URLSearchParams(location.search);
		const fromUrl = params.get('token');
		if (fromUrl) {
			storeSet(sessionStorage, TOKEN_KEY, fromUrl);
			params.delete('token');
			const q = params.toString();
			history.replaceState(null, '', location.pathname +
			    (q ? '?' + q : '') + location.hash);
		}
		const kept = fromUrl || storeGet(sessionStorage, TOKEN_KEY);
		if (kept) {
			useToken(kept, 'url', null);
			connect();
			return;
		}
		if (await fetchDevToken())
			connect();
	}

	async function fetchDevToken() {
		setStatus('connecting', 'Getting a development token…');
		let r, j;
		try {
			r = await fetch('dev-token.json', { cache: 'no-store' });
			if (r.ok)
				j = await r.json();
		} catch (e) {
			j = null;
		}
		if (!j || typeof j.token !== 'string' || j.token === '') {
			noToken(r && !r.ok ? 'dev-token.json: HTTP ' + r.status :
			    'dev-token.json could not be read');
			return false;
		}
		const exp = j.expires_at ? new Date(j.expires_at) : null;
		useToken(j.token, 'dev', exp && !isNaN(exp) ? exp : null);
		return true;
	}

	function useToken(token, source, expires) {
		state.token = token;
		state.tokenSource = source;
		state.tokenExpires = expires || tokenExpiry(token);
	}

	// The exp claim, for messages only: the server decides.
	function tokenExpiry(token) {
		try {
			const part = token.split('.')[1].replace(/-/g, '+')
			    .replace(/_/g, '/');
			const claims = JSON.parse(atob(part));
			if (typeof claims.exp === 'number')
				return new Date(claims.exp * 1000);
		} catch (e) { /* not a JWT we can read */ }
		return null;
	}

	function noToken(why) {
		stop('No token', 'closed');
		showNotice([
		    'This page needs a token to connect (' + why + ').',
		    'The local quick start writes one to dev-token.json next to ' +
		    'this page. Start it, then reload.',
		    'Against your own deployment, open this page as …/?token=<JWT>; ' +
		    'wsrouter-chat-token prints one for a user.']);
	}

	/* Connection. */

	function endpointUrl() {
		const meta = document.querySelector('meta[name="wsrouter-endpoint"]');
		let path = meta ? meta.content : '/ws';
		if (!path.startsWith('/'))
			path = '/' + path;
		const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
		return scheme + '//' + location.host + path + '?token=' +
		    encodeURIComponent(state.token);
	}

	function connect() {
		clearRetry();
		if (state.ws !== null || state.stopped)
			return;
		hideNotice();
		setStatus('connecting', state.attempt ? 'Reconnecting…' : 'Connecting…');
		let ws;
		try {
			ws = new WebSocket(endpointUrl());
		} catch (e) {
			stop('Cannot connect: ' + (e.message || e), 'closed');
			return;
		}
		state.ws = ws;
		ws.addEventListener('open', () => {
			if (state.ws === ws)
				setStatus('connecting', 'Signing in…');
		});
		ws.addEventListener('message', (e) => {
			if (state.ws === ws)
				frame(e.data);
		});
		ws.addEventListener('close', (e) => closed(ws, e.code, e.reason));
	}

	function connected() {
		state.connected = true;
		state.limitTries = 0;
		setStatus('connected', 'Connected');
		el.reconnect.hidden = true;
		updateSend();
		clearInterval(state.pingTimer);
		state.pingTimer = setInterval(() => sendJson({ type: 'ping' }),
		    PING_MS);
		clearTimeout(state.stableTimer);
		state.stableTimer = setTimeout(() => { state.attempt = 0; },
		    STABLE_MS);
	}

	// What a close code means to the user, what we do next ('retry' with
	// backoff, 'slow' for 4429, 'token' for 4401, or 'stop'), and whether
	// the server's close reason adds to the text.
	function closeInfo(code) {
		const known = closeText(code);
		if (known !== null)
			return [known[0], known[1], code === 4401];
		if (code >= 4400 && code < 4500)
			return ['stop', 'Connection refused (' + code + ')', true];
		if (code >= 4500)
			return ['retry', 'The server refused the connection (' + code +
			    ')', true];
		return ['retry', 'Connection closed (' + code + ')', true];
	}

	function closeText(code) {
		switch (code) {
		case 1000:
			return ['stop', 'Closed by the server'];
		case 1001:
			return ['retry', 'The server is restarting'];
		case 1006:
			return ['retry', 'Connection lost'];
		case 1008:
			return ['retry', 'Closed: this page fell behind'];
		case 1009:
			return ['retry', 'Closed: the message was too large'];
		case 1011:
			return ['retry', 'The server failed to accept the connection'];
		case 1013:
			return ['retry', 'The server is busy'];
		case 4401:
			return ['token', 'Not signed in: the token was refused (4401)'];
		case 4403:
			return ['stop', 'Access refused (4403)'];
		case 4429:
			return ['slow', 'Too many open connections for this user (4429)'];
		case 4503:
			return ['retry', 'The service’s database is unavailable (4503)'];
		}
		return null;
	}

	async function closed(ws, code, reason) {
		if (state.ws !== ws)
			return;
		state.ws = null;
		const wasConnected = state.connected;
		state.connected = false;
		clearInterval(state.pingTimer);
		clearTimeout(state.stableTimer);
		updateSend();
		endTurn('The connection closed before the answer was complete.');

		const [action, text, withReason] = closeInfo(code);
		const why = text + (reason && withReason ? ': ' + reason : '');
		if (state.stopped)
			return;
		if (action === 'stop') {
			stop(why, 'closed');
			return;
		}
		if (action === 'token') {
			if (state.tokenSource === 'url') {
				storeSet(sessionStorage, TOKEN_KEY, null);
				stop(why, 'closed');
				showNotice([why + '.', expiredText() +
				    'Open the page with a fresh ?token=<JWT>.']);
				return;
			}
			const old = state.token;
			if (!(await fetchDevToken()))
				return;
			if (state.token === old && !wasConnected) {
				stop(why, 'closed');
				showNotice([why + '.', expiredText() +
				    'dev-token.json still holds the refused token: ' +
				    'restart the quick start to mint a new one, then ' +
				    'press Reconnect now.']);
				return;
			}
		}
		let delay = backoff();
		if (action === 'slow') {
			if (++state.limitTries >= LIMIT_MAX_TRIES) {
				stop(why, 'closed');
				showNotice([why + '.', 'Close this chat in other ' +
				    'tabs or devices, then press Reconnect now.']);
				return;
			}
			delay = Math.max(delay, LIMIT_MIN_MS);
		}
		retryIn(delay, why);
	}

	function expiredText() {
		const exp = state.tokenExpires;
		if (exp && exp.getTime() < Date.now())
			return 'The token expired at ' + exp.toLocaleString() + '. ';
		return '';
	}

	// Exponential backoff with equal jitter: 0.5 s doubling up to 30 s,
	// each delay drawn from its upper half.
	function backoff() {
		const ceil = Math.min(BACKOFF_MAX_MS,
		    BACKOFF_MIN_MS * Math.pow(2, state.attempt));
		state.attempt = Math.min(state.attempt + 1, 16);
		return Math.round(ceil / 2 + Math.random() * ceil / 2);
	}

	function retryIn(delay, why) {
		clearRetry();
		state.retryAt = Date.now() + delay;
		state.retryTimer = setTimeout(connect, delay);
		el.reconnect.hidden = false;
		const tick = () => {
			const s = Math.max(1, Math.ceil((state.retryAt - Date.now()) /
			    1000));
			setStatus('reconnecting', why + '. Reconnecting in ' + s + ' s');
		};
		tick();
		state.countdown = setInterval(tick, 1000);
	}

	function clearRetry() {
		clearTimeout(state.retryTimer);
		clearInterval(state.countdown);
		state.retryTimer = null;
		state.countdown = null;
	}

	function reconnectNow(byHand) {
		clearRetry();
		if (state.ws !== null)
			return;
		if (byHand && state.tokenSource !== 'url') {
			fetchDevToken().then((ok) => { if (ok) connect(); });
			return;
		}
		connect();
	}

	function stop(why, kind) {
		clearRetry();
		state.stopped = true;
		setStatus(kind, why);
		el.reconnect.hidden = false;
	}

	function setStatus(kind, text) {
		el.status.dataset.state = kind;
		el.statusText.textContent = text;
	}

	function sendJson(obj) {
		if (state.ws === null || state.ws.readyState !== WebSocket.OPEN)
			return false;
		state.ws.send(JSON.stringify(obj));
		return true;
	}

	/* Frames. */

	function frame(data) {
		if (typeof data !== 'string')
			return;
		let f;
		try {
			f = JSON.parse(data);
		} catch (e) {
			return;
		}
		if (f === null || typeof f !== 'object')
			return;
		if (state.turn !== null)
			watchTurn();
		switch (f.type) {
		case 'connection':
			if (f.status === 'connected')
				connected();
			break;
		case 'user_message':
			userConfirmed(f);
			break;
		case 'assistant_message_start':
			turnStarted();
			break;
		case 'assistant_message_chunk':
			if (typeof f.chunk === 'string')
				chunk(f.chunk);
			break;
		case 'assistant_message_complete':
			complete(f);
			break;
		case 'safety_escalation':
			safety(f);
			break;
		case 'error':
			errorFrame(f);
			break;
		case 'pong':
		default:
			break;
		}
	}

	/* The conversation. */

	function send() {
		const text = el.input.value;
		if (!canSend() || text.trim() === '')
			return;
		if (!sendJson({ type: 'session_message',
		    session_id: state.sessionId, message_text: text }))
			return;
		el.input.value = '';
		grow();
		const bubble = addBubble('user', text);
		bubble.classList.add('pending');
		setMeta(bubble, 'Sending…');
		state.pending.push(bubble);
		state.turn = { typing: addTyping(), bubble: null, text: '' };
		keepScrolled(true);
		watchTurn();
		updateSend();
	}

	// Give the answer up when nothing arrives for TURN_IDLE_MS (the router
	// normally sends a handler_timeout error long before).
	function watchTurn() {
		clearTimeout(state.turnTimer);
		state.turnTimer = setTimeout(() => {
			endTurn('No answer arrived in time.');
		}, TURN_IDLE_MS);
	}

	function canSend() {
		return state.connected && state.turn === null;
	}

	function updateSend() {
		const ok = canSend();
		el.send.disabled = !ok || el.input.value.trim() === '';
		el.composer.dataset.ready = ok ? 'yes' : 'no';
		el.input.placeholder = state.connected ? (state.turn ?
		    'Wait for the answer…' : 'Type a message…') :
		    'Waiting for the connection…';
	}

	function userConfirmed(f) {
		const bubble = state.pending.shift() || addBubble('user', '');
		if (typeof f.text === 'string')
			bubble.querySelector('.text').textContent = f.text;
		bubble.classList.remove('pending');
		setMeta(bubble, timeText(f.timestamp));
	}

	function turnStarted() {
		if (state.turn === null)
			state.turn = { typing: addTyping(), bubble: null, text: '' };
	}

	function chunk(piece) {
		turnStarted();
		const t = state.turn;
		if (t.typing !== null) {
			t.typing.remove();
			t.typing = null;
		}
		if (t.bubble === null) {
			t.bubble = addBubble('assistant', '');
			t.bubble.classList.add('streaming');
			t.bubble.setAttribute('aria-live', 'polite');
			t.bubble.setAttribute('aria-atomic', 'true');
			t.bubble.setAttribute('aria-busy', 'true');
			const cursor = document.createElement('span');
			cursor.className = 'cursor';
			cursor.setAttribute('aria-hidden', 'true');
			t.bubble.querySelector('.body').appendChild(cursor);
		}
		t.text += piece;
		t.bubble.querySelector('.text').textContent = t.text;
		keepScrolled();
	}

	function complete(f) {
		const m = f.message && typeof f.message === 'object' ? f.message : {};
		turnStarted();
		const t = state.turn;
		if (t.bubble === null)
			chunk('');
		const b = t.bubble;
		if (typeof m.text === 'string')
			b.querySelector('.text').textContent = m.text;
		finish(b);
		const risk = ['none', 'low', 'medium', 'high'].includes(m.risk_level) ?
		    m.risk_level : 'none';
		b.dataset.risk = risk;
		if (typeof m.intent === 'string')
			b.dataset.intent = m.intent;
		setMeta(b, timeText(f.timestamp), risk);
		state.turn = null;
		clearTimeout(state.turnTimer);
		updateSend();
		keepScrolled();
	}

	// The answer in progress ends without assistant_message_complete.
	function endTurn(why) {
		for (const p of state.pending.splice(0)) {
			p.classList.remove('pending');
			p.classList.add('failed');
			setMeta(p, 'Not confirmed');
		}
		const t = state.turn;
		if (t === null)
			return;
		state.turn = null;
		clearTimeout(state.turnTimer);
		if (t.typing !== null)
			t.typing.remove();
		if (t.bubble !== null) {
			finish(t.bubble);
			t.bubble.classList.add('interrupted');
			setMeta(t.bubble, why);
		}
		updateSend();
	}

	function finish(b) {
		b.classList.remove('streaming');
		b.removeAttribute('aria-busy');
		const cursor = b.querySelector('.cursor');
		if (cursor)
			cursor.remove();
	}

	function errorFrame(f) {
		const msg = typeof f.message === 'string' && f.message !== '' ?
		    f.message : 'Something went wrong.';
		const code = typeof f.code === 'string' ? f.code :
		    typeof f.error === 'string' ? f.error : '';
		const unsent = state.pending.length > 0 ?
		    state.pending[0].querySelector('.text').textContent : null;
		endTurn('The answer was interrupted.');
		// Refused before it was stored: give the text back to edit.
		if (unsent !== null && el.input.value === '') {
			el.input.value = unsent;
			grow();
			updateSend();
		}
		const li = addBubble('error', msg);
		if (code !== '')
			li.dataset.code = code;
		setMeta(li, timeText(f.timestamp));
	}

	function safety(f) {
		const r = f.emergency_resources && typeof f.emergency_resources ===
		    'object' ? f.emergency_resources : {};
		el.safetyMessage.textContent = typeof r.message === 'string' &&
		    r.message !== '' ? r.message : 'If you are in immediate ' +
		    'danger, call your local emergency number now.';
		phone(el.safetyHotline, el.safetyHotlineItem, r.crisis_hotline, 'tel:');
		phone(el.safetyText, el.safetyTextItem, r.crisis_text, 'sms:');
		el.safety.dataset.risk = typeof f.risk_level === 'string' ?
		    f.risk_level : 'high';
		el.safety.hidden = false;
		el.safety.focus({ preventScroll: true });
		keepScrolled();
	}

	// A number as a link, only when it is one (digits and + * #).
	function phone(a, item, value, scheme) {
		item.hidden = typeof value !== 'string' || value === '';
		if (item.hidden)
			return;
		a.textContent = value;
		if (/^\+?[0-9*#]{2,20}$/.test(value))
			a.href = scheme + value;
		else
			a.removeAttribute('href');
	}

	function addBubble(kind, text) {
		el.intro.hidden = true;
		const li = document.createElement('li');
		li.className = 'msg ' + kind;
		const body = document.createElement('div');
		body.className = 'body';
		const span = document.createElement('span');
		span.className = 'text';
		span.textContent = text;
		body.appendChild(span);
		li.appendChild(body);
		const meta = document.createElement('div');
		meta.className = 'meta';
		li.appendChild(meta);
		const who = document.createElement('span');
		who.className = 'visually-hidden';
		who.textContent = kind === 'user' ? 'You: ' :
		    kind === 'assistant' ? 'Assistant: ' : 'Error: ';
		body.insertBefore(who, span);
		el.messages.appendChild(li);
		keepScrolled();
		return li;
	}

	function setMeta(li, text, risk) {
		const meta = li.querySelector('.meta');
		meta.textContent = text || '';
		if (risk !== undefined) {
			const tag = document.createElement('span');
			tag.className = 'risk risk-' + risk;
			tag.textContent = 'risk: ' + risk;
			tag.title = 'Safety check of your message: ' + risk + ' risk';
			meta.appendChild(tag);
		}
	}

	function addTyping() {
		const li = document.createElement('li');
		li.className = 'typing';
		const label = document.createElement('span');
		label.className = 'visually-hidden';
		label.textContent = 'The assistant is writing…';
		li.appendChild(label);
		for (let i = 0; i < 3; i++) {
			const dot = document.createElement('span');
			dot.className = 'typing-dot';
			dot.setAttribute('aria-hidden', 'true');
			li.appendChild(dot);
		}
		el.messages.appendChild(li);
		keepScrolled();
		return li;
	}

	function timeText(ts) {
		const d = typeof ts === 'string' ? new Date(ts) : null;
		if (d === null || isNaN(d))
			return '';
		return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
	}

	// Follow the newest message, unless the reader has scrolled up.
	function keepScrolled(force) {
		const box = el.messages.parentElement;
		if (force === true)
			state.stick = true;
		if (state.stick)
			box.scrollTop = box.scrollHeight;
	}

	function grow() {
		el.input.style.height = 'auto';
		el.input.style.height = Math.min(el.input.scrollHeight, 160) + 'px';
	}

	/* Sessions. */

	function loadSession() {
		const id = storeGet(localStorage, SESSION_KEY);
		if (id && /^[0-9a-f-]{36}$/i.test(id))
			return id;
		return freshSession();
	}

	function freshSession() {
		const id = uuid();
		storeSet(localStorage, SESSION_KEY, id);
		return id;
	}

	function newSession() {
		state.sessionId = freshSession();
		endTurn('Left for a new conversation.');
		el.messages.replaceChildren();
		el.intro.hidden = false;
		el.safety.hidden = true;
		showSession();
		el.input.focus();
	}

	function showSession() {
		el.sessionLabel.textContent = 'Conversation ' +
		    state.sessionId.slice(0, 8) + '.';
		el.sessionLabel.title = state.sessionId;
		document.body.dataset.session = state.sessionId;
	}

	// crypto.randomUUID exists only in secure contexts (https, localhost).
	function uuid() {
		if (window.crypto && typeof crypto.randomUUID === 'function')
			return crypto.randomUUID();
		const b = crypto.getRandomValues(new Uint8Array(16));
		b[6] = (b[6] & 0x0f) | 0x40;
		b[8] = (b[8] & 0x3f) | 0x80;
		const h = Array.from(b, (x) => x.toString(16).padStart(2, '0'));
		return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' +
		    h.slice(6, 8).join('') + '-' + h.slice(8, 10).join('') + '-' +
		    h.slice(10).join('');
	}

	/* Odds and ends. */

	function showNotice(lines) {
		el.notice.replaceChildren(...lines.map((line) => {
			const p = document.createElement('p');
			p.textContent = line;
			return p;
		}));
		el.notice.hidden = false;
	}

	function hideNotice() {
		el.notice.hidden = true;
	}

	// Storage may be off (private windows, policies): fall back to memory.
	function storeGet(store, key) {
		try {
			return store.getItem(key);
		} catch (e) {
			return null;
		}
	}

	function storeSet(store, key, value) {
		try {
			if (value === null)
				store.removeItem(key);
			else
				store.setItem(key, value);
		} catch (e) { /* memory only */ }
	}
})();
