/* db.c: the chat handler's PostgreSQL state, one connection per thread. */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common.h"
#include "chat.h"

#define DB_UUID_LEN		36	/* canonical text form */
/* Our own deadline: this long after the server's statement_timeout. */
#define DB_SLACK_MS		1000
#define DB_DEFAULT_TIMEOUT_MS	5000

/*
 * A worker thread's connection. conn is NULL while there is none: never
 * made, or dropped after it was found lost, and db_thread() makes a new
 * one. Every statement has the server's statement_timeout and, should the
 * server not answer at all, a deadline of its own.
 */
struct db {
	PGconn		*conn;
	char		*url;		/* conn was made with it */
	long		 timeout_ms;	/* and this statement_timeout */
	int		 fatal;		/* the server said FATAL */
	char		 error[256];	/* the last failure, one line */
};

static void	 db_key_make(void);
static void	 db_free(void *);
static struct db *db_self(void);
static void	 db_seterr(struct db *, const char *, ...) printflike(2, 3);
static void	 db_seterr_conn(struct db *, const char *);
static void	 db_seterr_res(struct db *, const char *, const PGresult *);
static void	 db_drop(struct db *);
static void	 db_notice(void *, const PGresult *);
static int	 db_wait(PGconn *, short, uint64_t);
static int	 db_connect(struct db *, const char *, long);
static int	 db_alive(struct db *);
static PGresult	*db_exec(struct db *, const char *, int,
		    const char *const *, const int *, const int *);
static int	 db_command(struct db *, const char *);
static void	 db_rollback(struct db *);
static const char *db_nullable(const char *);
static int	 db_copy_id(struct db *, const PGresult *, char *, size_t);

static pthread_once_t	 db_once = PTHREAD_ONCE_INIT;
static pthread_key_t	 db_key;

static void
db_key_make(void)
{
	if (pthread_key_create(&db_key, db_free) != 0)
		fatalx("%s: pthread_key_create failed", __func__);
}

/* The thread's destructor, and db_thread_close(). */
static void
db_free(void *arg)
{
	struct db	*db = arg;

	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->url);
	free(db);
}

/* The calling thread's struct db, made on first use. */
static struct db *
db_self(void)
{
	struct db	*db;

	pthread_once(&db_once, db_key_make);
	if ((db = pthread_getspecific(db_key)) == NULL) {
		db = xcalloc(1, sizeof *db);
		if (pthread_setspecific(db_key, db) != 0)
			fatalx("%s: pthread_setspecific failed", __func__);
	}
	return (db);
}

/* Keep the first line of a message as the thread's last error. */
static void
db_seterr(struct db *db, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n;

	va_start(ap, fmt);
	vsnprintf(db->error, sizeof db->error, fmt, ap);
	va_end(ap);
	n = strcspn(db->error, "\r\n");
	db->error[n] = '\0';
	log_debug("%s: %s", __func__, db->error);
}

/*
 * libpq's connection message: which server and why, never the URL itself,
 * so no password can appear in it.
 */
static void
db_seterr_conn(struct db *db, const char *what)
{
	const char	*msg = NULL;

	if (db->conn != NULL)
		msg = PQerrorMessage(db->conn);
	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	if (strncmp(msg, "ERROR:  ", 8) == 0 ||
	    strncmp(msg, "FATAL:  ", 8) == 0)
		msg += 8;
	db_seterr(db, "%s: %s", what, msg);
}

static void
db_seterr_res(struct db *db, const char *what, const PGresult *res)
{
	const char	*msg, *state;

	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (msg == NULL) {
		db_seterr_conn(db, what);
		return;
	}
	if (state != NULL)
		db_seterr(db, "%s: %s (SQLSTATE %s)", what, msg, state);
	else
		db_seterr(db, "%s: %s", what, msg);
}

/* Forget a connection that is lost or stuck; db_thread() makes another. */
static void
db_drop(struct db *db)
{
	if (db->conn == NULL)
		return;
	log_debug("%s: dropping the connection", __func__);
	PQfinish(db->conn);
	db->conn = NULL;
}

/*
 * Server notices, and the FATAL that ends an idle session (a server
 * stopping, pg_terminate_backend): libpq passes that one here too, and
 * the connection is as good as gone once it has arrived.
 */
static void
db_notice(void *arg, const PGresult *res)
{
	struct db	*db = arg;
	const char	*sev, *msg;

	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (sev != NULL && (strcmp(sev, "FATAL") == 0 ||
	    strcmp(sev, "PANIC") == 0))
		db->fatal = 1;
	log_debug("%s: %s: %s", __func__, sev != NULL ? sev : "?",
	    msg != NULL ? msg : "?");
}

/* Wait for the socket until deadline (mono_usec): 1 ready, 0 late, -1. */
static int
db_wait(PGconn *conn, short events, uint64_t deadline)
{
	struct pollfd	 pfd;
	uint64_t	 now;
	int		 r, ms;

	if ((pfd.fd = PQsocket(conn)) == -1)
		return (-1);
	pfd.events = events;
	for (;;) {
		now = mono_usec();
		if (now >= deadline)
			return (0);
		ms = (int)((deadline - now + 999) / 1000);
		r = poll(&pfd, 1, ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return (-1);
		if (r == 0)
			continue;	/* the loop sees the deadline */
		return (1);
	}
}

/*
 * Connect with the URL's own settings, plus ours where it has none:
 * application_name and connect_timeout. statement_timeout is added to its
 * "options". The whole attempt ends by timeout_ms.
 */
static int
db_connect(struct db *db, const char *url, long timeout_ms)
{
	PQconninfoOption	*opts, *o;
	PostgresPollingStatusType st;
	const char		**kw, **val, *url_options = NULL;
	char			*errmsg = NULL, *options = NULL;
	char			 ctimeout[32];
	int			 n, count, have_app = 0, have_ct = 0, r;
	uint64_t		 deadline;

	deadline = mono_usec() + (uint64_t)timeout_ms * 1000;
	if (url == NULL || *url == '\0') {
		db_seterr(db, "no database configured (CHAT_DATABASE_URL)");
		return (-1);
	}
	/* libpq's parse error may quote the URL: say less. */
	if ((opts = PQconninfoParse(url, &errmsg)) == NULL) {
		if (errmsg != NULL)
			PQfreemem(errmsg);
		db_seterr(db, "the database URL is not a valid connection "
		    "string");
		return (-1);
	}
	for (count = 0, o = opts; o->keyword != NULL; o++)
		count++;
	kw = xcalloc(count + 4, sizeof *kw);
	val = xcalloc(count + 4, sizeof *val);
	n = 0;
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		if (strcmp(o->keyword, "options") == 0) {
			url_options = o->val;
			continue;
		}
		if (strcmp(o->keyword, "application_name") == 0)
			have_app = 1;
		if (strcmp(o->keyword, "connect_timeout") == 0)
			have_ct = 1;
		kw[n] = o->keyword;
		val[n++] = o->val;
	}
	if (!have_app) {
		kw[n] = "application_name";
		val[n++] = "wsrouter-chat";
	}
	if (!have_ct) {
		snprintf(ctimeout, sizeof ctimeout, "%ld",
		    (timeout_ms + 999) / 1000);
		kw[n] = "connect_timeout";
		val[n++] = ctimeout;
	}
	xasprintf(&options, "%s%s-c statement_timeout=%ld -c TimeZone=UTC",
	    url_options != NULL ? url_options : "",
	    url_options != NULL ? " " : "", timeout_ms);
	kw[n] = "options";
	val[n++] = options;
	kw[n] = NULL;
	val[n] = NULL;

	db->conn = PQconnectStartParams(kw, val, 0);
	free(kw);
	free(val);
	free(options);
	PQconninfoFree(opts);
	if (db->conn == NULL) {
		db_seterr(db, "cannot connect: out of memory");
		return (-1);
	}
	if (PQstatus(db->conn) == CONNECTION_BAD)
		goto fail;
	st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			goto fail;
		r = db_wait(db->conn, st == PGRES_POLLING_READING ? POLLIN :
		    POLLOUT, deadline);
		if (r == 0) {
			db_seterr(db, "cannot connect: no answer within %ld ms",
			    timeout_ms);
			db_drop(db);
			return (-1);
		}
		if (r == -1)
			goto fail;
		st = PQconnectPoll(db->conn);
	}
	db->fatal = 0;
	PQsetNoticeReceiver(db->conn, db_notice, db);
	log_debug("%s: connected", __func__);
	return (0);

fail:
	db_seterr_conn(db, "cannot connect");
	db_drop(db);
	return (-1);
}

/*
 * Is the idle connection still there? A server that was stopped or that
 * ended our session has sent its FATAL and closed: read it now, without
 * waiting, rather than fail the next statement.
 */
static int
db_alive(struct db *db)
{
	struct pollfd	 pfd;
	PGnotify	*note;
	int		 i;

	if (PQstatus(db->conn) != CONNECTION_OK)
		return (0);
	if ((pfd.fd = PQsocket(db->conn)) == -1)
		return (0);
	pfd.events = POLLIN;
	/* A read returns the FATAL first; the next one finds the EOF. */
	for (i = 0; i < 8 && poll(&pfd, 1, 0) == 1; i++) {
		if (!PQconsumeInput(db->conn))
			return (0);
		while ((note = PQnotifies(db->conn)) != NULL)
			PQfreemem(note);
	}
	if (db->fatal || PQstatus(db->conn) != CONNECTION_OK)
		return (0);
	/* A transaction left open by a failed call is rolled back. */
	if (PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		db_rollback(db);
	return (db->conn != NULL &&
	    PQtransactionStatus(db->conn) == PQTRANS_IDLE);
}

struct db *
db_thread(const struct chat_config *cfg)
{
	struct db	*db = db_self();
	long		 timeout_ms;
	const char	*url;

	url = cfg->database_url != NULL ? cfg->database_url : "";
	timeout_ms = cfg->db_timeout_ms > 0 ? cfg->db_timeout_ms :
	    DB_DEFAULT_TIMEOUT_MS;
	if (db->conn != NULL && (db->url == NULL || strcmp(db->url, url) != 0 ||
	    db->timeout_ms != timeout_ms))
		db_drop(db);
	if (db->conn != NULL && db_alive(db))
		return (db);
	/* Lost or never made: one attempt, within the timeout. */
	db_drop(db);
	free(db->url);
	db->url = xstrdup(url);
	db->timeout_ms = timeout_ms;
	if (db_connect(db, url, timeout_ms) == -1)
		return (NULL);
	return (db);
}

const char *
db_error(const struct db *db)
{
	if (db == NULL) {
		pthread_once(&db_once, db_key_make);
		db = pthread_getspecific(db_key);
	}
	if (db == NULL)
		return ("no database connection was tried");
	if (db->error[0] == '\0')
		return ("no error");
	return (db->error);
}

void
db_thread_close(void)
{
	struct db	*db;

	pthread_once(&db_once, db_key_make);
	if ((db = pthread_getspecific(db_key)) == NULL)
		return;
	pthread_setspecific(db_key, NULL);
	db_free(db);
}

/*
 * One statement, its parameters bound by the server. Returns the result
 * (PQclear it) or NULL with the error kept; a connection found lost or
 * stuck past the deadline is dropped.
 */
static PGresult *
db_exec(struct db *db, const char *sql, int nparams,
    const char *const *values, const int *lengths, const int *formats)
{
	PGresult	*res, *first = NULL;
	ExecStatusType	 st;
	uint64_t	 deadline;
	int		 r;

	if (db->conn == NULL) {
		db_seterr(db, "the database connection was lost");
		return (NULL);
	}
	if (!PQsendQueryParams(db->conn, sql, nparams, NULL, values, lengths,
	    formats, 0)) {
		db_seterr_conn(db, "cannot send");
		if (PQstatus(db->conn) != CONNECTION_OK)
			db_drop(db);
		return (NULL);
	}
	deadline = mono_usec() +
	    (uint64_t)(db->timeout_ms + DB_SLACK_MS) * 1000;
	for (;;) {
		while (PQisBusy(db->conn)) {
			r = db_wait(db->conn, POLLIN, deadline);
			if (r == 0) {
				db_seterr(db, "no answer from the database "
				    "within %ld ms", db->timeout_ms +
				    DB_SLACK_MS);
				goto drop;
			}
			if (r == -1 || !PQconsumeInput(db->conn)) {
				db_seterr_conn(db, "connection lost");
				goto drop;
			}
		}
		if ((res = PQgetResult(db->conn)) == NULL)
			break;
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
	if (first == NULL) {
		db_seterr_conn(db, "no result");
		goto bad;
	}
	st = PQresultStatus(first);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return (first);
	db_seterr_res(db, "statement failed", first);
	PQclear(first);
	first = NULL;
bad:
	if (PQstatus(db->conn) != CONNECTION_OK)
		db_drop(db);
	return (NULL);

drop:
	if (first != NULL)
		PQclear(first);
	db_drop(db);
	return (NULL);
}

static int
db_command(struct db *db, const char *sql)
{
	PGresult	*res;

	if ((res = db_exec(db, sql, 0, NULL, NULL, NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

/* End a failed transaction, keeping the error that failed it. */
static void
db_rollback(struct db *db)
{
	char	 saved[sizeof db->error];

	if (db->conn == NULL ||
	    PQtransactionStatus(db->conn) == PQTRANS_IDLE)
		return;
	memcpy(saved, db->error, sizeof saved);
	if (db_command(db, "ROLLBACK") == -1)
		db_drop(db);
	memcpy(db->error, saved, sizeof db->error);
}

/* NULL and "" are both SQL NULL. */
static const char *
db_nullable(const char *s)
{
	return (s == NULL || *s == '\0' ? NULL : s);
}

/* The uuid in the first column of the first row, to out (may be NULL). */
static int
db_copy_id(struct db *db, const PGresult *res, char *out, size_t len)
{
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		db_seterr(db, "no row was returned");
		return (-1);
	}
	if (out != NULL)
		snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
	return (0);
}

int
db_connection_open(struct db *db, const char *conn_id, const char *user_id,
    const char *router_instance, const char *remote_addr,
    const char *user_agent, int max_per_user)
{
	PGresult	*res;
	const char	*lock[1], *count[2], *ins[5];
	long		 open;

	if (db_nullable(conn_id) == NULL || db_nullable(user_id) == NULL) {
		db_seterr(db, "%s: no connection or user id", __func__);
		return (DB_ERROR);
	}
	lock[0] = user_id;
	count[0] = user_id;
	count[1] = conn_id;
	ins[0] = conn_id;
	ins[1] = user_id;
	ins[2] = db_nullable(router_instance);
	ins[3] = db_nullable(remote_addr);
	ins[4] = db_nullable(user_agent);

	/*
	 * The user's lock serializes their CONNECTs until COMMIT; each
	 * statement after it sees the rows committed by those before.
	 */
	if (db_command(db, "BEGIN") == -1)
		return (DB_ERROR);
	res = db_exec(db, "SELECT pg_advisory_xact_lock(hashtext($1::text))",
	    1, lock, NULL, NULL);
	if (res == NULL)
		goto fail;
	PQclear(res);
	if (max_per_user > 0) {
		/* The same id again (a retried CONNECT) is not counted. */
		res = db_exec(db, "SELECT count(*) FROM ws_connections "
		    "WHERE user_id = $1::text AND ended_at IS NULL "
		    "AND id <> $2::text", 2, count, NULL, NULL);
		if (res == NULL)
			goto fail;
		open = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (open >= max_per_user) {
			db_rollback(db);
			db_seterr(db, "%s: user has %ld open connections",
			    __func__, open);
			return (DB_LIMIT);
		}
	}
	res = db_exec(db, "INSERT INTO ws_connections (id, user_id, "
	    "router_instance, remote_addr, user_agent) "
	    "VALUES ($1::text, $2::text, $3::text, $4::text, $5::text) "
	    "ON CONFLICT (id) DO NOTHING", 5, ins, NULL, NULL);
	if (res == NULL)
		goto fail;
	PQclear(res);
	if (db_command(db, "COMMIT") == -1)
		goto fail;
	return (DB_OK);

fail:
	db_rollback(db);
	return (DB_ERROR);
}

int
db_connection_close(struct db *db, const char *conn_id, int close_code,
    const char *reason)
{
	PGresult	*res;
	const char	*p[3];
	char		 code[16];

	if (db_nullable(conn_id) == NULL) {
		db_seterr(db, "%s: no connection id", __func__);
		return (DB_ERROR);
	}
	p[0] = conn_id;
	p[1] = NULL;
	if (close_code >= 0 && close_code <= 65535) {
		snprintf(code, sizeof code, "%d", close_code);
		p[1] = code;
	}
	p[2] = db_nullable(reason);
	/* Not before connected_at, even if the clock stepped back. */
	res = db_exec(db, "UPDATE ws_connections "
	    "SET ended_at = greatest(now(), connected_at), "
	    "close_code = $2::int, close_reason = $3::text "
	    "WHERE id = $1::text AND ended_at IS NULL", 3, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	PQclear(res);
	return (DB_OK);
}

int
db_connections_active(struct db *db, const char *user_id,
    struct db_open_conn **list, size_t *n)
{
	PGresult		*res;
	const char		*p[1];
	struct db_open_conn	*oc;
	int			 i, rows;

	*list = NULL;
	*n = 0;
	p[0] = user_id;
	res = db_exec(db, "SELECT id, router_instance FROM ws_connections "
	    "WHERE user_id = $1::text AND ended_at IS NULL "
	    "ORDER BY connected_at, id", 1, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	if ((rows = PQntuples(res)) > 0) {
		oc = xcalloc(rows, sizeof *oc);
		for (i = 0; i < rows; i++) {
			oc[i].id = xstrdup(PQgetvalue(res, i, 0));
			if (!PQgetisnull(res, i, 1))
				oc[i].router_instance =
				    xstrdup(PQgetvalue(res, i, 1));
		}
		*list = oc;
		*n = rows;
	}
	PQclear(res);
	return (DB_OK);
}

void
db_open_conns_free(struct db_open_conn *list, size_t n)
{
	size_t	i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(list[i].id);
		free(list[i].router_instance);
	}
	free(list);
}

int
db_session_claim(struct db *db, const char *session_id, const char *user_id)
{
	PGresult	*res;
	const char	*p[2];
	int		 mine;

	if (db_nullable(session_id) == NULL || db_nullable(user_id) == NULL) {
		db_seterr(db, "%s: no session or user id", __func__);
		return (DB_ERROR);
	}
	p[0] = session_id;
	p[1] = user_id;
	/*
	 * Two statements, so that the SELECT's snapshot is taken after the
	 * INSERT: a conflicting INSERT waits for the other one's COMMIT.
	 */
	res = db_exec(db, "INSERT INTO chat_sessions (id, user_id) "
	    "VALUES ($1::uuid, $2::text) ON CONFLICT (id) DO NOTHING", 2, p,
	    NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	PQclear(res);
	res = db_exec(db, "SELECT user_id = $2::text FROM chat_sessions "
	    "WHERE id = $1::uuid", 2, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_seterr(db, "%s: the session vanished", __func__);
		return (DB_ERROR);
	}
	mine = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!mine) {
		db_seterr(db, "%s: the session belongs to another user",
		    __func__);
		return (DB_FORBIDDEN);
	}
	return (DB_OK);
}

int
db_message_add(struct db *db, const char *session_id,
    const char *connection_id, const char *role, const char *text, size_t len,
    const char *status, int token_count, const char *risk_level,
    const char *intent, char *id_out, size_t id_len)
{
	PGresult	*res;
	const char	*p[8];
	int		 lengths[8], formats[8], rc;
	char		 tokens[16];

	if (id_out != NULL && id_len < DB_UUID_LEN + 1) {
		db_seterr(db, "%s: id buffer too small", __func__);
		return (DB_ERROR);
	}
	if (text == NULL && len != 0) {
		db_seterr(db, "%s: no text", __func__);
		return (DB_ERROR);
	}
	/* libpq would end a text parameter at a NUL: refuse, not truncate. */
	if (len > INT_MAX || (len > 0 && memchr(text, '\0', len) != NULL)) {
		db_seterr(db, "%s: text has U+0000 or is too long", __func__);
		return (DB_ERROR);
	}
	if (db_nullable(session_id) == NULL || db_nullable(role) == NULL) {
		db_seterr(db, "%s: no session or role", __func__);
		return (DB_ERROR);
	}
	memset(lengths, 0, sizeof lengths);
	memset(formats, 0, sizeof formats);
	p[0] = session_id;
	p[1] = db_nullable(connection_id);
	p[2] = role;
	/* The text goes in binary form: its length, no terminator needed. */
	p[3] = text != NULL ? text : "";
	lengths[3] = (int)len;
	formats[3] = 1;
	p[4] = db_nullable(status);
	p[5] = NULL;
	if (token_count >= 0) {
		snprintf(tokens, sizeof tokens, "%d", token_count);
		p[5] = tokens;
	}
	p[6] = db_nullable(risk_level);
	p[7] = db_nullable(intent);
	res = db_exec(db, "WITH s AS (UPDATE chat_sessions SET updated_at = "
	    "now() WHERE id = $1::uuid RETURNING id, user_id) "
	    "INSERT INTO chat_messages (session_id, user_id, connection_id, "
	    "role, content, status, token_count, risk_level, intent) "
	    "SELECT s.id, s.user_id, $2::text, $3::text, $4::text, "
	    "coalesce($5::text, 'complete'), $6::int, "
	    "coalesce($7::text, 'none'), $8::text FROM s RETURNING id",
	    8, p, lengths, formats);
	if (res == NULL)
		return (DB_ERROR);
	if (PQntuples(res) == 0) {
		PQclear(res);
		db_seterr(db, "%s: no such session", __func__);
		return (DB_ERROR);
	}
	rc = db_copy_id(db, res, id_out, id_len);
	PQclear(res);
	return (rc == 0 ? DB_OK : DB_ERROR);
}

int
db_message_error(struct db *db, const char *message_id, const char *error)
{
	PGresult	*res;
	const char	*p[2];
	int		 rows;

	p[0] = message_id;
	p[1] = db_nullable(error);
	res = db_exec(db, "UPDATE chat_messages SET error = $2::text "
	    "WHERE id = $1::uuid", 2, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	if (rows != 1) {
		db_seterr(db, "%s: no such message", __func__);
		return (DB_ERROR);
	}
	return (DB_OK);
}

/*
 * The newest messages of a session that fit both budgets, oldest first:
 * the running sum of their sizes, newest first, stops at budget_bytes.
 */
int
db_history(struct db *db, const char *session_id, size_t budget_bytes,
    int max_messages, struct chat_msg **msgs, size_t *n)
{
	PGresult	*res;
	struct chat_msg	*m;
	const char	*p[3], *role;
	char		 limit[16], budget[32];
	int		 i, rows;
	size_t		 len;

	*msgs = NULL;
	*n = 0;
	p[0] = session_id;
	p[1] = NULL;		/* LIMIT NULL: no limit */
	if (max_messages > 0) {
		snprintf(limit, sizeof limit, "%d", max_messages);
		p[1] = limit;
	}
	snprintf(budget, sizeof budget, "%llu",
	    (unsigned long long)(budget_bytes > (size_t)LLONG_MAX ?
	    (size_t)LLONG_MAX : budget_bytes));
	p[2] = budget;
	res = db_exec(db, "SELECT role, content FROM ("
	    "SELECT role, content, created_at, id, "
	    "sum(octet_length(content)) OVER (ORDER BY created_at DESC, "
	    "id DESC) AS total FROM ("
	    "SELECT role, content, created_at, id FROM chat_messages "
	    "WHERE session_id = $1::uuid AND (role = 'user' OR content <> '') "
	    "ORDER BY created_at DESC, id DESC LIMIT $2::int) AS newest"
	    ") AS fits WHERE total <= $3::bigint ORDER BY created_at, id",
	    3, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	if ((rows = PQntuples(res)) > 0) {
		m = xcalloc(rows, sizeof *m);
		for (i = 0; i < rows; i++) {
			role = PQgetvalue(res, i, 0);
			m[i].role = strcmp(role, "user") == 0 ? "user" :
			    "assistant";
			len = PQgetlength(res, i, 1);
			m[i].text = xmalloc(len + 1);
			memcpy(m[i].text, PQgetvalue(res, i, 1), len);
			m[i].text[len] = '\0';
			m[i].len = len;
		}
		*msgs = m;
		*n = rows;
	}
	PQclear(res);
	return (DB_OK);
}

void
chat_msgs_free(struct chat_msg *msgs, size_t n)
{
	size_t	i;

	if (msgs == NULL)
		return;
	for (i = 0; i < n; i++)
		free(msgs[i].text);
	free(msgs);
}

int
db_escalation_add(struct db *db, const char *session_id, const char *user_id,
    const char *connection_id, const char *message_id, const char *risk_level,
    const char *category, const char *matched_phrase, char *id_out,
    size_t id_len)
{
	PGresult	*res;
	const char	*p[7];
	int		 rc;

	if (id_out != NULL && id_len < DB_UUID_LEN + 1) {
		db_seterr(db, "%s: id buffer too small", __func__);
		return (DB_ERROR);
	}
	p[0] = session_id;
	p[1] = db_nullable(message_id);
	p[2] = user_id;
	p[3] = db_nullable(connection_id);
	p[4] = db_nullable(risk_level);
	p[5] = db_nullable(category);
	p[6] = db_nullable(matched_phrase);
	res = db_exec(db, "INSERT INTO safety_escalations (session_id, "
	    "message_id, user_id, connection_id, risk_level, category, "
	    "matched_phrase) VALUES ($1::uuid, $2::uuid, $3::text, $4::text, "
	    "coalesce($5::text, 'high'), $6::text, $7::text) RETURNING id",
	    7, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	rc = db_copy_id(db, res, id_out, id_len);
	PQclear(res);
	return (rc == 0 ? DB_OK : DB_ERROR);
}

int
db_escalation_notified(struct db *db, const char *escalation_id, int ok)
{
	PGresult	*res;
	const char	*p[2];
	int		 rows;

	p[0] = escalation_id;
	p[1] = ok ? "t" : "f";
	res = db_exec(db, "UPDATE safety_escalations SET "
	    "notified_at = CASE WHEN $2::bool THEN now() ELSE notified_at END, "
	    "notify_error = CASE WHEN $2::bool THEN NULL "
	    "ELSE 'webhook failed' END WHERE id = $1::uuid", 2, p, NULL, NULL);
	if (res == NULL)
		return (DB_ERROR);
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	if (rows != 1) {
		db_seterr(db, "%s: no such escalation", __func__);
		return (DB_ERROR);
	}
	return (DB_OK);
}
