/*
 * wsh_run.c: the accept loop. N threads each block in FCGX_Accept_r on one
 * listening socket (fd 0 under spawn-fcgi, or one we bind) and run one
 * invocation at a time, so a process serves N invocations at once. The
 * main thread waits for SIGTERM or SIGINT, stops accepting, lets running
 * invocations finish for a grace period, and returns.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsh_int.h"

extern char	**environ;

static volatile sig_atomic_t wsh_got_usr1;

static void	 wsh_usage(const char *);
static long	 wsh_env_long(const char *, long, long, long);
static void	 wsh_sigusr1(int);
static int	 wsh_listen(const char *, int, int, char **);
static void	 wsh_serve(struct wsh_server *, struct wsh_worker *,
		    FCGX_Request *, char **, int);
static int	 wsh_is_tcp(int);
static void	*wsh_worker_main(void *);
static void	 wsh_set_state(struct wsh_server *, struct wsh_worker *,
		    enum wsh_worker_state);
static int	 wsh_drain(struct wsh_server *);
static int	 wsh_cgi_once(struct wsh_server *);

static void
wsh_usage(const char *name)
{
	fprintf(stderr, "usage: %s [-v] [-M mode] [-s unix:/path | "
	    "host:port] [-t threads]\n", name);
}

/* An integer from the environment, or def when unset or out of range. */
static long
wsh_env_long(const char *name, long min, long max, long def)
{
	const char	*s = getenv(name);
	char		*end;
	long		 v;

	if (s == NULL || *s == '\0')
		return (def);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		log_warnx("%s: ignoring %s=%s", __func__, name, s);
		return (def);
	}
	return (v);
}

void
wsh_log(enum wsh_log_level level, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	if ((int)level > (int)log_get_level())
		return;
	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	switch (level) {
	case WSH_LOG_ERROR:
	case WSH_LOG_WARN:
		log_warnx("%s", s);
		break;
	case WSH_LOG_INFO:
		log_info("%s", s);
		break;
	default:
		log_debug("%s", s);
		break;
	}
	free(s);
}

int
wsh_main(int argc, char **argv, wsh_handler *fn, void *arg)
{
	struct wsh_config	 cfg;
	const char		*name, *s;
	enum log_level		 level = LOG_LEVEL_INFO;
	char			*end;
	long			 v;
	int			 ch;

	name = argc > 0 && argv[0] != NULL ? argv[0] : "handler";
	if ((s = strrchr(name, '/')) != NULL)
		name = s + 1;
	if ((s = getenv("WSH_LOG_LEVEL")) != NULL && log_level_parse(s,
	    &level) == -1)
		level = LOG_LEVEL_INFO;
	log_init(name, level, 0);

	memset(&cfg, 0, sizeof cfg);
	while ((ch = getopt(argc, argv, "hM:s:t:v")) != -1) {
		switch (ch) {
		case 'M':
			errno = 0;
			v = strtol(optarg, &end, 8);
			if (errno != 0 || *end != '\0' || v <= 0 || v > 0777) {
				log_warnx("bad socket mode: %s", optarg);
				return (1);
			}
			cfg.socket_mode = (int)v;
			break;
		case 's':
			cfg.listen = optarg;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 ||
			    v > WSH_THREADS_MAX) {
				log_warnx("bad thread count: %s", optarg);
				return (1);
			}
			cfg.threads = (int)v;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		default:
			wsh_usage(name);
			return (ch == 'h' ? 0 : 1);
		}
	}
	if (optind != argc) {
		wsh_usage(name);
		return (1);
	}
	return (wsh_run(&cfg, fn, arg) == 0 ? 0 : 1);
}

/*
 * SIGUSR1 means "stop accepting", as libfcgi's own handler does: with
 * shutdownPending set, an accept(2) interrupted by it makes FCGX_Accept_r
 * fail instead of retrying. Other signals' EINTR are retried by libfcgi.
 */
static void
wsh_sigusr1(int sig)
{
	(void)sig;
	wsh_got_usr1 = 1;
	FCGX_ShutdownPending();
}

/*
 * Listen on unix:/path (or /path) or host:port. We bind ourselves rather
 * than with FCGX_OpenSocket, which exits on a bind error and unlinks
 * whatever the path names. A unix socket gets the mode (0600 by default)
 * and its path goes to *unlink_path.
 */
static int
wsh_listen(const char *addr, int mode, int backlog, char **unlink_path)
{
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *res = NULL, *ai;
	struct stat		 st;
	const char		*path, *colon;
	char			*host = NULL;
	mode_t			 old;
	int			 fd = -1, on = 1, error;

	*unlink_path = NULL;
	if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/') {
		path = addr[0] == '/' ? addr : addr + 5;
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (*path == '\0' || strlen(path) >= sizeof sun.sun_path) {
			log_warnx("%s: bad unix socket path: %s", __func__,
			    path);
			return (-1);
		}
		memcpy(sun.sun_path, path, strlen(path));
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);	/* a stale socket of ours */
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			goto fail;
		old = umask(0177);
		error = bind(fd, (struct sockaddr *)&sun, sizeof sun);
		umask(old);
		if (error == -1)
			goto fail;
		*unlink_path = xstrdup(path);
		if (chmod(path, (mode_t)(mode != 0 ? mode : 0600)) == -1 ||
		    listen(fd, backlog) == -1)
			goto fail;
		return (fd);
	}

	/* host:port, [v6]:port; the host is required. */
	if ((colon = strrchr(addr, ':')) == NULL || colon == addr ||
	    colon[1] == '\0' || addr[0] == '*') {
		log_warnx("%s: listen on unix:/path or an explicit host:port, "
		    "not %s", __func__, addr);
		return (-1);
	}
	if (addr[0] == '[' && colon[-1] == ']')
		host = xstrndup(addr + 1, (size_t)(colon - addr - 2));
	else
		host = xstrndup(addr, (size_t)(colon - addr));
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((error = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		log_warnx("%s: %s: %s", __func__, addr, gai_strerror(error));
		free(host);
		return (-1);
	}
	free(host);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		goto fail;
	return (fd);
fail:
	log_warn("%s: %s", __func__, addr);
	if (fd != -1)
		close(fd);
	if (*unlink_path != NULL) {
		unlink(*unlink_path);
		free(*unlink_path);
		*unlink_path = NULL;
	}
	return (-1);
}

int
wsh_run(const struct wsh_config *cfg, wsh_handler *fn, void *arg)
{
	struct wsh_server	*srv;
	struct sigaction	 sa, term;
	sigset_t		 set, old;
	struct timespec		 tick = { 0, 250 * 1000 * 1000 };
	char			*unlink_path = NULL;
	int			 i, sig, rv = -1, started = 0, failed = 0;

	/* On the heap: workers still running at exit keep pointing here. */
	srv = xcalloc(1, sizeof *srv);
	srv->srv_fn = fn;
	srv->srv_arg = arg;
	srv->srv_fd = -1;
	srv->srv_threads = cfg->threads > 0 ? cfg->threads :
	    (int)wsh_env_long("WSH_THREADS", 1, WSH_THREADS_MAX,
	    WSH_THREADS_DEFAULT);
	srv->srv_max_payload = cfg->max_payload > 0 ? cfg->max_payload :
	    (size_t)wsh_env_long("WSH_MAX_PAYLOAD", 1, LONG_MAX,
	    WSH_PAYLOAD_DEFAULT);
	srv->srv_grace_ms = cfg->grace_ms > 0 ? cfg->grace_ms :
	    (int)wsh_env_long("WSH_GRACE_MS", 1, INT_MAX, WSH_GRACE_DEFAULT);
	pthread_mutex_init(&srv->srv_lock, NULL);

	/* Writes to a vanished peer fail with EPIPE instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = wsh_sigusr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: accept(2) must see EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	wsh_api_global_init();
	sigaction(SIGTERM, NULL, &term);
	if (FCGX_Init() != 0) {
		log_warnx("%s: FCGX_Init failed", __func__);
		goto out;
	}
	/*
	 * Debian's libfcgi also catches SIGTERM and SIGPIPE: put back ours.
	 * The workers never see SIGTERM (the main thread takes it), and a
	 * handler run once from a shell dies of it as any program does.
	 */
	sigaction(SIGTERM, &term, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cfg->listen != NULL) {
		srv->srv_fd = wsh_listen(cfg->listen, cfg->socket_mode,
		    cfg->backlog > 0 ? cfg->backlog : WSH_BACKLOG_DEFAULT,
		    &unlink_path);
		if (srv->srv_fd == -1)
			goto out;
	} else if (FCGX_IsCGI()) {
		rv = wsh_cgi_once(srv);
		goto out;
	} else
		srv->srv_fd = 0;
	srv->srv_tcp = wsh_is_tcp(srv->srv_fd);

	/*
	 * The workers inherit a mask that blocks the stop signals, which the
	 * main thread takes with sigtimedwait(); they unblock SIGUSR1, which
	 * interrupts their accept(2) when we stop.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);

	srv->srv_workers = xcalloc(srv->srv_threads,
	    sizeof *srv->srv_workers);
	for (i = 0; i < srv->srv_threads; i++) {
		srv->srv_workers[i].w_srv = srv;
		if (pthread_create(&srv->srv_workers[i].w_tid, NULL,
		    wsh_worker_main, &srv->srv_workers[i]) != 0) {
			log_warnx("%s: pthread_create failed", __func__);
			srv->srv_threads = i;
			break;
		}
		started++;
	}
	if (started == 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto out;
	}
	log_info("%s: serving with %d threads%s%s", __func__, started,
	    cfg->listen != NULL ? " on " : "",
	    cfg->listen != NULL ? cfg->listen : "");

	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1) {
			log_info("%s: signal %d, stopping", __func__, sig);
			break;
		}
		pthread_mutex_lock(&srv->srv_lock);
		i = srv->srv_nexited;
		pthread_mutex_unlock(&srv->srv_lock);
		if (i > 0 && wsh_got_usr1) {
			log_info("%s: SIGUSR1, stopping", __func__);
			break;
		}
		if (i > 0) {
			log_warnx("%s: a worker cannot accept, stopping",
			    __func__);
			failed = 1;
			break;
		}
	}
	if (wsh_drain(srv) == -1) {
		/* Some invocations still run: leave srv to exit(3). */
		srv = NULL;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rv = failed ? -1 : 0;
out:
	if (unlink_path != NULL) {
		unlink(unlink_path);
		free(unlink_path);
	}
	if (srv != NULL) {
		for (i = 0; i < started; i++)
			pthread_join(srv->srv_workers[i].w_tid, NULL);
		if (srv->srv_fd > 0)
			close(srv->srv_fd);
		pthread_mutex_destroy(&srv->srv_lock);
		free(srv->srv_workers);
		free(srv);
	}
	return (rv);
}

static void
wsh_set_state(struct wsh_server *srv, struct wsh_worker *w,
    enum wsh_worker_state state)
{
	pthread_mutex_lock(&srv->srv_lock);
	w->w_state = state;
	if (state == WSH_WORKER_EXITED)
		srv->srv_nexited++;
	pthread_mutex_unlock(&srv->srv_lock);
}

/*
 * Stop accepting and wait for running invocations, up to the grace time.
 * Idle workers get SIGUSR1 until they leave accept(2); a worker that just
 * took a connection is BUSY by then and never interrupted. Returns 0 when
 * every worker has exited, -1 when the grace time ran out first.
 */
static int
wsh_drain(struct wsh_server *srv)
{
	uint64_t		 deadline;
	struct timespec		 nap = { 0, 20 * 1000 * 1000 };
	struct wsh_worker	*w;
	int			 i, running, busy;

	deadline = mono_usec() + (uint64_t)srv->srv_grace_ms * 1000;
	FCGX_ShutdownPending();
	for (;;) {
		running = busy = 0;
		pthread_mutex_lock(&srv->srv_lock);
		srv->srv_stopping = 1;
		for (i = 0; i < srv->srv_threads; i++) {
			w = &srv->srv_workers[i];
			if (w->w_state == WSH_WORKER_EXITED)
				continue;
			running++;
			if (w->w_state == WSH_WORKER_BUSY)
				busy++;
			else
				pthread_kill(w->w_tid, SIGUSR1);
		}
		pthread_mutex_unlock(&srv->srv_lock);
		if (running == 0)
			return (0);
		if (mono_usec() >= deadline) {
			log_warnx("%s: %d invocations still running after "
			    "%d ms, exiting", __func__, busy,
			    srv->srv_grace_ms);
			return (-1);
		}
		nanosleep(&nap, NULL);
	}
}

/* 1 if fd is a TCP socket (a unix socket takes no TCP_NODELAY). */
static int
wsh_is_tcp(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return (0);
	return (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

static void *
wsh_worker_main(void *arg)
{
	struct wsh_worker	*w = arg;
	struct wsh_server	*srv = w->w_srv;
	struct timespec		 backoff = { 0, 10 * 1000 * 1000 };
	sigset_t		 set;
	int			 rc, stopping, on = 1, nodelay_fd = -1;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	FCGX_InitRequest(&w->w_req, srv->srv_fd, 0);

	for (;;) {
		pthread_mutex_lock(&srv->srv_lock);
		stopping = srv->srv_stopping;
		if (!stopping)
			w->w_state = WSH_WORKER_IDLE;
		pthread_mutex_unlock(&srv->srv_lock);
		if (stopping)
			break;

		rc = FCGX_Accept_r(&w->w_req);
		if (rc < 0) {
			pthread_mutex_lock(&srv->srv_lock);
			stopping = srv->srv_stopping;
			pthread_mutex_unlock(&srv->srv_lock);
			if (stopping || wsh_got_usr1)
				break;
			log_warnx("%s: FCGX_Accept_r: %s", __func__,
			    strerror(-rc));
			/* Not a listening socket: nothing to wait for. */
			if (rc == -EBADF || rc == -ENOTSOCK || rc == -EINVAL)
				break;
			/* EMFILE and friends: back off, do not give up. */
			nanosleep(&backoff, NULL);
			if (backoff.tv_nsec < 512 * 1000 * 1000)
				backoff.tv_nsec *= 2;
			continue;
		}
		backoff.tv_nsec = 10 * 1000 * 1000;
		/*
		 * Small flushed frames must not wait for Nagle: set once per
		 * TCP connection, not per request on a kept-alive one.
		 */
		if (srv->srv_tcp && w->w_req.ipcFd != nodelay_fd) {
			setsockopt(w->w_req.ipcFd, IPPROTO_TCP, TCP_NODELAY,
			    &on, sizeof on);
			nodelay_fd = w->w_req.ipcFd;
		}
		wsh_set_state(srv, w, WSH_WORKER_BUSY);
		wsh_serve(srv, w, &w->w_req, w->w_req.envp, w->w_req.ipcFd);
		FCGX_Finish_r(&w->w_req);
		if (w->w_req.ipcFd == -1)	/* closed: the number may return */
			nodelay_fd = -1;
	}
	FCGX_Free(&w->w_req, 1);
	wsh_api_free(w->w_api);
	w->w_api = NULL;
	wsh_set_state(srv, w, WSH_WORKER_EXITED);
	return (NULL);
}

/* One invocation: read the event, call the handler, end the response. */
static void
wsh_serve(struct wsh_server *srv, struct wsh_worker *w, FCGX_Request *req,
    char **envp, int fd)
{
	struct wsh_event	ev;
	uint64_t		start = mono_usec();
	int			rv;

	wsh_event_init(&ev, w, req, envp, fd);
	if (wsh_event_read(&ev, srv->srv_max_payload) == -1) {
		log_warnx("%s: %s %s: reading the payload failed", __func__,
		    ev.ev_name, ev.ev_request_id);
		goto out;
	}
	if (ev.ev_payload_too_big) {
		log_warnx("%s: %s %s: payload over %zu bytes", __func__,
		    ev.ev_name, ev.ev_request_id, srv->srv_max_payload);
		wsh_respond_error(&ev, 413, "payload too large\n");
		goto out;
	}
	if (ev.ev_type == WSH_UNKNOWN) {
		log_warnx("%s: not a wsrouter event (WS_EVENT=%s)", __func__,
		    ev.ev_name);
		wsh_respond_error(&ev, 400, "not a wsrouter event\n");
		goto out;
	}

	rv = srv->srv_fn(&ev, srv->srv_arg);
	if (rv != 0 && !ev.ev_headers_sent) {
		ev.ev_status = 500;
		free(ev.ev_content_type);
		ev.ev_content_type = NULL;
	}
	if (rv != 0 && !ev.ev_dead)
		log_debug("%s: %s %s: the handler failed", __func__,
		    ev.ev_name, ev.ev_request_id);
	wsh_finish(&ev);
	log_debug("%s: %s %s %s: status %d, %llu us%s", __func__, ev.ev_name,
	    ev.ev_connection_id, ev.ev_request_id, ev.ev_status,
	    (unsigned long long)(mono_usec() - start),
	    ev.ev_dead ? ", peer gone" : "");
out:
	wsh_event_free(&ev);
}

/* Started by hand, not by spawn-fcgi: serve one CGI request and return. */
static int
wsh_cgi_once(struct wsh_server *srv)
{
	wsh_serve(srv, NULL, NULL, environ, STDOUT_FILENO);
	return (0);
}
