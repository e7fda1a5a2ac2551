/*
 * wsh_send.c: the response. The CGI header section goes out lazily before
 * the first byte of the body; every event (TEXT, BINARY, CLOSE, CONTROL)
 * is written in the application/websocket-events format and flushed at
 * once, so that it reaches the client as its own frame.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "wsh_int.h"

#define WSH_EVENTS_TYPE	"application/websocket-events"

static int	 wsh_out(struct wsh_event *, const void *, size_t);
static int	 wsh_flush(struct wsh_event *);
static int	 wsh_headers(struct wsh_event *);
static int	 wsh_can_send(struct wsh_event *, const char *);
static int	 wsh_emit(struct wsh_event *, const char *, const void *,
		    size_t);
static int	 wsh_control(struct wsh_event *, json_t *);
static int	 wsh_channel(struct wsh_event *, const char *, const char *,
		     const char *);
static int	 wsh_header_safe(const char *, size_t);
static char	*wsh_reason_copy(const char *);
static const char *wsh_reason_phrase(int);
static char	*wsh_context_compact(const char *);

/* Write to the response stream; -1 once the peer is gone. */
static int
wsh_out(struct wsh_event *ev, const void *buf, size_t len)
{
	const char	*p = buf;
	size_t		 n;
	ssize_t		 r;

	if (ev->ev_dead)
		return (-1);
	while (len > 0) {
		n = len > 1048576 ? 1048576 : len;
		if (ev->ev_req != NULL) {
			if (FCGX_PutStr(p, (int)n, ev->ev_req->out) != (int)n)
				goto fail;
			r = (ssize_t)n;
		} else {
			r = write(STDOUT_FILENO, p, n);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				goto fail;
		}
		p += r;
		len -= (size_t)r;
	}
	return (0);
fail:
	ev->ev_dead = 1;
	return (-1);
}

static int
wsh_flush(struct wsh_event *ev)
{
	if (ev->ev_dead)
		return (-1);
	if (ev->ev_req != NULL && FCGX_FFlush(ev->ev_req->out) == -1) {
		ev->ev_dead = 1;
		return (-1);
	}
	return (0);
}

static const char *
wsh_reason_phrase(int status)
{
	switch (status) {
	case 200: return ("OK");
	case 204: return ("No Content");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 409: return ("Conflict");
	case 413: return ("Payload Too Large");
	case 429: return ("Too Many Requests");
	case 500: return ("Internal Server Error");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	}
	return (status >= 200 && status < 300 ? "OK" : "Error");
}

/* 1 if s can go into a header line: no control characters, valid UTF-8. */
static int
wsh_header_safe(const char *s, size_t max)
{
	size_t	i, len = strlen(s);

	if (len > max || !utf8_valid(s, len))
		return (0);
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (0);
	}
	return (1);
}

/* A close reason fit for the Status line: control bytes become spaces. */
static char *
wsh_reason_copy(const char *reason)
{
	char	*r;
	size_t	 i, len = strlen(reason);

	if (len > WSH_REASON_MAX)
		len = utf8_complete_prefix(reason, WSH_REASON_MAX);
	r = xstrndup(reason, len);
	for (i = 0; i < len; i++) {
		if ((unsigned char)r[i] < 0x20 || r[i] == 0x7f)
			r[i] = ' ';
	}
	if (!utf8_valid(r, len)) {
		free(r);
		r = xstrdup(wsh_reason_phrase(500));
	}
	return (r);
}

static int
wsh_headers(struct wsh_event *ev)
{
	struct dbuf	 b;
	int		 rv;

	if (ev->ev_headers_sent)
		return (ev->ev_dead ? -1 : 0);
	ev->ev_headers_sent = 1;
	dbuf_init(&b, 3 * WSH_CONTEXT_MAX);
	dbuf_printf(&b, "Status: %d %s\r\n", ev->ev_status,
	    ev->ev_status_reason != NULL ? ev->ev_status_reason :
	    wsh_reason_phrase(ev->ev_status));
	dbuf_printf(&b, "Content-Type: %s\r\n", ev->ev_content_type != NULL ?
	    ev->ev_content_type : WSH_EVENTS_TYPE);
	if (ev->ev_identity_out != NULL)
		dbuf_printf(&b, "X-WS-Identity: %s\r\n", ev->ev_identity_out);
	if (ev->ev_context_out != NULL)
		dbuf_printf(&b, "X-WS-Context: %s\r\n", ev->ev_context_out);
	if (dbuf_adds(&b, "\r\n") == -1) {
		/* Cannot happen: identity and context are capped below. */
		dbuf_free(&b);
		ev->ev_dead = 1;
		return (-1);
	}
	rv = wsh_out(ev, b.data, b.len);
	dbuf_free(&b);
	return (rv);
}

/* Is an event-mode send possible now? Logs the reason when it is not. */
static int
wsh_can_send(struct wsh_event *ev, const char *what)
{
	if (ev->ev_dead)
		return (0);
	if (ev->ev_rejected) {
		log_warnx("%s: the request was rejected", what);
		return (0);
	}
	if (ev->ev_content_type != NULL) {
		log_warnx("%s: the body is %s, not events", what,
		    ev->ev_content_type);
		return (0);
	}
	return (1);
}

/* Write one event, TYPE HEXLEN\r\n<content>\r\n, and flush it. */
static int
wsh_emit(struct wsh_event *ev, const char *type, const void *data, size_t len)
{
	char	head[64];
	int	n;

	n = snprintf(head, sizeof head, "%s %zx\r\n", type, len);
	if (wsh_headers(ev) == -1 ||
	    wsh_out(ev, head, (size_t)n) == -1 ||
	    wsh_out(ev, data, len) == -1 ||
	    wsh_out(ev, "\r\n", 2) == -1 ||
	    wsh_flush(ev) == -1)
		return (-1);
	return (0);
}

/* Send a CONTROL event; takes the reference to j. */
static int
wsh_control(struct wsh_event *ev, json_t *j)
{
	char	*s;
	int	 rv;

	if (j == NULL)
		return (-1);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		return (-1);
	rv = wsh_emit(ev, "CONTROL", s, strlen(s));
	free(s);
	return (rv);
}

/* Parse a JSON object and return it compact, or NULL if it is not one. */
static char *
wsh_context_compact(const char *json)
{
	json_t	*j;
	char	*s;

	if ((j = json_loads(json, 0, NULL)) == NULL)
		return (NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return (NULL);
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s != NULL && strlen(s) > WSH_CONTEXT_MAX) {
		free(s);
		return (NULL);
	}
	return (s);
}

int
wsh_set_status(struct wsh_event *ev, int status)
{
	if (ev->ev_headers_sent || status < 200 || status > 599) {
		log_warnx("%s: cannot set status %d now", __func__, status);
		return (-1);
	}
	ev->ev_status = status;
	return (0);
}

/*
 * CONNECT: accept the connection, with an identity and a context (a JSON
 * object), either may be NULL. The headers go out at once.
 */
int
wsh_accept(struct wsh_event *ev, const char *identity, const char *context)
{
	char	*ctx = NULL;

	if (ev->ev_type != WSH_CONNECT || ev->ev_headers_sent) {
		log_warnx("%s: not a CONNECT, or already answered", __func__);
		return (-1);
	}
	if (identity != NULL && !wsh_header_safe(identity, WSH_IDENTITY_MAX)) {
		log_warnx("%s: bad identity", __func__);
		return (-1);
	}
	if (context != NULL && (ctx = wsh_context_compact(context)) == NULL) {
		log_warnx("%s: the context is not a JSON object of at most "
		    "%d bytes", __func__, WSH_CONTEXT_MAX);
		return (-1);
	}
	free(ev->ev_identity_out);
	ev->ev_identity_out = identity != NULL ? xstrdup(identity) : NULL;
	ev->ev_context_out = ctx;
	if (ev->ev_status < 200 || ev->ev_status > 299)
		ev->ev_status = 200;
	if (wsh_headers(ev) == -1 || wsh_flush(ev) == -1)
		return (-1);
	return (0);
}

/*
 * Reject: answer with a non-2xx status and no body. On CONNECT the router
 * closes with 4000 + status (4xx, 5xx) or 4500, with reason as close reason.
 */
int
wsh_reject(struct wsh_event *ev, int status, const char *reason)
{
	if (ev->ev_headers_sent || status < 300 || status > 599) {
		log_warnx("%s: cannot reject with %d now", __func__, status);
		return (-1);
	}
	ev->ev_status = status;
	free(ev->ev_status_reason);
	ev->ev_status_reason = wsh_reason_copy(reason != NULL && *reason !=
	    '\0' ? reason : wsh_reason_phrase(status));
	ev->ev_rejected = 1;
	if (wsh_headers(ev) == -1 || wsh_flush(ev) == -1)
		return (-1);
	return (0);
}

/* Answer an invocation the handler never saw (bad event, payload too big). */
int
wsh_respond_error(struct wsh_event *ev, int status, const char *msg)
{
	ev->ev_status = status;
	free(ev->ev_content_type);
	ev->ev_content_type = xstrdup("text/plain");
	if (wsh_headers(ev) == -1 || wsh_out(ev, msg, strlen(msg)) == -1)
		return (-1);
	return (wsh_flush(ev));
}

/* The end of an invocation: the headers, if nothing was sent yet. */
int
wsh_finish(struct wsh_event *ev)
{
	if (wsh_headers(ev) == -1)
		return (-1);
	return (wsh_flush(ev));
}

int
wsh_send_text(struct wsh_event *ev, const char *text, size_t len)
{
	if (!wsh_can_send(ev, __func__))
		return (-1);
	if (!utf8_valid(text, len)) {
		log_warnx("%s: not valid UTF-8, not sent", __func__);
		return (-1);
	}
	return (wsh_emit(ev, "TEXT", text, len));
}

int
wsh_send_textf(struct wsh_event *ev, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, rv;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	rv = wsh_send_text(ev, s, (size_t)n);
	free(s);
	return (rv);
}

int
wsh_send_binary(struct wsh_event *ev, const void *buf, size_t len)
{
	if (!wsh_can_send(ev, __func__))
		return (-1);
	return (wsh_emit(ev, "BINARY", buf, len));
}

/* Send j, borrowed, as one compact JSON text frame. */
int
wsh_send_json(struct wsh_event *ev, const json_t *j)
{
	char	*s;
	int	 rv;

	if (!wsh_can_send(ev, __func__))
		return (-1);
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (-1);
	rv = wsh_emit(ev, "TEXT", s, strlen(s));
	free(s);
	return (rv);
}

/* A join or leave control event for one channel. */
static int
wsh_channel(struct wsh_event *ev, const char *type, const char *channel,
    const char *caller)
{
	size_t	len = strlen(channel);

	if (!wsh_can_send(ev, caller))
		return (-1);
	if (len == 0 || len > WSH_CHANNEL_MAX || !utf8_valid(channel, len)) {
		log_warnx("%s: bad channel name", caller);
		return (-1);
	}
	return (wsh_control(ev, json_pack("{s:s,s:s}", "type", type,
	    "channel", channel)));
}

int
wsh_join(struct wsh_event *ev, const char *channel)
{
	return (wsh_channel(ev, "join", channel, __func__));
}

int
wsh_leave(struct wsh_event *ev, const char *channel)
{
	return (wsh_channel(ev, "leave", channel, __func__));
}

/* Replace the connection's context (a JSON object) for later events. */
int
wsh_set_context(struct wsh_event *ev, const char *context)
{
	json_t	*j;
	char	*s;

	if (!wsh_can_send(ev, __func__))
		return (-1);
	if ((s = wsh_context_compact(context)) == NULL) {
		log_warnx("%s: the context is not a JSON object of at most "
		    "%d bytes", __func__, WSH_CONTEXT_MAX);
		return (-1);
	}
	j = json_loads(s, 0, NULL);
	free(s);
	return (wsh_control(ev, json_pack("{s:s,s:o}", "type", "set-context",
	    "context", j)));
}

/*
 * Add n to the handler's counter name in the router's /metrics, as
 * wsrouter_app_events_total{pool="...",name="..."}. Names are [a-z0-9_],
 * at most 64 bytes; n is 1 to 1000000.
 */
int
wsh_count(struct wsh_event *ev, const char *name, int n)
{
	size_t	len = name != NULL ? strlen(name) : 0;

	if (!wsh_can_send(ev, __func__))
		return (-1);
	if (len == 0 || len > 64 || n < 1 || n > 1000000 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
		log_warnx("%s: bad counter name or increment", __func__);
		return (-1);
	}
	return (wsh_control(ev, json_pack("{s:s,s:s,s:i}", "type", "count",
	    "name", name, "by", n)));
}

/* Close the connection: code 1000, 1001 or 3000-4999, reason <= 123 bytes. */
int
wsh_close(struct wsh_event *ev, int code, const char *reason)
{
	unsigned char	 buf[2 + WSH_REASON_MAX];
	size_t		 len;

	if (!wsh_can_send(ev, __func__))
		return (-1);
	if (reason == NULL)
		reason = "";
	len = strlen(reason);
	if ((code != 1000 && code != 1001 && (code < 3000 || code > 4999)) ||
	    len > WSH_REASON_MAX || !utf8_valid(reason, len)) {
		log_warnx("%s: bad close code %d or reason", __func__, code);
		return (-1);
	}
	buf[0] = (unsigned char)(code >> 8);
	buf[1] = (unsigned char)(code & 0xff);
	memcpy(buf + 2, reason, len);
	return (wsh_emit(ev, "CLOSE", buf, 2 + len));
}

/*
 * Leave the events format: the body becomes whatever wsh_write_raw()
 * writes, framed by the router according to this Content-Type.
 */
int
wsh_set_content_type(struct wsh_event *ev, const char *type)
{
	if (ev->ev_headers_sent || !wsh_header_safe(type, 256)) {
		log_warnx("%s: too late, or a bad type", __func__);
		return (-1);
	}
	free(ev->ev_content_type);
	ev->ev_content_type = NULL;
	if (strcasecmp(type, WSH_EVENTS_TYPE) != 0)
		ev->ev_content_type = xstrdup(type);
	return (0);
}

/* Write bytes to the body as they are, and flush them. */
int
wsh_write_raw(struct wsh_event *ev, const void *buf, size_t len)
{
	if (wsh_headers(ev) == -1 || wsh_out(ev, buf, len) == -1)
		return (-1);
	return (wsh_flush(ev));
}

int
wsh_fd(const struct wsh_event *ev)
{
	return (ev->ev_fd);
}

/* 1 if the client or the router went away (without blocking), else 0. */
int
wsh_cancelled(struct wsh_event *ev)
{
	struct pollfd	pfd;

	if (ev->ev_dead)
		return (1);
	if (ev->ev_fd == -1)
		return (0);
	pfd.fd = ev->ev_fd;
	pfd.events = ev->ev_req != NULL ? POLLRDHUP : 0;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0)
		return (1);
	return (0);
}

/* Sleep ms milliseconds; -1 at once if the invocation is cancelled. */
int
wsh_sleep_ms(struct wsh_event *ev, int ms)
{
	struct pollfd	pfd;
	uint64_t	end = mono_usec() + (uint64_t)(ms > 0 ? ms : 0) * 1000;
	uint64_t	now;
	int		n;

	if (wsh_cancelled(ev))
		return (-1);
	for (;;) {
		now = mono_usec();
		if (now >= end)
			return (0);
		pfd.fd = ev->ev_fd;
		pfd.events = ev->ev_req != NULL ? POLLRDHUP : 0;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)((end - now + 999) / 1000));
		if (n == -1 && errno != EINTR)
			return (-1);
		if (n == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR |
		    POLLNVAL)) != 0)
			return (-1);
	}
}
