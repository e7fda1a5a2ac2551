/*
 * mgmt.c: the management API, on loopback or a unix socket only, with the
 * paths of API Gateway: POST, GET and DELETE /@connections/{id} (410 Gone
 * for an unknown or closed id), POST /@channels/{name}, /healthz and
 * /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#define LWS_PROTOCOL_CALLBACKS
#include "wsrouter.h"

enum mgmt_method {
	M_OTHER,
	M_GET,
	M_POST,
	M_DELETE
};

struct mgmt_req {
	enum mgmt_method method;
	char		 path[512];
	struct dbuf	 body;
	int		 too_big;
	int		 binary;
	int		 status;
	const char	*ctype;
	struct dbuf	 resp;		/* LWS_PRE bytes, then the body */
	int		 responded;
	int		 close_after;
};

struct mgmt_pss {
	struct mgmt_req	*req;
};

static void	 mgmt_handle(struct lws *, struct mgmt_req *);
static void	 mgmt_respond(struct lws *, struct mgmt_req *, int,
		     const char *, const char *, size_t);
static void	 mgmt_json(struct lws *, struct mgmt_req *, int, const char *);
static void	 mgmt_connection(struct lws *, struct mgmt_req *,
		     const char *);
static void	 mgmt_channel(struct lws *, struct mgmt_req *, const char *);
static void	 mgmt_free(struct mgmt_pss *);

static void
mgmt_free(struct mgmt_pss *pss)
{
	if (pss == NULL || pss->req == NULL)
		return;
	dbuf_free(&pss->req->body);
	dbuf_free(&pss->req->resp);
	free(pss->req);
	pss->req = NULL;
}

/* Send the headers now and the body from HTTP_WRITEABLE. */
static void
mgmt_respond(struct lws *wsi, struct mgmt_req *r, int status,
    const char *ctype, const char *body, size_t len)
{
	static const unsigned char	 pre[LWS_PRE];

	r->status = status;
	r->ctype = ctype;
	dbuf_init(&r->resp, LWS_PRE + len + 1);
	dbuf_add(&r->resp, pre, LWS_PRE);
	dbuf_add(&r->resp, body, len);
	r->responded = 1;
	lws_callback_on_writable(wsi);
}

static void
mgmt_json(struct lws *wsi, struct mgmt_req *r, int status, const char *msg)
{
	char	buf[256];
	int	n;

	n = snprintf(buf, sizeof buf, "{\"message\":\"%s\"}\n", msg);
	mgmt_respond(wsi, r, status, "application/json", buf, n);
}

static void
mgmt_connection(struct lws *wsi, struct mgmt_req *r, const char *id)
{
	struct conn	*c = conn_find(id, strlen(id));
	struct dbuf	 b;
	char		 ts[40], arg[64];
	const char	*v;
	int		 code = 1000;

	if (c == NULL || c->state != CONN_OPEN || c->wsi == NULL) {
		mgmt_json(wsi, r, 410, "Gone");
		return;
	}
	switch (r->method) {
	case M_POST:
		if (r->too_big) {
			mgmt_json(wsi, r, 413, "frame too large");
			return;
		}
		if (!r->binary && !utf8_valid(r->body.data, r->body.len)) {
			mgmt_json(wsi, r, 400, "text frames must be UTF-8; "
			    "send binary as application/octet-stream");
			return;
		}
		if (c->q_bytes + r->body.len > c->cfg->send_queue_max) {
			mgmt_json(wsi, r, 429, "the connection's send queue "
			    "is full");
			return;
		}
		conn_enqueue(c, r->binary ? CGI_FRAME_BINARY : CGI_FRAME_TEXT,
		    r->body.data, r->body.len);
		metrics.pushes++;
		mgmt_respond(wsi, r, 200, "application/json", "{}\n", 3);
		return;
	case M_GET:
		dbuf_init(&b, 64 * 1024);
		dbuf_printf(&b, "{\"connectionId\":\"%s\",\"connectedAt\":\"%s\"",
		    c->id, iso8601_utc(c->connected_at, ts, sizeof ts));
		dbuf_printf(&b, ",\"lastActiveAt\":\"%s\",\"endpoint\":\"",
		    iso8601_utc(c->last_active, ts, sizeof ts));
		json_escape(&b, c->ep->path, strlen(c->ep->path));
		dbuf_printf(&b, "\",\"identity\":{\"sourceIp\":\"%s\","
		    "\"sourcePort\":%u,\"userAgent\":\"", c->remote_addr,
		    c->remote_port);
		json_escape(&b, c->user_agent, strlen(c->user_agent));
		dbuf_adds(&b, "\",\"principalId\":");
		if (c->identity != NULL) {
			dbuf_addc(&b, '"');
			json_escape(&b, c->identity, strlen(c->identity));
			dbuf_addc(&b, '"');
		} else
			dbuf_adds(&b, "null");
		dbuf_adds(&b, "},\"context\":");
		dbuf_adds(&b, c->context != NULL ? c->context : "null");
		dbuf_adds(&b, ",\"channels\":");
		channel_list(c, &b);
		dbuf_printf(&b, ",\"inflight\":%u,\"queuedBytes\":%zu}\n",
		    c->ninflight, c->q_bytes);
		mgmt_respond(wsi, r, 200, "application/json",
		    (const char *)b.data, b.len);
		dbuf_free(&b);
		return;
	case M_DELETE:
		if ((v = lws_get_urlarg_by_name(wsi, "code=", arg,
		    sizeof arg)) != NULL) {
			code = atoi(v);
			if (code != 1000 && code != 1001 && (code < 3000 ||
			    code > 4999)) {
				mgmt_json(wsi, r, 400, "code must be 1000, "
				    "1001 or 3000-4999");
				return;
			}
		}
		v = lws_get_urlarg_by_name(wsi, "reason=", arg, sizeof arg);
		conn_close(c, code, v != NULL ? v : "");
		mgmt_respond(wsi, r, 204, "application/json", "", 0);
		return;
	default:
		mgmt_json(wsi, r, 405, "Method Not Allowed");
	}
}

static void
mgmt_channel(struct lws *wsi, struct mgmt_req *r, const char *name)
{
	char	buf[64];
	long	n;
	int	len;

	if (r->method != M_POST) {
		mgmt_json(wsi, r, 405, "Method Not Allowed");
		return;
	}
	if (*name == '\0' || strlen(name) > CHANNEL_NAME_MAX) {
		mgmt_json(wsi, r, 400, "bad channel name");
		return;
	}
	if (r->too_big) {
		mgmt_json(wsi, r, 413, "frame too large");
		return;
	}
	if (!r->binary && !utf8_valid(r->body.data, r->body.len)) {
		mgmt_json(wsi, r, 400, "text frames must be UTF-8");
		return;
	}
	n = channel_publish(name, strlen(name), r->binary ? CGI_FRAME_BINARY :
	    CGI_FRAME_TEXT, r->body.data, r->body.len);
	metrics.publishes++;
	len = snprintf(buf, sizeof buf, "{\"delivered\":%ld}\n", n);
	mgmt_respond(wsi, r, 200, "application/json", buf, len);
}

static void
mgmt_handle(struct lws *wsi, struct mgmt_req *r)
{
	struct dbuf	b;

	if (strcmp(r->path, "/healthz") == 0 && r->method == M_GET) {
		if (router->draining)
			mgmt_respond(wsi, r, 503, "text/plain", "draining\n", 9);
		else
			mgmt_respond(wsi, r, 200, "text/plain", "ok\n", 3);
	} else if (strcmp(r->path, "/metrics") == 0 && r->method == M_GET) {
		dbuf_init(&b, 16 << 20);
		metrics_render(&b);
		mgmt_respond(wsi, r, 200, "text/plain; version=0.0.4",
		    (const char *)b.data, b.len);
		dbuf_free(&b);
	} else if (strncmp(r->path, "/@connections/", 14) == 0)
		mgmt_connection(wsi, r, r->path + 14);
	else if (strncmp(r->path, "/@channels/", 11) == 0)
		mgmt_channel(wsi, r, r->path + 11);
	else
		mgmt_json(wsi, r, 404, "Not Found");
}

int
mgmt_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct mgmt_pss	*pss = user;
	struct mgmt_req	*r = pss != NULL ? pss->req : NULL;
	static unsigned char no_store[] = "no-store";
	unsigned char	 hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p;
	unsigned char	*end = hdr + sizeof hdr - 1;
	char		 ct[128], cl[32];
	size_t		 cap;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (pss == NULL)
			return (-1);
		mgmt_free(pss);
		r = pss->req = xcalloc(1, sizeof *r);
		snprintf(r->path, sizeof r->path, "%s", (const char *)in);
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
			r->method = M_GET;
		else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
			r->method = M_POST;
		else if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
			r->method = M_DELETE;
		cap = router->cfg->max_output_frame;
		if (cap < router->cfg->max_message_size)
			cap = router->cfg->max_message_size;
		dbuf_init(&r->body, cap);
		if (lws_hdr_copy(wsi, ct, sizeof ct,
		    WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
		    strncasecmp(ct, "application/octet-stream", 24) == 0)
			r->binary = 1;
		if (r->method == M_POST && lws_hdr_copy(wsi, cl, sizeof cl,
		    WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
			/* lws 4.1 cannot read chunked request bodies. */
			r->close_after = 1;
			mgmt_json(wsi, r, 411, "Content-Length required");
			break;
		}
		if (r->method == M_POST && atoll(cl) == 0) {
			mgmt_handle(wsi, r);	/* no body will come */
			break;
		}
		if (r->method != M_POST)
			mgmt_handle(wsi, r);
		break;
	case LWS_CALLBACK_HTTP_BODY:
		if (r == NULL)
			return (-1);
		if (dbuf_add(&r->body, in, len) == -1)
			r->too_big = 1;
		break;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (r == NULL)
			return (-1);
		if (!r->responded)
			mgmt_handle(wsi, r);
		break;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (r == NULL || !r->responded)
			break;
		p = start;
		if (lws_add_http_common_headers(wsi, r->status, r->ctype,
		    r->resp.len - LWS_PRE, &p, end) ||
		    lws_add_http_header_by_token(wsi,
		    WSI_TOKEN_HTTP_CACHE_CONTROL, no_store, 8, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return (-1);
		if (r->resp.len > LWS_PRE && lws_write(wsi, r->resp.data +
		    LWS_PRE, r->resp.len - LWS_PRE, LWS_WRITE_HTTP_FINAL) < 0)
			return (-1);
		if (r->close_after) {
			mgmt_free(pss);
			return (-1);
		}
		mgmt_free(pss);
		if (lws_http_transaction_completed(wsi))
			return (-1);
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
		mgmt_free(pss);
		break;
	default:
		return (lws_callback_http_dummy(wsi, reason, user, in, len));
	}
	return (0);
}
