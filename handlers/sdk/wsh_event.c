/* wsh_event.c: one invocation's event, read from FastCGI params and STDIN. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "wsh_int.h"

static const char *wsh_env(char **, const char *);
static int	 wsh_parse_int(const char *, long, long, long *);
static int	 wsh_hexval(int);
static size_t	 wsh_url_decode(char *, size_t);
static void	 wsh_event_close_info(struct wsh_event *);

static const char *
wsh_env(char **envp, const char *name)
{
	return (FCGX_GetParam(name, envp));
}

static int
wsh_parse_int(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return (-1);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

void
wsh_event_init(struct wsh_event *ev, struct wsh_worker *w, FCGX_Request *req,
    char **envp, int fd)
{
	const char	*s;

	memset(ev, 0, sizeof *ev);
	ev->ev_worker = w;
	ev->ev_req = req;
	ev->ev_envp = envp;
	ev->ev_fd = fd;
	ev->ev_status = 200;
	dbuf_init(&ev->ev_payload, 0);

	ev->ev_name = wsh_env(envp, "WS_EVENT");
	if (ev->ev_name == NULL)
		ev->ev_type = WSH_UNKNOWN;
	else if (strcmp(ev->ev_name, "CONNECT") == 0)
		ev->ev_type = WSH_CONNECT;
	else if (strcmp(ev->ev_name, "MESSAGE") == 0)
		ev->ev_type = WSH_MESSAGE;
	else if (strcmp(ev->ev_name, "DISCONNECT") == 0)
		ev->ev_type = WSH_DISCONNECT;
	else
		ev->ev_type = WSH_UNKNOWN;
	if (ev->ev_name == NULL)
		ev->ev_name = "";

#define WSH_STR(field, name) do {				\
	ev->field = wsh_env(envp, name);			\
	if (ev->field == NULL)					\
		ev->field = "";					\
} while (0)
	WSH_STR(ev_connection_id, "WS_CONNECTION_ID");
	WSH_STR(ev_request_id, "WS_REQUEST_ID");
	WSH_STR(ev_route_key, "WS_ROUTE_KEY");
	WSH_STR(ev_endpoint, "WS_ENDPOINT");
	WSH_STR(ev_query, "QUERY_STRING");
#undef WSH_STR
	ev->ev_identity = wsh_env(envp, "WS_IDENTITY");
	ev->ev_context = wsh_env(envp, "WS_CONTEXT");

	if ((s = wsh_env(envp, "WS_MESSAGE_TYPE")) != NULL)
		ev->ev_binary = strcmp(s, "binary") == 0;
	else if ((s = wsh_env(envp, "CONTENT_TYPE")) != NULL)
		ev->ev_binary = strncasecmp(s, "application/octet-stream",
		    24) == 0;
}

/*
 * Read all of STDIN, up to max bytes. -1 on a read error; a payload past
 * the cap sets ev_payload_too_big and returns 0.
 */
int
wsh_event_read(struct wsh_event *ev, size_t max)
{
	char	 buf[16384];
	long	 hint;
	int	 n;
	ssize_t	 r;

	dbuf_init(&ev->ev_payload, max);
	if (wsh_parse_int(wsh_env(ev->ev_envp, "CONTENT_LENGTH"), 0, LONG_MAX,
	    &hint) == 0 && (unsigned long)hint > max) {
		ev->ev_payload_too_big = 1;
		return (0);
	}
	for (;;) {
		if (ev->ev_req != NULL) {
			n = FCGX_GetStr(buf, sizeof buf, ev->ev_req->in);
			if (n < 0 || FCGX_GetError(ev->ev_req->in) != 0)
				return (-1);
			r = n;
		} else {
			r = read(STDIN_FILENO, buf, sizeof buf);
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1)
				return (-1);
		}
		if (r == 0)
			break;
		if (dbuf_add(&ev->ev_payload, buf, (size_t)r) == -1) {
			ev->ev_payload_too_big = 1;
			return (0);
		}
	}
	wsh_event_close_info(ev);
	return (0);
}

/* The close code and reason: from the params, else from the JSON body. */
static void
wsh_event_close_info(struct wsh_event *ev)
{
	json_t		*j = NULL, *v;
	long		 code;

	ev->ev_close_reason = "";
	if (ev->ev_type != WSH_DISCONNECT)
		return;
	if (wsh_parse_int(wsh_env(ev->ev_envp, "WS_CLOSE_CODE"), 0, 65535,
	    &code) == 0)
		ev->ev_close_code = (int)code;
	ev->ev_close_reason = wsh_env(ev->ev_envp, "WS_CLOSE_REASON");
	if (ev->ev_close_code != 0 && ev->ev_close_reason != NULL)
		return;
	if (ev->ev_close_reason == NULL)
		ev->ev_close_reason = "";

	j = json_loadb((const char *)ev->ev_payload.data, ev->ev_payload.len,
	    0, NULL);
	if (j == NULL || !json_is_object(j))
		goto out;
	v = json_object_get(j, "code");
	if (ev->ev_close_code == 0 && json_is_integer(v) &&
	    json_integer_value(v) > 0 && json_integer_value(v) <= 65535)
		ev->ev_close_code = (int)json_integer_value(v);
	v = json_object_get(j, "reason");
	if (*ev->ev_close_reason == '\0' && json_is_string(v))
		ev->ev_close_reason = wsh_event_keep(ev,
		    xstrdup(json_string_value(v)));
out:
	json_decref(j);
}

/* Keep s (allocated) until the event is freed; returns s. */
char *
wsh_event_keep(struct wsh_event *ev, char *s)
{
	ev->ev_owned = xreallocarray(ev->ev_owned, ev->ev_nowned + 1,
	    sizeof *ev->ev_owned);
	ev->ev_owned[ev->ev_nowned++] = s;
	return (s);
}

void
wsh_event_free(struct wsh_event *ev)
{
	size_t	i;

	for (i = 0; i < ev->ev_nowned; i++)
		free(ev->ev_owned[i]);
	free(ev->ev_owned);
	wsh_api_free(ev->ev_api);
	dbuf_free(&ev->ev_payload);
	free(ev->ev_status_reason);
	free(ev->ev_content_type);
	free(ev->ev_identity_out);
	free(ev->ev_context_out);
	memset(ev, 0, sizeof *ev);
}

enum wsh_event_type
wsh_event_type(const struct wsh_event *ev)
{
	return (ev->ev_type);
}

const char *
wsh_event_name(const struct wsh_event *ev)
{
	return (ev->ev_name);
}

const char *
wsh_connection_id(const struct wsh_event *ev)
{
	return (ev->ev_connection_id);
}

const char *
wsh_request_id(const struct wsh_event *ev)
{
	return (ev->ev_request_id);
}

const char *
wsh_route_key(const struct wsh_event *ev)
{
	return (ev->ev_route_key);
}

const char *
wsh_endpoint(const struct wsh_event *ev)
{
	return (ev->ev_endpoint);
}

const char *
wsh_identity(const struct wsh_event *ev)
{
	return (ev->ev_identity);
}

const char *
wsh_context(const struct wsh_event *ev)
{
	return (ev->ev_context);
}

/* The payload, NUL-terminated for convenience (it may hold NULs too). */
const char *
wsh_payload(const struct wsh_event *ev, size_t *len)
{
	static const char	empty[1] = "";

	if (len != NULL)
		*len = ev->ev_payload.len;
	if (ev->ev_payload.data == NULL)
		return (empty);
	ev->ev_payload.data[ev->ev_payload.len] = '\0';
	return ((const char *)ev->ev_payload.data);
}

int
wsh_is_binary(const struct wsh_event *ev)
{
	return (ev->ev_binary);
}

int
wsh_close_code(const struct wsh_event *ev)
{
	return (ev->ev_close_code);
}

const char *
wsh_close_reason(const struct wsh_event *ev)
{
	return (ev->ev_close_reason != NULL ? ev->ev_close_reason : "");
}

const char *
wsh_param(const struct wsh_event *ev, const char *name)
{
	return (wsh_env(ev->ev_envp, name));
}

/* A request header of the upgrade request (CONNECT): "User-Agent". */
const char *
wsh_header(struct wsh_event *ev, const char *name)
{
	char	 key[256];
	size_t	 i, n = strlen(name);

	if (n == 0 || n + 5 >= sizeof key)
		return (NULL);
	memcpy(key, "HTTP_", 5);
	for (i = 0; i < n; i++) {
		unsigned char	c = (unsigned char)name[i];

		key[5 + i] = c == '-' ? '_' : (char)toupper(c);
	}
	key[5 + n] = '\0';
	return (wsh_env(ev->ev_envp, key));
}

const char *
wsh_query(const struct wsh_event *ev)
{
	return (ev->ev_query);
}

static int
wsh_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Decode %XX and '+' in place; returns the new length. */
static size_t
wsh_url_decode(char *s, size_t len)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			s[o++] = ' ';
		else if (s[i] == '%' && i + 2 < len &&
		    (hi = wsh_hexval((unsigned char)s[i + 1])) != -1 &&
		    (lo = wsh_hexval((unsigned char)s[i + 2])) != -1) {
			s[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			s[o++] = s[i];
	}
	s[o] = '\0';
	return (o);
}

/*
 * The first value of a query parameter, URL-decoded; "" when it has no
 * value, NULL when absent. Decoded NULs cut the value short.
 */
const char *
wsh_query_param(struct wsh_event *ev, const char *name)
{
	const char	*p = ev->ev_query, *end, *eq;
	char		*key, *val;
	size_t		 klen;

	while (*p != '\0') {
		end = p + strcspn(p, "&;");
		eq = memchr(p, '=', end - p);
		klen = (eq != NULL ? eq : end) - p;
		key = xstrndup(p, klen);
		wsh_url_decode(key, klen);
		if (strcmp(key, name) == 0) {
			free(key);
			if (eq == NULL)
				val = xstrdup("");
			else {
				val = xstrndup(eq + 1, end - eq - 1);
				wsh_url_decode(val, end - eq - 1);
			}
			return (wsh_event_keep(ev, val));
		}
		free(key);
		p = *end != '\0' ? end + 1 : end;
	}
	return (NULL);
}
