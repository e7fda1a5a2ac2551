/* llm.c: stream an answer from the configured model provider (libcurl). */
#include "config.h"

#include <sys/types.h>
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common.h"
#include "chat.h"
#include "llmparse.h"

#define LLM_POLL_MS		50	/* longest wait between two checks of
					   the cancel fd and the clock */

/* One call of llm_stream: everything it owns. */
struct llm_call {
	const struct chat_config *cfg;
	llm_piece_cb		*cb;
	void			*arg;
	struct llm_result	*res;
	int			 stop;		/* res says how it ended */

	CURL			*easy;
	CURLM			*multi;
	struct curl_slist	*headers;
	char			*url;
	char			*body;
	char			 curl_err[CURL_ERROR_SIZE];

	struct llm_sse		 sse;
	struct llm_ndjson	 nd;
	struct llm_text		 text;
	struct dbuf		 piece;		/* the text for the callback */
	struct dbuf		 errbody;	/* a non-2xx body, capped */
	int			 errbody_cut;
	size_t			 answer_len;

	uint64_t		 start_usec;
	uint64_t		 sent_usec;	/* the request went out; 0: not
						   yet */
	uint64_t		 first_usec;	/* the first piece */
	uint64_t		 last_usec;	/* the last piece */
	int			 got_first;
	int			 done;		/* [DONE] or "done": true */
	char			 finish[32];
	long			 tokens;	/* the provider's count; -1 */
	int			 curl_failed;	/* curl_err says why */
};

static pthread_once_t	 llm_once = PTHREAD_ONCE_INIT;

static void	 llm_global_init(void);
static void	 llm_fail(struct llm_call *, enum llm_status, const char *, ...)
		    printflike(3, 4);
static char	*llm_url(const struct chat_config *);
static char	*llm_body(const struct chat_config *, const struct chat_msg *,
		    size_t);
static int	 llm_setup(struct llm_call *);
static void	 llm_run(struct llm_call *, int);
static int	 llm_cancelled(int);
static uint64_t	 llm_deadline(struct llm_call *, uint64_t);
static size_t	 llm_write(char *, size_t, size_t, void *);
static int	 llm_record(void *, const char *, size_t);
static int	 llm_emit(struct llm_call *);
static void	 llm_ended(struct llm_call *, CURLcode);
static void	 llm_http_error(struct llm_call *);
static void	 llm_scrub(char *, const char *);
static void	 llm_url_for_log(const char *, char *, size_t);

static void
llm_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("%s: curl_global_init failed", __func__);
}

const char *
llm_status_name(enum llm_status status)
{
	switch (status) {
	case LLM_OK:
		return ("ok");
	case LLM_CANCELLED:
		return ("cancelled");
	case LLM_UPSTREAM_ERROR:
		return ("upstream_error");
	case LLM_TIMEOUT:
		return ("timeout");
	case LLM_UNREACHABLE:
		return ("unreachable");
	}
	return ("unknown");
}

/* The first failure (or stop) wins; later ones are not recorded. */
static void
llm_fail(struct llm_call *c, enum llm_status status, const char *fmt, ...)
{
	va_list	ap;

	if (c->stop)
		return;
	c->stop = 1;
	c->res->status = status;
	va_start(ap, fmt);
	vsnprintf(c->res->error, sizeof c->res->error, fmt, ap);
	va_end(ap);
	/* Cut at a character boundary, not in the middle of one. */
	c->res->error[utf8_complete_prefix(c->res->error,
	    strlen(c->res->error))] = '\0';
	llm_scrub(c->res->error, c->cfg->llm_api_key);
}

int
llm_stream(const struct chat_config *cfg, const struct chat_msg *msgs,
    size_t nmsgs, int cancel_fd, llm_piece_cb *cb, void *arg,
    struct llm_result *res)
{
	struct llm_call	 c;
	char		 where[256];
	uint64_t	 first_ms = 0;

	memset(res, 0, sizeof *res);
	res->status = LLM_OK;
	pthread_once(&llm_once, llm_global_init);

	memset(&c, 0, sizeof c);
	c.cfg = cfg;
	c.cb = cb;
	c.arg = arg;
	c.res = res;
	c.tokens = -1;
	llmparse_sse_init(&c.sse, LLM_RECORD_MAX);
	llmparse_ndjson_init(&c.nd, LLM_RECORD_MAX);
	llmparse_text_init(&c.text);
	dbuf_init(&c.piece, 3 * (size_t)LLM_RECORD_MAX + 16);
	dbuf_init(&c.errbody, LLM_ERROR_BODY_MAX);

	if ((c.url = llm_url(cfg)) == NULL)
		llm_fail(&c, LLM_UNREACHABLE, "no model server is configured "
		    "(CHAT_LLM_URL)");
	else {
		c.body = llm_body(cfg, msgs, nmsgs);
		llm_url_for_log(c.url, where, sizeof where);
		log_debug("%s: POST %s, model %s, %zu messages, %zu bytes",
		    __func__, where, cfg->llm_model != NULL ? cfg->llm_model :
		    "", nmsgs, strlen(c.body));
		if (llm_setup(&c) == 0)
			llm_run(&c, cancel_fd);
	}

	res->tokens = c.tokens >= 0 ? (int)c.tokens : res->pieces;
	if (c.got_first && c.sent_usec != 0 && c.first_usec > c.sent_usec)
		first_ms = (c.first_usec - c.sent_usec) / 1000;
	if (res->status == LLM_OK || res->status == LLM_CANCELLED)
		log_debug("%s: %s, %d pieces, %d tokens, %zu bytes, first "
		    "piece at %llu ms, finish %s", __func__,
		    llm_status_name(res->status), res->pieces, res->tokens,
		    c.answer_len, (unsigned long long)first_ms,
		    c.finish[0] != '\0' ? c.finish : "-");
	else
		log_warnx("%s: %s after %d pieces (%zu bytes): %s%s%s",
		    __func__, llm_status_name(res->status), res->pieces,
		    c.answer_len, res->error, c.curl_failed ? "; curl: " : "",
		    c.curl_failed ? c.curl_err : "");

	if (c.multi != NULL && c.easy != NULL)
		curl_multi_remove_handle(c.multi, c.easy);
	if (c.easy != NULL)
		curl_easy_cleanup(c.easy);
	if (c.multi != NULL)
		curl_multi_cleanup(c.multi);
	curl_slist_free_all(c.headers);
	free(c.url);
	free(c.body);
	llmparse_sse_free(&c.sse);
	llmparse_ndjson_free(&c.nd);
	dbuf_free(&c.piece);
	dbuf_free(&c.errbody);
	return (res->status == LLM_OK ? 0 : -1);
}

/*
 * The endpoint: {base}/v1/chat/completions, or {base}/chat/completions
 * when the base already ends in /v1; {base}/api/chat for Ollama. NULL if
 * there is no base.
 */
static char *
llm_url(const struct chat_config *cfg)
{
	const char	*base = cfg->llm_base_url;
	char		*url;
	size_t		 len;

	if (base == NULL || *base == '\0')
		return (NULL);
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	if (cfg->provider == LLM_OLLAMA)
		xasprintf(&url, "%.*s/api/chat", (int)len, base);
	else if (len >= 3 && strncmp(base + len - 3, "/v1", 3) == 0)
		xasprintf(&url, "%.*s/chat/completions", (int)len, base);
	else
		xasprintf(&url, "%.*s/v1/chat/completions", (int)len, base);
	return (url);
}

/* The request body (a new string): the model, the messages, the knobs. */
static char *
llm_body(const struct chat_config *cfg, const struct chat_msg *msgs,
    size_t nmsgs)
{
	json_t		*root, *list, *m, *opts;
	struct llm_text	 tx;
	struct dbuf	 clean;
	size_t		 i;
	char		*body;

	root = json_object();
	list = json_array();
	for (i = 0; i < nmsgs; i++) {
		/* Whole UTF-8 without NUL, whatever the store held. */
		dbuf_init(&clean, 3 * msgs[i].len + 16);
		llmparse_text_init(&tx);
		if (llmparse_text_feed(&tx, msgs[i].text, msgs[i].len,
		    &clean) == -1 || llmparse_text_flush(&tx, &clean) == -1)
			fatalx("%s: message %zu does not fit", __func__, i);
		m = json_object();
		json_object_set_new(m, "role", json_string(msgs[i].role));
		json_object_set_new(m, "content",
		    json_stringn((const char *)clean.data, clean.len));
		json_array_append_new(list, m);
		dbuf_free(&clean);
	}
	json_object_set_new(root, "model", json_string(cfg->llm_model != NULL ?
	    cfg->llm_model : ""));
	json_object_set_new(root, "messages", list);
	json_object_set_new(root, "stream", json_true());
	if (cfg->provider == LLM_OLLAMA) {
		opts = json_object();
		json_object_set_new(opts, "temperature",
		    json_real(cfg->temperature));
		if (cfg->max_tokens > 0)
			json_object_set_new(opts, "num_predict",
			    json_integer(cfg->max_tokens));
		json_object_set_new(root, "options", opts);
	} else {
		opts = json_object();
		json_object_set_new(opts, "include_usage", json_true());
		json_object_set_new(root, "stream_options", opts);
		json_object_set_new(root, "temperature",
		    json_real(cfg->temperature));
		if (cfg->max_tokens > 0)
			json_object_set_new(root, "max_tokens",
			    json_integer(cfg->max_tokens));
	}
	if ((body = json_dumps(root, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps failed", __func__);
	json_decref(root);
	return (body);
}

/* The easy and multi handles. 0, or -1 with the call failed. */
static int
llm_setup(struct llm_call *c)
{
	const struct chat_config	*cfg = c->cfg;
	char				*auth;
	CURLcode			 rv = CURLE_OK;

	if ((c->easy = curl_easy_init()) == NULL ||
	    (c->multi = curl_multi_init()) == NULL) {
		llm_fail(c, LLM_UPSTREAM_ERROR, "could not start a transfer");
		return (-1);
	}
	c->headers = curl_slist_append(c->headers,
	    "Content-Type: application/json");
	c->headers = curl_slist_append(c->headers, cfg->provider == LLM_OLLAMA ?
	    "Accept: application/x-ndjson" : "Accept: text/event-stream");
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (cfg->llm_api_key != NULL && *cfg->llm_api_key != '\0') {
		xasprintf(&auth, "Authorization: Bearer %s", cfg->llm_api_key);
		c->headers = curl_slist_append(c->headers, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (c->headers == NULL) {
		llm_fail(c, LLM_UPSTREAM_ERROR, "could not start a transfer");
		return (-1);
	}

	/* Never CURLOPT_VERBOSE: it would log the Authorization header. */
#define SET(opt, val) do {						\
	if (rv == CURLE_OK)						\
		rv = curl_easy_setopt(c->easy, opt, val);		\
} while (0)
	SET(CURLOPT_URL, c->url);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, c->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
	SET(CURLOPT_HTTPHEADER, c->headers);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "-chat/" PACKAGE_VERSION);
	SET(CURLOPT_WRITEFUNCTION, llm_write);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_ERRORBUFFER, c->curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (cfg->connect_timeout_ms > 0)
		SET(CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
#undef SET
	if (rv != CURLE_OK) {
		llm_fail(c, LLM_UPSTREAM_ERROR, "could not set up the "
		    "transfer: %s", curl_easy_strerror(rv));
		return (-1);
	}
	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
		llm_fail(c, LLM_UPSTREAM_ERROR, "could not start a transfer");
		return (-1);
	}
	return (0);
}

/*
 * Drive the transfer until it ends, the caller or the client stops it, or
 * a timeout passes. The cancel fd is checked for POLLRDHUP at least every
 * LLM_POLL_MS, and also waited on with the transfer (readable: the peer
 * closed) until it turns out to have data to read instead.
 */
static void
llm_run(struct llm_call *c, int cancel_fd)
{
	struct curl_waitfd	 extra;
	CURLMsg			*msg;
	CURLMcode		 mc;
	CURLcode		 result = CURLE_OK;
	uint64_t		 now, deadline;
	int			 running = 1, left, finished = 0;
	int			 use_extra = cancel_fd != -1;
	long			 wait;

	c->start_usec = mono_usec();
	for (;;) {
		if ((mc = curl_multi_perform(c->multi, &running)) !=
		    CURLM_OK) {
			llm_fail(c, LLM_UPSTREAM_ERROR, "the transfer failed: "
			    "%s", curl_multi_strerror(mc));
			return;
		}
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE) {
				result = msg->data.result;
				finished = 1;
			}
		}
		if (c->stop)
			return;
		if (finished || running == 0)
			break;
		if (llm_cancelled(cancel_fd)) {
			llm_fail(c, LLM_CANCELLED, "the client went away");
			return;
		}

		now = mono_usec();
		deadline = llm_deadline(c, now);
		if (deadline != 0 && now >= deadline && c->got_first) {
			llm_fail(c, LLM_TIMEOUT, "the model server stalled: "
			    "no text for %ld ms", c->cfg->stall_timeout_ms);
			return;
		}
		if (deadline != 0 && now >= deadline) {
			llm_fail(c, LLM_TIMEOUT, "the model server sent no "
			    "text within %ld ms",
			    c->cfg->first_token_timeout_ms);
			return;
		}
		wait = LLM_POLL_MS;
		if (deadline != 0 && (deadline - now) / 1000 + 1 <
		    (uint64_t)wait)
			wait = (deadline - now) / 1000 + 1;

		memset(&extra, 0, sizeof extra);
		extra.fd = cancel_fd;
		extra.events = CURL_WAIT_POLLIN;
		mc = curl_multi_poll(c->multi, use_extra ? &extra : NULL,
		    use_extra ? 1 : 0, (int)wait, NULL);
		if (mc != CURLM_OK) {
			llm_fail(c, LLM_UPSTREAM_ERROR, "the transfer failed: "
			    "%s", curl_multi_strerror(mc));
			return;
		}
		if (use_extra && extra.revents != 0 &&
		    !llm_cancelled(cancel_fd))
			use_extra = 0;	/* data to read, not a close */
	}
	llm_ended(c, result);
}

/* Has the peer of fd (the router's FastCGI socket) hung up? */
static int
llm_cancelled(int fd)
{
	struct pollfd	pfd;

	if (fd == -1)
		return (0);
	memset(&pfd, 0, sizeof pfd);
	pfd.fd = fd;
	pfd.events = POLLRDHUP;
	if (poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0)
		return (1);
	return (0);
}

/*
 * When the next piece is due (0: no deadline now): the first one counts
 * from the moment the request was sent, later ones from the last piece.
 */
static uint64_t
llm_deadline(struct llm_call *c, uint64_t now)
{
	curl_off_t	t = 0;

	if (c->got_first) {
		if (c->cfg->stall_timeout_ms <= 0)
			return (0);
		return (c->last_usec +
		    1000 * (uint64_t)c->cfg->stall_timeout_ms);
	}
	if (c->cfg->first_token_timeout_ms <= 0)
		return (0);
	if (c->sent_usec == 0) {
		if (curl_easy_getinfo(c->easy, CURLINFO_PRETRANSFER_TIME_T,
		    &t) != CURLE_OK || t <= 0)
			return (0);	/* still connecting */
		c->sent_usec = c->start_usec + t;
		if (c->sent_usec > now)
			c->sent_usec = now;
	}
	return (c->sent_usec + 1000 * (uint64_t)c->cfg->first_token_timeout_ms);
}

/* Bytes of the response body. */
static size_t
llm_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct llm_call		*c = arg;
	size_t			 len = size * nmemb, n;
	enum llmparse_status	 rv;

	if (c->stop)
		return (0);
	if (c->res->http_status == 0)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE,
		    &c->res->http_status);
	if (c->res->http_status < 200 || c->res->http_status > 299) {
		n = len < dbuf_space(&c->errbody) ? len :
		    dbuf_space(&c->errbody);
		dbuf_add(&c->errbody, data, n);
		if (n < len) {
			c->errbody_cut = 1;
			return (0);	/* enough of it */
		}
		return (len);
	}
	if (c->cfg->provider == LLM_OLLAMA)
		rv = llmparse_ndjson_feed(&c->nd, data, len, llm_record, c);
	else
		rv = llmparse_sse_feed(&c->sse, data, len, llm_record, c);
	if (rv == LLMPARSE_TOOLONG)
		llm_fail(c, LLM_UPSTREAM_ERROR, "malformed stream from the "
		    "model server (a line or event over %d bytes)",
		    LLM_RECORD_MAX);
	return (c->stop ? 0 : len);
}

/* One SSE event's data or one NDJSON line. -1 stops the feed. */
static int
llm_record(void *arg, const char *s, size_t len)
{
	struct llm_call		*c = arg;
	struct llm_event	 ev;
	int			 rv;

	memset(&ev, 0, sizeof ev);
	if (c->cfg->provider == LLM_OLLAMA)
		rv = llmparse_ollama(s, len, &ev);
	else
		rv = llmparse_openai(s, len, &ev);
	if (rv == -1) {
		llm_fail(c, LLM_UPSTREAM_ERROR, "malformed stream from the "
		    "model server");
		goto out;
	}
	if (ev.ev_error) {
		llm_fail(c, LLM_UPSTREAM_ERROR, "the model server reported "
		    "an error: %s", ev.ev_message);
		goto out;
	}
	if (ev.ev_tokens >= 0)
		c->tokens = ev.ev_tokens;
	if (ev.ev_finish[0] != '\0')
		memcpy(c->finish, ev.ev_finish, sizeof c->finish);
	if (ev.ev_content != NULL && ev.ev_content_len > 0) {
		c->res->pieces++;
		c->last_usec = mono_usec();
		if (!c->got_first)
			c->first_usec = c->last_usec;
		c->got_first = 1;
		dbuf_reset(&c->piece);
		if (llmparse_text_feed(&c->text, ev.ev_content,
		    ev.ev_content_len, &c->piece) == -1)
			llm_fail(c, LLM_UPSTREAM_ERROR, "malformed stream "
			    "from the model server");
		else if (llm_emit(c) == 0)
			c->last_usec = mono_usec();	/* the callback's time
							   is not a stall */
	}
	if (ev.ev_done && !c->stop) {
		c->done = 1;
		dbuf_reset(&c->piece);
		llmparse_text_flush(&c->text, &c->piece);
		if (llm_emit(c) == 0)
			c->stop = 1;	/* the answer is whole: LLM_OK */
	}
out:
	llmparse_event_clear(&ev);
	return (c->stop ? -1 : 0);
}

/* Hand c->piece to the callback, within the answer's cap. */
static int
llm_emit(struct llm_call *c)
{
	size_t	n = c->piece.len;
	int	cut = 0;

	if (n == 0)
		return (0);
	if (n > LLM_ANSWER_MAX - c->answer_len) {
		n = utf8_complete_prefix(c->piece.data,
		    LLM_ANSWER_MAX - c->answer_len);
		cut = 1;
	}
	if (n > 0 && c->cb(c->arg, dbuf_str(&c->piece), n) == -1) {
		llm_fail(c, LLM_CANCELLED, "the answer was stopped");
		return (-1);
	}
	c->answer_len += n;
	if (cut) {
		log_info("%s: the answer reached %d bytes, stopped as length",
		    __func__, LLM_ANSWER_MAX);
		snprintf(c->finish, sizeof c->finish, "length");
		c->done = 1;
		c->stop = 1;	/* LLM_OK */
		return (-1);
	}
	return (0);
}

/* The transfer ended by itself: say how. */
static void
llm_ended(struct llm_call *c, CURLcode result)
{
	long	status = c->res->http_status;

	if (status == 0)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	c->res->http_status = status;
	if (status != 0 && (status < 200 || status > 299) &&
	    (result == CURLE_OK || c->errbody_cut)) {
		llm_http_error(c);
		return;
	}
	c->curl_failed = result != CURLE_OK && c->curl_err[0] != '\0';
	switch (result) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		llm_fail(c, LLM_UNREACHABLE, "could not resolve the model "
		    "server's host name");
		return;
	case CURLE_COULDNT_CONNECT:
		llm_fail(c, LLM_UNREACHABLE, "could not connect to the model "
		    "server");
		return;
	case CURLE_OPERATION_TIMEDOUT:
		/* Only the connect timeout is set on the handle. */
		llm_fail(c, LLM_TIMEOUT, "could not connect to the model "
		    "server in %ld ms", c->cfg->connect_timeout_ms);
		return;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		llm_fail(c, LLM_UNREACHABLE, "TLS with the model server "
		    "failed: %s", curl_easy_strerror(result));
		return;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		llm_fail(c, LLM_UNREACHABLE, "the model server's URL is not "
		    "usable (CHAT_LLM_URL)");
		return;
	case CURLE_GOT_NOTHING:
		llm_fail(c, LLM_UPSTREAM_ERROR, "the model server closed the "
		    "connection without an answer");
		return;
	default:
		llm_fail(c, LLM_UPSTREAM_ERROR, "the connection to the model "
		    "server broke: %s", curl_easy_strerror(result));
		return;
	}

	/* A clean end of the body: was the answer whole? */
	if (c->cfg->provider == LLM_OLLAMA &&
	    llmparse_ndjson_finish(&c->nd, llm_record, c) ==
	    LLMPARSE_TOOLONG)
		llm_fail(c, LLM_UPSTREAM_ERROR, "malformed stream from the "
		    "model server");
	if (c->stop)
		return;
	if (c->done || (c->cfg->provider != LLM_OLLAMA &&
	    c->finish[0] != '\0')) {
		/* Some OpenAI-compatible servers end without [DONE]. */
		dbuf_reset(&c->piece);
		llmparse_text_flush(&c->text, &c->piece);
		if (llm_emit(c) == 0)
			c->stop = 1;
		return;
	}
	llm_fail(c, LLM_UPSTREAM_ERROR, "the model server ended the stream "
	    "before the answer was complete");
}

/* A non-2xx answer: its error message, if it has a usable one. */
static void
llm_http_error(struct llm_call *c)
{
	char	msg[200];
	long	status = c->res->http_status;

	if (status == 401 || status == 403) {
		/* These quote the key back, in part: say nothing of it. */
		llm_fail(c, LLM_UPSTREAM_ERROR, "the model server refused "
		    "our credentials (HTTP %ld)", status);
		return;
	}
	if (llmparse_error_body((const char *)c->errbody.data, c->errbody.len,
	    msg, sizeof msg) == 0)
		llm_fail(c, LLM_UPSTREAM_ERROR, "the model server answered "
		    "HTTP %ld: %s", status, msg);
	else
		llm_fail(c, LLM_UPSTREAM_ERROR, "the model server answered "
		    "HTTP %ld", status);
}

/* Blank out the key, and anything that looks like an OpenAI key, in s. */
static void
llm_scrub(char *s, const char *key)
{
	char	*p;
	size_t	 klen;

	if (key != NULL && (klen = strlen(key)) >= 4) {
		while ((p = strstr(s, key)) != NULL)
			memset(p, '*', klen);
	}
	for (p = s; (p = strstr(p, "sk-")) != NULL; ) {
		if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '-' ||
		    p[-1] == '_')) {
			p += 3;
			continue;	/* "task-" is no key */
		}
		p += 3;
		while (*p != '\0' && *p != ' ' && *p != '.' && *p != ',' &&
		    *p != '"' && *p != '\'')
			*p++ = '*';
	}
}

/* The URL without user, password or query, for the log. */
static void
llm_url_for_log(const char *url, char *buf, size_t size)
{
	CURLU	*u;
	char	*out = NULL;

	snprintf(buf, size, "(the configured URL)");
	if ((u = curl_url()) == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		snprintf(buf, size, "%s", out);
	curl_free(out);
	curl_url_cleanup(u);
}
