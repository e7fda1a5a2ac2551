/*
 * chat.h: the AI chat handler, wsrouter-chat. One FastCGI program serves
 * the three events of the chat protocol (docs/chat-protocol.md):
 *	CONNECT		JWT auth, the per-user connection limit, a
 *			connections row, the "connection" frame;
 *	MESSAGE		ping, and session_message: store, safety check,
 *			stream the model's answer, store it;
 *	DISCONNECT	close the connections row.
 * Settings come from the environment (docs/chat-handler.md). Sections
 * below are marked with the file that implements them.
 */
#ifndef CHAT_H
#define CHAT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

struct wsh_event;

enum risk {
	RISK_NONE = 0,
	RISK_LOW,
	RISK_MEDIUM,
	RISK_HIGH
};

enum jwt_alg_pin {
	JWT_PIN_HS256 = 0,
	JWT_PIN_RS256
};

enum llm_provider {
	LLM_OPENAI = 0,		/* POST {base}/v1/chat/completions, SSE */
	LLM_OLLAMA		/* POST {base}/api/chat, NDJSON */
};

/* A message of the conversation sent to the model. */
struct chat_msg {
	const char	*role;		/* "system", "user", "assistant" */
	char		*text;		/* NUL-terminated, owned */
	size_t		 len;
};

/* config.c: every setting, read once at start from CHAT_* variables. */
struct chat_config {
	/* Auth (CHAT_JWT_*). */
	enum jwt_alg_pin jwt_alg;		/* CHAT_JWT_ALG: HS256 | RS256 */
	unsigned char	*jwt_key;		/* CHAT_JWT_KEY_FILE or
						   CHAT_JWT_SECRET: HS secret or
						   RS public key PEM */
	size_t		 jwt_key_len;
	char		*jwt_issuer;		/* CHAT_JWT_ISSUER, NULL: any */
	char		*jwt_audience;		/* CHAT_JWT_AUDIENCE, NULL: any */
	long		 jwt_leeway;		/* CHAT_JWT_LEEWAY, seconds: 30 */
	int		 max_conns_per_user;	/* CHAT_MAX_CONNECTIONS: 5 */

	/* PostgreSQL. */
	char		*database_url;		/* CHAT_DATABASE_URL */
	long		 db_timeout_ms;		/* CHAT_DB_TIMEOUT: 5000 */

	/* The model (CHAT_LLM_*). */
	enum llm_provider provider;		/* CHAT_LLM_PROVIDER */
	char		*llm_base_url;		/* CHAT_LLM_URL */
	char		*llm_model;		/* CHAT_LLM_MODEL */
	char		*llm_api_key;		/* CHAT_LLM_API_KEY, never logged */
	double		 temperature;		/* CHAT_LLM_TEMPERATURE: 0.7 */
	int		 max_tokens;		/* CHAT_LLM_MAX_TOKENS: 1024 */
	char		*system_prompt;		/* CHAT_SYSTEM_PROMPT(_FILE) */
	char		*safety_prompt;		/* CHAT_SAFETY_PROMPT(_FILE) */
	long		 connect_timeout_ms;	/* CHAT_LLM_CONNECT_TIMEOUT: 5s */
	long		 first_token_timeout_ms;/* CHAT_LLM_FIRST_TOKEN_TIMEOUT:
						   60s */
	long		 stall_timeout_ms;	/* CHAT_LLM_STALL_TIMEOUT: 30s */
	size_t		 history_bytes;		/* CHAT_HISTORY_BYTES: 16 KiB */
	int		 history_messages;	/* CHAT_HISTORY_MESSAGES: 40 */
	size_t		 max_message_bytes;	/* CHAT_MAX_MESSAGE_BYTES: 8 KiB */

	/* Safety. */
	char		*lexicon_path;		/* CHAT_SAFETY_LEXICON */
	char		*webhook_url;		/* CHAT_SAFETY_WEBHOOK, NULL: off */
	int		 webhook_retries;	/* CHAT_SAFETY_WEBHOOK_RETRIES: 3 */
	long		 webhook_timeout_ms;	/* CHAT_SAFETY_WEBHOOK_TIMEOUT:
						   3000 */
	char		*crisis_hotline;	/* CHAT_CRISIS_HOTLINE: "988" */
	char		*crisis_text;		/* CHAT_CRISIS_TEXT: "741741" */
	char		*crisis_message;	/* CHAT_CRISIS_MESSAGE */
};

int		 chat_config_load(struct chat_config *, char *, size_t);
void		 chat_config_free(struct chat_config *);

/* jwtcheck.c: verify a token against a pinned algorithm and claims. */
struct jwt_policy {
	enum jwt_alg_pin	 alg;
	const unsigned char	*key;
	size_t			 key_len;
	const char		*issuer;	/* NULL: not checked */
	const char		*audience;	/* NULL: not checked */
	long			 leeway;	/* seconds */
	time_t			 now;		/* 0: time(NULL) */
};

#define JWT_HS_KEY_MIN		32	/* bytes, RFC 7518 section 3.2 */
#define JWT_TOKEN_MAX		8192

struct jwt_claims {
	char		*sub;		/* owned; the user id */
	time_t		 exp;		/* 0 if absent */
};

/* Is the configured key usable for the pinned algorithm? 0 or -1 + err. */
int		 jwt_policy_check(const struct jwt_policy *, char *, size_t);
/* 0 and claims filled, or -1 with a short reason in err (safe to log). */
int		 jwt_verify(const struct jwt_policy *, const char *,
		    struct jwt_claims *, char *, size_t);
void		 jwt_claims_free(struct jwt_claims *);
/*
 * The token of an upgrade request: the "token" query parameter, else an
 * "Authorization: Bearer" header, else a "bearer.<token>" entry of
 * Sec-WebSocket-Protocol. Any argument may be NULL. Returns a new string
 * or NULL when there is none.
 */
char		*jwt_token_from_request(const char *, const char *,
		    const char *);

/* safety.c: the lexicon classifier. */
struct safety_lexicon;

struct safety_verdict {
	enum risk	 level;
	char		 category[64];	/* the top match's, "" if none */
	char		 phrase[128];	/* the phrase that matched */
	char		 intent[32];	/* what the answer should do */
};

/*
 * Load a lexicon file (docs/safety.md); NULL as the path means the one
 * installed in $(pkgdatadir). NULL on error, with "file:line: reason" in
 * err. safety_load_buf parses len bytes of buf, naming them name in its
 * messages. A loaded lexicon is read-only: threads may share it.
 */
struct safety_lexicon *safety_load(const char *, char *, size_t);
struct safety_lexicon *safety_load_buf(const char *, size_t, const char *,
		    char *, size_t);
void		 safety_free(struct safety_lexicon *);
/* Any bytes (invalid UTF-8 and NULs included); a NULL lexicon: none. */
void		 safety_classify(const struct safety_lexicon *, const char *,
		    size_t, struct safety_verdict *);
const char	*risk_name(enum risk);

/* webhook.c: tell a person about a high-risk message (retries). */
int		 webhook_notify(const struct chat_config *, const char *);

/* llm.c: stream an answer from the configured provider. */
#define LLM_ANSWER_MAX		(4 * 1024 * 1024)	/* then "length" */

enum llm_status {
	LLM_OK = 0,		/* the stream ended normally */
	LLM_CANCELLED,		/* the token callback or cancel fd said stop */
	LLM_UPSTREAM_ERROR,	/* HTTP error, error object, bad stream */
	LLM_TIMEOUT,		/* connect, first token or stall */
	LLM_UNREACHABLE		/* could not connect */
};

struct llm_result {
	enum llm_status	 status;
	char		 error[256];	/* for the log and the error frame */
	long		 http_status;
	int		 pieces;	/* deltas received */
	int		 tokens;	/* the provider's count, else pieces */
};

/* Called with each piece of text, whole UTF-8 only; -1 stops. */
typedef int llm_piece_cb(void *, const char *, size_t);

/*
 * Stream the answer to msgs. cancel_fd (or -1) is polled for POLLRDHUP
 * with the transfer, so a client gone aborts the upstream at once.
 */
int		 llm_stream(const struct chat_config *, const struct chat_msg *,
		    size_t, int, llm_piece_cb *, void *, struct llm_result *);
const char	*llm_status_name(enum llm_status);

/* db.c: PostgreSQL, one connection per worker thread. */
struct db;

enum db_result {
	DB_OK = 0,
	DB_ERROR = -1,		/* unreachable, timeout, failed statement */
	DB_LIMIT = 1,		/* db_connection_open: over the user's limit */
	DB_FORBIDDEN = 2	/* db_session_claim: another user's session */
};

struct db_open_conn {
	char		*id;		/* owned */
	char		*router_instance;
};

/* This thread's connection, (re)connecting if needed; NULL if down. */
struct db	*db_thread(const struct chat_config *);
/* The last failure's text (no secrets); NULL: this thread's. */
const char	*db_error(const struct db *);
void		 db_thread_close(void);
int		 db_connection_open(struct db *, const char *, const char *,
		    const char *, const char *, const char *, int);
int		 db_connection_close(struct db *, const char *, int,
		    const char *);
int		 db_connections_active(struct db *, const char *,
		    struct db_open_conn **, size_t *);
void		 db_open_conns_free(struct db_open_conn *, size_t);
int		 db_session_claim(struct db *, const char *, const char *);
int		 db_message_add(struct db *, const char *, const char *,
		    const char *, const char *, size_t, const char *, int,
		    const char *, const char *, char *, size_t);
/* Why a message is interrupted: its error column (message id, reason). */
int		 db_message_error(struct db *, const char *, const char *);
int		 db_history(struct db *, const char *, size_t, int,
		    struct chat_msg **, size_t *);
void		 chat_msgs_free(struct chat_msg *, size_t);
int		 db_escalation_add(struct db *, const char *, const char *,
		    const char *, const char *, const char *, const char *,
		    const char *, char *, size_t);
int		 db_escalation_notified(struct db *, const char *, int);

#endif
