/*
 * testhandler.c: the handler the integration tests drive. Its CONNECT
 * answer comes from the upgrade request's query string, and each JSON
 * message's "type" picks a behaviour (see th_commands below); anything
 * else is echoed. Sequence numbers (seq, line) count from 0.
 *
 * CONNECT query: reject=NNN[&reason=R], identity=X, hello=1,
 * connect_delay_ms=N, connect_crash=1, params=NAME,NAME (after accepting,
 * one {"type":"params","event":"CONNECT","params":{NAME:value|null}}
 * frame), count=NAME (wsh_count by 1 after accepting). The context is
 * always {"via":"testhandler","q":"<query>"}.
 * DISCONNECT: appends "<connection id> <code> <reason>\n" to the file
 * named by the WS_TEST_LOG param, when there is one, after a wsh_count
 * by 1 of the name in the WS_TEST_COUNT param, when there is one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <wsrouter/wsh.h>

#define TH_MAX_COUNT	1000000
#define TH_MAX_SIZE	(64 * 1024 * 1024)

struct th_command {
	const char	*name;
	int		(*fn)(struct wsh_event *, json_t *);
};

static int	 th_handle(struct wsh_event *, void *);
static int	 th_connect(struct wsh_event *);
static int	 th_disconnect(struct wsh_event *);
static int	 th_message(struct wsh_event *);
static long	 th_int(json_t *, const char *, long, long, long);
static const char *th_str(json_t *, const char *, const char *);
static int64_t	 th_now_us(void);
static int	 th_reply(struct wsh_event *, json_t *);
static int	 th_echo(struct wsh_event *, json_t *);
static int	 th_stream(struct wsh_event *, json_t *);
static int	 th_crash(struct wsh_event *, json_t *);
static int	 th_hang(struct wsh_event *, json_t *);
static int	 th_status(struct wsh_event *, json_t *);
static int	 th_close(struct wsh_event *, json_t *);
static int	 th_join(struct wsh_event *, json_t *);
static int	 th_leave(struct wsh_event *, json_t *);
static int	 th_setctx(struct wsh_event *, json_t *);
static int	 th_whoami(struct wsh_event *, json_t *);
static int	 th_push(struct wsh_event *, json_t *);
static int	 th_publish(struct wsh_event *, json_t *);
static int	 th_info(struct wsh_event *, json_t *);
static int	 th_kick(struct wsh_event *, json_t *);
static int	 th_binary(struct wsh_event *, json_t *);
static int	 th_flood(struct wsh_event *, json_t *);
static int	 th_ndjson(struct wsh_event *, json_t *);
static int	 th_plain(struct wsh_event *, json_t *);
static int	 th_slowfirst(struct wsh_event *, json_t *);
static int	 th_raw(struct wsh_event *, json_t *);
static int	 th_params(struct wsh_event *, json_t *);
static int	 th_count(struct wsh_event *, json_t *);
static int	 th_send_params(struct wsh_event *, const char *);

/* Fields and their defaults; "to" defaults to this connection. */
static const struct th_command th_commands[] = {
	{ "echo",	th_echo },	/* the payload back, unchanged */
	{ "stream",	th_stream },	/* n 10, interval_ms 0, size 0 */
	{ "crash",	th_crash },	/* before-crash, then _exit(1) */
	{ "hang",	th_hang },	/* nothing, until cancelled/600 s */
	{ "status",	th_status },	/* code 500, then status-body */
	{ "close",	th_close },	/* code (none), reason "" */
	{ "join",	th_join },	/* channel, then joined */
	{ "leave",	th_leave },	/* channel, then left */
	{ "setctx",	th_setctx },	/* context, then ctx-set */
	{ "whoami",	th_whoami },	/* the event's fields */
	{ "push",	th_push },	/* to, text, binary false | count */
	{ "publish",	th_publish },	/* channel, text: published */
	{ "info",	th_info },	/* to: GET /@connections/to */
	{ "kick",	th_kick },	/* to, code 0: DELETE it */
	{ "binary",	th_binary },	/* size 16: one binary frame */
	{ "flood",	th_flood },	/* n 100, size 64, then done */
	{ "ndjson",	th_ndjson },	/* n 3: x-ndjson lines */
	{ "plain",	th_plain },	/* text/plain "plain:" + payload */
	{ "slowfirst",	th_slowfirst },	/* delay_ms 1000, late */
	{ "raw",	th_raw },	/* data "" | hex: raw body bytes */
	{ "params",	th_params },	/* names "A,B": their values */
	{ "count",	th_count },	/* name "", by 1: wsh_count, counted */
};

static long
th_int(json_t *msg, const char *key, long min, long max, long def)
{
	json_t	*v = json_object_get(msg, key);

	if (!json_is_integer(v))
		return (def);
	if (json_integer_value(v) < min)
		return (min);
	if (json_integer_value(v) > max)
		return (max);
	return ((long)json_integer_value(v));
}

static const char *
th_str(json_t *msg, const char *key, const char *def)
{
	json_t	*v = json_object_get(msg, key);

	return (json_is_string(v) ? json_string_value(v) : def);
}

static int64_t
th_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Send j as a text frame and drop the reference. */
static int
th_reply(struct wsh_event *ev, json_t *j)
{
	int	rv;

	if (j == NULL)
		return (-1);
	rv = wsh_send_json(ev, j);
	json_decref(j);
	return (rv);
}

static int
th_echo(struct wsh_event *ev, json_t *msg)
{
	const char	*p;
	size_t		 len;

	p = wsh_payload(ev, &len);
	if (wsh_is_binary(ev))
		return (wsh_send_binary(ev, p, len));
	return (wsh_send_text(ev, p, len));
}

static int
th_stream(struct wsh_event *ev, json_t *msg)
{
	long	 i, n, interval, size, padlen;
	char	*pad = NULL, head[128];
	int	 len, rv = 0;

	n = th_int(msg, "n", 0, TH_MAX_COUNT, 10);
	interval = th_int(msg, "interval_ms", 0, 600000, 0);
	size = th_int(msg, "size", 0, TH_MAX_SIZE, 0);
	for (i = 0; i < n; i++) {
		len = snprintf(head, sizeof head,
		    "{\"type\":\"chunk\",\"seq\":%ld,\"ts_us\":%lld", i,
		    (long long)th_now_us());
		/* ,"pad":"" and } are 10 bytes around the padding. */
		padlen = size - len - 10;
		if (padlen > 0) {
			pad = realloc(pad, padlen + 1);
			if (pad == NULL)
				return (-1);
			memset(pad, 'x', padlen);
			pad[padlen] = '\0';
			rv = wsh_send_textf(ev, "%s,\"pad\":\"%s\"}", head,
			    pad);
		} else
			rv = wsh_send_textf(ev, "%s}", head);
		if (rv == -1)
			break;
		if (interval > 0 && i + 1 < n &&
		    (rv = wsh_sleep_ms(ev, (int)interval)) == -1)
			break;
	}
	free(pad);
	if (rv == -1)
		return (-1);
	return (th_reply(ev, json_pack("{s:s,s:i}", "type", "done", "n",
	    (int)n)));
}

static int
th_crash(struct wsh_event *ev, json_t *msg)
{
	wsh_send_textf(ev, "{\"type\":\"before-crash\"}");
	_exit(1);
}

static int
th_hang(struct wsh_event *ev, json_t *msg)
{
	wsh_sleep_ms(ev, 600 * 1000);
	return (0);
}

static int
th_status(struct wsh_event *ev, json_t *msg)
{
	if (wsh_set_status(ev, (int)th_int(msg, "code", 200, 599, 500)) == -1)
		return (-1);
	return (wsh_send_textf(ev, "{\"type\":\"status-body\"}"));
}

/* A CLOSE event; one the SDK refuses (a bad code) is written by hand. */
static int
th_close(struct wsh_event *ev, json_t *msg)
{
	const char	*reason = th_str(msg, "reason", "");
	long		 code = th_int(msg, "code", 0, 65535, 0);
	unsigned char	 buf[2];
	char		 head[32];
	size_t		 len = strlen(reason);

	if (code == 0)
		return (wsh_write_raw(ev, "CLOSE\r\n", 7));
	if (wsh_close(ev, (int)code, reason) == 0)
		return (0);
	if (wsh_cancelled(ev))
		return (-1);
	buf[0] = (unsigned char)(code >> 8);
	buf[1] = (unsigned char)code;
	snprintf(head, sizeof head, "CLOSE %zx\r\n", len + 2);
	if (wsh_write_raw(ev, head, strlen(head)) == -1 ||
	    wsh_write_raw(ev, buf, 2) == -1 ||
	    wsh_write_raw(ev, reason, len) == -1)
		return (-1);
	return (wsh_write_raw(ev, "\r\n", 2));
}

static int
th_join(struct wsh_event *ev, json_t *msg)
{
	const char	*ch = th_str(msg, "channel", "");

	if (wsh_join(ev, ch) == -1)
		return (-1);
	return (th_reply(ev, json_pack("{s:s,s:s}", "type", "joined",
	    "channel", ch)));
}

static int
th_leave(struct wsh_event *ev, json_t *msg)
{
	const char	*ch = th_str(msg, "channel", "");

	if (wsh_leave(ev, ch) == -1)
		return (-1);
	return (th_reply(ev, json_pack("{s:s,s:s}", "type", "left",
	    "channel", ch)));
}

static int
th_setctx(struct wsh_event *ev, json_t *msg)
{
	char	*s;
	int	 rv;

	s = json_dumps(json_object_get(msg, "context"), JSON_COMPACT |
	    JSON_ENCODE_ANY);
	if (s == NULL)
		return (-1);
	rv = wsh_set_context(ev, s);
	free(s);
	if (rv == -1)
		return (-1);
	return (wsh_send_textf(ev, "{\"type\":\"ctx-set\"}"));
}

static int
th_whoami(struct wsh_event *ev, json_t *msg)
{
	const char	*identity = wsh_identity(ev);
	const char	*context = wsh_context(ev);
	json_t		*ctx = NULL;

	if (context != NULL)
		ctx = json_loads(context, 0, NULL);
	return (th_reply(ev, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s}",
	    "type", "whoami",
	    "connection_id", wsh_connection_id(ev),
	    "request_id", wsh_request_id(ev),
	    "route_key", wsh_route_key(ev),
	    "identity", identity != NULL ? json_string(identity) : json_null(),
	    "context", ctx != NULL ? ctx : json_null(),
	    "event", wsh_event_name(ev),
	    "endpoint", wsh_endpoint(ev))));
}

/*
 * Push through the management API: text (or binary when "binary" is true)
 * to "to" (this connection by default), or "count" numbered frames. The
 * reported status is the first non-2xx one, else the last.
 */
static int
th_push(struct wsh_event *ev, json_t *msg)
{
	struct wsh_api	*api = wsh_api_from_event(ev);
	const char	*to = th_str(msg, "to", wsh_connection_id(ev));
	const char	*text = th_str(msg, "text", "");
	long		 i, count;
	char		 buf[64];
	int		 st = -1, n;

	count = th_int(msg, "count", 0, TH_MAX_COUNT, 0);
	if (api == NULL)
		st = -1;
	else if (count == 0 && json_is_true(json_object_get(msg, "binary")))
		st = wsh_api_push_binary(api, to, text, strlen(text));
	else if (count == 0)
		st = wsh_api_push_text(api, to, text, strlen(text));
	for (i = 0; api != NULL && i < count; i++) {
		n = snprintf(buf, sizeof buf, "{\"type\":\"push\",\"seq\":%ld}",
		    i);
		st = wsh_api_push_text(api, to, buf, (size_t)n);
		if (st < 200 || st > 299)
			break;
	}
	return (th_reply(ev, json_pack("{s:s,s:i,s:i}", "type", "pushed",
	    "status", st, "count", (int)i)));
}

static int
th_publish(struct wsh_event *ev, json_t *msg)
{
	struct wsh_api	*api = wsh_api_from_event(ev);
	const char	*ch = th_str(msg, "channel", "");
	const char	*text = th_str(msg, "text", "");
	int		 st = -1;

	if (api != NULL)
		st = wsh_api_publish_text(api, ch, text, strlen(text));
	return (th_reply(ev, json_pack("{s:s,s:i}", "type", "published",
	    "status", st)));
}

/* GET the info of "to"; the body comes back parsed, or as a string. */
static int
th_info(struct wsh_event *ev, json_t *msg)
{
	struct wsh_api	*api = wsh_api_from_event(ev);
	const char	*to = th_str(msg, "to", wsh_connection_id(ev));
	char		*body = NULL;
	json_t		*b = NULL;
	int		 st = -1;

	if (api != NULL)
		st = wsh_api_info(api, to, &body);
	if (body != NULL && (b = json_loads(body, JSON_DECODE_ANY, NULL)) ==
	    NULL)
		b = json_string(body);
	free(body);
	return (th_reply(ev, json_pack("{s:s,s:i,s:o}", "type", "info",
	    "status", st, "body", b != NULL ? b : json_null())));
}

static int
th_kick(struct wsh_event *ev, json_t *msg)
{
	struct wsh_api	*api = wsh_api_from_event(ev);
	const char	*to = th_str(msg, "to", wsh_connection_id(ev));
	int		 st = -1;

	if (api != NULL)
		st = wsh_api_close(api, to, (int)th_int(msg, "code", 0, 4999,
		    0));
	return (th_reply(ev, json_pack("{s:s,s:i}", "type", "kicked",
	    "status", st)));
}

static int
th_binary(struct wsh_event *ev, json_t *msg)
{
	long		 i, size = th_int(msg, "size", 0, TH_MAX_SIZE, 16);
	unsigned char	*buf;
	int		 rv;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return (-1);
	for (i = 0; i < size; i++)
		buf[i] = (unsigned char)(i & 255);
	rv = wsh_send_binary(ev, buf, (size_t)size);
	free(buf);
	return (rv);
}

/*
 * n text frames of exactly size bytes, as fast as possible: {"seq":i,
 * "pad":"xx…"} when size leaves room for it, else size 'x' bytes.
 */
static int
th_flood(struct wsh_event *ev, json_t *msg)
{
	long	 i, n = th_int(msg, "n", 0, TH_MAX_COUNT, 100);
	long	 size = th_int(msg, "size", 0, TH_MAX_SIZE, 64);
	char	*buf;
	int	 len;

	if ((buf = malloc(size + 64)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		len = snprintf(buf, 64, "{\"seq\":%ld,\"pad\":\"", i);
		if (len + 2 <= size) {
			memset(buf + len, 'x', size - len - 2);
			memcpy(buf + size - 2, "\"}", 2);
		} else
			memset(buf, 'x', size);
		if (wsh_send_text(ev, buf, (size_t)size) == -1) {
			free(buf);
			return (-1);
		}
	}
	free(buf);
	return (th_reply(ev, json_pack("{s:s,s:i}", "type", "done", "n",
	    (int)n)));
}

static int
th_ndjson(struct wsh_event *ev, json_t *msg)
{
	long	i, n = th_int(msg, "n", 0, TH_MAX_COUNT, 3);
	char	line[64];
	int	len;

	if (wsh_set_content_type(ev, "application/x-ndjson") == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		len = snprintf(line, sizeof line, "{\"line\":%ld}\n", i);
		if (wsh_write_raw(ev, line, (size_t)len) == -1)
			return (-1);
	}
	return (wsh_write_raw(ev, "", 0));
}

static int
th_plain(struct wsh_event *ev, json_t *msg)
{
	const char	*p;
	size_t		 len;

	p = wsh_payload(ev, &len);
	if (wsh_set_content_type(ev, "text/plain; charset=utf-8") == -1 ||
	    wsh_write_raw(ev, "plain:", 6) == -1)
		return (-1);
	return (wsh_write_raw(ev, p, len));
}

static int
th_slowfirst(struct wsh_event *ev, json_t *msg)
{
	if (wsh_sleep_ms(ev, (int)th_int(msg, "delay_ms", 0, 600000,
	    1000)) == -1)
		return (-1);
	return (wsh_send_textf(ev, "{\"type\":\"late\"}"));
}

/* Raw bytes into the events body, to test malformed responses. */
static int
th_raw(struct wsh_event *ev, json_t *msg)
{
	const char	*hex = th_str(msg, "hex", NULL);
	const char	*data = th_str(msg, "data", "");
	unsigned char	*buf;
	size_t		 i, len;
	unsigned int	 b;
	int		 rv;

	if (hex == NULL)
		return (wsh_write_raw(ev, data, strlen(data)));
	len = strlen(hex) / 2;
	if ((buf = malloc(len + 1)) == NULL)
		return (-1);
	for (i = 0; i < len; i++) {
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			break;
		buf[i] = (unsigned char)b;
	}
	rv = wsh_write_raw(ev, buf, i);
	free(buf);
	return (rv);
}

/*
 * One frame with the values of the FastCGI params named in the
 * comma-separated list: {"type":"params","event":"...","params":{...}},
 * null for an absent one.
 */
static int
th_send_params(struct wsh_event *ev, const char *list)
{
	json_t		*params;
	const char	*p, *e, *v;
	char		 name[256];
	size_t		 len;

	if ((params = json_object()) == NULL)
		return (-1);
	for (p = list; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		if (len == 0 || len >= sizeof name)
			continue;
		memcpy(name, p, len);
		name[len] = '\0';
		v = wsh_param(ev, name);
		json_object_set_new(params, name, v != NULL ? json_string(v) :
		    json_null());
	}
	return (th_reply(ev, json_pack("{s:s,s:s,s:o}", "type", "params",
	    "event", wsh_event_name(ev), "params", params)));
}

static int
th_params(struct wsh_event *ev, json_t *msg)
{
	return (th_send_params(ev, th_str(msg, "names", "")));
}

/*
 * wsh_count with the name and increment as given (the SDK checks them),
 * then {"type":"counted","rv":0|-1}.
 */
static int
th_count(struct wsh_event *ev, json_t *msg)
{
	int	rv;

	rv = wsh_count(ev, th_str(msg, "name", ""), (int)th_int(msg, "by",
	    -TH_MAX_SIZE, TH_MAX_SIZE, 1));
	if (rv == -1 && wsh_cancelled(ev))
		return (-1);
	return (th_reply(ev, json_pack("{s:s,s:i}", "type", "counted", "rv",
	    rv)));
}

static int
th_connect(struct wsh_event *ev)
{
	const char	*s, *identity;
	json_t		*ctx;
	char		*ctxs;
	long		 v;
	int		 rv;

	if ((s = wsh_query_param(ev, "connect_delay_ms")) != NULL) {
		v = strtol(s, NULL, 10);
		if (v > 0 && v <= 600000)
			usleep((useconds_t)v * 1000);
	}
	if ((s = wsh_query_param(ev, "connect_crash")) != NULL &&
	    strcmp(s, "1") == 0)
		_exit(1);
	if ((s = wsh_query_param(ev, "reject")) != NULL)
		return (wsh_reject(ev, atoi(s), wsh_query_param(ev, "reason")));

	identity = wsh_query_param(ev, "identity");
	ctx = json_pack("{s:s,s:s}", "via", "testhandler", "q",
	    wsh_query(ev));
	ctxs = ctx != NULL ? json_dumps(ctx, JSON_COMPACT) : NULL;
	json_decref(ctx);
	rv = wsh_accept(ev, identity, ctxs);
	free(ctxs);
	if (rv == -1)
		return (-1);
	if ((s = wsh_query_param(ev, "hello")) != NULL && strcmp(s, "1") ==
	    0 && wsh_send_textf(ev,
	    "{\"type\":\"connection\",\"status\":\"connected\"}") == -1)
		return (-1);
	if ((s = wsh_query_param(ev, "count")) != NULL &&
	    wsh_count(ev, s, 1) == -1 && wsh_cancelled(ev))
		return (-1);
	if ((s = wsh_query_param(ev, "params")) != NULL)
		return (th_send_params(ev, s));
	return (0);
}

/* One line per DISCONNECT, written with one write(2) in append mode. */
static int
th_disconnect(struct wsh_event *ev)
{
	const char	*path = wsh_param(ev, "WS_TEST_LOG");
	const char	*count = wsh_param(ev, "WS_TEST_COUNT");
	char		 line[1024];
	int		 fd, len, rv = 0;

	if (count != NULL && *count != '\0')
		wsh_count(ev, count, 1);
	if (path == NULL || *path == '\0')
		return (0);
	len = snprintf(line, sizeof line, "%s %d %s\n", wsh_connection_id(ev),
	    wsh_close_code(ev), wsh_close_reason(ev));
	if (len < 0 || (size_t)len >= sizeof line)
		return (-1);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1 || write(fd, line, (size_t)len) != len) {
		wsh_log(WSH_LOG_WARN, "%s: %s", path, strerror(errno));
		rv = -1;
	}
	if (fd != -1)
		close(fd);
	return (rv);
}

static int
th_message(struct wsh_event *ev)
{
	const char	*p, *type;
	json_t		*msg;
	size_t		 len, i;
	int		 rv;

	p = wsh_payload(ev, &len);
	if (wsh_is_binary(ev) ||
	    (msg = json_loadb(p, len, 0, NULL)) == NULL)
		return (th_echo(ev, NULL));
	if ((type = th_str(msg, "type", NULL)) == NULL) {
		json_decref(msg);
		return (th_echo(ev, NULL));
	}
	rv = -2;
	for (i = 0; i < sizeof th_commands / sizeof th_commands[0]; i++) {
		if (strcmp(type, th_commands[i].name) == 0) {
			rv = th_commands[i].fn(ev, msg);
			break;
		}
	}
	if (rv == -2)
		rv = th_echo(ev, msg);
	json_decref(msg);
	return (rv);
}

static int
th_handle(struct wsh_event *ev, void *arg)
{
	switch (wsh_event_type(ev)) {
	case WSH_CONNECT:
		return (th_connect(ev));
	case WSH_MESSAGE:
		return (th_message(ev));
	case WSH_DISCONNECT:
		return (th_disconnect(ev));
	default:
		return (-1);
	}
}

int
main(int argc, char **argv)
{
	return (wsh_main(argc, argv, th_handle, NULL));
}
