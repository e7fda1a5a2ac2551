/*
 * idle.c: the idle scenario: hold every connection open for the window and
 * send no message. Each connection is pinged once every -X ping seconds
 * (5 by default, spread evenly over the connections; 0: never), with the
 * send time as the payload, to check that the server still answers and how
 * fast. The server's memory before connecting and at the end of the window
 * (loadgen.c reads it) gives its memory per connection.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

struct idle {
	uint8_t		*i_waiting;	/* per connection: a ping is out */
	double		 i_interval;	/* seconds between a connection's pings */
	uint64_t	 i_t0;
	uint64_t	 i_round;	/* of the next ping */
	unsigned	 i_next;	/* connection of the next ping */
	uint64_t	 i_pending;
	uint64_t	 i_sent;
	uint64_t	 i_pongs;
	uint64_t	 i_late;	/* a ping still out when the next was due */
	struct hist	 i_rtt;
};

static int	 idle_option(struct loadgen *, const char *, const char *);
static int	 idle_init(struct loadgen *);
static void	 idle_start(struct loadgen *);
static void	 idle_window(struct loadgen *);
static void	 idle_message(struct client *, int, const unsigned char *,
		     size_t);
static void	 idle_pong(struct client *, const unsigned char *, size_t);
static void	 idle_tick(struct loadgen *, uint64_t);
static uint64_t	 idle_pending(struct loadgen *);
static void	 idle_closed(struct client *);
static void	 idle_report(struct loadgen *, struct dbuf *);
static void	 idle_free(struct loadgen *);

const struct scenario scenario_idle = {
	.sc_name = "idle",
	.sc_usage = " (-X ping=5: hold the connections, ping each every so "
	    "many seconds)",
	.sc_option = idle_option,
	.sc_init = idle_init,
	.sc_start = idle_start,
	.sc_window = idle_window,
	.sc_message = idle_message,
	.sc_pong = idle_pong,
	.sc_tick = idle_tick,
	.sc_pending = idle_pending,
	.sc_closed = idle_closed,
	.sc_report = idle_report,
	.sc_free = idle_free,
};

static double	idle_ping_interval = 5.0;

static int
idle_option(struct loadgen *lg, const char *key, const char *val)
{
	char	*end;
	double	 d;

	(void)lg;
	if (strcmp(key, "ping") != 0)
		return (-1);
	errno = 0;
	d = strtod(val, &end);
	if (errno != 0 || end == val || *end != '\0' || !(d >= 0) ||
	    d > 3600 || (d > 0 && d < 0.01))
		fatalx("idle: ping must be 0 or 0.01 to 3600 seconds: %s", val);
	idle_ping_interval = d;
	return (0);
}

static int
idle_init(struct loadgen *lg)
{
	struct idle	*id;

	id = xcalloc(1, sizeof *id);
	id->i_waiting = xcalloc(lg->lg_conns, 1);
	id->i_interval = idle_ping_interval;
	hist_reset(&id->i_rtt);
	lg->lg_scen_data = id;
	return (0);
}

static void
idle_free(struct loadgen *lg)
{
	struct idle	*id = lg->lg_scen_data;

	free(id->i_waiting);
	free(id);
}

static void
idle_start(struct loadgen *lg)
{
	struct idle	*id = lg->lg_scen_data;

	id->i_t0 = mono_nsec();
}

static void
idle_window(struct loadgen *lg)
{
	struct idle	*id = lg->lg_scen_data;

	hist_reset(&id->i_rtt);
}

/* The server sends nothing in this scenario. */
static void
idle_message(struct client *c, int opcode, const unsigned char *p,
    size_t len)
{
	struct loadgen	*lg = client_loadgen(c);

	(void)opcode;
	loadgen_error(lg, ERR_MISMATCH);
	if (lg->lg_errors[ERR_MISMATCH] <= 3)
		log_warnx("connection %u: a message on an idle connection: "
		    "%.*s", c->c_id, len > 100 ? 100 : (int)len,
		    (const char *)p);
}

/* Ping connection i_next of round i_round, and so on, as they come due. */
static void
idle_tick(struct loadgen *lg, uint64_t now)
{
	struct idle	*id = lg->lg_scen_data;
	struct client	*c;
	uint64_t	 due, period;
	unsigned char	 payload[8];
	unsigned	 budget = lg->lg_conns;	/* at most a round per tick */

	if (id->i_t0 == 0 || id->i_interval == 0 || !loadgen_sending(lg))
		return;
	period = (uint64_t)(id->i_interval * 1e9);
	while (budget-- > 0) {
		due = id->i_t0 + id->i_round * period +
		    period * id->i_next / lg->lg_conns;
		if (due > now)
			break;
		c = &lg->lg_clients[id->i_next];
		if (c->c_state == CLIENT_OPEN) {
			if (id->i_waiting[c->c_id])
				id->i_late++;
			else {
				id->i_waiting[c->c_id] = 1;
				id->i_pending++;
			}
			memcpy(payload, &now, sizeof payload);
			id->i_sent++;
			(void)client_ping(c, payload, sizeof payload);
		}
		if (++id->i_next == lg->lg_conns) {
			id->i_next = 0;
			id->i_round++;
		}
	}
}

static void
idle_pong(struct client *c, const unsigned char *p, size_t len)
{
	struct loadgen	*lg = client_loadgen(c);
	struct idle	*id = lg->lg_scen_data;
	uint64_t	 sent, now = mono_nsec();

	if (len != sizeof sent || !id->i_waiting[c->c_id]) {
		loadgen_error(lg, ERR_MISMATCH);
		return;
	}
	memcpy(&sent, p, sizeof sent);
	if (sent > now || now - sent > 3600ull * 1000000000ull) {
		loadgen_error(lg, ERR_MISMATCH);
		return;
	}
	id->i_waiting[c->c_id] = 0;
	id->i_pending--;
	id->i_pongs++;
	if (loadgen_recording(lg))
		hist_record(&id->i_rtt, now - sent);
}

static uint64_t
idle_pending(struct loadgen *lg)
{
	struct idle	*id = lg->lg_scen_data;

	return (id->i_pending);
}

static void
idle_closed(struct client *c)
{
	struct idle	*id = client_loadgen(c)->lg_scen_data;

	if (id->i_waiting[c->c_id]) {
		id->i_waiting[c->c_id] = 0;
		id->i_pending--;
	}
}

static void
idle_report(struct loadgen *lg, struct dbuf *b)
{
	struct idle	*id = lg->lg_scen_data;
	double		 open = lg->lg_open_end;

	(void)dbuf_printf(b, ",\"conns_held\":%u,\"ping_interval_s\":%.3f,"
	    "\"pings_sent\":%llu,\"pongs\":%llu,\"pongs_late\":%llu,"
	    "\"pong_p50_us\":%.1f,\"pong_p99_us\":%.1f,\"pong_max_us\":%.1f",
	    lg->lg_open_end, id->i_interval, (unsigned long long)id->i_sent,
	    (unsigned long long)id->i_pongs, (unsigned long long)id->i_late,
	    hist_percentile(&id->i_rtt, 50) / 1e3,
	    hist_percentile(&id->i_rtt, 99) / 1e3,
	    (id->i_rtt.h_count > 0 ? id->i_rtt.h_max : 0) / 1e3);
	if (lg->lg_mem_ok && lg->lg_open_end > 0)
		(void)dbuf_printf(b, ",\"server_rss_bytes_per_conn\":%.0f,"
		    "\"server_pss_bytes_per_conn\":%.0f",
		    ((double)lg->lg_mem1.mu_rss_kb -
		    (double)lg->lg_mem0.mu_rss_kb) * 1024.0 / open,
		    ((double)lg->lg_mem1.mu_pss_kb -
		    (double)lg->lg_mem0.mu_pss_kb) * 1024.0 / open);
}
