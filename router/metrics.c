/*
 * metrics.c: the router's counters and histograms, rendered in the
 * Prometheus text format for GET /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "wsrouter.h"

#define INV_SERIES_MAX	1024	/* route x status x outcome series */
#define APP_SERIES_MAX	256	/* pool x name counters from handlers */
#define APP_NAME_MAX	64

struct metrics		 metrics;

struct inv_series {
	char		 route[ROUTE_KEY_MAX];
	int		 status;
	char		 outcome[24];
	uint64_t	 count;
};

struct histogram {
	uint64_t	 buckets[16];
	uint64_t	 count;
	uint64_t	 sum_us;
};

static const double bucket_bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5, 5, 10, 30, 60
};

static struct inv_series	*series;
static size_t			 nseries;

/* A counter a handler bumped with a "count" control message. */
struct app_series {
	char		 pool[65];	/* a pool name: config.c allows 64 */
	char		 name[APP_NAME_MAX + 1];
	uint64_t	 count;
};
static struct app_series	*app_series;
static size_t			 napp_series;
static struct histogram		 h_first_byte;
static struct histogram		 h_duration;

static const char *const err_names[ERR__MAX] = {
	"no_route", "busy", "handler_unavailable", "handler_timeout",
	"handler_error", "handler_status", "shutting_down", "message_too_big",
	"invalid_utf8", "binary_refused", "origin_refused", "bad_upgrade",
	"queue_overflow", "connect_rejected", "protocol"
};

static struct inv_series *inv_series_find(const char *, int, const char *);
static void	 hist_add(struct histogram *, uint64_t);
static void	 hist_render(struct dbuf *, const char *, const char *,
		     const struct histogram *);
static void	 label(struct dbuf *, const char *);

const char *
err_kind_name(enum err_kind kind)
{
	return (kind < ERR__MAX ? err_names[kind] : "unknown");
}

void
metrics_error(enum err_kind kind)
{
	if (kind < ERR__MAX)
		metrics.errors[kind]++;
}

static struct inv_series *
inv_series_find(const char *route, int status, const char *outcome)
{
	size_t	i;

	for (i = 0; i < nseries; i++) {
		if (series[i].status == status &&
		    strcmp(series[i].route, route) == 0 &&
		    strcmp(series[i].outcome, outcome) == 0)
			return (&series[i]);
	}
	return (NULL);
}

static void
hist_add(struct histogram *h, uint64_t us)
{
	size_t	i;

	for (i = 0; i < nitems(bucket_bounds); i++)
		if ((double)us / 1e6 <= bucket_bounds[i])
			h->buckets[i]++;
	h->count++;
	h->sum_us += us;
}

/* Past INV_SERIES_MAX series, a new one is counted under "$other". */
void
metrics_invocation(const char *route, int status, const char *outcome,
    uint64_t first_byte_us, uint64_t total_us)
{
	struct inv_series	*s;

	if ((s = inv_series_find(route, status, outcome)) == NULL &&
	    nseries >= INV_SERIES_MAX) {
		route = "$other";
		s = inv_series_find(route, status, outcome);
	}
	if (s == NULL) {
		series = xreallocarray(series, nseries + 1, sizeof *series);
		s = &series[nseries++];
		memset(s, 0, sizeof *s);
		snprintf(s->route, sizeof s->route, "%s", route);
		snprintf(s->outcome, sizeof s->outcome, "%s", outcome);
		s->status = status;
	}
	s->count++;
	if (first_byte_us != 0)
		hist_add(&h_first_byte, first_byte_us);
	hist_add(&h_duration, total_us);
}

/*
 * A handler's own counter: a "count" control message. Names are
 * [a-z0-9_], at most APP_NAME_MAX; past APP_SERIES_MAX series, new ones
 * are counted under the name "other" (one more series per pool).
 */
int
metrics_app_count(const char *pool, const char *name, uint64_t by)
{
	struct app_series	*s;
	size_t			 i, len = strlen(name);

	if (len == 0 || len > APP_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return (-1);
	for (;;) {
		for (i = 0; i < napp_series; i++) {
			s = &app_series[i];
			if (strcmp(s->pool, pool) == 0 &&
			    strcmp(s->name, name) == 0) {
				s->count += by;
				return (0);
			}
		}
		if (napp_series < APP_SERIES_MAX || strcmp(name, "other") == 0)
			break;
		name = "other";
	}
	app_series = xreallocarray(app_series, napp_series + 1,
	    sizeof *app_series);
	s = &app_series[napp_series++];
	snprintf(s->pool, sizeof s->pool, "%s", pool);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->count = by;
	return (0);
}

/* A label value, escaped as the text format asks. */
static void
label(struct dbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			dbuf_addc(b, '\\');
		if (*s == '\n') {
			dbuf_adds(b, "\\n");
			continue;
		}
		dbuf_addc(b, *s);
	}
}

static void
hist_render(struct dbuf *b, const char *name, const char *help,
    const struct histogram *h)
{
	size_t	i;

	dbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
	    name);
	for (i = 0; i < nitems(bucket_bounds); i++)
		dbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    bucket_bounds[i], (unsigned long long)h->buckets[i]);
	dbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)h->count);
	dbuf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name,
	    (double)h->sum_us / 1e6, name, (unsigned long long)h->count);
}

#define COUNTER(b, name, help, v) dbuf_printf(b,			\
	"# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,	\
	name, (unsigned long long)(v))
#define GAUGE(b, name, help, v) dbuf_printf(b,				\
	"# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name,	\
	name, (unsigned long long)(v))

void
metrics_render(struct dbuf *b)
{
	struct config	*cfg = router->cfg;
	unsigned	 inflight, queued;
	size_t		 i;

	GAUGE(b, "wsrouter_connections", "Open WebSocket connections.",
	    router->nconns);
	COUNTER(b, "wsrouter_connections_total",
	    "WebSocket connections accepted since start.",
	    metrics.connections_total);
	COUNTER(b, "wsrouter_messages_in_total",
	    "Messages received from clients.", metrics.messages_in);
	COUNTER(b, "wsrouter_messages_out_total",
	    "Messages sent to clients.", metrics.messages_out);
	COUNTER(b, "wsrouter_bytes_in_total",
	    "Payload bytes received from clients.", metrics.bytes_in);
	COUNTER(b, "wsrouter_bytes_out_total",
	    "Payload bytes sent to clients.", metrics.bytes_out);
	COUNTER(b, "wsrouter_queue_drops_total",
	    "Frames dropped from send queues (always 0: wsrouter never "
	    "drops).", metrics.queue_drops);
	COUNTER(b, "wsrouter_pushes_total",
	    "Frames pushed through the management API.", metrics.pushes);
	COUNTER(b, "wsrouter_publishes_total",
	    "Channel publishes through the management API.",
	    metrics.publishes);
	COUNTER(b, "wsrouter_disconnects_total",
	    "DISCONNECT events dispatched.", metrics.disconnects);
	GAUGE(b, "wsrouter_invocations_in_flight",
	    "Handler invocations running or queued.", router->ninvocations);
	GAUGE(b, "wsrouter_channels", "Channels with members.",
	    channel_count());
	GAUGE(b, "wsrouter_draining", "1 while shutting down.",
	    router->draining);

	dbuf_printf(b, "# HELP wsrouter_handler_invocations_total Handler "
	    "invocations by route, HTTP status (0: none) and outcome.\n"
	    "# TYPE wsrouter_handler_invocations_total counter\n");
	for (i = 0; i < nseries; i++) {
		dbuf_adds(b, "wsrouter_handler_invocations_total{route=\"");
		label(b, series[i].route);
		dbuf_printf(b, "\",status=\"%d\",outcome=\"", series[i].status);
		label(b, series[i].outcome);
		dbuf_printf(b, "\"} %llu\n",
		    (unsigned long long)series[i].count);
	}
	hist_render(b, "wsrouter_handler_first_byte_seconds",
	    "Time from dispatch to the handler's first byte.", &h_first_byte);
	hist_render(b, "wsrouter_handler_duration_seconds",
	    "Time from dispatch to the end of the invocation.", &h_duration);

	dbuf_printf(b, "# HELP wsrouter_errors_total Errors by kind.\n"
	    "# TYPE wsrouter_errors_total counter\n");
	for (i = 0; i < ERR__MAX; i++)
		dbuf_printf(b, "wsrouter_errors_total{kind=\"%s\"} %llu\n",
		    err_names[i], (unsigned long long)metrics.errors[i]);

	dbuf_printf(b, "# HELP wsrouter_pool_inflight Requests in flight per "
	    "pool.\n# TYPE wsrouter_pool_inflight gauge\n");
	for (i = 0; i < cfg->npools; i++) {
		pool_stats(cfg->pools[i], &inflight, &queued);
		dbuf_adds(b, "wsrouter_pool_inflight{pool=\"");
		label(b, cfg->pools[i]->name);
		dbuf_printf(b, "\"} %u\n", inflight);
	}
	dbuf_printf(b, "# HELP wsrouter_pool_queued Requests waiting per "
	    "pool.\n# TYPE wsrouter_pool_queued gauge\n");
	for (i = 0; i < cfg->npools; i++) {
		pool_stats(cfg->pools[i], &inflight, &queued);
		dbuf_adds(b, "wsrouter_pool_queued{pool=\"");
		label(b, cfg->pools[i]->name);
		dbuf_printf(b, "\"} %u\n", queued);
	}
	dbuf_printf(b, "# HELP wsrouter_app_events_total Counters handlers "
	    "keep through \"count\" control messages.\n"
	    "# TYPE wsrouter_app_events_total counter\n");
	for (i = 0; i < napp_series; i++) {
		dbuf_adds(b, "wsrouter_app_events_total{pool=\"");
		label(b, app_series[i].pool);
		dbuf_printf(b, "\",name=\"%s\"} %llu\n", app_series[i].name,
		    (unsigned long long)app_series[i].count);
	}
}
