/*
 * wsh.h: the wsrouter handler SDK. A handler is a function called once per
 * WebSocket event (CONNECT, MESSAGE, DISCONNECT); the SDK runs the threaded
 * FastCGI accept loop around it, gives typed access to the event, writes
 * the application/websocket-events response, and talks to the router's
 * management API. See docs/sdk.md and docs/handler-contract.md.
 *
 * Ownership: every string an event accessor returns is borrowed and lives
 * until the handler function returns. Strings and JSON values passed in are
 * borrowed too: the SDK copies what it keeps. An event belongs to the thread
 * the SDK called the handler on; calls on one event must not run
 * concurrently.
 *
 * Errors: calls return 0 (or a value) on success and -1 on failure. A send
 * returns -1 once the client or the router is gone; the handler should then
 * stop its work and return.
 */
#ifndef WSROUTER_WSH_H
#define WSROUTER_WSH_H

#include <stddef.h>

#include <jansson.h>

#define WSH_VERSION		"0.1.0"

#define WSH_THREADS_DEFAULT	16
#define WSH_PAYLOAD_DEFAULT	(16 * 1024 * 1024)
#define WSH_IDENTITY_MAX	1024	/* X-WS-Identity */
#define WSH_CONTEXT_MAX		8192	/* X-WS-Context, compact */
#define WSH_CHANNEL_MAX		128
#define WSH_REASON_MAX		123	/* close reason, in bytes */

#if defined(__GNUC__) || defined(__clang__)
#define WSH_PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define WSH_PRINTFLIKE(a, b)
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum wsh_event_type {
	WSH_UNKNOWN = 0,
	WSH_CONNECT,
	WSH_MESSAGE,
	WSH_DISCONNECT
};

enum wsh_log_level {
	WSH_LOG_ERROR = 0,
	WSH_LOG_WARN,
	WSH_LOG_INFO,
	WSH_LOG_DEBUG
};

struct wsh_event;
struct wsh_api;

/*
 * How wsh_run() serves. Zero fields take their defaults, which the
 * environment can change: WSH_THREADS, WSH_MAX_PAYLOAD, WSH_GRACE_MS.
 */
struct wsh_config {
	const char	*listen;	/* unix:/p or host:port; NULL: fd 0 */
	int		 socket_mode;	/* unix socket's; 0: 0600 */
	int		 threads;	/* concurrent invocations; 0: 16 */
	size_t		 max_payload;	/* STDIN cap; 0: 16 MiB */
	int		 grace_ms;	/* SIGTERM drain time; 0: 10000 */
	int		 backlog;	/* listen(2) backlog; 0: 128 */
};

/* The handler: return 0, or -1 to fail the invocation (status 500). */
typedef int wsh_handler(struct wsh_event *, void *);

/*
 * Parse the command line (-s listen, -t threads, -M mode, -v) and serve
 * until SIGTERM or SIGINT. Returns the process exit status: return it from
 * main(). Under spawn-fcgi the listening socket is fd 0; started by hand
 * with neither, the program serves one CGI request from its environment
 * and standard input, which is handy for trying a handler in a shell.
 */
int		 wsh_main(int, char **, wsh_handler *, void *);
int		 wsh_run(const struct wsh_config *, wsh_handler *, void *);
void		 wsh_log(enum wsh_log_level, const char *, ...)
		    WSH_PRINTFLIKE(2, 3);

/* The event. */
enum wsh_event_type wsh_event_type(const struct wsh_event *);
const char	*wsh_event_name(const struct wsh_event *);
const char	*wsh_connection_id(const struct wsh_event *);
const char	*wsh_request_id(const struct wsh_event *);
const char	*wsh_route_key(const struct wsh_event *);
const char	*wsh_endpoint(const struct wsh_event *);
const char	*wsh_identity(const struct wsh_event *);	/* or NULL */
const char	*wsh_context(const struct wsh_event *);	/* or NULL */
const char	*wsh_payload(const struct wsh_event *, size_t *);
int		 wsh_is_binary(const struct wsh_event *);
int		 wsh_close_code(const struct wsh_event *);	/* or 0 */
const char	*wsh_close_reason(const struct wsh_event *);
const char	*wsh_param(const struct wsh_event *, const char *);
const char	*wsh_header(struct wsh_event *, const char *);
const char	*wsh_query(const struct wsh_event *);
const char	*wsh_query_param(struct wsh_event *, const char *);

/* The response: CONNECT. */
int		 wsh_accept(struct wsh_event *, const char *, const char *);
int		 wsh_reject(struct wsh_event *, int, const char *);

/* The response: frames and control actions, flushed one by one. */
int		 wsh_set_status(struct wsh_event *, int);
int		 wsh_send_text(struct wsh_event *, const char *, size_t);
int		 wsh_send_textf(struct wsh_event *, const char *, ...)
		    WSH_PRINTFLIKE(2, 3);
int		 wsh_send_binary(struct wsh_event *, const void *, size_t);
int		 wsh_send_json(struct wsh_event *, const json_t *);
int		 wsh_join(struct wsh_event *, const char *);
int		 wsh_leave(struct wsh_event *, const char *);
int		 wsh_set_context(struct wsh_event *, const char *);
int		 wsh_close(struct wsh_event *, int, const char *);
int		 wsh_count(struct wsh_event *, const char *, int);

/* The response: any other body format, written as is. */
int		 wsh_set_content_type(struct wsh_event *, const char *);
int		 wsh_write_raw(struct wsh_event *, const void *, size_t);

/* Cancellation: is the client (or the router) gone? */
int		 wsh_cancelled(struct wsh_event *);
int		 wsh_sleep_ms(struct wsh_event *, int);
int		 wsh_fd(const struct wsh_event *);

/*
 * The management API client (libcurl). One client per thread. Each call
 * returns the HTTP status (410 for a gone connection), or -1 when the
 * router could not be reached.
 */
struct wsh_api	*wsh_api_new(const char *);
struct wsh_api	*wsh_api_from_event(struct wsh_event *);
void		 wsh_api_free(struct wsh_api *);
void		 wsh_api_set_timeout(struct wsh_api *, long);
const char	*wsh_api_error(const struct wsh_api *);
int		 wsh_api_push_text(struct wsh_api *, const char *,
		    const char *, size_t);
int		 wsh_api_push_binary(struct wsh_api *, const char *,
		    const void *, size_t);
int		 wsh_api_info(struct wsh_api *, const char *, char **);
int		 wsh_api_close(struct wsh_api *, const char *, int);
int		 wsh_api_publish_text(struct wsh_api *, const char *,
		    const char *, size_t);
int		 wsh_api_publish_binary(struct wsh_api *, const char *,
		    const void *, size_t);

#ifdef __cplusplus
}
#endif

#endif
