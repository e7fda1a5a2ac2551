/*
 * test_db.c: the chat handler's database layer (handlers/chat/db.c)
 * against a real PostgreSQL: every function, the per-user limit under
 * concurrency, session ownership, hostile text stored verbatim, the
 * history budget, timeouts, and recovery from lost connections and from a
 * server stopped and started again.
 *
 * Environment: CHAT_DATABASE_URL (a migrated database; without it the
 * test skips), PG_TMP and PG_TMP_DIR (scripts/pg-tmp and its cluster
 * folder: for the restart checks, skipped without them). db.sh sets all.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common.h"
#include "chat.h"
#include "tap.h"

#define CONCURRENT	8	/* threads opening connections at once */
#define CONCURRENT_MAX	3	/* the limit they share */

struct opener {
	pthread_t	 thread;
	const char	*user;
	char		 conn_id[64];
	int		 result;
};

struct claimer {
	pthread_t	 thread;
	const char	*session;
	const char	*user;
	int		 result;
};

static void	 test_connect(void);
static void	 test_connections(void);
static void	 test_limit_concurrent(void);
static void	 test_sessions(void);
static void	 test_messages(void);
static void	 test_history(void);
static void	 test_escalations(void);
static void	 test_statement_timeout(void);
static void	 test_lost(void);
static void	 test_restart(void);
static PGresult	*admin_query(const char *, int, const char *const *);
static char	*admin_value(const char *, int, const char *const *);
static long	 admin_long(const char *, int, const char *const *);
static void	 new_uuid(char *, size_t);
static void	*opener_main(void *);
static void	*claimer_main(void *);
static void	*terminator_main(void *);
static long	 elapsed_ms(uint64_t);

static struct chat_config	 cfg;
static PGconn			*admin;
static pthread_barrier_t	 barrier;

/* A query on the test's own connection; exits on failure. */
static PGresult *
admin_query(const char *sql, int n, const char *const *p)
{
	PGresult	*res;

	res = PQexecParams(admin, sql, n, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		printf("Bail out! %s: %s", sql, PQerrorMessage(admin));
		exit(1);
	}
	return (res);
}

/* The first value of a query, or NULL for SQL NULL / no row; free it. */
static char *
admin_value(const char *sql, int n, const char *const *p)
{
	PGresult	*res;
	char		*v = NULL;

	res = admin_query(sql, n, p);
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (v);
}

static long
admin_long(const char *sql, int n, const char *const *p)
{
	char	*v;
	long	 l;

	if ((v = admin_value(sql, n, p)) == NULL)
		return (-1);
	l = strtol(v, NULL, 10);
	free(v);
	return (l);
}

static void
new_uuid(char *out, size_t len)
{
	char	*v;

	v = admin_value("SELECT gen_random_uuid()", 0, NULL);
	snprintf(out, len, "%s", v);
	free(v);
}

static long
elapsed_ms(uint64_t start)
{
	return ((long)((mono_usec() - start) / 1000));
}

static void
test_connect(void)
{
	struct chat_config	 bad = cfg;
	struct db		*db, *db2;
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;
	uint64_t		 t0;
	long			 ms;
	int			 fd;
	char			 url[128];
	char			 refused[] =
	    "postgresql://wsrouter:s3cretpw@127.0.0.1:1/x";
	char			 malformed[] =
	    "postgresql://u:pw%zz@127.0.0.1:1/x";

	db = db_thread(&cfg);
	ok(db != NULL, "db_thread connects (%s)", db_error(NULL));
	db2 = db_thread(&cfg);
	ok(db2 == db, "db_thread again: the same connection");
	is_int(admin_long("SELECT count(*) FROM pg_stat_activity WHERE "
	    "application_name = 'wsrouter-chat'", 0, NULL), 1,
	    "one session named wsrouter-chat");

	/* Nobody listening: fails at once, and no password in the error. */
	bad.database_url = refused;
	t0 = mono_usec();
	ok(db_thread(&bad) == NULL, "refused connection: NULL");
	ok(elapsed_ms(t0) < 1000, "refused connection: at once (%ld ms)",
	    elapsed_ms(t0));
	ok(strstr(db_error(NULL), "cannot connect") != NULL,
	    "refused connection: error says so: %s", db_error(NULL));
	ok(strstr(db_error(NULL), "s3cretpw") == NULL,
	    "refused connection: error has no password");

	bad.database_url = malformed;
	ok(db_thread(&bad) == NULL, "malformed URL: NULL");
	ok(strstr(db_error(NULL), "pw") == NULL &&
	    strstr(db_error(NULL), "not a valid") != NULL,
	    "malformed URL: error names no part of it: %s", db_error(NULL));

	bad.database_url = NULL;
	ok(db_thread(&bad) == NULL, "no URL: NULL");

	/* A server that accepts but never answers: bounded by the timeout. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1) {
		printf("Bail out! cannot make a silent listener\n");
		exit(1);
	}
	snprintf(url, sizeof url, "postgresql://wsrouter@127.0.0.1:%d/x",
	    ntohs(sin.sin_port));
	bad.database_url = url;
	bad.db_timeout_ms = 700;
	t0 = mono_usec();
	ok(db_thread(&bad) == NULL, "silent server: NULL");
	ms = elapsed_ms(t0);
	ok(ms >= 600 && ms < 1700, "silent server: gives up after the "
	    "700 ms timeout (%ld ms)", ms);
	ok(strstr(db_error(NULL), "700 ms") != NULL,
	    "silent server: error says so: %s", db_error(NULL));
	close(fd);

	db = db_thread(&cfg);
	ok(db != NULL, "the right URL again: connects (%s)", db_error(NULL));
	db_thread_close();
	ok(db_thread(&cfg) != NULL, "after db_thread_close: connects again");
}

static void
test_connections(void)
{
	struct db		*db = db_thread(&cfg);
	struct db_open_conn	*list;
	size_t			 n;
	const char		*p[1];
	PGresult		*res;

	is_int(db_connection_open(db, "c1", "alice", "r1", "127.0.0.1",
	    "test/1.0", 2), DB_OK, "alice: first connection");
	is_int(db_connection_open(db, "c2", "alice", NULL, "::1", NULL, 2),
	    DB_OK, "alice: second connection");
	is_int(db_connection_open(db, "c3", "alice", "r1", NULL, NULL, 2),
	    DB_LIMIT, "alice: third is over the limit of 2");
	is_int(db_connection_open(db, "c1", "alice", "r1", NULL, NULL, 2),
	    DB_OK, "alice: the same id again is not counted against her");
	is_int(db_connection_open(db, "b1", "bob", "r1", NULL, NULL, 2),
	    DB_OK, "bob: his own limit");
	is_int(admin_long("SELECT count(*) FROM ws_connections WHERE id = 'c3'",
	    0, NULL), 0, "the refused connection has no row");

	list = NULL;
	is_int(db_connections_active(db, "alice", &list, &n), DB_OK,
	    "db_connections_active");
	is_int(n, 2, "alice has two open connections");
	if (n == 2) {
		is_str(list[0].id, "c1", "first open: c1");
		is_str(list[0].router_instance, "r1", "c1 on r1");
		is_str(list[1].id, "c2", "second open: c2");
		ok(list[1].router_instance == NULL, "c2: no router instance");
	}
	db_open_conns_free(list, n);

	res = admin_query("SELECT user_id, router_instance, remote_addr, "
	    "user_agent, connected_at <= now(), ended_at IS NULL "
	    "FROM ws_connections WHERE id = 'c1'", 0, NULL);
	ok(PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "alice") == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "r1") == 0 &&
	    strcmp(PQgetvalue(res, 0, 2), "127.0.0.1") == 0 &&
	    strcmp(PQgetvalue(res, 0, 3), "test/1.0") == 0 &&
	    strcmp(PQgetvalue(res, 0, 4), "t") == 0 &&
	    strcmp(PQgetvalue(res, 0, 5), "t") == 0,
	    "c1's row: user, instance, address, agent, open");
	PQclear(res);
	is_int(admin_long("SELECT count(*) FROM ws_connections WHERE id = 'c2' "
	    "AND router_instance IS NULL AND user_agent IS NULL", 0, NULL), 1,
	    "c2: NULL instance and agent are SQL NULL");

	is_int(db_connection_close(db, "c1", 1000, "bye"), DB_OK,
	    "close c1");
	is_int(db_connection_close(db, "c1", 1006, "again"), DB_OK,
	    "close c1 again: fine");
	is_int(db_connection_close(db, "nosuch", 1000, NULL), DB_OK,
	    "close an unknown id: fine");
	res = admin_query("SELECT ended_at IS NOT NULL, close_code, "
	    "close_reason, ended_at >= connected_at FROM ws_connections "
	    "WHERE id = 'c1'", 0, NULL);
	ok(PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "1000") == 0 &&
	    strcmp(PQgetvalue(res, 0, 2), "bye") == 0 &&
	    strcmp(PQgetvalue(res, 0, 3), "t") == 0,
	    "c1 closed once: ended_at, 1000, \"bye\"");
	PQclear(res);
	is_int(db_connection_close(db, "c2", -1, NULL), DB_OK,
	    "close c2 without a code");
	p[0] = "c2";
	is_int(admin_long("SELECT count(*) FROM ws_connections WHERE id = $1 "
	    "AND close_code IS NULL AND close_reason IS NULL "
	    "AND ended_at IS NOT NULL", 1, p), 1, "c2: NULL code and reason");

	is_int(db_connection_open(db, "c3", "alice", "r1", NULL, NULL, 2),
	    DB_OK, "alice: after two closed, a new one is accepted");
	is_int(db_connection_open(db, "c4", "alice", "r1", NULL, NULL, 0),
	    DB_OK, "limit 0: no limit");
	is_int(db_connection_open(db, "c5", "alice", "r1", NULL, NULL, 0),
	    DB_OK, "limit 0: still none");
	is_int(db_connection_open(db, "", "alice", NULL, NULL, NULL, 0),
	    DB_ERROR, "an empty connection id is refused");
}

static void *
opener_main(void *arg)
{
	struct opener	*o = arg;
	struct db	*db;

	db = db_thread(&cfg);
	pthread_barrier_wait(&barrier);
	o->result = db == NULL ? -100 : db_connection_open(db, o->conn_id,
	    o->user, "r1", "127.0.0.1", "race", CONCURRENT_MAX);
	db_thread_close();
	return (NULL);
}

/* CONCURRENT threads connect for one user at once: exactly the limit wins. */
static void
test_limit_concurrent(void)
{
	struct opener	 o[CONCURRENT];
	const char	*p[1];
	char		 user[32];
	int		 round, i, oks, limits, errors;

	for (round = 0; round < 3; round++) {
		snprintf(user, sizeof user, "racer%d", round);
		pthread_barrier_init(&barrier, NULL, CONCURRENT);
		for (i = 0; i < CONCURRENT; i++) {
			o[i].user = user;
			snprintf(o[i].conn_id, sizeof o[i].conn_id, "r%d-%d",
			    round, i);
			pthread_create(&o[i].thread, NULL, opener_main, &o[i]);
		}
		oks = limits = errors = 0;
		for (i = 0; i < CONCURRENT; i++) {
			pthread_join(o[i].thread, NULL);
			if (o[i].result == DB_OK)
				oks++;
			else if (o[i].result == DB_LIMIT)
				limits++;
			else
				errors++;
		}
		pthread_barrier_destroy(&barrier);
		ok(oks == CONCURRENT_MAX && limits == CONCURRENT -
		    CONCURRENT_MAX && errors == 0, "round %d: %d at once, "
		    "limit %d: %d accepted, %d over the limit, %d errors",
		    round, CONCURRENT, CONCURRENT_MAX, oks, limits, errors);
		p[0] = user;
		is_int(admin_long("SELECT count(*) FROM ws_connections WHERE "
		    "user_id = $1 AND ended_at IS NULL", 1, p), CONCURRENT_MAX,
		    "round %d: as many open rows as the limit", round);
	}
}

static void *
claimer_main(void *arg)
{
	struct claimer	*c = arg;
	struct db	*db;

	db = db_thread(&cfg);
	pthread_barrier_wait(&barrier);
	c->result = db == NULL ? -100 :
	    db_session_claim(db, c->session, c->user);
	db_thread_close();
	return (NULL);
}

static void
test_sessions(void)
{
	struct db	*db = db_thread(&cfg);
	struct claimer	 c[2];
	char		 sid[64], race[64];
	const char	*p[1];
	char		*v;
	int		 round, wins, forbidden;

	new_uuid(sid, sizeof sid);
	is_int(db_session_claim(db, sid, "alice"), DB_OK,
	    "a new session id: created for alice");
	is_int(db_session_claim(db, sid, "alice"), DB_OK,
	    "alice again: hers");
	is_int(db_session_claim(db, sid, "bob"), DB_FORBIDDEN,
	    "bob: forbidden");
	p[0] = sid;
	v = admin_value("SELECT user_id FROM chat_sessions WHERE id = $1", 1,
	    p);
	is_str(v, "alice", "the session row is alice's");
	free(v);
	is_int(db_session_claim(db, "not-a-uuid", "alice"), DB_ERROR,
	    "a malformed id: the server refuses it");
	is_int(db_session_claim(db, sid, "alice"), DB_OK,
	    "and the connection still works");

	/* Two users race for one new id: exactly one owns it. */
	wins = forbidden = 0;
	for (round = 0; round < 5; round++) {
		new_uuid(race, sizeof race);
		pthread_barrier_init(&barrier, NULL, 2);
		c[0].session = c[1].session = race;
		c[0].user = "alice";
		c[1].user = "bob";
		pthread_create(&c[0].thread, NULL, claimer_main, &c[0]);
		pthread_create(&c[1].thread, NULL, claimer_main, &c[1]);
		pthread_join(c[0].thread, NULL);
		pthread_join(c[1].thread, NULL);
		pthread_barrier_destroy(&barrier);
		wins += (c[0].result == DB_OK) + (c[1].result == DB_OK);
		forbidden += (c[0].result == DB_FORBIDDEN) +
		    (c[1].result == DB_FORBIDDEN);
	}
	ok(wins == 5 && forbidden == 5, "5 races for a new session: one "
	    "owner each (%d owned, %d forbidden)", wins, forbidden);
}

static void
test_messages(void)
{
	static const char	*hostile[] = {
		"Robert'); DROP TABLE chat_messages; --",
		"' OR '1'='1",
		"'; DELETE FROM chat_sessions WHERE ''='",
		"back\\slash \\' \\\\ \\x00 \\0 E'\\n'",
		"$1 $$dollar quoted$$ $tag$ :name ? %s %n",
		"\"double\" `back` ;; -- /* comment */",
		("unicode: h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c "
		    "\xf0\x9f\x99\x82 \xe2\x80\xae rtl"),
		"tab\tnew\nline\r\n end",
		"",
	};
	struct db	*db = db_thread(&cfg);
	char		 sid[64], id[64], small[8];
	const char	*p[2];
	PGresult	*res;
	size_t		 i;
	long		 before;
	char		*v;

	new_uuid(sid, sizeof sid);
	is_int(db_session_claim(db, sid, "mallory"), DB_OK,
	    "mallory's session");
	for (i = 0; i < nitems(hostile); i++) {
		id[0] = '\0';
		is_int(db_message_add(db, sid, "c1", "user", hostile[i],
		    strlen(hostile[i]), "complete", -1, "none", NULL, id,
		    sizeof id), DB_OK, "hostile text %zu stored", i);
		ok(strlen(id) == 36, "its id is a uuid: %s", id);
		p[0] = id;
		res = admin_query("SELECT content, user_id, role, status, "
		    "connection_id, intent IS NULL, token_count IS NULL "
		    "FROM chat_messages WHERE id = $1", 1, p);
		ok(PQntuples(res) == 1 &&
		    (size_t)PQgetlength(res, 0, 0) == strlen(hostile[i]) &&
		    memcmp(PQgetvalue(res, 0, 0), hostile[i],
		    strlen(hostile[i])) == 0, "stored verbatim, byte for byte");
		ok(PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 1), "mallory") == 0 &&
		    strcmp(PQgetvalue(res, 0, 2), "user") == 0 &&
		    strcmp(PQgetvalue(res, 0, 3), "complete") == 0 &&
		    strcmp(PQgetvalue(res, 0, 4), "c1") == 0 &&
		    strcmp(PQgetvalue(res, 0, 5), "t") == 0 &&
		    strcmp(PQgetvalue(res, 0, 6), "t") == 0,
		    "owner from the session, role, status, connection; "
		    "NULL intent and token count");
		PQclear(res);
	}
	ok(admin_long("SELECT count(*) FROM chat_messages", 0, NULL) > 0 &&
	    admin_long("SELECT count(*) FROM chat_sessions", 0, NULL) > 0,
	    "chat_messages and chat_sessions are still there");

	p[0] = sid;
	before = admin_long("SELECT count(*) FROM chat_messages WHERE "
	    "session_id = $1", 1, p);
	is_int(db_message_add(db, sid, "c1", "user", "abc\0def", 7, "complete",
	    -1, "none", NULL, id, sizeof id), DB_ERROR,
	    "text with U+0000: refused");
	ok(strstr(db_error(db), "U+0000") != NULL, "and the error says why: %s",
	    db_error(db));
	is_int(db_message_add(db, sid, "c1", "user", "abc", 3, "complete", -1,
	    "none", NULL, small, sizeof small), DB_ERROR,
	    "an id buffer too small: refused");
	is_int(admin_long("SELECT count(*) FROM chat_messages WHERE "
	    "session_id = $1", 1, p), before, "neither stored anything");

	/* A length shorter than the string: exactly len bytes are stored. */
	is_int(db_message_add(db, sid, "", "assistant", "partial answer", 7,
	    "interrupted", 42, "medium", "support", id, sizeof id), DB_OK,
	    "an interrupted assistant message, 7 bytes of a longer string");
	p[0] = id;
	res = admin_query("SELECT content, role, status, token_count, "
	    "risk_level, intent, connection_id IS NULL, error IS NULL "
	    "FROM chat_messages WHERE id = $1", 1, p);
	ok(PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "partial") == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "assistant") == 0 &&
	    strcmp(PQgetvalue(res, 0, 2), "interrupted") == 0 &&
	    strcmp(PQgetvalue(res, 0, 3), "42") == 0 &&
	    strcmp(PQgetvalue(res, 0, 4), "medium") == 0 &&
	    strcmp(PQgetvalue(res, 0, 5), "support") == 0 &&
	    strcmp(PQgetvalue(res, 0, 6), "t") == 0 &&
	    strcmp(PQgetvalue(res, 0, 7), "t") == 0,
	    "its columns: text, role, status, tokens, risk, intent, "
	    "empty connection id as NULL");
	PQclear(res);
	is_int(db_message_error(db, id, "upstream error: HTTP 500"), DB_OK,
	    "db_message_error");
	v = admin_value("SELECT error FROM chat_messages WHERE id = $1", 1, p);
	is_str(v, "upstream error: HTTP 500", "the reason is stored");
	free(v);
	is_int(db_message_error(db, "00000000-0000-0000-0000-000000000000",
	    "x"), DB_ERROR, "db_message_error: unknown message");

	p[0] = sid;
	ok(admin_long("SELECT count(*) FROM chat_sessions WHERE id = $1 AND "
	    "updated_at > created_at", 1, p) == 1,
	    "the session's updated_at moved");

	is_int(db_message_add(db, sid, NULL, "system", "x", 1, NULL, -1, NULL,
	    NULL, NULL, 0), DB_ERROR, "a role outside the CHECK: refused");
	is_int(db_message_add(db, sid, NULL, "user", "x", 1, "done", -1, NULL,
	    NULL, NULL, 0), DB_ERROR, "a status outside the CHECK: refused");
	is_int(db_message_add(db, "00000000-0000-0000-0000-000000000000", NULL,
	    "user", "x", 1, NULL, -1, NULL, NULL, NULL, 0), DB_ERROR,
	    "an unknown session: refused");
	ok(strstr(db_error(db), "no such session") != NULL,
	    "and the error says so: %s", db_error(db));
	is_int(db_message_add(db, sid, NULL, "user", "ok", 2, NULL, -1, NULL,
	    NULL, NULL, 0), DB_OK, "after refusals the connection works; "
	    "NULL status, risk and id buffer are fine");
	v = admin_value("SELECT status || '/' || risk_level FROM chat_messages "
	    "WHERE session_id = $1 AND content = 'ok'", 1, p);
	is_str(v, "complete/none", "NULL status and risk: the defaults");
	free(v);
}

static void
test_history(void)
{
	struct db	*db = db_thread(&cfg);
	struct chat_msg	*m;
	size_t		 n;
	char		 sid[64], other[64];
	const char	*u1 = "0123456789";
	const char	*a1 = "abcdefghijklmnopqrst";
	const char	*u2 = "012345678901234567890123456789";
	const char	*u3 = "0123456789012345678901234567890123456789";

	new_uuid(sid, sizeof sid);
	new_uuid(other, sizeof other);
	db_session_claim(db, sid, "hana");
	db_session_claim(db, other, "hana");
	db_message_add(db, sid, NULL, "user", u1, 10, NULL, -1, NULL, NULL,
	    NULL, 0);
	db_message_add(db, other, NULL, "user", "other session", 13, NULL, -1,
	    NULL, NULL, NULL, 0);
	db_message_add(db, sid, NULL, "assistant", a1, 20, NULL, 5, NULL, NULL,
	    NULL, 0);
	db_message_add(db, sid, NULL, "user", u2, 30, NULL, -1, NULL, NULL,
	    NULL, 0);
	db_message_add(db, sid, NULL, "assistant", "", 0, "interrupted", 0,
	    NULL, NULL, NULL, 0);
	db_message_add(db, sid, NULL, "user", u3, 40, NULL, -1, NULL, NULL,
	    NULL, 0);

	is_int(db_history(db, sid, 1000, 40, &m, &n), DB_OK, "db_history");
	is_int(n, 4, "four messages: the empty assistant one is skipped");
	if (n == 4) {
		ok(strcmp(m[0].role, "user") == 0 &&
		    strcmp(m[0].text, u1) == 0 && m[0].len == 10,
		    "oldest first: u1");
		ok(strcmp(m[1].role, "assistant") == 0 &&
		    strcmp(m[1].text, a1) == 0 && m[1].len == 20, "then a1");
		ok(strcmp(m[2].text, u2) == 0 && strcmp(m[3].text, u3) == 0 &&
		    m[3].len == 40, "then u2, u3");
	}
	chat_msgs_free(m, n);

	db_history(db, sid, 70, 40, &m, &n);
	ok(n == 2 && strcmp(m[0].text, u2) == 0 && strcmp(m[1].text, u3) == 0,
	    "budget 70: the newest two (30 + 40), oldest first (%zu)", n);
	chat_msgs_free(m, n);
	db_history(db, sid, 69, 40, &m, &n);
	ok(n == 1 && strcmp(m[0].text, u3) == 0, "budget 69: only u3 (%zu)",
	    n);
	chat_msgs_free(m, n);
	db_history(db, sid, 39, 40, &m, &n);
	ok(n == 0 && m == NULL, "budget 39: nothing fits (%zu)", n);
	chat_msgs_free(m, n);
	db_history(db, sid, 1000, 2, &m, &n);
	ok(n == 2 && strcmp(m[0].text, u2) == 0 && strcmp(m[1].text, u3) == 0,
	    "at most 2 messages: u2, u3 (%zu)", n);
	chat_msgs_free(m, n);
	db_history(db, sid, 1000, 0, &m, &n);
	is_int(n, 4, "max_messages 0: no count limit");
	chat_msgs_free(m, n);

	db_message_add(db, sid, NULL, "assistant", "cut short", 9,
	    "interrupted", 2, NULL, NULL, NULL, 0);
	db_history(db, sid, 1000, 40, &m, &n);
	ok(n == 5 && strcmp(m[4].text, "cut short") == 0 &&
	    strcmp(m[4].role, "assistant") == 0,
	    "an interrupted answer with text is history too");
	chat_msgs_free(m, n);

	db_history(db, "00000000-0000-0000-0000-000000000000", 1000, 40, &m,
	    &n);
	ok(n == 0 && m == NULL, "an unknown session: no history");
	is_int(db_history(db, "nope", 1000, 40, &m, &n), DB_ERROR,
	    "a malformed session id: DB_ERROR");
	chat_msgs_free(NULL, 0);
}

static void
test_escalations(void)
{
	struct db	*db = db_thread(&cfg);
	char		 sid[64], mid[64], eid[64], eid2[64];
	const char	*p[1];
	PGresult	*res;

	new_uuid(sid, sizeof sid);
	db_session_claim(db, sid, "ivan");
	db_message_add(db, sid, "c9", "user", "help", 4, NULL, -1, "high",
	    NULL, mid, sizeof mid);
	is_int(db_escalation_add(db, sid, "ivan", "c9", mid, "high",
	    "self_harm", "hurt myself", eid, sizeof eid), DB_OK,
	    "db_escalation_add");
	ok(strlen(eid) == 36, "its id: %s", eid);
	p[0] = eid;
	res = admin_query("SELECT session_id, message_id, user_id, "
	    "connection_id, risk_level, category, matched_phrase, "
	    "notified_at IS NULL, notify_error IS NULL "
	    "FROM safety_escalations WHERE id = $1", 1, p);
	ok(PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), sid) == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), mid) == 0 &&
	    strcmp(PQgetvalue(res, 0, 2), "ivan") == 0 &&
	    strcmp(PQgetvalue(res, 0, 3), "c9") == 0 &&
	    strcmp(PQgetvalue(res, 0, 4), "high") == 0 &&
	    strcmp(PQgetvalue(res, 0, 5), "self_harm") == 0 &&
	    strcmp(PQgetvalue(res, 0, 6), "hurt myself") == 0 &&
	    strcmp(PQgetvalue(res, 0, 7), "t") == 0 &&
	    strcmp(PQgetvalue(res, 0, 8), "t") == 0,
	    "the row: session, message, user, connection, level, category, "
	    "phrase, not notified yet");
	PQclear(res);
	is_int(db_escalation_notified(db, eid, 1), DB_OK,
	    "db_escalation_notified ok");
	is_int(admin_long("SELECT count(*) FROM safety_escalations WHERE "
	    "id = $1 AND notified_at IS NOT NULL AND notify_error IS NULL", 1,
	    p), 1, "notified_at is set");

	is_int(db_escalation_add(db, sid, "ivan", NULL, NULL, "high", "",
	    NULL, eid2, sizeof eid2), DB_OK,
	    "an escalation without message or connection");
	is_int(db_escalation_notified(db, eid2, 0), DB_OK,
	    "db_escalation_notified failed");
	p[0] = eid2;
	is_int(admin_long("SELECT count(*) FROM safety_escalations WHERE "
	    "id = $1 AND message_id IS NULL AND connection_id IS NULL AND "
	    "category IS NULL AND matched_phrase IS NULL AND notified_at IS "
	    "NULL AND notify_error = 'webhook failed'", 1, p), 1,
	    "NULLs stored as SQL NULL; notify_error set, notified_at not");
	is_int(db_escalation_add(db, sid, "mallory", NULL, NULL, "high", NULL,
	    NULL, eid2, sizeof eid2), DB_ERROR,
	    "an escalation naming someone else's session: refused");
	is_int(db_escalation_notified(db,
	    "00000000-0000-0000-0000-000000000000", 1), DB_ERROR,
	    "an unknown escalation: DB_ERROR");
}

/* statement_timeout holds: a CONNECT stuck behind a user's lock gives up. */
static void
test_statement_timeout(void)
{
	struct chat_config	 fast = cfg;
	struct db		*db;
	uint64_t		 t0;
	long			 ms;
	PGresult		*res;

	fast.db_timeout_ms = 1000;
	db = db_thread(&fast);
	ok(db != NULL, "a connection with a 1000 ms timeout");
	res = admin_query("SELECT pg_advisory_lock(hashtext('locked'))", 0,
	    NULL);
	PQclear(res);
	t0 = mono_usec();
	is_int(db_connection_open(db, "l1", "locked", NULL, NULL, NULL, 5),
	    DB_ERROR, "a CONNECT waiting for its user's lock fails");
	ms = elapsed_ms(t0);
	ok(ms >= 900 && ms < 2500, "after the statement timeout (%ld ms)", ms);
	ok(strstr(db_error(db), "57014") != NULL,
	    "the error is the statement timeout: %s", db_error(db));
	res = admin_query("SELECT pg_advisory_unlock(hashtext('locked'))", 0,
	    NULL);
	PQclear(res);
	is_int(db_connection_open(db, "l1", "locked", NULL, NULL, NULL, 5),
	    DB_OK, "unlocked: the same connection works");
	is_int(admin_long("SELECT count(*) FROM ws_connections "
	    "WHERE user_id = 'locked'", 0, NULL), 1, "one row, not two");
}

/* End our session once it waits for a lock. */
static void *
terminator_main(void *arg)
{
	PGconn		*c;
	PGresult	*res;
	int		 i, done = 0;

	c = PQconnectdb(cfg.database_url);
	for (i = 0; i < 100 && !done; i++) {
		res = PQexec(c, "SELECT pg_terminate_backend(pid) FROM "
		    "pg_stat_activity WHERE application_name = "
		    "'wsrouter-chat' AND wait_event_type = 'Lock'");
		done = PQresultStatus(res) == PGRES_TUPLES_OK &&
		    PQntuples(res) > 0;
		PQclear(res);
		if (!done)
			usleep(50000);
	}
	PQfinish(c);
	*(int *)arg = done;
	return (NULL);
}

static void
test_lost(void)
{
	struct db	*db;
	pthread_t	 t;
	PGresult	*res;
	char		 sid[64];
	int		 killed = 0, i;
	long		 left = -1;

	/* Ended while idle: db_thread notices and reconnects at once. */
	db = db_thread(&cfg);
	res = admin_query("SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE application_name = 'wsrouter-chat'", 0,
	    NULL);
	PQclear(res);
	for (i = 0; i < 50; i++) {
		left = admin_long("SELECT count(*) FROM pg_stat_activity WHERE "
		    "application_name = 'wsrouter-chat'", 0, NULL);
		if (left == 0)
			break;
		usleep(20000);
	}
	is_int(left, 0, "our idle session was ended by the server");
	db = db_thread(&cfg);
	ok(db != NULL, "db_thread after that: connected");
	new_uuid(sid, sizeof sid);
	is_int(db_session_claim(db, sid, "judy"), DB_OK,
	    "and the very first statement works");

	/* Ended during a statement: that one fails, the next call recovers. */
	res = admin_query("SELECT pg_advisory_lock(hashtext('kate'))", 0,
	    NULL);
	PQclear(res);
	db = db_thread(&cfg);
	pthread_create(&t, NULL, terminator_main, &killed);
	is_int(db == NULL ? -100 : db_connection_open(db, "k1", "kate", NULL,
	    NULL, NULL, 5), DB_ERROR, "a statement whose session is ended: DB_ERROR");
	pthread_join(t, NULL);
	ok(killed, "the session was ended while it waited");
	ok(strstr(db_error(db), "terminat") != NULL ||
	    strstr(db_error(db), "lost") != NULL ||
	    strstr(db_error(db), "closed") != NULL,
	    "the error says the connection went: %s", db_error(db));
	res = admin_query("SELECT pg_advisory_unlock(hashtext('kate'))", 0,
	    NULL);
	PQclear(res);
	db = db_thread(&cfg);
	ok(db != NULL, "the next db_thread reconnects");
	is_int(db_connection_open(db, "k1", "kate", NULL, NULL, NULL, 5),
	    DB_OK, "and works");
}

/* The server stopped and started again: no restart of ours needed. */
static void
test_restart(void)
{
	struct chat_config	 fast = cfg;
	struct db		*db, *old;
	const char		*pgtmp = getenv("PG_TMP");
	const char		*dir = getenv("PG_TMP_DIR");
	char			*cmd, sid[64];
	uint64_t		 t0;
	long			 ms;

	if (pgtmp == NULL || dir == NULL) {
		ok(1, "# SKIP no PG_TMP and PG_TMP_DIR: no restart checks");
		return;
	}
	fast.db_timeout_ms = 1000;
	new_uuid(sid, sizeof sid);
	old = db_thread(&fast);
	ok(old != NULL, "connected before the stop");
	is_int(db_session_claim(old, sid, "leo"), DB_OK, "leo's session");
	PQfinish(admin);
	admin = NULL;

	xasprintf(&cmd, "'%s' stop '%s' >/dev/null", pgtmp, dir);
	is_int(system(cmd), 0, "pg-tmp stop");
	free(cmd);
	is_int(db_session_claim(old, sid, "leo"), DB_ERROR,
	    "a statement on the old connection: DB_ERROR");
	t0 = mono_usec();
	db = db_thread(&fast);
	ms = elapsed_ms(t0);
	ok(db == NULL, "db_thread while the server is down: NULL");
	ok(ms < 1500, "within the timeout (%ld ms)", ms);
	ok(strstr(db_error(NULL), "cannot connect") != NULL,
	    "db_error: %s", db_error(NULL));
	ok(db_thread(&fast) == NULL, "still down: NULL again");

	xasprintf(&cmd, "'%s' start '%s' >/dev/null", pgtmp, dir);
	is_int(system(cmd), 0, "pg-tmp start");
	free(cmd);
	db = db_thread(&fast);
	ok(db != NULL, "db_thread after the start: connected (%s)",
	    db_error(NULL));
	if (db != NULL)
		is_int(db_session_claim(db, sid, "leo"), DB_OK,
		    "leo's session survived, and it works");

	admin = PQconnectdb(cfg.database_url);
	/* Stop and start while idle: the first statement works at once. */
	xasprintf(&cmd, "'%s' stop '%s' >/dev/null && '%s' start '%s' "
	    ">/dev/null", pgtmp, dir, pgtmp, dir);
	is_int(system(cmd), 0, "pg-tmp stop, then start, while idle");
	free(cmd);
	db = db_thread(&fast);
	ok(db != NULL && db_session_claim(db, sid, "leo") == DB_OK,
	    "the next db_thread and its first statement work");
	PQfinish(admin);
	admin = PQconnectdb(cfg.database_url);
}

int
main(void)
{
	const char	*url = getenv("CHAT_DATABASE_URL");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (url == NULL || *url == '\0') {
		printf("1..0 # SKIP CHAT_DATABASE_URL is not set\n");
		return (0);
	}
	log_init("test_db", getenv("TEST_DB_DEBUG") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, 0);
	memset(&cfg, 0, sizeof cfg);
	cfg.database_url = xstrdup(url);
	cfg.db_timeout_ms = 5000;

	admin = PQconnectdb(url);
	if (PQstatus(admin) != CONNECTION_OK) {
		printf("Bail out! cannot connect: %s", PQerrorMessage(admin));
		return (1);
	}

	test_connect();
	test_connections();
	test_limit_concurrent();
	test_sessions();
	test_messages();
	test_history();
	test_escalations();
	test_statement_timeout();
	test_lost();
	test_restart();

	db_thread_close();
	PQfinish(admin);
	free(cfg.database_url);
	return (tap_done());
}
