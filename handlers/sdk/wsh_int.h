/*
 * wsh_int.h: the SDK's private header, in sections by file. Public
 * declarations are in <wsrouter/wsh.h>.
 */
#ifndef WSH_INT_H
#define WSH_INT_H

#include <pthread.h>
#include <stddef.h>

#include <fcgiapp.h>

#include "common.h"
#include "wsrouter/wsh.h"

#define WSH_GRACE_DEFAULT	10000	/* ms to drain on SIGTERM */
#define WSH_BACKLOG_DEFAULT	128
#define WSH_THREADS_MAX		4096
#define WSH_API_BODY_MAX	(1024 * 1024)

/* wsh_run.c */
struct wsh_server;

enum wsh_worker_state {
	WSH_WORKER_STARTING = 0,
	WSH_WORKER_IDLE,	/* in FCGX_Accept_r */
	WSH_WORKER_BUSY,	/* running an invocation */
	WSH_WORKER_EXITED
};

struct wsh_worker {
	struct wsh_server	*w_srv;
	pthread_t		 w_tid;
	enum wsh_worker_state	 w_state;
	FCGX_Request		 w_req;
	struct wsh_api		*w_api;		/* reused */
};

struct wsh_server {
	wsh_handler		*srv_fn;
	void			*srv_arg;
	int			 srv_fd;
	int			 srv_tcp;	/* srv_fd is a TCP socket */
	int			 srv_threads;
	size_t			 srv_max_payload;
	int			 srv_grace_ms;
	int			 srv_stopping;
	int			 srv_nexited;
	pthread_mutex_t		 srv_lock;
	struct wsh_worker	*srv_workers;
};

/* wsh_event.c */
struct wsh_event {
	struct wsh_worker	*ev_worker;	/* NULL in CGI mode */
	FCGX_Request		*ev_req;	/* NULL in CGI mode */
	char			**ev_envp;
	int			 ev_fd;		/* polled: hangup */

	enum wsh_event_type	 ev_type;
	const char		*ev_name;
	const char		*ev_connection_id;
	const char		*ev_request_id;
	const char		*ev_route_key;
	const char		*ev_endpoint;
	const char		*ev_identity;
	const char		*ev_context;
	const char		*ev_query;
	struct dbuf		 ev_payload;
	int			 ev_payload_too_big;
	int			 ev_binary;
	int			 ev_close_code;
	const char		*ev_close_reason;

	/* The response. */
	int			 ev_status;
	char			*ev_status_reason;
	char			*ev_content_type;	/* NULL: events */
	char			*ev_identity_out;
	char			*ev_context_out;
	int			 ev_headers_sent;
	int			 ev_rejected;
	int			 ev_dead;		/* a write failed */

	struct wsh_api		*ev_api;	/* CGI mode's client */

	/* Strings handed out by accessors, freed with the event. */
	char			**ev_owned;
	size_t			 ev_nowned;
};

void		 wsh_event_init(struct wsh_event *, struct wsh_worker *,
		    FCGX_Request *, char **, int);
int		 wsh_event_read(struct wsh_event *, size_t);
void		 wsh_event_free(struct wsh_event *);
char		*wsh_event_keep(struct wsh_event *, char *);

/* wsh_send.c */
int		 wsh_finish(struct wsh_event *);
int		 wsh_respond_error(struct wsh_event *, int, const char *);

/* wsh_api.c */
void		 wsh_api_global_init(void);

#endif
