/*
 * conn.c: a client's WebSocket connection: the handshake checks, the
 * CONNECT gate, message assembly and dispatch, the byte-bounded send queue
 * with backpressure to the handlers, and DISCONNECT.
 */
#include <sys/random.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "config.h"
#define LWS_PROTOCOL_CALLBACKS
#include "wsrouter.h"

struct conn_pss {
	struct conn	*conn;
};

static struct conn	**conn_table;
static size_t		  conn_table_size;
static size_t		  conn_table_count;
static struct lws	 *conn_cb_wsi;	/* whose conn_callback is running */
/*
 * A keepalive ping, with room for lws's header before it. Not empty: lws
 * 4.1.6 never reports an empty pong to the callback.
 */
static struct {
	unsigned char	pre[LWS_PRE];
	char		payload[sizeof "wsrouter"];
} ping_frame = { { 0 }, "wsrouter" };

/* Frames written per WRITEABLE callback at most, for fairness. */
#define CONN_WRITE_BATCH	16

static void	 conn_table_insert(struct conn *);
static void	 conn_table_remove(struct conn *);
static unsigned	 conn_hash(const char *, size_t);
static void	 conn_new_id(char *);
static struct conn *conn_new(struct lws *, const struct endpoint *);
static void	 conn_free(struct conn *);
static void	 conn_closed(struct conn *);
static void	 conn_dispatch(struct conn *, const void *, size_t, int);
static void	 conn_base_params(struct conn *, struct invocation *,
		     const char *);
static void	 conn_connect_params(struct conn *, struct invocation *);
static void	 conn_set_paused(struct conn *, int);
static struct frame *conn_append(struct conn *, int, size_t);
static int	 conn_write(struct conn *);
static int	 conn_callback_wsi(struct lws *, enum lws_callback_reasons,
		     void *, void *, size_t);
static int	 refuse(struct lws *, int, const char *, const char *);
static void	 conn_drop_queue(struct conn *);
static int	 conn_abort(struct conn *, struct lws *, enum err_kind, int,
		     const char *);
static const struct endpoint *upgrade_endpoint(struct lws *);
static int	 origin_allowed(struct lws *, const struct config *);
static int	 subprotocols_allowed(struct lws *);

/* An HTTP/1.1 refusal written straight to the socket (see REFERENCE). */
static int
refuse(struct lws *wsi, int status, const char *text, const char *extra)
{
	char	buf[512];
	int	n;

	n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n%s\n", status, text, strlen(text) + 1,
	    extra != NULL ? extra : "", text);
	if (n > 0 && (size_t)n < sizeof buf)
		(void)!write(lws_get_socket_fd(wsi), buf, n);
	return (-1);
}

/*
 * Close from a receive callback, for a protocol violation. Returning -1 here
 * would make lws 4.1.6 throw away the rest of what it has read and lose its
 * place in the frame: the next read, unmasked at the wrong offset, can fail
 * its UTF-8 check before the close frame is out, and the client sees the
 * TCP connection drop with no close code. So stop reading (lws keeps the
 * unread bytes), drop what is queued, and let the WRITEABLE callback send
 * the close, as conn_close does.
 */
static int
conn_abort(struct conn *c, struct lws *wsi, enum err_kind kind, int code,
    const char *reason)
{
	metrics_error(kind);
	if (c->state >= CONN_CLOSING)
		return (-1);	/* our close is on its way already */
	conn_drop_queue(c);
	conn_close(c, code, reason);
	lws_rx_flow_control(wsi, 0);
	return (0);
}

/* The endpoint of an upgrade request's path, or NULL. */
static const struct endpoint *
upgrade_endpoint(struct lws *wsi)
{
	char	path[256];
	int	n;

	n = lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI);
	if (n <= 0)
		return (NULL);
	return (config_find_endpoint(router->cfg, path, n));
}

static int
origin_allowed(struct lws *wsi, const struct config *cfg)
{
	char	origin[512];
	int	n;
	size_t	i;

	if (cfg->norigins == 0)
		return (1);
	n = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
	if (n <= 0)
		return (0);
	for (i = 0; i < cfg->norigins; i++)
		if (strcmp(cfg->origins[i], origin) == 0)
			return (1);
	return (0);
}

/*
 * Sec-WebSocket-Protocol, when sent, must offer "wsrouter" (the one
 * subprotocol the router speaks and answers with) and must not name the
 * router's internal raw protocol. Other entries, such as "bearer.<jwt>",
 * are the CONNECT handler's to read. Without this check lws drops the
 * socket with no answer when no entry matches.
 */
static int
subprotocols_allowed(struct lws *wsi)
{
	char	 buf[4096], *p, *e;
	int	 n, offered = 0;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) == 0)
		return (1);
	/* lws 4.1.6 drops the socket, unanswered, for 127 bytes or more. */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 126)
		return (0);
	if ((n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL)) <= 0)
		return (0);
	for (p = buf; p != NULL; p = e) {
		if ((e = strchr(p, ',')) != NULL)
			*e++ = '\0';
		p += strspn(p, " \t");
		p[strcspn(p, " \t")] = '\0';
		if (strcmp(p, "wsrouter") == 0)
			offered = 1;
		else if (strcmp(p, "wsrouter-fcgi") == 0)
			return (0);
	}
	return (offered);
}

static unsigned
conn_hash(const char *id, size_t len)
{
	unsigned	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	return (h);
}

static void
conn_table_insert(struct conn *c)
{
	struct conn	**t, *e, *next;
	size_t		  i, n;

	if (conn_table_count >= conn_table_size) {
		n = conn_table_size == 0 ? 256 : conn_table_size * 2;
		t = xcalloc(n, sizeof *t);
		for (i = 0; i < conn_table_size; i++) {
			for (e = conn_table[i]; e != NULL; e = next) {
				next = e->hnext;
				unsigned h = conn_hash(e->id, CONN_ID_LEN) &
				    (n - 1);
				e->hnext = t[h];
				t[h] = e;
			}
		}
		free(conn_table);
		conn_table = t;
		conn_table_size = n;
	}
	i = conn_hash(c->id, CONN_ID_LEN) & (conn_table_size - 1);
	c->hnext = conn_table[i];
	conn_table[i] = c;
	conn_table_count++;
}

static void
conn_table_remove(struct conn *c)
{
	struct conn	**pp;

	pp = &conn_table[conn_hash(c->id, CONN_ID_LEN) &
	    (conn_table_size - 1)];
	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			conn_table_count--;
			return;
		}
	}
}

struct conn *
conn_find(const char *id, size_t len)
{
	struct conn	*c;

	if (len != CONN_ID_LEN || conn_table_size == 0)
		return (NULL);
	c = conn_table[conn_hash(id, len) & (conn_table_size - 1)];
	for (; c != NULL; c = c->hnext)
		if (memcmp(c->id, id, len) == 0)
			return (c);
	return (NULL);
}

void
conn_foreach(void (*fn)(struct conn *, void *), void *arg)
{
	struct conn	*c, *next;
	size_t		 i;

	for (i = 0; i < conn_table_size; i++) {
		for (c = conn_table[i]; c != NULL; c = next) {
			next = c->hnext;
			fn(c, arg);
		}
	}
}

/* 22 characters of base64url from 16 random bytes: unguessable. */
static void
conn_new_id(char *out)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char		 r[17];
	size_t			 i, o = 0;
	uint32_t		 v;

	do {
		if (getrandom(r, 16, 0) != 16)
			fatal("%s: getrandom", __func__);
		r[16] = 0;
		for (i = 0, o = 0; i < 16; i += 3) {
			v = r[i] << 16 | r[i + 1] << 8 | (i + 2 < 17 ?
			    r[i + 2] : 0);
			out[o++] = b64[(v >> 18) & 63];
			out[o++] = b64[(v >> 12) & 63];
			if (o < CONN_ID_LEN)
				out[o++] = b64[(v >> 6) & 63];
			if (o < CONN_ID_LEN)
				out[o++] = b64[v & 63];
		}
		out[CONN_ID_LEN] = '\0';
	} while (conn_find(out, CONN_ID_LEN) != NULL);
}

static struct conn *
conn_new(struct lws *wsi, const struct endpoint *ep)
{
	struct conn	*c;
	char		 ua[512];
	int		 n;

	c = xcalloc(1, sizeof *c);
	conn_new_id(c->id);
	c->wsi = wsi;
	c->cfg = router->cfg;
	config_ref(c->cfg);
	c->ep = ep;
	c->connected_at = c->last_active = wall_usec();
	c->last_rx_mono = c->last_heard_mono = mono_usec();
	lws_get_peer_simple(wsi, c->remote_addr, sizeof c->remote_addr);
	if (strncmp(c->remote_addr, "::ffff:", 7) == 0)
		memmove(c->remote_addr, c->remote_addr + 7,
		    strlen(c->remote_addr + 7) + 1);
	{
		struct sockaddr_storage	ss;
		socklen_t		sl = sizeof ss;

		if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss,
		    &sl) == 0) {
			if (ss.ss_family == AF_INET)
				c->remote_port = ntohs(((struct sockaddr_in *)
				    &ss)->sin_port);
			else if (ss.ss_family == AF_INET6)
				c->remote_port = ntohs(((struct sockaddr_in6 *)
				    &ss)->sin6_port);
		}
	}
	n = lws_hdr_copy(wsi, ua, sizeof ua, WSI_TOKEN_HTTP_USER_AGENT);
	c->user_agent = xstrdup(n > 0 ? ua : "");
	dbuf_init(&c->rx, ep->max_message_size);
	conn_table_insert(c);
	router->nconns++;
	metrics.connections_total++;
	return (c);
}


/* Free every queued frame. */
static void
conn_drop_queue(struct conn *c)
{
	struct frame	*f;

	while ((f = c->q_head) != NULL) {
		c->q_head = f->next;
		free(f);
	}
	c->q_tail = NULL;
	c->q_bytes = 0;
}

static void
conn_free(struct conn *c)
{
	conn_drop_queue(c);
	dbuf_free(&c->rx);
	free(c->identity);
	free(c->context);
	free(c->user_agent);
	config_unref(c->cfg);
	free(c);
}

/* Variables every event of a connection carries. */
static void
conn_base_params(struct conn *c, struct invocation *inv, const char *method)
{
	char	ts[40];

	inv_add_param_str(inv, "GATEWAY_INTERFACE", "CGI/1.1");
	inv_add_param_str(inv, "SERVER_SOFTWARE", "wsrouter/" VERSION);
	inv_add_param_str(inv, "SERVER_PROTOCOL", "HTTP/1.1");
	inv_add_param_str(inv, "SERVER_NAME", router->server_name);
	inv_add_param_str(inv, "SERVER_PORT", router->server_port);
	inv_add_param_str(inv, "REQUEST_METHOD", method);
	inv_add_param_str(inv, "SCRIPT_NAME", c->ep->path);
	inv_add_param_str(inv, "REQUEST_URI", c->ep->path);
	inv_add_param_str(inv, "PATH_INFO", "");
	inv_add_param_str(inv, "REMOTE_ADDR", c->remote_addr);
	inv_add_paramf(inv, "REMOTE_PORT", "%u", c->remote_port);
	inv_add_param(inv, "WS_CONNECTION_ID", c->id, CONN_ID_LEN);
	inv_add_param_str(inv, "WS_ENDPOINT", c->ep->path);
	inv_add_param_str(inv, "WS_CONNECTED_AT",
	    iso8601_utc(c->connected_at, ts, sizeof ts));
	if (router->api_url[0] != '\0')
		inv_add_param_str(inv, "WS_API", router->api_url);
	inv_add_param_str(inv, "WS_ROUTER_INSTANCE",
	    c->cfg->instance != NULL ? c->cfg->instance : router->instance);
	if (c->identity != NULL)
		inv_add_param_str(inv, "WS_IDENTITY", c->identity);
	if (c->context != NULL)
		inv_add_param_str(inv, "WS_CONTEXT", c->context);
}

/* Percent-encode what is not unreserved, so QUERY_STRING stays raw-like. */
static void
query_append(struct dbuf *q, const char *s, size_t len)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i;
	int			eq = 0;

	for (i = 0; i < len; i++) {
		unsigned char	ch = s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~' || (ch == '=' && !eq)) {
			if (ch == '=')
				eq = 1;
			dbuf_addc(q, ch);
		} else {
			dbuf_addc(q, '%');
			dbuf_addc(q, hex[ch >> 4]);
			dbuf_addc(q, hex[ch & 15]);
		}
	}
}

/* The upgrade request's headers and query string, for CONNECT. */
static void
conn_connect_params(struct conn *c, struct invocation *inv)
{
	static const struct {
		int		 token;
		const char	*name;
	} hdrs[] = {
		{ WSI_TOKEN_HOST, "HTTP_HOST" },
		{ WSI_TOKEN_ORIGIN, "HTTP_ORIGIN" },
		{ WSI_TOKEN_HTTP_USER_AGENT, "HTTP_USER_AGENT" },
		{ WSI_TOKEN_HTTP_AUTHORIZATION, "HTTP_AUTHORIZATION" },
		{ WSI_TOKEN_HTTP_COOKIE, "HTTP_COOKIE" },
		{ WSI_TOKEN_PROTOCOL, "HTTP_SEC_WEBSOCKET_PROTOCOL" },
		{ WSI_TOKEN_EXTENSIONS, "HTTP_SEC_WEBSOCKET_EXTENSIONS" },
		{ WSI_TOKEN_HTTP_ACCEPT_LANGUAGE, "HTTP_ACCEPT_LANGUAGE" },
		{ WSI_TOKEN_X_FORWARDED_FOR, "HTTP_X_FORWARDED_FOR" },
		{ WSI_TOKEN_HTTP_REFERER, "HTTP_REFERER" },
	};
	static const char *const custom[] = {
		"x-forwarded-proto:", "x-real-ip:", "x-request-id:"
	};
	struct lws	*wsi = c->wsi;
	struct dbuf	 q;
	char		 buf[HTTP_HEAD_MAX], name[64], *list;
	int		 n, i;
	size_t		 k;

	for (k = 0; k < nitems(hdrs); k++) {
		if (hdrs[k].token == WSI_TOKEN_PROTOCOL &&
		    (list = subproto_take(lws_get_socket_fd(wsi))) != NULL) {
			/* The whole list, which lws saw shortened. */
			inv_add_param_str(inv, hdrs[k].name, list);
			free(list);
			continue;
		}
		n = lws_hdr_copy(wsi, buf, sizeof buf, hdrs[k].token);
		if (n > 0)
			inv_add_param(inv, hdrs[k].name, buf, n);
	}
	for (k = 0; k < nitems(custom); k++) {
		n = lws_hdr_custom_copy(wsi, buf, sizeof buf, custom[k],
		    strlen(custom[k]));
		if (n <= 0)
			continue;
		snprintf(name, sizeof name, "HTTP_");
		for (i = 0; custom[k][i] != ':'; i++)
			name[5 + i] = custom[k][i] == '-' ? '_' :
			    (char)(custom[k][i] - 'a' + 'A');
		name[5 + i] = '\0';
		inv_add_param(inv, name, buf, n);
	}
	dbuf_init(&q, 8192);
	for (i = 0; (n = lws_hdr_copy_fragment(wsi, buf, sizeof buf,
	    WSI_TOKEN_HTTP_URI_ARGS, i)) > 0; i++) {
		if (i > 0)
			dbuf_addc(&q, '&');
		query_append(&q, buf, n);
	}
	inv_add_param(inv, "QUERY_STRING", q.data != NULL ? q.data :
	    (const unsigned char *)"", q.len);
	dbuf_free(&q);
}

/* The CONNECT handler accepted: keep identity and context, start reading. */
void
conn_accept(struct conn *c, const char *identity, size_t ilen,
    const char *context, size_t clen)
{
	if (c->state != CONN_CONNECTING)
		return;
	if (identity != NULL)
		c->identity = xstrndup(identity, ilen);
	if (context != NULL)
		conn_set_context(c, context, clen);
	c->state = CONN_OPEN;
	c->accepted = 1;
	c->last_heard_mono = mono_usec();	/* keepalive: reading starts */
	if (c->wsi != NULL)
		lws_rx_flow_control(c->wsi, 1);
	log_debug("%s: %s accepted", __func__, c->id);
}

/* The CONNECT handler refused or failed: close before any frame. */
void
conn_reject(struct conn *c, int code, const char *reason)
{
	log_info("%s: %s from %s refused with %d (%s)", __func__, c->id,
	    c->remote_addr, code, reason);
	c->accepted = 0;
	c->state = CONN_OPEN;	/* let conn_close queue the close */
	conn_close(c, code, reason);
}

void
conn_set_context(struct conn *c, const char *ctx, size_t len)
{
	free(c->context);
	c->context = xstrndup(ctx, len);
}

/*
 * Queue a frame for the client. Above the high mark, the connection's
 * handlers are paused. Only a push or publish can pass the hard cap (handler
 * output pauses first); then the connection is closed, never trimmed.
 */
int
conn_enqueue(struct conn *c, int kind, const void *data, size_t len)
{
	struct frame	*f;

	if (c->state >= CONN_CLOSING || c->wsi == NULL)
		return (-1);
	if (c->q_bytes + len > c->cfg->send_queue_max) {
		metrics_error(ERR_QUEUE_OVERFLOW);
		log_warnx("%s: %s: send queue passed %zu bytes, closing",
		    __func__, c->id, c->cfg->send_queue_max);
		conn_close(c, 1008, "send queue overflow");
		return (-1);
	}
	f = conn_append(c, kind, len);
	if (len != 0)
		memcpy(f->data + LWS_PRE, data, len);
	c->q_bytes += len;
	if (c->q_bytes > c->cfg->send_queue_high && !c->q_paused)
		conn_set_paused(c, 1);
	/*
	 * A frame into an empty queue goes out at once, which saves a turn of
	 * the poll loop per frame; lws keeps what the socket does not take and
	 * sends it before the next WRITEABLE. Not from inside this
	 * connection's own callback, and not a close, which only the
	 * WRITEABLE callback can carry out.
	 */
	if (c->q_head == f && kind != CGI_FRAME_CLOSE &&
	    c->state == CONN_OPEN && c->wsi != conn_cb_wsi &&
	    !lws_partial_buffered(c->wsi)) {
		if (conn_write(c) == -1)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
			    LWS_TO_KILL_ASYNC);
		return (0);
	}
	lws_callback_on_writable(c->wsi);
	return (0);
}

/* A new frame of len bytes at the tail of the queue. */
static struct frame *
conn_append(struct conn *c, int kind, size_t len)
{
	struct frame	*f;

	f = xmalloc(sizeof *f + LWS_PRE + len);
	f->next = NULL;
	f->len = len;
	f->kind = kind;
	if (c->q_tail != NULL)
		c->q_tail->next = f;
	else
		c->q_head = f;
	c->q_tail = f;
	return (f);
}

static void
conn_set_paused(struct conn *c, int paused)
{
	struct invocation	*inv;

	c->q_paused = paused;
	for (inv = c->inv_head; inv != NULL; inv = inv_cnext(inv))
		inv_set_paused(inv, paused);
}

/* Close after what is already queued; a stuck client is cut off later. */
void
conn_close(struct conn *c, int code, const char *reason)
{
	struct frame	*f;
	size_t		 len = strlen(reason);

	if (c->state >= CONN_CLOSING || c->wsi == NULL)
		return;
	if (len > CLOSE_REASON_MAX)
		len = CLOSE_REASON_MAX;
	c->state = CONN_CLOSING;
	/* DISCONNECT reports our code even if the client never reads it. */
	c->close_code = code;
	snprintf(c->close_reason, sizeof c->close_reason, "%.*s", (int)len,
	    reason);
	f = conn_append(c, CGI_FRAME_CLOSE, 2 + len);
	f->data[LWS_PRE] = code >> 8;
	f->data[LWS_PRE + 1] = code & 0xff;
	memcpy(f->data + LWS_PRE + 2, reason, len);
	if (c->wsi != NULL) {
		lws_rx_flow_control(c->wsi, 1);	/* read the peer's close */
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 10);
		lws_callback_on_writable(c->wsi);
	}
}

void
conn_send_error(struct conn *c, const char *error, const char *message,
    const char *route, const char *request_id, int status)
{
	struct dbuf	b;
	char		ts[40], rid[24];

	if (request_id == NULL) {
		/* A router-level error gets an id of its own. */
		snprintf(rid, sizeof rid, "%08x%08llx",
		    (unsigned)(router->started_at / 1000000),
		    (unsigned long long)++router->next_request);
		request_id = rid;
	}
	dbuf_init(&b, 4096);
	dbuf_adds(&b, "{\"type\":\"error\",\"error\":\"");
	dbuf_adds(&b, error);
	dbuf_adds(&b, "\",\"message\":\"");
	json_escape(&b, message, strlen(message));
	dbuf_adds(&b, "\"");
	dbuf_adds(&b, ",\"route\":\"");
	if (route != NULL)
		json_escape(&b, route, strlen(route));
	dbuf_printf(&b, "\",\"request_id\":\"%s\"", request_id);
	if (status != 0)
		dbuf_printf(&b, ",\"status\":%d", status);
	dbuf_printf(&b, ",\"timestamp\":\"%s\"}",
	    iso8601_utc(wall_usec(), ts, sizeof ts));
	conn_enqueue(c, CGI_FRAME_TEXT, b.data, b.len);
	dbuf_free(&b);
}

/* During shutdown: close once nothing is in flight. */
void
conn_drain(struct conn *c)
{
	if (!router->draining || c->ninflight != 0 || c->wsi == NULL)
		return;
	if (c->state == CONN_OPEN || c->state == CONN_CONNECTING) {
		c->state = CONN_OPEN;
		conn_close(c, 1001, "server shutting down");
	}
}

/* A complete message from the client: route it and invoke the handler. */
static void
conn_dispatch(struct conn *c, const void *data, size_t len, int binary)
{
	struct invocation	*inv;
	struct pool		*pool;
	char			 key[ROUTE_KEY_MAX];

	metrics.messages_in++;
	metrics.bytes_in += len;
	c->last_active = wall_usec();
	pool = route_select(c->ep, data, len, binary, key, sizeof key);
	if (router->draining) {
		metrics_error(ERR_SHUTTING_DOWN);
		conn_send_error(c, "shutting_down",
		    "the server is shutting down", key, NULL, 0);
		return;
	}
	if (pool == NULL) {
		metrics_error(ERR_NO_ROUTE);
		conn_send_error(c, "no_route", "no route matches the message",
		    key, NULL, 0);
		return;
	}
	/*
	 * Messages only: the CONNECT invocation may still be finishing when
	 * the messages held back behind it are let through.
	 */
	if (c->nmessages >= c->cfg->max_inflight) {
		metrics_error(ERR_BUSY);
		conn_send_error(c, "busy", "too many requests in flight on "
		    "this connection", key, NULL, 0);
		return;
	}
	inv = inv_new(c, c->cfg, pool, INV_MESSAGE, key);
	conn_base_params(c, inv, "POST");
	inv_add_param_str(inv, "WS_MESSAGE_TYPE", binary ? "binary" : "text");
	inv_add_param_str(inv, "CONTENT_TYPE", binary ?
	    "application/octet-stream" : "text/plain; charset=utf-8");
	if (c->q_paused)
		inv_set_paused(inv, 1);
	inv_submit(inv, data, len);
}

/* The wsi is gone: cancel, unlink, owe DISCONNECT, free. */
static void
conn_closed(struct conn *c)
{
	struct invocation	*inv;
	struct pool		*pool = c->ep->on_disconnect;
	struct dbuf		 b;

	c->wsi = NULL;
	c->state = CONN_CLOSED;
	while ((inv = c->inv_head) != NULL)
		inv_cancel(inv);
	channel_leave_all(c);
	conn_table_remove(c);
	router->nconns--;
	log_debug("%s: %s closed with %d", __func__, c->id, c->close_code);
	if (c->accepted && pool != NULL && !router->exiting) {
		metrics.disconnects++;
		inv = inv_new(NULL, c->cfg, pool, INV_DISCONNECT,
		    "$disconnect");
		conn_base_params(c, inv, "POST");
		inv_add_paramf(inv, "WS_CLOSE_CODE", "%d", c->close_code);
		inv_add_param_str(inv, "WS_CLOSE_REASON", c->close_reason);
		inv_add_param_str(inv, "CONTENT_TYPE", "application/json");
		/* Room for the reason escaped at its longest, \u00XX a byte. */
		dbuf_init(&b, 64 + 6 * CLOSE_REASON_MAX);
		dbuf_printf(&b, "{\"code\":%d,\"reason\":\"", c->close_code);
		json_escape(&b, c->close_reason, strlen(c->close_reason));
		dbuf_adds(&b, "\"}");
		inv_submit(inv, b.data, b.len);
		dbuf_free(&b);
	}
	conn_free(c);
	router_check_drained();
}

/* Write one queued frame; more are asked for through WRITEABLE again. */
static int
conn_write(struct conn *c)
{
	struct frame	*f = c->q_head;
	int		 code, flags;

	if (f == NULL)
		return (0);
	c->q_head = f->next;
	if (c->q_head == NULL)
		c->q_tail = NULL;
	if (f->kind == CGI_FRAME_CLOSE) {
		code = f->data[LWS_PRE] << 8 | f->data[LWS_PRE + 1];
		c->close_code = code;
		snprintf(c->close_reason, sizeof c->close_reason, "%.*s",
		    (int)(f->len - 2), f->data + LWS_PRE + 2);
		lws_close_reason(c->wsi, code, f->data + LWS_PRE + 2,
		    f->len - 2);
		lws_rx_flow_control(c->wsi, 1);	/* conn_abort stopped it */
		free(f);
		return (-1);
	}
	c->q_bytes -= f->len;
	flags = f->kind == CGI_FRAME_BINARY ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
	if (lws_write(c->wsi, f->data + LWS_PRE, f->len, flags) < (int)f->len) {
		free(f);
		return (-1);
	}
	metrics.messages_out++;
	metrics.bytes_out += f->len;
	free(f);
	if (c->q_paused && c->q_bytes < c->cfg->send_queue_low)
		conn_set_paused(c, 0);
	if (c->q_head != NULL)
		lws_callback_on_writable(c->wsi);
	return (0);
}

/* The lws callback of a connection; conn_cb_wsi is set while it runs. */
int
conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct lws	*outer = conn_cb_wsi;
	int		 rv;

	conn_cb_wsi = wsi;
	rv = conn_callback_wsi(wsi, reason, user, in, len);
	conn_cb_wsi = outer;
	return (rv);
}

static int
conn_callback_wsi(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct conn_pss		*pss = user;
	struct conn		*c = pss != NULL ? pss->conn : NULL;
	const struct endpoint	*ep;
	struct invocation	*inv;
	char			 buf[64];
	size_t			 remaining;
	int			 n;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return (router->draining ? 1 : 0);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* Never read `in` here (CVE-2025-11677). No h2c. */
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP2_SETTINGS) != 0) {
			metrics_error(ERR_BAD_UPGRADE);
			return (refuse(wsi, 400, "Bad Request", NULL));
		}
		n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_UPGRADE);
		if (n <= 0 || strcasecmp(buf, "websocket") != 0) {
			metrics_error(ERR_BAD_UPGRADE);
			return (refuse(wsi, 400, "Bad Request", NULL));
		}
		if (!subprotocols_allowed(wsi)) {
			metrics_error(ERR_BAD_UPGRADE);
			log_info("%s: no supported subprotocol offered",
			    __func__);
			return (refuse(wsi, 400, "Bad Request", NULL));
		}
		return (0);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (router->draining)
			return (refuse(wsi, 503, "Service Unavailable", NULL));
		if ((ep = upgrade_endpoint(wsi)) == NULL)
			return (refuse(wsi, 404, "Not Found", NULL));
		n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_VERSION);
		if (n <= 0 || strcmp(buf, "13") != 0) {
			metrics_error(ERR_BAD_UPGRADE);
			return (refuse(wsi, 426, "Upgrade Required",
			    "Sec-WebSocket-Version: 13\r\n"));
		}
		if (lws_hdr_total_length(wsi, WSI_TOKEN_KEY) <= 0) {
			metrics_error(ERR_BAD_UPGRADE);
			return (refuse(wsi, 400, "Bad Request", NULL));
		}
		if (!origin_allowed(wsi, router->cfg)) {
			metrics_error(ERR_ORIGIN_REFUSED);
			log_info("%s: origin refused", __func__);
			return (refuse(wsi, 403, "Forbidden", NULL));
		}
		return (0);
	case LWS_CALLBACK_ESTABLISHED:
		if ((ep = upgrade_endpoint(wsi)) == NULL)
			return (-1);
		c = pss->conn = conn_new(wsi, ep);
		maskcheck_watch(lws_get_socket_fd(wsi));
		if (ep->on_connect == NULL) {
			c->state = CONN_OPEN;
			c->accepted = 1;
			break;
		}
		c->state = CONN_CONNECTING;
		lws_rx_flow_control(wsi, 0);
		inv = inv_new(c, c->cfg, ep->on_connect, INV_CONNECT,
		    "$connect");
		conn_base_params(c, inv, "GET");
		conn_connect_params(c, inv);
		inv_submit(inv, NULL, 0);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (c != NULL && maskcheck_violated(lws_get_socket_fd(wsi)))
			return (conn_abort(c, wsi, ERR_PROTOCOL, 1002,
			    "unmasked client frame"));
		if (c == NULL || c->state != CONN_OPEN)
			break;
		remaining = lws_remaining_packet_payload(wsi);
		if (c->rx.len + len + remaining > c->ep->max_message_size)
			return (conn_abort(c, wsi, ERR_MESSAGE_TOO_BIG, 1009,
			    "message too big"));
		if (c->rx.len == 0 && lws_is_first_fragment(wsi) &&
		    lws_frame_is_binary(wsi) && !c->ep->allow_binary)
			return (conn_abort(c, wsi, ERR_BINARY_REFUSED, 1003,
			    "binary messages are not accepted"));
		c->last_rx_mono = c->last_heard_mono = mono_usec();
		if (c->rx.len == 0 && remaining == 0 &&
		    lws_is_final_fragment(wsi)) {
			/* The common case: a whole message in one piece. */
			conn_dispatch(c, in, len, lws_frame_is_binary(wsi));
			break;
		}
		dbuf_add(&c->rx, in, len);
		if (remaining == 0 && lws_is_final_fragment(wsi)) {
			conn_dispatch(c, c->rx.data, c->rx.len,
			    lws_frame_is_binary(wsi));
			dbuf_free(&c->rx);
			dbuf_init(&c->rx, c->ep->max_message_size);
		}
		break;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c != NULL)
			c->last_heard_mono = mono_usec();
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c == NULL)
			break;
		if (c->ping_due) {
			c->ping_due = 0;
			c->ping_sent_mono = mono_usec();
			if (lws_write(wsi, (unsigned char *)ping_frame.payload,
			    sizeof ping_frame.payload - 1, LWS_WRITE_PING) < 0)
				return (-1);
			if (lws_partial_buffered(wsi)) {
				lws_callback_on_writable(wsi);
				break;
			}
		}
		/* Several queued frames per turn, while the socket takes them. */
		for (n = 0; n < CONN_WRITE_BATCH; n++) {
			if (conn_write(c) == -1)
				return (-1);
			if (c->q_head == NULL || lws_partial_buffered(wsi))
				break;
		}
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c == NULL)
			break;
		if (c->close_code != 0)
			break;		/* the answer to our own close */
		if (len >= 2) {
			unsigned char *p = in;

			c->close_code = p[0] << 8 | p[1];
			snprintf(c->close_reason, sizeof c->close_reason,
			    "%.*s", (int)(len - 2 > CLOSE_REASON_MAX ?
			    CLOSE_REASON_MAX : len - 2), p + 2);
		} else
			c->close_code = 1005;
		break;
	case LWS_CALLBACK_CLOSED:
		if (c == NULL)
			break;
		pss->conn = NULL;
		if (c->close_code == 0)
			c->close_code = 1006;
		conn_closed(c);
		break;
	case LWS_CALLBACK_HTTP:
		/* A plain HTTP request on the WebSocket listener. */
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return (-1);
		return (lws_http_transaction_completed(wsi) ? -1 : 0);
	default:
		/* The static_root mount's file serving, and the rest. */
		return (lws_callback_http_dummy(wsi, reason, user, in, len));
	}
	return (0);
}
