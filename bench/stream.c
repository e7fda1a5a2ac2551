/*
 * stream.c: the token streaming scenario. Each connection asks for one
 * stream,
 *	{"type":"stream","id":N,"tokens":T,"rate":R}
 * and the server sends T tokens R per second,
 *	{"type":"token","id":N,"i":K,"t":MONO_NS,"text":"tok"}
 * then {"type":"done","id":N}. MONO_NS is the server's CLOCK_MONOTONIC just
 * before it handed the token to its transport; the same clock here, on the
 * same machine, gives each token's added latency: receive time minus t.
 * The requests are spread evenly over -X spread seconds (1 by default; the
 * burst variant uses 0.02). The run ends when every stream is done.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "loadgen.h"


struct stream_conn {
	uint64_t	 sc_sent;	/* mono_nsec() of the request */
	unsigned	 sc_next;	/* the token expected next */
	int		 sc_state;	/* ST_* below */
};
#define ST_WAIT		0	/* not asked yet */
#define ST_RUNNING	1
#define ST_DONE_OK	2
#define ST_FAILED	3

struct stream {
	struct stream_conn *s_conns;
	unsigned	 s_tokens;
	unsigned	 s_rate;
	double		 s_spread;	/* seconds over which requests go out */
	uint64_t	 s_t0;		/* sc_start */
	unsigned	 s_next_start;	/* the next connection to ask */
	uint64_t	 s_running;
	uint64_t	 s_done;
	uint64_t	 s_failed;
	uint64_t	 s_recorded;	/* tokens recorded in the window */
	uint64_t	 s_early;	/* tokens received "before" their t */
	struct hist	 s_lat;		/* receive - t */
	struct hist	 s_first;	/* request sent to token 0 received */
	struct hist	 s_gap;		/* between two tokens of a stream */
	uint64_t	*s_last;	/* receive time of the previous token */
};

static int	 stream_option(struct loadgen *, const char *, const char *);
static int	 stream_init(struct loadgen *);
static void	 stream_start(struct loadgen *);
static void	 stream_window(struct loadgen *);
static void	 stream_message(struct client *, int, const unsigned char *,
		     size_t);
static void	 stream_tick(struct loadgen *, uint64_t);
static uint64_t	 stream_pending(struct loadgen *);
static void	 stream_closed(struct client *);
static void	 stream_report(struct loadgen *, struct dbuf *);
static void	 stream_free(struct loadgen *);
static void	 stream_finish(struct loadgen *, struct stream_conn *, int);
static const unsigned char *stream_number(const unsigned char *,
		     const unsigned char *, const char *, uint64_t *);

const struct scenario scenario_stream = {
	.sc_name = "stream",
	.sc_usage = " (-X tokens=200 -X rate=50 -X spread=1: one stream per "
	    "connection, requests spread over that many seconds)",
	.sc_option = stream_option,
	.sc_init = stream_init,
	.sc_start = stream_start,
	.sc_window = stream_window,
	.sc_message = stream_message,
	.sc_tick = stream_tick,
	.sc_pending = stream_pending,
	.sc_closed = stream_closed,
	.sc_report = stream_report,
	.sc_free = stream_free,
};

/* The options come before init: keep them in a static until then. */
static struct {
	unsigned	 tokens;
	unsigned	 rate;
	double		 spread;
} stream_opts = { 200, 50, 1.0 };

static int
stream_option(struct loadgen *lg, const char *key, const char *val)
{
	char		*end;
	double		 d;

	(void)lg;
	errno = 0;
	d = strtod(val, &end);
	if (errno != 0 || end == val || *end != '\0' || !(d >= 0))
		fatalx("stream: bad value for %s: %s", key, val);
	if (strcmp(key, "tokens") == 0 && d >= 1 && d <= CONTRACT_MAX_TOKENS &&
	    d == (unsigned)d)
		stream_opts.tokens = (unsigned)d;
	else if (strcmp(key, "rate") == 0 && d >= 1 && d <= CONTRACT_MAX_RATE &&
	    d == (unsigned)d)
		stream_opts.rate = (unsigned)d;
	else if (strcmp(key, "spread") == 0 && d <= 3600)
		stream_opts.spread = d;
	else if (strcmp(key, "tokens") == 0 || strcmp(key, "rate") == 0 ||
	    strcmp(key, "spread") == 0)
		fatalx("stream: %s out of range: %s", key, val);
	else
		return (-1);
	return (0);
}

static int
stream_init(struct loadgen *lg)
{
	struct stream	*s;

	s = xcalloc(1, sizeof *s);
	s->s_conns = xcalloc(lg->lg_conns, sizeof *s->s_conns);
	s->s_last = xcalloc(lg->lg_conns, sizeof *s->s_last);
	s->s_tokens = stream_opts.tokens;
	s->s_rate = stream_opts.rate;
	s->s_spread = stream_opts.spread;
	hist_reset(&s->s_lat);
	hist_reset(&s->s_first);
	hist_reset(&s->s_gap);
	lg->lg_scen_data = s;
	if (lg->lg_warmup > 0)
		log_warnx("stream: the warmup (-w) only delays the streams; "
		    "tokens before the window are not recorded");
	return (0);
}

static void
stream_free(struct loadgen *lg)
{
	struct stream	*s = lg->lg_scen_data;

	free(s->s_conns);
	free(s->s_last);
	free(s);
}

static void
stream_start(struct loadgen *lg)
{
	struct stream	*s = lg->lg_scen_data;

	s->s_t0 = mono_nsec();
	stream_tick(lg, s->s_t0);
}

static void
stream_window(struct loadgen *lg)
{
	struct stream	*s = lg->lg_scen_data;

	hist_reset(&s->s_lat);
	hist_reset(&s->s_first);
	hist_reset(&s->s_gap);
	s->s_recorded = 0;
	s->s_early = 0;
}

/* Send the requests whose time has come; end the run when all are done. */
static void
stream_tick(struct loadgen *lg, uint64_t now)
{
	struct stream		*s = lg->lg_scen_data;
	struct stream_conn	*sc;
	struct client		*c;
	char			 req[128];
	uint64_t		 due;
	int			 n;

	if (s->s_t0 == 0)
		return;
	while (s->s_next_start < lg->lg_conns && loadgen_sending(lg)) {
		due = s->s_t0 + (uint64_t)(s->s_spread * 1e9 *
		    s->s_next_start / lg->lg_conns);
		if (due > now)
			break;
		c = &lg->lg_clients[s->s_next_start];
		sc = &s->s_conns[s->s_next_start++];
		if (c->c_state != CLIENT_OPEN) {
			sc->sc_state = ST_FAILED;	/* never opened */
			s->s_failed++;
			continue;
		}
		n = snprintf(req, sizeof req, "{\"type\":\"stream\",\"id\":%u,"
		    "\"tokens\":%u,\"rate\":%u}", c->c_id + 1, s->s_tokens,
		    s->s_rate);
		sc->sc_state = ST_RUNNING;
		sc->sc_sent = mono_nsec();
		s->s_running++;
		(void)client_send(c, WS_OP_TEXT, req, (size_t)n);
	}
	if (s->s_next_start == lg->lg_conns && s->s_running == 0)
		lg->lg_scen_done = 1;
}

/* Parse KEY digits at p; NULL if it is not there. */
static const unsigned char *
stream_number(const unsigned char *p, const unsigned char *end,
    const char *key, uint64_t *v)
{
	size_t	klen = strlen(key);

	if ((size_t)(end - p) < klen || memcmp(p, key, klen) != 0)
		return (NULL);
	p += klen;
	if (p == end || *p < '0' || *p > '9')
		return (NULL);
	*v = 0;
	while (p < end && *p >= '0' && *p <= '9' && *v < UINT64_MAX / 10 - 9)
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	return (p);
}

static void
stream_finish(struct loadgen *lg, struct stream_conn *sc, int ok)
{
	struct stream	*s = lg->lg_scen_data;

	if (sc->sc_state != ST_RUNNING)
		return;
	sc->sc_state = ok ? ST_DONE_OK : ST_FAILED;
	s->s_running--;
	if (ok)
		s->s_done++;
	else
		s->s_failed++;
	if (s->s_next_start == lg->lg_conns && s->s_running == 0)
		lg->lg_scen_done = 1;
}

static void
stream_message(struct client *c, int opcode, const unsigned char *p,
    size_t len)
{
	struct loadgen		*lg = client_loadgen(c);
	struct stream		*s = lg->lg_scen_data;
	struct stream_conn	*sc = &s->s_conns[c->c_id];
	const unsigned char	*q, *end = p + len;
	uint64_t		 now = mono_nsec(), id, i, t;

	if (opcode == WS_OP_TEXT && len >= sizeof(CONTRACT_ERROR_PREFIX) - 1 &&
	    memcmp(p, CONTRACT_ERROR_PREFIX,
	    sizeof(CONTRACT_ERROR_PREFIX) - 1) == 0) {
		loadgen_error(lg, ERR_SERVER);
		if (lg->lg_errors[ERR_SERVER] <= 3)
			log_warnx("connection %u: %.*s", c->c_id,
			    len > 300 ? 300 : (int)len, (const char *)p);
		stream_finish(lg, sc, 0);
		return;
	}
	if (opcode != WS_OP_TEXT || sc->sc_state != ST_RUNNING)
		goto mismatch;
	if ((q = stream_number(p, end, CONTRACT_TOKEN_PREFIX, &id)) != NULL) {
		if (id != c->c_id + 1 ||
		    (q = stream_number(q, end, ",\"i\":", &i)) == NULL ||
		    i != sc->sc_next ||
		    (q = stream_number(q, end, ",\"t\":", &t)) == NULL ||
		    (size_t)(end - q) != sizeof(CONTRACT_TOKEN_TAIL) - 1 ||
		    memcmp(q, CONTRACT_TOKEN_TAIL,
		    sizeof(CONTRACT_TOKEN_TAIL) - 1) != 0 ||
		    i >= s->s_tokens)
			goto mismatch;
		sc->sc_next++;
		if (!loadgen_recording(lg))
			return;
		s->s_recorded++;
		if (now >= t)
			hist_record(&s->s_lat, now - t);
		else {
			hist_record(&s->s_lat, 0);
			s->s_early++;	/* clocks are one, so: never */
		}
		if (i == 0)
			hist_record(&s->s_first, now - sc->sc_sent);
		else
			hist_record(&s->s_gap, now - s->s_last[c->c_id]);
		s->s_last[c->c_id] = now;
		return;
	}
	if ((q = stream_number(p, end, CONTRACT_DONE_PREFIX, &id)) != NULL &&
	    id == c->c_id + 1 && end - q == 1 && *q == '}') {
		if (sc->sc_next != s->s_tokens)
			goto mismatch;
		stream_finish(lg, sc, 1);
		return;
	}
mismatch:
	loadgen_error(lg, ERR_MISMATCH);
	if (lg->lg_errors[ERR_MISMATCH] <= 3)
		log_warnx("connection %u: unexpected message (token %u "
		    "expected): %.*s", c->c_id, sc->sc_next,
		    len > 120 ? 120 : (int)len, (const char *)p);
	stream_finish(lg, sc, 0);
}

static uint64_t
stream_pending(struct loadgen *lg)
{
	struct stream	*s = lg->lg_scen_data;

	return (s->s_running);
}

static void
stream_closed(struct client *c)
{
	struct loadgen	*lg = client_loadgen(c);
	struct stream	*s = lg->lg_scen_data;

	stream_finish(lg, &s->s_conns[c->c_id], 0);
}

static void
stream_report(struct loadgen *lg, struct dbuf *b)
{
	struct stream	*s = lg->lg_scen_data;
	double		 wall, srv;

	wall = loadgen_window(lg);
	(void)dbuf_printf(b, ",\"tokens_per_stream\":%u,\"rate\":%u,"
	    "\"spread_s\":%.3f,\"streams\":%u,\"streams_done\":%llu,"
	    "\"streams_failed\":%llu,\"tokens\":%llu,\"tokens_per_s\":%.1f,"
	    "\"lat_p50_us\":%.1f,\"lat_p90_us\":%.1f,\"lat_p99_us\":%.1f,"
	    "\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,\"lat_mean_us\":%.1f,"
	    "\"lat_early\":%llu,\"first_p50_us\":%.1f,\"first_p99_us\":%.1f,"
	    "\"first_max_us\":%.1f,\"gap_p50_us\":%.1f,\"gap_p99_us\":%.1f,"
	    "\"gap_max_us\":%.1f",
	    s->s_tokens, s->s_rate, s->s_spread, lg->lg_conns,
	    (unsigned long long)s->s_done,
	    (unsigned long long)(s->s_failed + s->s_running),
	    (unsigned long long)s->s_recorded,
	    wall > 0 ? (double)s->s_recorded / wall : 0.0,
	    hist_percentile(&s->s_lat, 50) / 1e3,
	    hist_percentile(&s->s_lat, 90) / 1e3,
	    hist_percentile(&s->s_lat, 99) / 1e3,
	    hist_percentile(&s->s_lat, 99.9) / 1e3,
	    (s->s_lat.h_count > 0 ? s->s_lat.h_max : 0) / 1e3,
	    hist_mean(&s->s_lat) / 1e3, (unsigned long long)s->s_early,
	    hist_percentile(&s->s_first, 50) / 1e3,
	    hist_percentile(&s->s_first, 99) / 1e3,
	    (s->s_first.h_count > 0 ? s->s_first.h_max : 0) / 1e3,
	    hist_percentile(&s->s_gap, 50) / 1e3,
	    hist_percentile(&s->s_gap, 99) / 1e3,
	    (s->s_gap.h_count > 0 ? s->s_gap.h_max : 0) / 1e3);
	if (lg->lg_nserver_pids > 0 && s->s_recorded > 0 &&
	    (srv = loadgen_server_cpu(lg)) >= 0)
		(void)dbuf_printf(b, ",\"server_cpu_s_per_100k_tokens\":%.4f",
		    srv * 100000.0 / (double)s->s_recorded);
	/* A stream that did not finish is an error of the run. */
	if (s->s_failed + s->s_running > 0 &&
	    lg->lg_errors[ERR_TIMEOUT] + lg->lg_errors[ERR_MISMATCH] +
	    lg->lg_errors[ERR_SERVER] + lg->lg_errors[ERR_CLOSED] +
	    lg->lg_errors[ERR_CONNECT] == 0)
		log_warnx("stream: %llu streams did not finish",
		    (unsigned long long)(s->s_failed + s->s_running));
}
