/*
 * wsrouter.c: the daemon: options, the lws context and its listeners,
 * signals, the graceful drain on SIGTERM and the reload on SIGHUP.
 */
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "config.h"
#define LWS_PROTOCOL_CALLBACKS
#include "wsrouter.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG	SYSCONFDIR "/wsrouter/wsrouter.conf"
#define EXIT_GRACE_USEC	(5 * 1000 * 1000)

struct router		*router;

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_hup;
static lws_sorted_usec_list_t sweep_sul;
static lws_sorted_usec_list_t drain_sul;
static lws_sorted_usec_list_t signal_sul;

#define SIGNAL_TICK_USEC	(100 * 1000)	/* see signal_tick */
static const lws_retry_bo_t no_validity;	/* all zero: none */
static struct lws_http_mount static_mount;
static const struct lws_protocol_vhost_options static_mime_json = {
	NULL, NULL, ".json", "application/json"
};

/*
 * lws allocates rx_buffer_size bytes for every WebSocket connection at the
 * upgrade, and reads at most that much per turn. Its default, 4 KiB, was
 * two thirds of an idle connection's memory; 1 KiB keeps an idle
 * connection under 3 KB (bench/README.md, idle scenario) and costs a few
 * more reads for a large message. lws also caps each send at the rx buffer
 * size unless tx_packet_size says otherwise, which would cut a 64 KiB
 * message into 64 sends: WS_TX_PACKET lets the kernel take what it can.
 */
#define WS_RX_BUFFER	1024
#define WS_TX_PACKET	(256 * 1024)

static const struct lws_protocols ws_protocols[] = {
	{ "wsrouter", conn_callback, sizeof (void *), WS_RX_BUFFER, 0, NULL,
	    WS_TX_PACKET },
	{ "wsrouter-fcgi", fcgi_callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const struct lws_protocols api_protocols[] = {
	{ "http", mgmt_callback, 64, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static __dead void usage(void);
static void	 on_signal(int);
static void	 signal_check(void);
static void	 signal_tick(lws_sorted_usec_list_t *);
static void	 lws_log(int, const char *);
static int	 create_vhosts(struct config *);
static void	 sweep(lws_sorted_usec_list_t *);
static void	 sweep_conn(struct conn *, void *);
static void	 drain_start(void);
static void	 drain_deadline(lws_sorted_usec_list_t *);
static void	 force_close(struct conn *, void *);
static void	 drain_conn(struct conn *, void *);
static void	 reload(void);
static int	 load(const char *, struct config **);
static const char *bind_host(const char *);

static __dead void
usage(void)
{
	fprintf(stderr, "usage: wsrouter [-tV] [-c file] [-l level]\n");
	exit(1);
}

/* Act on the signals caught since the last look. */
static void
signal_check(void)
{
	if (got_term) {
		got_term = 0;
		drain_start();
	}
	if (got_hup) {
		got_hup = 0;
		reload();
	}
}

/*
 * libev restarts its wait when a signal interrupts it, so the loop might
 * not turn until the next event: look at the flags on a timer as well.
 */
static void
signal_tick(lws_sorted_usec_list_t *sul)
{
	signal_check();
	if (!router->exiting)
		lws_sul_schedule(router->ctx, 0, sul, signal_tick,
		    SIGNAL_TICK_USEC);
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
	if (router != NULL && router->ctx != NULL)
		lws_cancel_service(router->ctx);
}

static void
lws_log(int level, const char *line)
{
	size_t	n = strlen(line);

	while (n > 0 && line[n - 1] == '\n')
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

void
config_ref(struct config *cfg)
{
	cfg->refs++;
}

void
config_unref(struct config *cfg)
{
	size_t	i;

	if (cfg == NULL || --cfg->refs > 0)
		return;
	for (i = 0; i < cfg->npools; i++)
		pool_state_free(cfg->pools[i]);
	config_free(cfg);
}

/* The drain is over when no connection and no invocation is left. */
void
router_check_drained(void)
{
	if (router->draining && !router->exiting && router->nconns == 0 &&
	    router->ninvocations == 0) {
		log_info("%s: drained", __func__);
		router->exiting = 1;
		lws_cancel_service(router->ctx);
	}
}

static int
load(const char *path, struct config **out)
{
	struct dbuf	errors;
	int		rv;

	dbuf_init(&errors, 1 << 20);
	rv = config_load(path, out, &errors);
	if (rv == -1 && errors.len > 0)
		fprintf(stderr, "%s", dbuf_str(&errors));
	dbuf_free(&errors);
	return (rv);
}

/* lws takes a name as an interface name: bind localhost by address. */
static const char *
bind_host(const char *host)
{
	if (host != NULL && strcmp(host, "localhost") == 0)
		return ("127.0.0.1");
	return (host);
}

static int
create_vhosts(struct config *cfg)
{
	struct lws_context_creation_info	info;
	struct listen_addr			*l = &cfg->listen;

	memset(&info, 0, sizeof info);
	info.vhost_name = "ws";
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (l->unix_path != NULL) {
		info.options |= LWS_SERVER_OPTION_UNIX_SOCK;
		info.iface = l->unix_path;
		unlink(l->unix_path);
	} else {
		info.port = l->port;
		info.iface = bind_host(l->host);
		if (l->host != NULL && strchr(l->host, ':') == NULL)
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	}
	if (cfg->reuseport)
		info.options |= LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE;
	/*
	 * No lws "validity" timers: the router pings by itself (sweep_conn).
	 * Without this lws applies its default policy (a ping after 300 s),
	 * and arms each connection's timer at the upgrade and again on every
	 * pong, by a walk of its sorted timer list: 64% of the routers' CPU
	 * with 14,000 connections each answering pings.
	 */
	info.retry_and_idle_policy = &no_validity;
	info.timeout_secs = 10;
	if (cfg->static_root != NULL) {
		/* Kept for the process's life: a reload does not move it. */
		static_mount.mountpoint = "/";
		static_mount.mountpoint_len = 1;
		static_mount.origin = xstrdup(cfg->static_root);
		static_mount.def = "index.html";
		static_mount.origin_protocol = LWSMPRO_FILE;
		static_mount.extra_mimetypes = &static_mime_json;
		info.mounts = &static_mount;
	}
	listenshare_set(cfg->reuseport);	/* lws does not: see listenshare.c */
	router->vh_ws = lws_create_vhost(router->ctx, &info);
	listenshare_set(0);
	if (router->vh_ws == NULL) {
		log_warnx("%s: cannot listen on %s", __func__, l->text);
		return (-1);
	}
	if (l->unix_path != NULL)
		chmod(l->unix_path, l->unix_mode);
	snprintf(router->server_name, sizeof router->server_name, "%s",
	    l->host != NULL ? l->host : "localhost");
	snprintf(router->server_port, sizeof router->server_port, "%d",
	    l->port);

	if (!cfg->api_set)
		return (0);
	l = &cfg->api;
	memset(&info, 0, sizeof info);
	info.vhost_name = "api";
	info.protocols = api_protocols;
	if (l->unix_path != NULL) {
		info.options |= LWS_SERVER_OPTION_UNIX_SOCK;
		info.iface = l->unix_path;
		unlink(l->unix_path);
		snprintf(router->api_url, sizeof router->api_url, "unix:%s",
		    l->unix_path);
	} else {
		info.port = l->port;
		info.iface = bind_host(l->host);
		if (strchr(l->host, ':') == NULL)
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		snprintf(router->api_url, sizeof router->api_url,
		    strchr(l->host, ':') != NULL ? "http://[%s]:%d" :
		    "http://%s:%d", info.iface, l->port);
	}
	info.timeout_secs = 10;
	if ((router->vh_api = lws_create_vhost(router->ctx, &info)) == NULL) {
		log_warnx("%s: cannot listen on %s", __func__, l->text);
		return (-1);
	}
	if (l->unix_path != NULL)
		chmod(l->unix_path, l->unix_mode);
	return (0);
}

/* Once a second: the idle timeout. */
static void
sweep(lws_sorted_usec_list_t *sul)
{
	uint64_t	now = mono_usec();

	conn_foreach(sweep_conn, &now);
	lws_sul_schedule(router->ctx, 0, &sweep_sul, sweep, 1000 * 1000);
}

/*
 * Once a second: the idle timeout, and keepalive pings. The router pings
 * by itself rather than through lws's "validity" timers: lws 4.1.6 writes
 * its ping's timestamp into the buffer that holds a client ping's payload
 * until the pong goes out, so a pong that waited behind a full socket
 * carried the wrong payload (tests/protocol/hygiene.js). It also spares
 * a sorted-list insertion per pong.
 */
static void
sweep_conn(struct conn *c, void *arg)
{
	uint64_t	now = *(uint64_t *)arg;
	unsigned	idle = c->cfg->idle_timeout;
	uint64_t	ping = (uint64_t)c->cfg->ping_interval * 1000000;

	if (idle != 0 && c->state == CONN_OPEN && c->ninflight == 0 &&
	    now - c->last_rx_mono >= (uint64_t)idle * 1000000) {
		conn_close(c, 1001, "idle timeout");
		return;
	}
	if (ping == 0 || c->state != CONN_OPEN)
		return;
	if (now - c->last_heard_mono >= 2 * ping) {
		log_debug("%s: %s: no pong, hanging up", __func__, c->id);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	} else if (now - c->last_heard_mono >= ping &&
	    now - c->ping_sent_mono >= ping) {
		c->ping_due = 1;
		lws_callback_on_writable(c->wsi);
	}
}

static void
drain_start(void)
{
	if (router->draining)
		return;
	log_info("%s: draining %u connections, %u invocations", __func__,
	    router->nconns, router->ninvocations);
	router->draining = 1;
	conn_foreach(drain_conn, NULL);
	lws_sul_schedule(router->ctx, 0, &drain_sul, drain_deadline,
	    (lws_usec_t)router->cfg->shutdown_timeout * 1000000);
	router_check_drained();
}

static void
drain_conn(struct conn *c, void *arg)
{
	conn_drain(c);
}

static void
force_close(struct conn *c, void *arg)
{
	while (c->inv_head != NULL)
		inv_cancel(c->inv_head);
	if (c->state == CONN_CONNECTING)
		c->state = CONN_OPEN;
	conn_close(c, 1001, "server shutting down");
}

/* The shutdown timeout passed: close what is left, then give up. */
static void
drain_deadline(lws_sorted_usec_list_t *sul)
{
	if (router->exiting)
		return;
	if (router->drain_deadline == 0) {
		log_info("%s: shutdown timeout: closing %u connections",
		    __func__, router->nconns);
		router->drain_deadline = mono_usec();
		conn_foreach(force_close, NULL);
		lws_sul_schedule(router->ctx, 0, &drain_sul, drain_deadline,
		    EXIT_GRACE_USEC);
		return;
	}
	log_warnx("%s: exiting with %u connections and %u invocations left",
	    __func__, router->nconns, router->ninvocations);
	router->exiting = 1;
}

static void
reload(void)
{
	struct config	*cfg;

	log_info("%s: reloading %s", __func__, router->config_path);
	if (load(router->config_path, &cfg) == -1) {
		log_warnx("%s: configuration has errors, keeping the old one",
		    __func__);
		return;
	}
	if (strcmp(cfg->listen.text, router->cfg->listen.text) != 0 ||
	    cfg->api_set != router->cfg->api_set ||
	    (cfg->api_set && strcmp(cfg->api.text, router->cfg->api.text) != 0))
		log_warnx("%s: listen and api changes need a restart",
		    __func__);
	log_set_level(cfg->log_level);
	config_ref(cfg);
	config_unref(router->cfg);
	router->cfg = cfg;
	log_info("%s: new configuration in use for new connections",
	    __func__);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info	 info;
	struct ev_loop				*loop = NULL;
	void					*foreign[1];
	struct config				*cfg;
	struct sigaction			 sa;
	const char				*path = DEFAULT_CONFIG;
	const char				*level = NULL;
	enum log_level				 lv;
	char					 host[256];
	int					 ch, test = 0;

	log_init("wsrouter", LOG_LEVEL_INFO, 0);
	while ((ch = getopt(argc, argv, "c:hl:tV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("wsrouter %s (libwebsockets %s)\n", VERSION,
			    lws_get_library_version());
			return (0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (load(path, &cfg) == -1) {
		fprintf(stderr, "wsrouter: the configuration file %s has "
		    "errors\n", path);
		return (1);
	}
	if (test) {
		printf("wsrouter: the configuration file %s is valid\n", path);
		config_free(cfg);
		return (0);
	}
	lv = cfg->log_level;
	if (level != NULL && log_level_parse(level, &lv) == -1)
		fatalx("unknown log level %s", level);
	log_set_level(lv);
	lws_set_log_level(lv >= LOG_LEVEL_DEBUG ? LLL_ERR | LLL_WARN :
	    LLL_ERR, lws_log);

	router = xcalloc(1, sizeof *router);
	router->config_path = path;
	router->cfg = cfg;
	router->started_at = wall_usec();
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(router->instance, sizeof router->instance, "%.64s-%ld", host,
	    (long)getpid());
	config_ref(cfg);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&info, 0, sizeof info);
	/* lws checks UTF-8 validation on the context's options. */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS |
	    LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.fd_limit_per_thread = 0;
	/* Room for long tokens in a query, header or subprotocol list. */
	info.max_http_header_data = HTTP_HEAD_MAX;
	/*
	 * lws 4.1.6's own loop is poll(2) over every descriptor: at 10k idle
	 * connections it takes a whole core. Through its libev plugin it uses
	 * epoll. The loop is ours (a "foreign" one to lws), so that we turn
	 * it, and keep our signal handlers.
	 */
	if (cfg->event_loop == EVENT_LOOP_LIBEV) {
		if ((loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
			fatalx("cannot create the libev loop");
		foreign[0] = loop;
		info.foreign_loops = foreign;
		info.options |= LWS_SERVER_OPTION_LIBEV;
	}
	router->ctx = lws_create_context(&info);
	if (router->ctx == NULL && loop != NULL) {
		log_warnx("cannot start the libev event loop (Debian package "
		    "libwebsockets-evlib-ev); using poll");
		info.options &= ~LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = NULL;
		ev_loop_destroy(loop);
		loop = NULL;
		router->ctx = lws_create_context(&info);
	}
	if (router->ctx == NULL)
		fatalx("cannot create the libwebsockets context");
	if (create_vhosts(cfg) == -1) {
		lws_context_destroy(router->ctx);
		return (1);
	}
	log_info("wsrouter %s listening on %s%s%s", VERSION, cfg->listen.text,
	    cfg->api_set ? ", management API on " : "",
	    cfg->api_set ? cfg->api.text : "");
	lws_sul_schedule(router->ctx, 0, &sweep_sul, sweep, 1000 * 1000);
	lws_sul_schedule(router->ctx, 0, &signal_sul, signal_tick,
	    SIGNAL_TICK_USEC);

	while (!router->exiting) {
		if (loop != NULL)
			ev_run(loop, EVRUN_ONCE);
		else if (lws_service(router->ctx, 0) < 0)
			break;
		signal_check();
	}
	log_info("exiting");
	lws_context_destroy(router->ctx);
	timerq_clear();
	if (loop != NULL)
		ev_loop_destroy(loop);
	config_unref(router->cfg);
	free(router);
	return (0);
}
