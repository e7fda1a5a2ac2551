/*
 * fcgi_client.c: the non-blocking FastCGI client that runs inside the lws
 * loop. A pool is a set of handler addresses with a concurrency limit and a
 * bounded wait queue; an invocation is one event sent as one FastCGI
 * request, whose response is parsed as it streams in and handed to its
 * connection frame by frame.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#define LWS_PROTOCOL_CALLBACKS
#include "wsrouter.h"

#define ADDR_DOWN_USEC		(1000 * 1000)	/* skip a refusing address */
#define DISCONNECT_RETRIES	5
#define DISCONNECT_RETRY_USEC	(300 * 1000)
#define PARAMS_CAP		(256 * 1024)

enum inv_state {
	INV_NEW,
	INV_QUEUED,
	INV_RETRY_WAIT,		/* DISCONNECT waiting to try again */
	INV_CONNECTING,
	INV_SENDING,
	INV_WAITING,		/* request sent, no byte back yet */
	INV_STREAMING,
	INV_DONE
};

struct fcgi_conn {
	struct lws		*wsi;
	int			 fd;
	struct pool		*pool;
	struct invocation	*inv;
	int			 connected;
	int			 reused;
	struct fcgi_conn	*next;		/* idle list */
};

struct pool_state {
	unsigned		 inflight;
	unsigned		 queued;
	struct invocation	*q_head;
	struct invocation	*q_tail;
	struct fcgi_conn	*idle;
	unsigned		 nidle;
	unsigned		 next_addr;
	uint64_t		*down_until;	/* per address, mono usec */
};

struct invocation {
	struct conn		*conn;		/* NULL when detached */
	struct invocation	*cnext;
	struct invocation	*cprev;
	struct invocation	*qnext;
	struct pool		*pool;
	struct config		*cfg;		/* a reference */
	enum inv_event		 event;
	enum inv_state		 state;
	int			 counted;	/* holds a concurrency slot */
	char			 request_id[24];
	char			 route[ROUTE_KEY_MAX];
	struct dbuf		 params;
	struct dbuf		 req;
	size_t			 req_off;
	struct fcgi_conn	*fc;
	struct fcgi_parser	 fp;
	struct cgi_parser	 cp;
	int			 ended;		/* END_REQUEST seen */
	int			 got_headers;
	int			 discard;	/* rejected CONNECT: drop frames */
	int			 status;
	int			 paused;
	unsigned		 addr_tries;
	unsigned		 retries;
	uint64_t		 rx_bytes;
	uint64_t		 t_submit;
	uint64_t		 t_first;
	uint64_t		 t_last_rx;
	struct timerq_entry	 timer;
};

static struct pool_state *pool_state(struct pool *);
static void	 pool_kick(struct pool *);
static void	 inv_start(struct invocation *);
static void	 inv_connect_next(struct invocation *);
static void	 inv_attach(struct invocation *, struct fcgi_conn *);
static void	 inv_arm(struct invocation *, uint64_t);
static void	 inv_timer(struct timerq_entry *);
static void	 inv_fail(struct invocation *, enum err_kind, const char *);
static void	 inv_finish(struct invocation *, const char *);
static void	 inv_complete(struct invocation *);
static void	 inv_detach_fc(struct invocation *, int);
static void	 inv_unqueue(struct invocation *);
static int	 inv_write(struct invocation *);
static void	 inv_control(struct invocation *, const unsigned char *,
		     size_t, int);
static void	 fc_kill(struct fcgi_conn *);
static int	 on_stdout(void *, const unsigned char *, size_t);
static int	 on_stderr(void *, const unsigned char *, size_t);
static int	 on_end(void *, uint32_t, uint8_t);
static int	 on_headers(void *, const struct cgi_headers *);
static int	 on_frame(void *, enum cgi_frame, const unsigned char *, size_t);

static const struct fcgi_parser_cb fcgi_cb = { on_stdout, on_stderr, on_end };
static const struct cgi_parser_cb cgi_cb = { on_headers, on_frame };

static const char *const inv_event_names[] = {
	"CONNECT", "MESSAGE", "DISCONNECT"
};

static struct pool_state *
pool_state(struct pool *p)
{
	if (p->state == NULL) {
		p->state = xcalloc(1, sizeof *p->state);
		p->state->down_until = xcalloc(p->naddrs, sizeof (uint64_t));
	}
	return (p->state);
}

void
pool_state_free(struct pool *p)
{
	struct pool_state	*ps = p->state;
	struct fcgi_conn	*fc;

	if (ps == NULL)
		return;
	while ((fc = ps->idle) != NULL) {
		ps->idle = fc->next;
		fc->pool = NULL;
		fc_kill(fc);
	}
	free(ps->down_until);
	free(ps);
	p->state = NULL;
}

void
pool_stats(const struct pool *p, unsigned *inflight, unsigned *queued)
{
	*inflight = p->state != NULL ? p->state->inflight : 0;
	*queued = p->state != NULL ? p->state->queued : 0;
}

/* A new invocation; linked to c when c is not NULL. */
struct invocation *
inv_new(struct conn *c, struct config *cfg, struct pool *p, enum inv_event ev,
    const char *route)
{
	struct invocation	*inv;

	inv = xcalloc(1, sizeof *inv);
	inv->conn = c;
	inv->pool = p;
	inv->event = ev;
	inv->cfg = cfg;
	config_ref(inv->cfg);
	snprintf(inv->route, sizeof inv->route, "%s", route);
	snprintf(inv->request_id, sizeof inv->request_id, "%08x%08llx",
	    (unsigned)(router->started_at / 1000000),
	    (unsigned long long)++router->next_request);
	dbuf_init(&inv->params, PARAMS_CAP);
	dbuf_init(&inv->req, SIZE_MAX / 2);
	router->ninvocations++;
	if (c != NULL) {
		inv->cnext = c->inv_head;
		if (c->inv_head != NULL)
			c->inv_head->cprev = inv;
		c->inv_head = inv;
		c->ninflight++;
		if (ev == INV_MESSAGE)
			c->nmessages++;
	}
	inv_add_param_str(inv, "WS_EVENT", inv_event_names[ev]);
	inv_add_param_str(inv, "WS_REQUEST_ID", inv->request_id);
	inv_add_param_str(inv, "WS_ROUTE_KEY", inv->route);
	return (inv);
}

struct invocation *
inv_cnext(struct invocation *inv)
{
	return (inv->cnext);
}

void
inv_add_param(struct invocation *inv, const char *name, const void *value,
    size_t len)
{
	if (fcgi_param(&inv->params, name, strlen(name), value, len) == -1)
		log_warnx("%s: %s: params too large, %s dropped", __func__,
		    inv->request_id, name);
}

void
inv_add_param_str(struct invocation *inv, const char *name, const char *value)
{
	inv_add_param(inv, name, value, strlen(value));
}

void
inv_add_paramf(struct invocation *inv, const char *name, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	inv_add_param(inv, name, s, n);
	free(s);
}

/* Encode the request and hand it to the pool. */
void
inv_submit(struct invocation *inv, const void *in, size_t len)
{
	struct pool		*p = inv->pool;
	struct pool_state	*ps = pool_state(p);

	inv_add_paramf(inv, "CONTENT_LENGTH", "%zu", len);
	for (size_t i = 0; i < p->nparams; i++)
		inv_add_param_str(inv, p->params[i].name, p->params[i].value);

	fcgi_begin_request(&inv->req, 1, p->keepalive);
	fcgi_stream(&inv->req, FCGI_PARAMS, 1, inv->params.data,
	    inv->params.len);
	fcgi_stream(&inv->req, FCGI_PARAMS, 1, NULL, 0);
	if (len != 0)
		fcgi_stream(&inv->req, FCGI_STDIN, 1, in, len);
	fcgi_stream(&inv->req, FCGI_STDIN, 1, NULL, 0);
	dbuf_free(&inv->params);
	fcgi_parser_init(&inv->fp, 1);
	cgi_parser_init(&inv->cp, inv->cfg->max_output_frame);

	inv->t_submit = mono_usec();
	if (ps->inflight < p->concurrency) {
		inv_start(inv);
		return;
	}
	if (ps->queued >= p->queue) {
		inv_fail(inv, ERR_BUSY, "the handler pool is busy");
		return;
	}
	inv->state = INV_QUEUED;
	if (ps->q_tail != NULL)
		ps->q_tail->qnext = inv;
	else
		ps->q_head = inv;
	ps->q_tail = inv;
	ps->queued++;
	inv_arm(inv, inv->t_submit + (uint64_t)p->queue_timeout_ms * 1000);
}

/* Start queued invocations while the pool has free slots. */
static void
pool_kick(struct pool *p)
{
	struct pool_state	*ps = p->state;
	struct invocation	*inv;

	while (ps != NULL && ps->q_head != NULL &&
	    ps->inflight < p->concurrency) {
		inv = ps->q_head;
		inv_unqueue(inv);
		inv_start(inv);
	}
}

static void
inv_unqueue(struct invocation *inv)
{
	struct pool_state	*ps = inv->pool->state;
	struct invocation	**pp, *prev = NULL;

	for (pp = &ps->q_head; *pp != NULL; pp = &(*pp)->qnext) {
		if (*pp == inv) {
			*pp = inv->qnext;
			if (ps->q_tail == inv)
				ps->q_tail = prev;
			ps->queued--;
			inv->qnext = NULL;
			return;
		}
		prev = *pp;
	}
}

static void
inv_start(struct invocation *inv)
{
	struct pool_state	*ps = pool_state(inv->pool);
	struct fcgi_conn	*fc;

	if (!inv->counted) {
		inv->counted = 1;
		ps->inflight++;
	}
	inv->addr_tries = 0;
	if ((fc = ps->idle) != NULL) {
		ps->idle = fc->next;
		ps->nidle--;
		fc->next = NULL;
		fc->reused = 1;
		inv_attach(inv, fc);
		return;
	}
	inv_connect_next(inv);
}

/* Use a connected (idle) FastCGI connection for this invocation. */
static void
inv_attach(struct invocation *inv, struct fcgi_conn *fc)
{
	fc->inv = inv;
	inv->fc = fc;
	inv->state = INV_SENDING;
	inv->req_off = 0;
	inv_arm(inv, mono_usec() +
	    (uint64_t)inv->pool->first_byte_timeout_ms * 1000);
	/*
	 * An idle connection takes the request at once: asking lws for
	 * POLLOUT first cost two epoll_ctl calls and a turn of the loop per
	 * request. On an error the WRITEABLE callback tries again and fails
	 * the connection the usual way.
	 */
	if (inv_write(inv) == -1)
		lws_callback_on_writable(fc->wsi);
}

/* Open a connection to the next address that may be up. */
static void
inv_connect_next(struct invocation *inv)
{
	struct pool		*p = inv->pool;
	struct pool_state	*ps = pool_state(p);
	struct pool_addr	*a;
	struct fcgi_conn	*fc;
	lws_adopt_desc_t	 ad;
	uint64_t		 now = mono_usec();
	unsigned		 i, idx;
	int			 fd, one = 1;

	while (inv->addr_tries < p->naddrs) {
		/* Prefer addresses not marked down; fall back to any. */
		idx = ps->next_addr++ % p->naddrs;
		for (i = 0; i < p->naddrs; i++) {
			unsigned j = (idx + i) % p->naddrs;
			if (ps->down_until[j] <= now) {
				idx = j;
				break;
			}
		}
		inv->addr_tries++;
		a = &p->addrs[idx];
		fd = socket(a->ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			log_warn("%s: socket", __func__);
			break;
		}
		if (a->ss.ss_family != AF_UNIX)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof one);
		if (connect(fd, (struct sockaddr *)&a->ss, a->sslen) == -1 &&
		    errno != EINPROGRESS) {
			log_debug("%s: pool %s: %s: %s", __func__, p->name,
			    a->text, strerror(errno));
			ps->down_until[idx] = now + ADDR_DOWN_USEC;
			close(fd);
			continue;
		}
		fc = xcalloc(1, sizeof *fc);
		fc->fd = fd;
		fc->pool = p;
		fc->inv = inv;
		memset(&ad, 0, sizeof ad);
		ad.vh = router->vh_ws;
		ad.type = LWS_ADOPT_SOCKET;
		ad.fd.sockfd = fd;
		ad.vh_prot_name = "wsrouter-fcgi";
		ad.opaque = fc;
		inv->fc = fc;
		inv->state = INV_CONNECTING;
		if ((fc->wsi = lws_adopt_descriptor_vhost_via_info(&ad)) ==
		    NULL) {
			/* lws closed fd */
			log_warnx("%s: pool %s: cannot adopt socket", __func__,
			    p->name);
			inv->fc = NULL;
			free(fc);
			break;
		}
		inv_arm(inv, now + (uint64_t)p->connect_timeout_ms * 1000);
		lws_callback_on_writable(fc->wsi);
		return;
	}
	inv_fail(inv, ERR_HANDLER_UNAVAILABLE,
	    "no handler of the pool accepted the connection");
}

static void
inv_arm(struct invocation *inv, uint64_t deadline)
{
	timerq_arm(&inv->timer, deadline, inv_timer);
}

static void
inv_timer(struct timerq_entry *t)
{
	struct invocation	*inv = lws_container_of(t,
				    struct invocation, timer);
	struct pool		*p = inv->pool;
	uint64_t		 now = mono_usec(), deadline;

	switch (inv->state) {
	case INV_QUEUED:
		inv_unqueue(inv);
		inv_fail(inv, ERR_BUSY,
		    "no handler became free within the queue timeout");
		break;
	case INV_RETRY_WAIT:
		inv_start(inv);
		break;
	case INV_CONNECTING:
		log_debug("%s: %s: connect timeout", __func__,
		    inv->request_id);
		inv_detach_fc(inv, 1);
		inv_connect_next(inv);
		break;
	case INV_SENDING:
	case INV_WAITING:
		inv_fail(inv, ERR_HANDLER_TIMEOUT,
		    "the handler did not answer in time");
		break;
	case INV_STREAMING:
		/* While we hold the handler back, its silence is ours. */
		if (inv->paused) {
			inv->t_last_rx = now;
			inv_arm(inv, now + (uint64_t)p->idle_timeout_ms * 1000);
			break;
		}
		deadline = inv->t_last_rx + (uint64_t)p->idle_timeout_ms * 1000;
		if (now >= deadline) {
			inv_fail(inv, ERR_HANDLER_TIMEOUT,
			    "the handler stopped sending");
			break;
		}
		inv_arm(inv, deadline);
		break;
	default:
		break;
	}
}

/* Stop or resume reading this invocation's handler socket. */
void
inv_set_paused(struct invocation *inv, int paused)
{
	if (inv->paused == paused)
		return;
	inv->paused = paused;
	if (inv->fc != NULL && inv->fc->wsi != NULL)
		lws_rx_flow_control(inv->fc->wsi, paused ? 0 : 1);
}

/* The client went away: drop the invocation and close its socket. */
void
inv_cancel(struct invocation *inv)
{
	if (inv->conn != NULL)
		conn_invocation_done(inv->conn, inv);
	inv_finish(inv, "cancelled");
}

/* Release the socket: kill it, or keep it for the next request. */
static void
inv_detach_fc(struct invocation *inv, int kill)
{
	struct fcgi_conn	*fc = inv->fc;
	struct pool_state	*ps;

	if (fc == NULL)
		return;
	inv->fc = NULL;
	fc->inv = NULL;
	if (inv->paused && fc->wsi != NULL)
		lws_rx_flow_control(fc->wsi, 1);
	ps = fc->pool != NULL ? fc->pool->state : NULL;
	if (!kill && ps != NULL && fc->pool->keepalive &&
	    ps->nidle < fc->pool->concurrency) {
		fc->next = ps->idle;
		ps->idle = fc;
		ps->nidle++;
		return;
	}
	fc_kill(fc);
}

/* Close a FastCGI socket from outside its own callback. */
static void
fc_kill(struct fcgi_conn *fc)
{
	fc->inv = NULL;
	if (fc->wsi != NULL) {
		shutdown(fc->fd, SHUT_RDWR);	/* the handler sees it now */
		lws_set_timeout(fc->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	}
}

static void
inv_fail(struct invocation *inv, enum err_kind kind, const char *msg)
{
	struct conn	*c = inv->conn;

	metrics_error(kind);
	log_info("%s: %s %s route %s pool %s: %s", __func__,
	    inv_event_names[inv->event], inv->request_id, inv->route,
	    inv->pool->name, msg);

	if (inv->event == INV_DISCONNECT && kind == ERR_HANDLER_UNAVAILABLE &&
	    inv->retries < DISCONNECT_RETRIES && !router->exiting) {
		/* Not delivered: try again a little later. */
		inv->retries++;
		inv_detach_fc(inv, 1);
		if (inv->counted) {
			inv->counted = 0;
			inv->pool->state->inflight--;
		}
		inv->state = INV_RETRY_WAIT;
		inv_arm(inv, mono_usec() + DISCONNECT_RETRY_USEC);
		pool_kick(inv->pool);
		return;
	}
	if (c != NULL) {
		if (inv->event == INV_CONNECT && c->state == CONN_CONNECTING)
			conn_reject(c, kind == ERR_BUSY ? 1013 : 1011, msg);
		else if (inv->event != INV_DISCONNECT && !inv->discard)
			conn_send_error(c, err_kind_name(kind), msg, inv->route,
			    inv->request_id, 0);
	}
	inv_finish(inv, err_kind_name(kind));
}

/* The one destructor: every path of an invocation ends here. */
static void
inv_finish(struct invocation *inv, const char *outcome)
{
	struct pool	*p = inv->pool;
	struct conn	*c = inv->conn;
	uint64_t	 now = mono_usec();

	timerq_cancel(&inv->timer);
	if (inv->state == INV_QUEUED)
		inv_unqueue(inv);
	inv_detach_fc(inv, !(inv->ended && inv->got_headers));
	inv->state = INV_DONE;
	metrics_invocation(inv->route, inv->status, outcome,
	    inv->t_first != 0 ? inv->t_first - inv->t_submit : 0,
	    now - inv->t_submit);
	if (c != NULL)
		conn_invocation_done(c, inv);
	if (inv->counted) {
		inv->counted = 0;
		p->state->inflight--;
	}
	cgi_parser_free(&inv->cp);
	dbuf_free(&inv->params);
	dbuf_free(&inv->req);
	pool_kick(p);
	config_unref(inv->cfg);
	free(inv);
	router->ninvocations--;
	router_check_drained();
}

/* Unlink an invocation from its connection's list (called by conn.c). */
void
conn_invocation_done(struct conn *c, struct invocation *inv)
{
	if (inv->cprev != NULL)
		inv->cprev->cnext = inv->cnext;
	else if (c->inv_head == inv)
		c->inv_head = inv->cnext;
	if (inv->cnext != NULL)
		inv->cnext->cprev = inv->cprev;
	inv->cnext = inv->cprev = NULL;
	inv->conn = NULL;
	c->ninflight--;
	if (inv->event == INV_MESSAGE)
		c->nmessages--;
	conn_drain(c);
}

/* Write as much of the request as the socket takes. */
static int
inv_write(struct invocation *inv)
{
	struct fcgi_conn	*fc = inv->fc;
	ssize_t			 n;

	while (inv->req_off < inv->req.len) {
		n = send(fc->fd, inv->req.data + inv->req_off,
		    inv->req.len - inv->req_off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				lws_callback_on_writable(fc->wsi);
				return (0);
			}
			return (-1);
		}
		inv->req_off += n;
	}
	if (inv->state == INV_SENDING)
		inv->state = INV_WAITING;
	return (0);
}

/* END_REQUEST arrived: flush the body and account. */
static void
inv_complete(struct invocation *inv)
{
	struct conn	*c = inv->conn;
	char		 msg[96];

	if (!inv->got_headers || cgi_finish(&inv->cp, &cgi_cb, inv) == -1) {
		inv_fail(inv, ERR_HANDLER_ERROR,
		    "the handler sent an incomplete response");
		return;
	}
	if (c != NULL && inv->event == INV_MESSAGE &&
	    (inv->status < 200 || inv->status > 299)) {
		metrics_error(ERR_HANDLER_STATUS);
		snprintf(msg, sizeof msg, "the handler answered %d",
		    inv->status);
		conn_send_error(c, "handler_status", msg, inv->route,
		    inv->request_id, inv->status);
	}
	inv_finish(inv, "ok");
}

static int
on_stdout(void *arg, const unsigned char *data, size_t len)
{
	struct invocation	*inv = arg;

	if (cgi_parse(&inv->cp, data, len, &cgi_cb, inv) == -1) {
		log_info("%s: %s: %s", __func__, inv->request_id,
		    inv->cp.error != NULL ? inv->cp.error : "callback");
		return (-1);
	}
	return (0);
}

static int
on_stderr(void *arg, const unsigned char *data, size_t len)
{
	struct invocation	*inv = arg;
	size_t			 n = len;

	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (n > 0)
		log_warnx("handler %s (%s): %.*s", inv->pool->name,
		    inv->request_id, (int)(n > 512 ? 512 : n), data);
	return (0);
}

static int
on_end(void *arg, uint32_t app_status, uint8_t proto_status)
{
	struct invocation	*inv = arg;

	inv->ended = 1;
	if (proto_status != FCGI_REQUEST_COMPLETE) {
		log_warnx("%s: %s: protocol status %u", __func__,
		    inv->request_id, proto_status);
		inv->got_headers = 0;	/* makes it a handler error */
	}
	return (0);
}

static int
on_headers(void *arg, const struct cgi_headers *h)
{
	struct invocation	*inv = arg;
	struct conn		*c = inv->conn;
	char			 reason[CLOSE_REASON_MAX + 1];
	int			 code;

	inv->got_headers = 1;
	inv->status = h->status;
	if (c == NULL || inv->event != INV_CONNECT)
		return (0);
	if (h->status >= 200 && h->status <= 299) {
		conn_accept(c, h->identity, h->identity_len, h->context,
		    h->context_len);
		return (0);
	}
	code = h->status >= 400 && h->status <= 599 ? 4000 + h->status : 4500;
	snprintf(reason, sizeof reason, "%s", h->reason[0] != '\0' ?
	    h->reason : "rejected");
	metrics_error(ERR_CONNECT_REJECTED);
	conn_reject(c, code, reason);
	inv->discard = 1;
	return (0);
}

static int
on_frame(void *arg, enum cgi_frame kind, const unsigned char *data,
    size_t len)
{
	struct invocation	*inv = arg;
	struct conn		*c = inv->conn;
	char			 reason[CLOSE_REASON_MAX + 1];
	int			 code = 1000;
	size_t			 rlen;

	if (c == NULL || inv->discard || c->state >= CONN_CLOSING) {
		/* Counts still count: a DISCONNECT handler's, for one. */
		if (kind == CGI_FRAME_CONTROL)
			inv_control(inv, data, len, 0);
		return (0);
	}
	switch (kind) {
	case CGI_FRAME_TEXT:
	case CGI_FRAME_BINARY:
		conn_enqueue(c, kind, data, len);
		break;
	case CGI_FRAME_CLOSE:
		if (len >= 2)
			code = data[0] << 8 | data[1];
		if (code != 1000 && code != 1001 && (code < 3000 ||
		    code > 4999))
			code = 1000;
		rlen = len > 2 ? len - 2 : 0;
		if (rlen > CLOSE_REASON_MAX)
			rlen = CLOSE_REASON_MAX;
		memcpy(reason, data + 2 * (len >= 2), rlen);
		reason[rlen] = '\0';
		conn_close(c, code, reason);
		break;
	case CGI_FRAME_CONTROL:
		inv_control(inv, data, len, 1);
		break;
	}
	return (0);
}

/*
 * A CONTROL event: join, leave, set-context, count or close. When the
 * connection is gone or closing (live is 0), only counts apply.
 */
static void
inv_control(struct invocation *inv, const unsigned char *data, size_t len,
    int live)
{
	struct conn	*c = inv->conn;
	json_t		*j, *v;
	json_error_t	 jerr;
	const char	*type, *s;
	char		*ctx;
	json_int_t	 by;
	int		 code;

	if ((j = json_loadb((const char *)data, len, 0, &jerr)) == NULL ||
	    !json_is_object(j) ||
	    (type = json_string_value(json_object_get(j, "type"))) == NULL) {
		log_warnx("%s: %s: invalid control message", __func__,
		    inv->request_id);
		json_decref(j);
		return;
	}
	if (!live && strcmp(type, "count") != 0) {
		json_decref(j);
		return;
	}
	if (strcmp(type, "join") == 0 || strcmp(type, "leave") == 0) {
		v = json_object_get(j, "channel");
		s = json_string_value(v);
		if (s == NULL || json_string_length(v) == 0 ||
		    json_string_length(v) > CHANNEL_NAME_MAX)
			log_warnx("%s: %s: %s: bad channel name", __func__,
			    inv->request_id, type);
		else if (type[0] == 'j')
			channel_join(c, s, json_string_length(v));
		else
			channel_leave(c, s, json_string_length(v));
	} else if (strcmp(type, "set-context") == 0) {
		v = json_object_get(j, "context");
		ctx = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
		if (ctx == NULL || strlen(ctx) > CONTEXT_MAX)
			log_warnx("%s: %s: set-context needs an object of at "
			    "most %d bytes", __func__, inv->request_id,
			    CONTEXT_MAX);
		else
			conn_set_context(c, ctx, strlen(ctx));
		free(ctx);
	} else if (strcmp(type, "count") == 0) {
		v = json_object_get(j, "by");
		by = v == NULL ? 1 : json_integer_value(v);
		s = json_string_value(json_object_get(j, "name"));
		if (s == NULL || by < 1 || by > 1000000 ||
		    metrics_app_count(inv->pool->name, s, (uint64_t)by) != 0)
			log_warnx("%s: %s: count needs a name of [a-z0-9_] "
			    "and a \"by\" of 1 to 1000000", __func__,
			    inv->request_id);
	} else if (strcmp(type, "close") == 0) {
		code = (int)json_integer_value(json_object_get(j, "code"));
		if (code != 1000 && code != 1001 && (code < 3000 ||
		    code > 4999))
			code = 1000;
		s = json_string_value(json_object_get(j, "reason"));
		conn_close(c, code, s != NULL ? s : "");
	} else
		log_info("%s: %s: unknown control type %s ignored", __func__,
		    inv->request_id, type);
	json_decref(j);
}

/* The raw protocol for FastCGI sockets. */
int
fcgi_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct fcgi_conn	*fc = lws_get_opaque_user_data(wsi);
	struct invocation	*inv = fc != NULL ? fc->inv : NULL;
	struct pool_state	*ps;
	struct fcgi_conn	**pp;
	socklen_t		 sl;
	int			 err = 0, first;

	switch (reason) {
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (inv == NULL)
			break;
		if (!fc->connected) {
			sl = sizeof err;
			if (getsockopt(fc->fd, SOL_SOCKET, SO_ERROR, &err,
			    &sl) == -1 || err != 0)
				return (-1);	/* RAW_CLOSE tries the next */
			fc->connected = 1;
			inv->state = INV_SENDING;
			inv_arm(inv, mono_usec() +
			    (uint64_t)inv->pool->first_byte_timeout_ms * 1000);
		}
		if (inv_write(inv) == -1)
			return (-1);
		break;
	case LWS_CALLBACK_RAW_RX:
		if (inv == NULL)
			return (-1);	/* an idle socket has nothing to say */
		inv->t_last_rx = mono_usec();
		first = inv->rx_bytes == 0;
		if (first) {
			inv->t_first = inv->t_last_rx;
			inv->state = INV_STREAMING;
			dbuf_free(&inv->req);
		}
		inv->rx_bytes += len;
		if (fcgi_parse(&inv->fp, in, len, &fcgi_cb, inv) == -1) {
			if (inv->fp.error != NULL)
				log_info("%s: %s: %s", __func__,
				    inv->request_id, inv->fp.error);
			inv_fail(inv, ERR_HANDLER_ERROR,
			    "the handler sent a malformed response");
			return (0);	/* inv_finish closes the socket */
		}
		if (inv->ended) {
			/* Either kept for reuse or closed by inv_finish. */
			inv_complete(inv);
			return (0);
		}
		/*
		 * Armed once: later reads only move t_last_rx, and inv_timer
		 * arms again from it. Rescheduling on every read would walk
		 * lws's sorted timer list each time.
		 */
		if (first)
			inv_arm(inv, inv->t_last_rx +
			    (uint64_t)inv->pool->idle_timeout_ms * 1000);
		break;
	case LWS_CALLBACK_RAW_CLOSE:
		if (fc == NULL)
			break;
		lws_set_opaque_user_data(wsi, NULL);
		fc->wsi = NULL;
		if (fc->pool != NULL && (ps = fc->pool->state) != NULL) {
			for (pp = &ps->idle; *pp != NULL; pp = &(*pp)->next) {
				if (*pp == fc) {
					*pp = fc->next;
					ps->nidle--;
					break;
				}
			}
		}
		if (inv != NULL) {
			inv->fc = NULL;
			if (inv->state == INV_CONNECTING) {
				inv_connect_next(inv);
			} else if (fc->reused && inv->rx_bytes == 0 &&
			    inv->retries++ == 0) {
				/* A kept socket the handler had closed. */
				inv->addr_tries = 0;
				inv_connect_next(inv);
			} else if (inv->state == INV_SENDING && inv->req_off == 0) {
				inv_connect_next(inv);
			} else
				inv_fail(inv, ERR_HANDLER_ERROR,
				    "the handler closed the connection before "
				    "completing the response");
		}
		free(fc);
		break;
	default:
		break;
	}
	return (0);
}
