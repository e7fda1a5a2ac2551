/*
 * loadgen.c: the WebSocket load generator: options, the phases of a run
 * (connect, warm up, measure, drain, close) on one epoll loop bounded by a
 * hard deadline, and the one-line JSON report. Scenarios (echo.c, stream.c,
 * idle.c) say what
 * the connections send; client.c does the protocol.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"
#include "loadgen.h"

#define LG_MAX_EVENTS		1024
#define LG_TICK_MS		10
#define LG_CLOSE_TIMEOUT	2.0	/* seconds for close handshakes */
#define LG_SLACK		5.0	/* seconds of slack in the deadline */
#define LG_CPU_WARN_PCT		90.0

static const struct scenario *scenarios[] = {
	&scenario_echo, &scenario_stream, &scenario_idle
};

static const char *const lg_error_names[ERR_MAX] = {
	"connect", "handshake", "protocol", "closed", "mismatch", "server",
	"timeout"
};

static __dead void usage(void);
static int	 lg_parse_url(struct loadgen *, const char *);
static int	 lg_resolve(struct loadgen *);
static int	 lg_parse_pids(struct loadgen *, const char *);
static double	 lg_parse_seconds(const char *, const char *);
static unsigned long long lg_parse_number(const char *, const char *,
		     unsigned long long, unsigned long long);
static int	 lg_run(struct loadgen *);
static void	 lg_connect_more(struct loadgen *);
static void	 lg_window_begin(struct loadgen *);
static void	 lg_window_end(struct loadgen *);
static void	 lg_close_all(struct loadgen *);
static void	 lg_report(struct loadgen *, int);
static uint64_t	 lg_sec(double);


static __dead void
usage(void)
{
	size_t	i;

	fprintf(stderr,
"usage: loadgen [-v] [-A first] [-a naddrs] [-b burst] [-C pid,...]\n"
"               [-c conns] [-d seconds] [-l label] [-M bytes] [-m size]\n"
"               [-n msgs] [-o origin] [-P ws|eio] [-p path] [-T seconds]\n"
"               [-u url] [-w seconds] [-X key=value] [scenario]\n"
"  -u URL     ws://HOST:PORT/PATH or HOST:PORT (default ws://127.0.0.1:8080/)\n"
"  -p PATH    the request path (overrides the URL's)\n"
"  -c CONNS   connections (default 100)\n"
"  -a N       spread connections over source addresses 127.0.0.1..127.0.0.N\n"
"             (loopback targets only; default 1 + CONNS / 20000)\n"
"  -A FIRST   the first source address is 127.0.0.FIRST (default 1)\n"
"  -P PROTO   ws: plain messages (default); eio: socket.io v4 \"message\"\n"
"             events over Engine.IO v4 (path /socket.io/?EIO=4&...)\n"
"  -d SECONDS measurement duration (default 10)\n"
"  -w SECONDS warmup before it, not recorded (default 0)\n"
"  -n MSGS    stop after this many measured messages (default: no limit)\n"
"  -m SIZE    message size in bytes (default 64)\n"
"  -T SECONDS connect phase timeout (default 10)\n"
"  -b BURST   connections being set up at once (default 64)\n"
"  -M BYTES   largest server message accepted (default 1048576)\n"
"  -C PIDS    server processes whose CPU (with descendants) is measured\n"
"  -l LABEL   the server's name in the report\n"
"  -o ORIGIN  send this Origin header\n"
"  -X K=V     a scenario option\n"
"scenarios:");
	for (i = 0; i < nitems(scenarios); i++)
		fprintf(stderr, " %s%s", scenarios[i]->sc_name,
		    scenarios[i]->sc_usage != NULL ? scenarios[i]->sc_usage : "");
	fprintf(stderr, "\nexit status: 0 clean run, 2 run with errors, "
	    "3 hard deadline hit, 1 setup failure\n");
	exit(1);
}

/* The servers' clock too (contract.h): token stamps compare with it. */
uint64_t
mono_nsec(void)
{
	return (contract_mono_ns());
}

static uint64_t
lg_sec(double s)
{
	return ((uint64_t)(s * 1e9));
}

void
loadgen_error(struct loadgen *lg, enum lg_error err)
{
	lg->lg_errors[err]++;
}

/* 1 while answers are to be recorded. */
int
loadgen_recording(struct loadgen *lg)
{
	return (lg->lg_phase == PHASE_MEASURE);
}

/* 1 while scenarios may start new requests. */
int
loadgen_sending(struct loadgen *lg)
{
	return (lg->lg_phase == PHASE_WARMUP || lg->lg_phase == PHASE_MEASURE);
}

/* Seconds in the measurement window (0 before it ended). */
double
loadgen_window(struct loadgen *lg)
{
	if (lg->lg_t_window_end <= lg->lg_t_window)
		return (0);
	return ((double)(lg->lg_t_window_end - lg->lg_t_window) / 1e9);
}

/* CPU seconds the server processes used in the window; -1 if unknown. */
double
loadgen_server_cpu(struct loadgen *lg)
{
	if (lg->lg_nserver_pids == 0 || lg->lg_t_window_end == 0 ||
	    lg->lg_cpu0_server < 0 || lg->lg_cpu1_server < 0)
		return (-1);
	return (lg->lg_cpu1_server - lg->lg_cpu0_server);
}

static double
lg_parse_seconds(const char *s, const char *what)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(d >= 0) || d > 86400)
		fatalx("%s: bad number of seconds: %s", what, s);
	return (d);
}

static unsigned long long
lg_parse_number(const char *s, const char *what, unsigned long long min,
    unsigned long long max)
{
	char			*end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || n < min ||
	    n > max)
		fatalx("%s: must be a number from %llu to %llu: %s", what, min,
		    max, s);
	return (n);
}

/* ws://HOST:PORT/PATH, HOST:PORT/PATH or HOST:PORT; [v6]:PORT too. */
static int
lg_parse_url(struct loadgen *lg, const char *url)
{
	const char	*p = url, *hend, *slash;
	char		*port;

	if (strncmp(p, "ws://", 5) == 0)
		p += 5;
	else if (strstr(p, "://") != NULL)
		return (-1);	/* wss and others are not supported */
	if ((slash = strchr(p, '/')) == NULL)
		slash = p + strlen(p);
	if (*p == '[') {
		if ((hend = memchr(p, ']', (size_t)(slash - p))) == NULL)
			return (-1);
		lg->lg_host = xstrndup(p + 1, (size_t)(hend - p - 1));
		hend++;
	} else {
		hend = memchr(p, ':', (size_t)(slash - p));
		if (hend == NULL)
			hend = slash;
		lg->lg_host = xstrndup(p, (size_t)(hend - p));
	}
	if (*hend == ':')
		port = xstrndup(hend + 1, (size_t)(slash - hend - 1));
	else if (hend == slash)
		port = xstrdup("80");
	else
		return (-1);
	if (*lg->lg_host == '\0' || *port == '\0') {
		free(port);
		return (-1);
	}
	lg->lg_port = port;
	lg->lg_path = xstrdup(*slash == '\0' ? "/" : slash);
	return (0);
}

static int
lg_resolve(struct loadgen *lg)
{
	struct addrinfo	 hints, *res;
	int		 error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	error = getaddrinfo(lg->lg_host, lg->lg_port, &hints, &res);
	if (error != 0) {
		log_warnx("%s: %s:%s: %s", __func__, lg->lg_host, lg->lg_port,
		    gai_strerror(error));
		return (-1);
	}
	memcpy(&lg->lg_dst, res->ai_addr, res->ai_addrlen);
	lg->lg_dstlen = res->ai_addrlen;
	freeaddrinfo(res);
	return (0);
}

static int
lg_parse_pids(struct loadgen *lg, const char *s)
{
	char	*copy, *tok, *save = NULL;

	copy = xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		lg->lg_server_pids = xreallocarray(lg->lg_server_pids,
		    lg->lg_nserver_pids + 1, sizeof *lg->lg_server_pids);
		lg->lg_server_pids[lg->lg_nserver_pids++] =
		    (pid_t)lg_parse_number(tok, "-C", 1, INT_MAX);
	}
	free(copy);
	return (lg->lg_nserver_pids == 0 ? -1 : 0);
}

static void
lg_connect_more(struct loadgen *lg)
{
	while (lg->lg_next_connect < lg->lg_conns &&
	    lg->lg_connecting < lg->lg_connect_burst)
		(void)client_start(&lg->lg_clients[lg->lg_next_connect++]);
}

static void
lg_window_begin(struct loadgen *lg)
{
	size_t	j;

	lg->lg_phase = PHASE_MEASURE;
	for (j = 0; j < lg->lg_nserver_pids; j++)
		lg->lg_cpu0_each[j] = cpu_tree(&lg->lg_server_pids[j], 1);
	lg->lg_cpu0_server = cpu_tree(lg->lg_server_pids, lg->lg_nserver_pids);
	lg->lg_cpu0_self = cpu_self();
	cpu_cores_read(&lg->lg_cores0);
	lg->lg_t_window = mono_nsec();
	if (lg->lg_scen->sc_window != NULL)
		lg->lg_scen->sc_window(lg);
}

static void
lg_window_end(struct loadgen *lg)
{
	size_t	j;

	lg->lg_t_window_end = mono_nsec();
	lg->lg_open_end = lg->lg_open;
	cpu_cores_read(&lg->lg_cores1);
	lg->lg_cpu1_self = cpu_self();
	lg->lg_cpu1_server = cpu_tree(lg->lg_server_pids, lg->lg_nserver_pids);
	for (j = 0; j < lg->lg_nserver_pids; j++)
		lg->lg_cpu1_each[j] = cpu_tree(&lg->lg_server_pids[j], 1);
	if (lg->lg_nserver_pids > 0 && lg->lg_mem_ok)
		lg->lg_mem_ok = mem_tree(lg->lg_server_pids,
		    lg->lg_nserver_pids, &lg->lg_mem1) == 0;
	lg->lg_phase = PHASE_DRAIN;
}

static void
lg_close_all(struct loadgen *lg)
{
	unsigned	i;

	lg->lg_phase = PHASE_CLOSE;
	for (i = 0; i < lg->lg_conns; i++)
		client_close(&lg->lg_clients[i], 1000);
}

/* The loop. Returns 0 when the run finished, -1 at the hard deadline. */
static int
lg_run(struct loadgen *lg)
{
	struct epoll_event	 evs[LG_MAX_EVENTS];
	const struct scenario	*sc = lg->lg_scen;
	struct client		*c;
	uint64_t		 t_drain = 0, t_close = 0;
	unsigned		 i;
	int			 n, k;

	lg->lg_phase = PHASE_CONNECT;
	for (;;) {
		lg->lg_now = mono_nsec();
		if (lg->lg_now >= lg->lg_hard_deadline) {
			log_warnx("hard deadline reached in phase %d; "
			    "the server may have stalled", lg->lg_phase);
			if (lg->lg_phase <= PHASE_MEASURE)
				lg_window_end(lg);
			return (-1);
		}
		switch (lg->lg_phase) {
		case PHASE_CONNECT:
			lg_connect_more(lg);
			if ((lg->lg_next_connect == lg->lg_conns &&
			    lg->lg_connecting == 0) || lg->lg_now >=
			    lg->lg_t_start + lg_sec(lg->lg_connect_timeout)) {
				for (i = 0; i < lg->lg_conns; i++) {
					c = &lg->lg_clients[i];
					if (c->c_state == CLIENT_IDLE ||
					    c->c_state == CLIENT_CONNECTING ||
					    c->c_state == CLIENT_HANDSHAKE) {
						loadgen_error(lg, ERR_CONNECT);
						client_kill(c, ERR_MAX);
					}
				}
				lg->lg_t_connected = lg->lg_now;
				if (lg->lg_open == 0) {
					log_warnx("no connection could be "
					    "opened");
					return (0);
				}
				if (lg->lg_warmup > 0)
					lg->lg_phase = PHASE_WARMUP;
				else
					lg_window_begin(lg);
				if (sc->sc_start != NULL)
					sc->sc_start(lg);
			}
			break;
		case PHASE_WARMUP:
			if (lg->lg_now >= lg->lg_t_connected +
			    lg_sec(lg->lg_warmup))
				lg_window_begin(lg);
			break;
		case PHASE_MEASURE:
			if (lg->lg_now >= lg->lg_t_window +
			    lg_sec(lg->lg_duration) || lg->lg_scen_done ||
			    lg->lg_open == 0) {
				lg_window_end(lg);
				t_drain = lg->lg_now;
			}
			break;
		case PHASE_DRAIN:
			if (sc->sc_pending == NULL || sc->sc_pending(lg) == 0 ||
			    lg->lg_open == 0) {
				lg_close_all(lg);
				t_close = lg->lg_now;
			} else if (lg->lg_now >= t_drain +
			    lg_sec(lg->lg_drain_timeout)) {
				lg->lg_errors[ERR_TIMEOUT] += sc->sc_pending(lg);
				log_warnx("%llu answers did not come within "
				    "%.1f s", (unsigned long long)
				    sc->sc_pending(lg), lg->lg_drain_timeout);
				lg_close_all(lg);
				t_close = lg->lg_now;
			}
			break;
		case PHASE_CLOSE:
			if (lg->lg_open == 0 || lg->lg_now >= t_close +
			    lg_sec(LG_CLOSE_TIMEOUT)) {
				for (i = 0; i < lg->lg_conns; i++)
					client_kill(&lg->lg_clients[i], ERR_MAX);
				lg->lg_phase = PHASE_DONE;
			}
			break;
		case PHASE_DONE:
			break;
		}
		if (lg->lg_phase == PHASE_DONE)
			return (0);

		n = epoll_wait(lg->lg_epfd, evs, LG_MAX_EVENTS, LG_TICK_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s: epoll_wait", __func__);
		}
		for (k = 0; k < n; k++)
			client_io(evs[k].data.ptr, evs[k].events);
		if (sc->sc_tick != NULL && lg->lg_phase >= PHASE_WARMUP &&
		    lg->lg_phase <= PHASE_DRAIN)
			sc->sc_tick(lg, mono_nsec());
	}
}

static void
lg_report(struct loadgen *lg, int complete)
{
	struct dbuf	 b;
	double		 wall, cpu_self_s, cpu_pct, srv = 0;
	uint64_t	 errors = 0, busy, total;
	size_t		 j;
	int		 i;

	wall = loadgen_window(lg);
	cpu_self_s = lg->lg_t_window_end > 0 ? lg->lg_cpu1_self - lg->lg_cpu0_self :
	    0;
	cpu_pct = wall > 0 ? 100.0 * cpu_self_s / wall : 0;
	for (i = 0; i < ERR_MAX; i++)
		errors += lg->lg_errors[i];

	dbuf_init(&b, 1024 * 1024);
	(void)dbuf_adds(&b, "{\"scenario\":\"");
	(void)json_escape(&b, lg->lg_scen->sc_name,
	    strlen(lg->lg_scen->sc_name));
	(void)dbuf_adds(&b, "\",\"server\":\"");
	(void)json_escape(&b, lg->lg_label, strlen(lg->lg_label));
	(void)dbuf_adds(&b, "\",\"url\":\"ws://");
	(void)json_escape(&b, lg->lg_host, strlen(lg->lg_host));
	(void)dbuf_adds(&b, ":");
	(void)json_escape(&b, lg->lg_port, strlen(lg->lg_port));
	(void)json_escape(&b, lg->lg_path, strlen(lg->lg_path));
	(void)dbuf_printf(&b, "\",\"conns\":%u,\"conns_open\":%u,"
	    "\"src_addrs\":%u,\"warmup_s\":%.3f,\"duration_s\":%.3f",
	    lg->lg_conns, lg->lg_opened, lg->lg_src_addrs, lg->lg_warmup, wall);
	if (lg->lg_scen->sc_report != NULL)
		lg->lg_scen->sc_report(lg, &b);
	(void)dbuf_printf(&b, ",\"client_cpu_s\":%.3f,\"client_cpu_pct\":%.1f",
	    cpu_self_s, cpu_pct);
	if (lg->lg_nserver_pids > 0) {
		srv = loadgen_server_cpu(lg);
		if (srv < 0) {
			log_warnx("a server process (-C) was gone at the start "
			    "or the end of the window: no server CPU figures");
			(void)dbuf_adds(&b, ",\"server_cpu_s\":null,"
			    "\"server_cpu_pct\":null,\"server_cpu_s_each\":null");
		} else {
			(void)dbuf_printf(&b, ",\"server_cpu_s\":%.3f,"
			    "\"server_cpu_pct\":%.1f,\"server_cpu_s_each\":[",
			    srv, wall > 0 ? 100.0 * srv / wall : 0.0);
			for (j = 0; j < lg->lg_nserver_pids; j++)
				(void)dbuf_printf(&b, "%s%.3f", j ? "," : "",
				    lg->lg_cpu1_each[j] - lg->lg_cpu0_each[j]);
			(void)dbuf_adds(&b, "]");
		}
	}
	if (lg->lg_mem_ok)
		(void)dbuf_printf(&b, ",\"server_rss_kb_before\":%llu,"
		    "\"server_rss_kb\":%llu,\"server_pss_kb_before\":%llu,"
		    "\"server_pss_kb\":%llu,\"server_procs\":%u",
		    lg->lg_mem0.mu_rss_kb, lg->lg_mem1.mu_rss_kb,
		    lg->lg_mem0.mu_pss_kb, lg->lg_mem1.mu_pss_kb,
		    lg->lg_mem1.mu_procs);
	(void)dbuf_adds(&b, ",\"cores_busy_pct\":[");
	for (j = 0; j < lg->lg_cores1.cc_n; j++) {
		busy = lg->lg_cores1.cc_busy[j] - lg->lg_cores0.cc_busy[j];
		total = lg->lg_cores1.cc_total[j] - lg->lg_cores0.cc_total[j];
		(void)dbuf_printf(&b, "%s%.1f", j ? "," : "",
		    total > 0 ? 100.0 * (double)busy / (double)total : 0.0);
	}
	(void)dbuf_adds(&b, "]");
	(void)dbuf_printf(&b, ",\"errors\":%llu,\"error_detail\":{",
	    (unsigned long long)errors);
	for (i = 0; i < ERR_MAX; i++)
		(void)dbuf_printf(&b, "%s\"%s\":%llu", i ? "," : "",
		    lg_error_names[i], (unsigned long long)lg->lg_errors[i]);
	(void)dbuf_printf(&b, "},\"pings\":%llu,\"frames_in\":%llu,"
	    "\"frames_out\":%llu,\"complete\":%s,\"loadgen_version\":\""
	    LOADGEN_VERSION "\"}\n", (unsigned long long)lg->lg_pings,
	    (unsigned long long)lg->lg_frames_in,
	    (unsigned long long)lg->lg_frames_out, complete ? "true" : "false");
	fwrite(b.data, 1, b.len, stdout);
	fflush(stdout);
	dbuf_free(&b);

	if (cpu_pct > LG_CPU_WARN_PCT)
		log_warnx("warning: the load generator used %.0f%% of its core; "
		    "it may be the bottleneck of this run", cpu_pct);
}

int
main(int argc, char **argv)
{
	struct loadgen	 lg;
	const char	*url = "ws://127.0.0.1:8080/", *path = NULL, *eq;
	char		*key;
	double		 total;
	int		 ch, rv, src_set = 0;
	unsigned	 i;
	size_t		 j;
	char		**xopts = NULL;
	size_t		 nxopts = 0;

	memset(&lg, 0, sizeof lg);
	log_init("loadgen", LOG_LEVEL_INFO, 0);
	lg.lg_label = "server";
	lg.lg_conns = 100;
	lg.lg_duration = 10;
	lg.lg_connect_timeout = 10;
	lg.lg_drain_timeout = 2;
	lg.lg_connect_burst = 64;
	lg.lg_max_frame = 1024 * 1024;
	lg.lg_msg_size = 64;

	lg.lg_src_first = 1;
	while ((ch = getopt(argc, argv,
	    "A:a:b:C:c:d:hl:M:m:n:o:P:p:T:u:vw:X:")) != -1) {
		switch (ch) {
		case 'A':
			lg.lg_src_first = (unsigned)lg_parse_number(optarg,
			    "-A", 1, 254);
			break;
		case 'P':
			if (strcmp(optarg, "ws") == 0)
				lg.lg_proto = PROTO_WS;
			else if (strcmp(optarg, "eio") == 0)
				lg.lg_proto = PROTO_EIO;
			else
				usage();
			break;
		case 'a':
			lg.lg_src_addrs = (unsigned)lg_parse_number(optarg,
			    "-a", 0, 254);
			src_set = 1;
			break;
		case 'b':
			lg.lg_connect_burst = (unsigned)lg_parse_number(optarg,
			    "-b", 1, 100000);
			break;
		case 'C':
			if (lg_parse_pids(&lg, optarg) == -1)
				usage();
			break;
		case 'c':
			lg.lg_conns = (unsigned)lg_parse_number(optarg, "-c",
			    1, 1000000);
			break;
		case 'd':
			lg.lg_duration = lg_parse_seconds(optarg, "-d");
			break;
		case 'l':
			lg.lg_label = optarg;
			break;
		case 'M':
			lg.lg_max_frame = (size_t)lg_parse_number(optarg, "-M",
			    125, 1024 * 1024 * 1024);
			break;
		case 'm':
			lg.lg_msg_size = (size_t)lg_parse_number(optarg, "-m",
			    1, 64 * 1024 * 1024);
			break;
		case 'n':
			lg.lg_max_msgs = lg_parse_number(optarg, "-n", 1,
			    UINT64_MAX);
			break;
		case 'o':
			lg.lg_origin = optarg;
			break;
		case 'p':
			path = optarg;
			break;
		case 'T':
			lg.lg_connect_timeout = lg_parse_seconds(optarg, "-T");
			break;
		case 'u':
			url = optarg;
			break;
		case 'v':
			lg.lg_verbose = 1;
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'w':
			lg.lg_warmup = lg_parse_seconds(optarg, "-w");
			break;
		case 'X':
			xopts = xreallocarray(xopts, nxopts + 1, sizeof *xopts);
			xopts[nxopts++] = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage();
	lg.lg_scen = scenarios[0];
	if (argc == 1) {
		for (j = 0; j < nitems(scenarios); j++)
			if (strcmp(argv[0], scenarios[j]->sc_name) == 0)
				break;
		if (j == nitems(scenarios)) {
			log_warnx("unknown scenario: %s", argv[0]);
			usage();
		}
		lg.lg_scen = scenarios[j];
	}
	for (j = 0; j < nxopts; j++) {
		if ((eq = strchr(xopts[j], '=')) == NULL)
			usage();
		key = xstrndup(xopts[j], (size_t)(eq - xopts[j]));
		if (lg.lg_scen->sc_option == NULL ||
		    lg.lg_scen->sc_option(&lg, key, eq + 1) == -1)
			fatalx("scenario %s: unknown option %s",
			    lg.lg_scen->sc_name, key);
		free(key);
	}
	free(xopts);

	if (lg_parse_url(&lg, url) == -1)
		fatalx("bad URL (ws://HOST:PORT/PATH or HOST:PORT): %s", url);
	if (path != NULL) {
		if (*path != '/')
			fatalx("-p: the path must start with /");
		free(lg.lg_path);
		lg.lg_path = xstrdup(path);
	}
	if (lg_resolve(&lg) == -1)
		return (1);
	if (lg.lg_dst.ss_family == AF_INET &&
	    (ntohl(((struct sockaddr_in *)&lg.lg_dst)->sin_addr.s_addr) >>
	    24) == 127) {
		if (!src_set)
			lg.lg_src_addrs = 1 + lg.lg_conns / 20000;
	} else if (lg.lg_src_addrs > 0) {
		log_warnx("-a only works with a 127.x.x.x target; ignored");
		lg.lg_src_addrs = 0;
	}
	if (lg.lg_src_addrs > lg.lg_conns)
		lg.lg_src_addrs = lg.lg_conns;
	if (lg.lg_src_addrs > 0 && lg.lg_src_first + lg.lg_src_addrs > 255)
		fatalx("-A and -a: source addresses beyond 127.0.0.254");
	if (cpu_raise_nofile(lg.lg_conns) == -1)
		fatalx("cannot raise the open file limit to %u connections",
		    lg.lg_conns);
	signal(SIGPIPE, SIG_IGN);

	if (lg.lg_scen->sc_init != NULL && lg.lg_scen->sc_init(&lg) == -1)
		return (1);
	if ((lg.lg_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	lg.lg_clients = xcalloc(lg.lg_conns, sizeof *lg.lg_clients);
	if (lg.lg_nserver_pids > 0) {
		lg.lg_cpu0_each = xcalloc(lg.lg_nserver_pids, sizeof(double));
		lg.lg_cpu1_each = xcalloc(lg.lg_nserver_pids, sizeof(double));
	}
	for (i = 0; i < lg.lg_conns; i++)
		client_init(&lg, &lg.lg_clients[i], i);

	/*
	 * Every phase is bounded; the hard deadline ends the run even if the
	 * server stalls, and alarm() ends the process if the loop itself
	 * ever should.
	 */
	if (lg.lg_nserver_pids > 0)
		lg.lg_mem_ok = mem_tree(lg.lg_server_pids, lg.lg_nserver_pids,
		    &lg.lg_mem0) == 0;
	lg.lg_t_start = mono_nsec();
	total = lg.lg_connect_timeout + lg.lg_warmup + lg.lg_duration +
	    lg.lg_drain_timeout + LG_CLOSE_TIMEOUT + LG_SLACK;
	lg.lg_hard_deadline = lg.lg_t_start + lg_sec(total);
	alarm((unsigned)ceil(total) + 10);

	rv = lg_run(&lg);
	alarm(0);
	lg_report(&lg, rv == 0 && lg.lg_opened > 0);

	if (lg.lg_scen->sc_free != NULL)
		lg.lg_scen->sc_free(&lg);
	for (i = 0; i < lg.lg_conns; i++)
		client_free(&lg.lg_clients[i]);
	free(lg.lg_clients);
	close(lg.lg_epfd);
	free(lg.lg_server_pids);
	free(lg.lg_cpu0_each);
	free(lg.lg_cpu1_each);
	free(lg.lg_host);
	free(lg.lg_port);
	free(lg.lg_path);
	if (rv == -1)
		return (3);
	if (lg.lg_opened == 0)
		return (1);
	for (i = 0; i < ERR_MAX; i++)
		if (lg.lg_errors[i] != 0)
			return (2);
	return (0);
}
