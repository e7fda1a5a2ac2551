/*
 * wsrouter.h: the router's private header, in sections by file.
 *
 * Ownership: strings in config structs belong to the config and live until
 * config_free(). Parsers never keep pointers into the caller's input after
 * they return.
 */
#ifndef WSROUTER_H
#define WSROUTER_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct lws;
struct lws_context;
struct lws_vhost;
struct conn;
struct invocation;

/* Fixed caps that are not worth a config key. */
#define CGI_MAX_HEADER		16384	/* handler response header section */
#define ROUTE_KEY_MAX		128	/* longest route key we select on */
#define CONN_ID_LEN		22	/* base64url of 16 random bytes */
#define IDENTITY_MAX		1024	/* X-WS-Identity */
#define CONTEXT_MAX		8192	/* X-WS-Context (a JSON object) */
#define CHANNEL_NAME_MAX	128
#define HTTP_HEAD_MAX		16384	/* an upgrade request's headers */
#define CLOSE_REASON_MAX	123	/* RFC 6455: 125 minus the code */

/* config.c */
struct pool_addr {
	char			*text;		/* as written: unix:/p or h:port */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
};

struct pool_param {
	char		*name;
	char		*value;
};

struct pool {
	char			*name;
	struct pool_addr	*addrs;
	size_t			 naddrs;
	unsigned		 concurrency;		/* in-flight requests */
	unsigned		 queue;			/* waiting requests */
	unsigned		 connect_timeout_ms;
	unsigned		 first_byte_timeout_ms;
	unsigned		 idle_timeout_ms;
	unsigned		 queue_timeout_ms;
	int			 keepalive;		/* FCGI_KEEP_CONN */
	struct pool_param	*params;
	size_t			 nparams;

	struct pool_state	*state;			/* fcgi_client.c */
};

struct route {
	char		*key;
	struct pool	*pool;
};

struct endpoint {
	char		*path;			/* "/ws" */
	char		**selection;		/* path segments: {"type"} */
	size_t		  nselection;
	char		 *selection_text;	/* as written, for messages */
	struct route	 *routes;		/* ordinary keys, sorted by key */
	size_t		  nroutes;
	struct pool	 *on_connect;		/* $connect, may be NULL */
	struct pool	 *on_disconnect;	/* $disconnect, may be NULL */
	struct pool	 *on_default;		/* $default, may be NULL */
	size_t		  max_message_size;
	int		  allow_binary;
};

struct listen_addr {
	char		*text;
	char		*host;			/* NULL: all interfaces */
	int		 port;
	char		*unix_path;		/* set for unix: addresses */
	unsigned	 unix_mode;
};

/* The loop under lws: libev (epoll) scales to many connections. */
#define EVENT_LOOP_LIBEV	0
#define EVENT_LOOP_POLL		1

struct config {
	int		 refs;		/* wsrouter.c: config_ref() */
	char		*file;
	struct listen_addr listen;
	struct listen_addr api;
	int		 api_set;
	int		 reuseport;
	int		 event_loop;	/* EVENT_LOOP_* */
	char		*instance;
	enum log_level	 log_level;
	size_t		 max_message_size;
	size_t		 max_output_frame;
	unsigned	 max_inflight;
	unsigned	 ping_interval;		/* seconds, 0 = off */
	unsigned	 idle_timeout;		/* seconds, 0 = off */
	size_t		 send_queue_high;
	size_t		 send_queue_low;
	size_t		 send_queue_max;
	unsigned	 shutdown_timeout;	/* seconds */
	char		**origins;
	size_t		  norigins;
	char		 *static_root;
	struct pool	**pools;
	size_t		  npools;
	struct endpoint	**endpoints;
	size_t		  nendpoints;
};

/*
 * Parse a config text. Every error is appended to errors as one line
 * "FILE:LINE: KEY: message\n"; the return is 0 with *out set, or -1 with
 * *out NULL when there was any error.
 */
int		 config_parse(const char *name, const char *text, size_t len,
		     struct config **out, struct dbuf *errors);
int		 config_load(const char *path, struct config **out,
		     struct dbuf *errors);
void		 config_free(struct config *);
struct pool	*config_find_pool(const struct config *, const char *);
const struct endpoint *config_find_endpoint(const struct config *,
		     const char *path, size_t len);
int		 parse_size(const char *, size_t *);
int		 parse_duration_ms(const char *, unsigned *);

/* route.c */
/*
 * Copy the unescaped string value found at the path segments of a JSON
 * object message into out (NUL-terminated). Returns 1 when found, 0 when
 * the message is not a JSON object, the value is missing or not a string,
 * or the key does not fit in outsz - 1 bytes.
 */
int		 route_extract(char *const *path, size_t npath,
		     const void *msg, size_t len, char *out, size_t outsz,
		     size_t *outlen);
/*
 * Choose the pool for a message. *key is set to the route key used for the
 * WS_ROUTE_KEY variable ("$default" on fallback). NULL when nothing matches
 * and the endpoint has no $default.
 */
struct pool	*route_select(const struct endpoint *, const void *msg,
		     size_t len, int binary, char *key, size_t keysz);

/* fcgi.c: FastCGI records (spec 1.0). */
#define FCGI_VERSION_1		1
#define FCGI_HEADER_LEN		8
#define FCGI_MAX_CONTENT	65535
#define FCGI_BEGIN_REQUEST	1
#define FCGI_ABORT_REQUEST	2
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_DATA		8
#define FCGI_GET_VALUES		9
#define FCGI_GET_VALUES_RESULT	10
#define FCGI_UNKNOWN_TYPE	11
#define FCGI_RESPONDER		1
#define FCGI_KEEP_CONN		1
#define FCGI_REQUEST_COMPLETE	0
#define FCGI_CANT_MPX_CONN	1
#define FCGI_OVERLOADED		2
#define FCGI_UNKNOWN_ROLE	3

/* Append a BEGIN_REQUEST record. */
int		 fcgi_begin_request(struct dbuf *, uint16_t id, int keep_conn);
/* Append one name-value pair (spec 3.4) to a PARAMS body being built. */
int		 fcgi_param(struct dbuf *body, const char *name, size_t nlen,
		     const void *value, size_t vlen);
/*
 * Append data as records of type, each at most FCGI_MAX_CONTENT bytes and
 * padded to a multiple of 8. len 0 appends the one empty record that ends
 * a stream.
 */
int		 fcgi_stream(struct dbuf *, uint8_t type, uint16_t id,
		     const void *data, size_t len);

struct fcgi_parser_cb {
	int	(*on_stdout)(void *, const unsigned char *, size_t);
	int	(*on_stderr)(void *, const unsigned char *, size_t);
	int	(*on_end)(void *, uint32_t app_status, uint8_t proto_status);
};

struct fcgi_parser {
	uint16_t	 id;		/* the request id we expect */
	int		 state;
	unsigned char	 hdr[FCGI_HEADER_LEN];
	size_t		 hdr_len;
	uint8_t		 type;
	size_t		 content_left;
	size_t		 padding_left;
	unsigned char	 end_body[8];
	size_t		 end_len;
	int		 ended;
	const char	*error;		/* static reason when -1 */
};

void		 fcgi_parser_init(struct fcgi_parser *, uint16_t id);
/*
 * Feed bytes from the server. Calls the callbacks as records complete
 * (stdout data is passed in pieces as it arrives). Returns 0, or -1 on a
 * protocol error (p->error says which) or when a callback returned
 * non-zero. Bytes after END_REQUEST are an error.
 */
int		 fcgi_parse(struct fcgi_parser *, const void *, size_t,
		     const struct fcgi_parser_cb *, void *);

/* cgi.c: the handler's response: CGI headers, then a framed body. */
enum cgi_mode {
	CGI_MODE_EVENTS,	/* application/websocket-events */
	CGI_MODE_NDJSON,	/* application/x-ndjson: one text frame/line */
	CGI_MODE_TEXT,		/* anything else: the body is one text frame */
	CGI_MODE_BINARY		/* application/octet-stream: one binary frame */
};

enum cgi_frame {
	CGI_FRAME_TEXT,
	CGI_FRAME_BINARY,
	CGI_FRAME_CLOSE,	/* data: 2-byte big-endian code, then reason */
	CGI_FRAME_CONTROL	/* data: a JSON object */
};

struct cgi_headers {
	int		 status;		/* 200 when absent */
	char		 reason[64];
	enum cgi_mode	 mode;
	const char	*identity;		/* NULL when absent */
	size_t		 identity_len;
	const char	*context;		/* NULL when absent */
	size_t		 context_len;
};

struct cgi_parser_cb {
	/* Once, when the header section is complete. */
	int	(*on_headers)(void *, const struct cgi_headers *);
	/* Each frame as soon as it is complete. */
	int	(*on_frame)(void *, enum cgi_frame, const unsigned char *,
		    size_t);
};

struct cgi_parser {
	int		 state;
	struct dbuf	 hdr;
	struct dbuf	 body;
	struct cgi_headers headers;
	size_t		 max_frame;
	size_t		 event_left;	/* events: bytes of content left */
	int		 event_kind;
	const char	*error;		/* static reason when -1 */
};

void		 cgi_parser_init(struct cgi_parser *, size_t max_frame);
void		 cgi_parser_free(struct cgi_parser *);
/* Feed stdout bytes. 0, or -1 on a malformed response or a callback's -1. */
int		 cgi_parse(struct cgi_parser *, const void *, size_t,
		     const struct cgi_parser_cb *, void *);
/* End of stdout: flush the last frame. -1 if the response was cut short. */
int		 cgi_finish(struct cgi_parser *, const struct cgi_parser_cb *,
		     void *);

/*
 * The event-loop core: wsrouter.c, conn.c, fcgi_client.c, mgmt.c,
 * channel.c, metrics.c. Everything below runs on the one lws service
 * thread.
 */

/* wsrouter.c */
struct router {
	struct lws_context	*ctx;
	struct lws_vhost	*vh_ws;
	struct lws_vhost	*vh_api;
	struct config		*cfg;		/* current; reload swaps it */
	const char		*config_path;
	char			 api_url[256];	/* WS_API for handlers */
	char			 server_name[64];
	char			 server_port[8];
	char			 instance[96];	/* WS_ROUTER_INSTANCE */
	int			 draining;
	int			 exiting;
	uint64_t		 drain_deadline;
	unsigned		 nconns;
	unsigned		 ninvocations;
	uint64_t		 next_request;
	int64_t			 started_at;
};
extern struct router	*router;
void		 config_ref(struct config *);
void		 config_unref(struct config *);
void		 router_check_drained(void);

/* conn.c */
enum conn_state {
	CONN_CONNECTING,	/* handshake done, CONNECT handler running */
	CONN_OPEN,
	CONN_CLOSING,		/* a close is queued or sent */
	CONN_CLOSED		/* the wsi is gone */
};

struct frame {
	struct frame	*next;
	size_t		 len;
	int		 kind;		/* CGI_FRAME_TEXT, _BINARY or _CLOSE */
	unsigned char	 data[];	/* LWS_PRE bytes, then len bytes */
};

struct conn_channel;

struct conn {
	char			 id[CONN_ID_LEN + 1];
	struct lws		*wsi;		/* NULL once closed */
	struct config		*cfg;		/* a reference */
	const struct endpoint	*ep;
	enum conn_state		 state;
	int			 accepted;	/* a DISCONNECT is owed */

	char			*identity;
	char			*context;	/* a JSON object */
	char			 remote_addr[48];
	unsigned		 remote_port;
	char			*user_agent;
	int64_t			 connected_at;	/* wall clock, usec */
	int64_t			 last_active;	/* wall clock, usec */

	struct dbuf		 rx;		/* message being assembled */
	uint64_t		 last_rx_mono;	/* for the idle timeout */
	uint64_t		 last_heard_mono; /* a frame or a pong: keepalive */
	uint64_t		 ping_sent_mono;
	int			 ping_due;	/* WRITEABLE sends a ping */

	struct frame		*q_head;
	struct frame		*q_tail;
	size_t			 q_bytes;
	int			 q_paused;	/* upstream reads paused */

	int			 close_code;	/* final code, for DISCONNECT */
	char			 close_reason[CLOSE_REASON_MAX + 1];

	struct invocation	*inv_head;	/* in-flight, via inv_cnext */
	unsigned		 ninflight;	/* invocations of every kind */
	unsigned		 nmessages;	/* MESSAGE ones: max_inflight */
	struct conn_channel	*channels;

	struct conn		*hnext;
};

struct conn	*conn_find(const char *id, size_t len);
void		 conn_foreach(void (*)(struct conn *, void *), void *);
int		 conn_enqueue(struct conn *, int kind, const void *, size_t);
void		 conn_close(struct conn *, int code, const char *reason);
void		 conn_send_error(struct conn *, const char *error,
		     const char *message, const char *route,
		     const char *request_id, int status);
void		 conn_accept(struct conn *, const char *, size_t,
		     const char *, size_t);
void		 conn_reject(struct conn *, int code, const char *reason);
void		 conn_set_context(struct conn *, const char *, size_t);
void		 conn_invocation_done(struct conn *, struct invocation *);
void		 conn_drain(struct conn *);

/* fcgi_client.c */
enum inv_event {
	INV_CONNECT,
	INV_MESSAGE,
	INV_DISCONNECT
};

struct invocation;
struct invocation *inv_new(struct conn *, struct config *, struct pool *,
		     enum inv_event, const char *route_key);
void		 inv_add_param(struct invocation *, const char *, const void *,
		     size_t);
void		 inv_add_param_str(struct invocation *, const char *,
		     const char *);
void		 inv_add_paramf(struct invocation *, const char *,
		     const char *, ...) printflike(3, 4);
void		 inv_submit(struct invocation *, const void *stdin_data,
		     size_t);
void		 inv_cancel(struct invocation *);
void		 inv_set_paused(struct invocation *, int);
struct invocation *inv_cnext(struct invocation *);
void		 pool_state_free(struct pool *);
void		 pool_stats(const struct pool *, unsigned *, unsigned *);

/* timerq.c */
struct timerq_entry {
	uint64_t	 deadline;	/* mono_usec */
	size_t		 pos;		/* heap index + 1; 0: not armed */
	void		(*cb)(struct timerq_entry *);
};
void		 timerq_arm(struct timerq_entry *, uint64_t,
		     void (*)(struct timerq_entry *));
void		 timerq_cancel(struct timerq_entry *);
int		 timerq_armed(const struct timerq_entry *);
void		 timerq_clear(void);

/* channel.c */
int		 channel_join(struct conn *, const char *, size_t);
int		 channel_leave(struct conn *, const char *, size_t);
void		 channel_leave_all(struct conn *);
long		 channel_publish(const char *, size_t, int kind, const void *,
		     size_t);
unsigned	 channel_count(void);
void		 channel_list(struct conn *, struct dbuf *);

/* maskcheck.c */
void		 maskcheck_watch(int);
int		 maskcheck_violated(int);

/* listenshare.c */
void		 listenshare_set(int);

/* subproto.c */
void		 subproto_recv(int, char *, size_t);
char		*subproto_take(int);
void		 subproto_forget(int);

/* The lws protocol callbacks (conn.c, fcgi_client.c, mgmt.c). */
#ifdef LWS_PROTOCOL_CALLBACKS
int		 conn_callback(struct lws *, enum lws_callback_reasons, void *,
		     void *, size_t);
int		 fcgi_callback(struct lws *, enum lws_callback_reasons, void *,
		     void *, size_t);
int		 mgmt_callback(struct lws *, enum lws_callback_reasons, void *,
		     void *, size_t);
#endif

/* metrics.c */
enum err_kind {
	ERR_NO_ROUTE,
	ERR_BUSY,
	ERR_HANDLER_UNAVAILABLE,
	ERR_HANDLER_TIMEOUT,
	ERR_HANDLER_ERROR,
	ERR_HANDLER_STATUS,
	ERR_SHUTTING_DOWN,
	ERR_MESSAGE_TOO_BIG,
	ERR_INVALID_UTF8,
	ERR_BINARY_REFUSED,
	ERR_ORIGIN_REFUSED,
	ERR_BAD_UPGRADE,
	ERR_QUEUE_OVERFLOW,
	ERR_CONNECT_REJECTED,
	ERR_PROTOCOL,
	ERR__MAX
};
struct metrics {
	uint64_t	connections_total;
	uint64_t	messages_in;
	uint64_t	messages_out;
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	uint64_t	queue_drops;	/* by design never incremented */
	uint64_t	pushes;
	uint64_t	publishes;
	uint64_t	errors[ERR__MAX];
	uint64_t	disconnects;
};
extern struct metrics metrics;
const char	*err_kind_name(enum err_kind);
void		 metrics_error(enum err_kind);
void		 metrics_invocation(const char *route, int status,
		     const char *outcome, uint64_t first_byte_us,
		     uint64_t total_us);
int		 metrics_app_count(const char *, const char *, uint64_t);
void		 metrics_render(struct dbuf *);

#endif
