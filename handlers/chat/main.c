/*
 * main.c: wsrouter-chat, the chat protocol's CONNECT, MESSAGE and
 * DISCONNECT (docs/chat-protocol.md, docs/chat-handler.md).
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <wsrouter/wsh.h>

#include "common.h"
#include "chat.h"

#define WEBHOOK_THREADS_MAX	16
#define EXCERPT_MAX		200

/* One streamed answer: what went out, so the stored text matches it. */
struct answer {
	struct wsh_event	*ev;
	struct dbuf		 text;
	int			 client_gone;
};

/* A webhook call running on its own thread, off the answer's path. */
struct notify {
	char	*body;
	char	 escalation_id[64];
};

static struct chat_config	 cfg;
static struct safety_lexicon	*lexicon;
static struct jwt_policy	 policy;
static pthread_mutex_t		 notify_lock = PTHREAD_MUTEX_INITIALIZER;
static int			 notify_running;

static json_t	*frame(const char *);
static int	 send_frame(struct wsh_event *, json_t *);
static int	 send_error(struct wsh_event *, const char *, const char *,
		    ...) printflike(3, 4);
static int	 on_connect(struct wsh_event *);
static int	 on_disconnect(struct wsh_event *);
static int	 on_message(struct wsh_event *);
static int	 session_message(struct wsh_event *, json_t *);
static int	 uuid_canonical(const char *, char *);
static int	 send_escalation(struct wsh_event *);
static int	 refuse_message(struct wsh_event *,
		    const struct safety_verdict *, const char *,
		    const char *);
static void	 record_escalation(struct wsh_event *, struct db *,
		    const char *, const char *, const char *,
		    const struct safety_verdict *);
static void	*notify_main(void *);
static int	 answer_piece(void *, const char *, size_t);
static int	 stream_answer(struct wsh_event *, struct db *, const char *,
		    const char *, const struct safety_verdict *);
static int	 reconcile(struct db *, struct wsh_event *, const char *);
static int	 chat_event(struct wsh_event *, void *);

/* A server frame: its type and the timestamp every frame carries. */
static json_t *
frame(const char *type)
{
	char	ts[40];

	return (json_pack("{s:s,s:s}", "type", type, "timestamp",
	    iso8601_utc(wall_usec(), ts, sizeof ts)));
}

static int
send_frame(struct wsh_event *ev, json_t *j)
{
	int	rv;

	if (j == NULL)
		return (-1);
	rv = wsh_send_json(ev, j);
	json_decref(j);
	return (rv);
}

/*
 * {"type":"error","error":CODE,"message":...}: the shape of the router's
 * own error frames; the codes are listed in docs/chat-protocol.md.
 */
static int
send_error(struct wsh_event *ev, const char *code, const char *fmt, ...)
{
	json_t	*j;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (xvasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	j = frame("error");
	json_object_set_new(j, "error", json_string(code));
	json_object_set_new(j, "message", json_string(msg != NULL ? msg :
	    code));
	free(msg);
	return (send_frame(ev, j));
}

/* A connection: token, the user's connection limit, a row, a frame. */
static int
on_connect(struct wsh_event *ev)
{
	struct jwt_claims	 claims;
	struct db		*db;
	json_t			*j;
	const char		*id = wsh_connection_id(ev);
	const char		*instance, *addr, *ua;
	char			*token, *ctx, err[128];
	int			 r;

	token = jwt_token_from_request(wsh_query(ev),
	    wsh_header(ev, "Authorization"),
	    wsh_header(ev, "Sec-WebSocket-Protocol"));
	if (token == NULL) {
		log_info("connect %s refused: no token", id);
		return (wsh_reject(ev, 401, "missing token"));
	}
	memset(&claims, 0, sizeof claims);
	r = jwt_verify(&policy, token, &claims, err, sizeof err);
	explicit_bzero(token, strlen(token));
	free(token);
	if (r == -1) {
		log_info("connect %s refused: invalid token: %s", id, err);
		return (wsh_reject(ev, 401, err[0] != '\0' ?
		    err : "invalid token"));
	}
	if ((db = db_thread(&cfg)) == NULL) {
		log_warnx("connect %s refused: database unavailable: %s", id,
		    db_error(NULL));
		jwt_claims_free(&claims);
		return (wsh_reject(ev, 503, "database unavailable"));
	}
	instance = wsh_param(ev, "WS_ROUTER_INSTANCE");
	addr = wsh_param(ev, "REMOTE_ADDR");
	ua = wsh_header(ev, "User-Agent");
	r = db_connection_open(db, id, claims.sub, instance, addr, ua,
	    cfg.max_conns_per_user);
	if (r == DB_LIMIT && reconcile(db, ev, claims.sub) > 0)
		r = db_connection_open(db, id, claims.sub, instance, addr, ua,
		    cfg.max_conns_per_user);
	if (r != DB_OK) {
		if (r == DB_LIMIT)
			log_info("connect %s refused: user %s has %d "
			    "connections", id, claims.sub,
			    cfg.max_conns_per_user);
		else
			log_warnx("connect %s refused: %s", id, db_error(db));
		jwt_claims_free(&claims);
		return (r == DB_LIMIT ?
		    wsh_reject(ev, 429, "too many connections") :
		    wsh_reject(ev, 503, "database unavailable"));
	}
	j = json_pack("{s:s}", "user", claims.sub);
	ctx = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	r = wsh_accept(ev, claims.sub, ctx);
	free(ctx);
	log_info("connect %s: user %s", id, claims.sub);
	jwt_claims_free(&claims);
	if (r == -1)
		return (-1);
	j = frame("connection");
	json_object_set_new(j, "status", json_string("connected"));
	return (send_frame(ev, j));
}

/*
 * Over the limit: the user's open rows on this router whose connection
 * the router no longer knows (410) are stale (a router restart lost
 * their DISCONNECT). Close them; return how many.
 */
static int
reconcile(struct db *db, struct wsh_event *ev, const char *user)
{
	struct db_open_conn	*open;
	struct wsh_api		*api;
	const char		*mine = wsh_param(ev, "WS_ROUTER_INSTANCE");
	size_t			 n, i;
	int			 closed = 0;

	if (mine == NULL || db_connections_active(db, user, &open, &n) != 0)
		return (0);
	if ((api = wsh_api_from_event(ev)) == NULL) {
		db_open_conns_free(open, n);
		return (0);
	}
	wsh_api_set_timeout(api, 2000);
	for (i = 0; i < n; i++) {
		if (open[i].router_instance == NULL ||
		    strcmp(open[i].router_instance, mine) != 0)
			continue;
		if (wsh_api_info(api, open[i].id, NULL) == 410 &&
		    db_connection_close(db, open[i].id, 1006,
		    "gone without a DISCONNECT") == DB_OK) {
			log_info("connection %s of user %s was stale: closed",
			    open[i].id, user);
			closed++;
		}
	}
	db_open_conns_free(open, n);
	return (closed);
}

static int
on_disconnect(struct wsh_event *ev)
{
	struct db	*db;
	const char	*id = wsh_connection_id(ev);

	if ((db = db_thread(&cfg)) == NULL ||
	    db_connection_close(db, id, wsh_close_code(ev),
	    wsh_close_reason(ev)) != DB_OK) {
		log_warnx("disconnect %s: not recorded: %s", id, db_error(db));
		return (-1);
	}
	log_info("disconnect %s: code %d", id, wsh_close_code(ev));
	return (0);
}

static int
on_message(struct wsh_event *ev)
{
	json_t		*j;
	json_error_t	 jerr;
	const char	*payload, *type;
	size_t		 len;
	int		 rv;

	payload = wsh_payload(ev, &len);
	if (wsh_is_binary(ev))
		return (send_error(ev, "bad_request",
		    "binary messages are not supported"));
	if (len > cfg.max_message_bytes * 6 + 4096)
		return (send_error(ev, "too_large", "the message is longer "
		    "than %zu bytes", cfg.max_message_bytes * 6 + 4096));
	j = json_loadb(payload, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
	    &jerr);
	if (j == NULL || !json_is_object(j) ||
	    (type = json_string_value(json_object_get(j, "type"))) == NULL) {
		json_decref(j);
		return (send_error(ev, "bad_request", "a message is a JSON "
		    "object with a \"type\""));
	}
	if (strcmp(type, "ping") == 0)
		rv = send_frame(ev, frame("pong"));
	else if (strcmp(type, "session_message") == 0)
		rv = session_message(ev, j);
	else
		rv = send_error(ev, "unknown_type", "unknown message type "
		    "\"%.64s\"", type);
	json_decref(j);
	return (rv);
}

/* A UUID in its canonical form, lower-cased into out[37]. */
static int
uuid_canonical(const char *s, char *out)
{
	int	i;

	if (strlen(s) != 36)
		return (-1);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (-1);
			out[i] = '-';
		} else if (s[i] >= '0' && s[i] <= '9')
			out[i] = s[i];
		else if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')
			out[i] = (char)(s[i] | 0x20);
		else
			return (-1);
	}
	out[36] = '\0';
	return (0);
}

static int
send_escalation(struct wsh_event *ev)
{
	json_t	*j = frame("safety_escalation");

	json_object_set_new(j, "risk_level", json_string("high"));
	json_object_set_new(j, "emergency_resources", json_pack(
	    "{s:s,s:s,s:s}", "crisis_hotline", cfg.crisis_hotline,
	    "crisis_text", cfg.crisis_text, "message", cfg.crisis_message));
	return (send_frame(ev, j));
}

/* A refused message: the crisis resources first if it needs them. */
static int
refuse_message(struct wsh_event *ev, const struct safety_verdict *v,
    const char *code, const char *msg)
{
	if (v->level >= RISK_HIGH && send_escalation(ev) == -1)
		return (0);
	return (send_error(ev, code, "%s", msg));
}

/* The escalation row, then the webhook on a thread of its own. */
static void
record_escalation(struct wsh_event *ev, struct db *db, const char *session,
    const char *message_id, const char *text,
    const struct safety_verdict *v)
{
	struct notify	*n;
	pthread_t	 t;
	pthread_attr_t	 attr;
	json_t		*j;
	const char	*user = wsh_identity(ev);
	char		 ts[40], id[64] = "";
	size_t		 len;
	int		 start;

	if (db == NULL || db_escalation_add(db, session, user,
	    wsh_connection_id(ev), message_id, risk_name(v->level),
	    v->category, v->phrase, id, sizeof id) != DB_OK) {
		log_warnx("session %s: the safety escalation was not recorded:"
		    " %s", session, db_error(db));
		wsh_count(ev, "safety_write_failed", 1);
		id[0] = '\0';
	}
	if (cfg.webhook_url == NULL)
		return;
	len = utf8_complete_prefix(text, strnlen(text, EXCERPT_MAX));
	j = json_pack("{s:s,s:s?,s:s,s:s,s:s,s:s,s:s,s:s,s:s%,s:s}",
	    "event", "safety_escalation",
	    "escalation_id", id[0] != '\0' ? id : NULL,
	    "user_id", user, "session_id", session,
	    "connection_id", wsh_connection_id(ev),
	    "risk_level", risk_name(v->level), "category", v->category,
	    "matched", v->phrase, "message_excerpt", text, len,
	    "timestamp", iso8601_utc(wall_usec(), ts, sizeof ts));
	n = xcalloc(1, sizeof *n);
	n->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	snprintf(n->escalation_id, sizeof n->escalation_id, "%s", id);
	pthread_mutex_lock(&notify_lock);
	start = notify_running < WEBHOOK_THREADS_MAX;
	if (start)
		notify_running++;
	pthread_mutex_unlock(&notify_lock);
	if (start) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		start = pthread_create(&t, &attr, notify_main, n) == 0;
		pthread_attr_destroy(&attr);
		if (!start) {
			pthread_mutex_lock(&notify_lock);
			notify_running--;
			pthread_mutex_unlock(&notify_lock);
		}
	}
	if (!start) {
		/* Too many calls in flight: this one waits its turn here. */
		pthread_mutex_lock(&notify_lock);
		notify_running++;
		pthread_mutex_unlock(&notify_lock);
		notify_main(n);
	}
}

static void *
notify_main(void *arg)
{
	struct notify	*n = arg;
	struct db	*db;
	int		 ok;

	ok = n->body != NULL && webhook_notify(&cfg, n->body) == 0;
	if (!ok)
		log_warnx("escalation %s: the webhook was not delivered",
		    n->escalation_id[0] != '\0' ? n->escalation_id : "-");
	if (n->escalation_id[0] != '\0' && (db = db_thread(&cfg)) != NULL &&
	    db_escalation_notified(db, n->escalation_id, ok) != DB_OK)
		log_warnx("escalation %s: %s", n->escalation_id,
		    db_error(db));
	free(n->body);
	free(n);
	pthread_mutex_lock(&notify_lock);
	notify_running--;
	pthread_mutex_unlock(&notify_lock);
	return (NULL);
}

/* A piece of the answer: out as a chunk, kept for the stored text. */
static int
answer_piece(void *arg, const char *s, size_t len)
{
	struct answer	*a = arg;
	json_t		*j;

	if (dbuf_add(&a->text, s, len) == -1)
		return (-1);
	j = frame("assistant_message_chunk");
	json_object_set_new(j, "chunk", json_stringn(s, len));
	json_object_set_new(j, "is_complete", json_false());
	if (send_frame(a->ev, j) == -1) {
		a->client_gone = 1;
		return (-1);
	}
	return (0);
}

/* Steps 3 and 4: history, the streamed answer, its row, the last frame. */
static int
stream_answer(struct wsh_event *ev, struct db *db, const char *session,
    const char *user_text, const struct safety_verdict *v)
{
	struct chat_msg		*hist = NULL, *msgs, one = { NULL, NULL, 0 };
	struct llm_result	 res;
	struct answer		 a;
	json_t			*j;
	const char		*status;
	size_t			 nhist = 0, n, i;
	char			 id[64], why[320];
	int			 rv = 0;

	if (db == NULL || db_history(db, session, cfg.history_bytes,
	    cfg.history_messages, &hist, &nhist) != DB_OK) {
		log_warnx("session %s: no history: %s", session,
		    db_error(db));
		wsh_count(ev, "history_failed", 1);
		hist = NULL;
		nhist = 0;
	}
	msgs = xcalloc(nhist + 3, sizeof *msgs);
	n = 0;
	msgs[n].role = "system";
	msgs[n].text = cfg.system_prompt;
	msgs[n++].len = strlen(cfg.system_prompt);
	if (v->level >= RISK_HIGH) {
		msgs[n].role = "system";
		msgs[n].text = cfg.safety_prompt;
		msgs[n++].len = strlen(cfg.safety_prompt);
	}
	for (i = 0; i < nhist; i++)
		msgs[n++] = hist[i];
	if (nhist == 0) {
		/* No history came back: at least the message itself. */
		one.role = "user";
		one.text = xstrdup(user_text);
		one.len = strlen(user_text);
		msgs[n++] = one;
	}

	if (send_frame(ev, frame("assistant_message_start")) == -1) {
		free(msgs);
		free(one.text);
		chat_msgs_free(hist, nhist);
		return (-1);
	}
	memset(&a, 0, sizeof a);
	a.ev = ev;
	dbuf_init(&a.text, LLM_ANSWER_MAX);	/* all llm_stream hands out */
	memset(&res, 0, sizeof res);
	llm_stream(&cfg, msgs, n, wsh_fd(ev), answer_piece, &a, &res);
	free(msgs);
	free(one.text);
	chat_msgs_free(hist, nhist);

	status = res.status == LLM_OK ? "complete" : "interrupted";
	if (res.status != LLM_OK)
		log_info("session %s: answer interrupted: %s: %s", session,
		    llm_status_name(res.status), res.error);
	if (db == NULL || db_message_add(db, session, wsh_connection_id(ev),
	    "assistant", a.text.len > 0 ? (const char *)a.text.data : "",
	    a.text.len, status, res.tokens, risk_name(v->level), v->intent,
	    id, sizeof id) != DB_OK) {
		log_warnx("session %s: the answer was not stored: %s", session,
		    db_error(db));
		wsh_count(ev, "db_write_failed", 1);
		db = NULL;
	} else if (res.status != LLM_OK) {
		snprintf(why, sizeof why, "%s: %s", llm_status_name(res.status),
		    a.client_gone || res.error[0] == '\0' ? "the client left" :
		    res.error);
		if (db_message_error(db, id, why) != DB_OK)
			log_warnx("session %s: %s", session, db_error(db));
	}
	if (a.client_gone || wsh_cancelled(ev)) {
		dbuf_free(&a.text);
		return (0);
	}
	wsh_count(ev, res.status == LLM_OK ? "answers_complete" :
	    "answers_interrupted", 1);
	if (res.status == LLM_OK) {
		j = frame("assistant_message_complete");
		json_object_set_new(j, "message", json_pack("{s:s%,s:s,s:s}",
		    "text", a.text.len > 0 ? (const char *)a.text.data : "",
		    a.text.len, "intent", v->intent, "risk_level",
		    risk_name(v->level)));
		rv = send_frame(ev, j);
	} else
		rv = send_error(ev, res.status == LLM_TIMEOUT ?
		    "upstream_timeout" : res.status == LLM_UNREACHABLE ?
		    "upstream_unavailable" : "upstream_error",
		    "the answer was interrupted: %s", res.error);
	if (rv == 0 && db == NULL)
		rv = send_error(ev, "not_saved", "the answer could not be "
		    "saved; it will be missing from the conversation history");
	dbuf_free(&a.text);
	return (rv);
}

/* The chat flow: validate, classify, store, escalate, answer. */
static int
session_message(struct wsh_event *ev, json_t *j)
{
	struct safety_verdict	 v;
	struct db		*db;
	json_t			*jt, *js;
	const char		*text, *user = wsh_identity(ev);
	char			 session[37], mid[64], why[96];
	size_t			 len;
	int			 r;

	/*
	 * Whatever else is wrong with the message, a person in crisis gets
	 * the resources: classify first, refuse after.
	 */
	memset(&v, 0, sizeof v);
	snprintf(v.intent, sizeof v.intent, "chat");
	jt = json_object_get(j, "message_text");
	text = json_string_value(jt);
	len = json_string_length(jt);
	if (text != NULL)
		safety_classify(lexicon, text, len, &v);
	if (v.level >= RISK_HIGH)
		wsh_count(ev, "safety_escalations", 1);

	if (user == NULL)
		return (refuse_message(ev, &v, "unauthorized",
		    "not authenticated"));
	js = json_object_get(j, "session_id");
	if (!json_is_string(js) ||
	    uuid_canonical(json_string_value(js), session) == -1)
		return (refuse_message(ev, &v, "invalid_session_id",
		    "session_id must be a UUID"));
	if (text == NULL)
		return (refuse_message(ev, &v, "invalid_message",
		    "message_text must be a string"));
	if (strlen(text) != len)
		return (refuse_message(ev, &v, "invalid_message",
		    "message_text must not contain U+0000"));
	if (len == 0 || strspn(text, " \t\r\n") == len)
		return (refuse_message(ev, &v, "invalid_message",
		    "message_text is empty"));
	if (len > cfg.max_message_bytes) {
		snprintf(why, sizeof why, "message_text is longer than %zu "
		    "bytes", cfg.max_message_bytes);
		return (refuse_message(ev, &v, "too_large", why));
	}
	if ((db = db_thread(&cfg)) == NULL) {
		log_warnx("session %s: database unavailable: %s", session,
		    db_error(NULL));
		wsh_count(ev, "db_unavailable", 1);
		if (v.level >= RISK_HIGH) {
			send_escalation(ev);
			record_escalation(ev, NULL, session, NULL, text, &v);
		}
		return (send_error(ev, "unavailable", "the service is "
		    "temporarily unavailable; please try again"));
	}
	r = db_session_claim(db, session, user);
	if (r == DB_FORBIDDEN) {
		log_info("session %s: refused to user %s", session, user);
		return (refuse_message(ev, &v, "forbidden",
		    "this session belongs to another user"));
	}
	if (r == DB_OK)
		r = db_message_add(db, session, wsh_connection_id(ev), "user",
		    text, len, "complete", -1, risk_name(v.level), v.intent,
		    mid, sizeof mid);
	if (r != DB_OK) {
		log_warnx("session %s: the message was not stored: %s",
		    session, db_error(db));
		wsh_count(ev, "db_write_failed", 1);
		if (v.level >= RISK_HIGH) {
			send_escalation(ev);
			record_escalation(ev, NULL, session, NULL, text, &v);
		}
		return (send_error(ev, "unavailable", "the message could not "
		    "be saved; please try again"));
	}
	jt = frame("user_message");
	json_object_set_new(jt, "text", json_stringn(text, len));
	if (send_frame(ev, jt) == -1)
		return (0);
	if (v.level >= RISK_HIGH) {
		log_info("session %s: high risk (%s)", session, v.category);
		if (send_escalation(ev) == -1)
			return (0);
		record_escalation(ev, db, session, mid, text, &v);
	}
	return (stream_answer(ev, db, session, text, &v));
}

static int
chat_event(struct wsh_event *ev, void *arg)
{
	switch (wsh_event_type(ev)) {
	case WSH_CONNECT:
		return (on_connect(ev));
	case WSH_MESSAGE:
		return (on_message(ev));
	case WSH_DISCONNECT:
		return (on_disconnect(ev));
	default:
		return (-1);
	}
}

int
main(int argc, char **argv)
{
	enum log_level	 lv;
	const char	*v;
	char		 err[512];
	int		 rv, i;

	log_init("wsrouter-chat", LOG_LEVEL_INFO, 0);
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0)	/* usage, with no settings */
			return (wsh_main(argc, argv, chat_event, NULL));
	if ((v = getenv("CHAT_LOG_LEVEL")) != NULL && *v != '\0') {
		if (log_level_parse(v, &lv) == -1) {
			fprintf(stderr, "wsrouter-chat: CHAT_LOG_LEVEL: \"%s\" is "
			    "not error, warn, info or debug\n", v);
			return (1);
		}
		log_set_level(lv);
		/* The SDK's own messages follow, unless told otherwise. */
		setenv("WSH_LOG_LEVEL", v, 0);
	}
	if (chat_config_load(&cfg, err, sizeof err) == -1) {
		fprintf(stderr, "wsrouter-chat: %s\n", err);
		return (1);
	}
	if ((lexicon = safety_load(cfg.lexicon_path, err, sizeof err)) ==
	    NULL) {
		fprintf(stderr, "wsrouter-chat: %s\n", err);
		return (1);
	}
	policy.alg = cfg.jwt_alg;
	policy.key = cfg.jwt_key;
	policy.key_len = cfg.jwt_key_len;
	policy.issuer = cfg.jwt_issuer;
	policy.audience = cfg.jwt_audience;
	policy.leeway = cfg.jwt_leeway;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = wsh_main(argc, argv, chat_event, NULL);
	safety_free(lexicon);
	chat_config_free(&cfg);
	curl_global_cleanup();
	return (rv);
}
