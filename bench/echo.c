/*
 * echo.c: the echo scenario, a closed loop. Each connection sends one text
 * message of exactly lg_msg_size bytes,
 *	{"type":"echo","seq":N,"pad":"xxxx...xxxx"}
 * waits for the identical message back, records the round trip, and sends
 * the next. seq is unique over the run, so a stale or crossed answer is
 * caught. An error frame ({"type":"error",...}) from the server counts as a
 * server error and, like any answer, lets the connection go on.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define ECHO_PREFIX	"{\"type\":\"echo\",\"seq\":"
#define ECHO_MIDDLE	",\"pad\":\""
#define ECHO_SUFFIX	"\"}"
#define ECHO_MIN_SIZE	(sizeof(ECHO_PREFIX) - 1 + 20 + \
			    sizeof(ECHO_MIDDLE) - 1 + sizeof(ECHO_SUFFIX) - 1)
#define ECHO_ERROR	"{\"type\":\"error\""

struct echo_conn {
	uint64_t	 ec_seq;	/* of the message in flight */
	uint64_t	 ec_sent;	/* mono_nsec() when it was sent */
	int		 ec_waiting;
};

struct echo {
	struct echo_conn *e_conns;
	unsigned char	*e_buf;		/* to build messages */
	unsigned char	*e_expect;	/* to rebuild the expected answer */
	uint64_t	 e_seq;
	uint64_t	 e_pending;
	uint64_t	 e_msgs;	/* answers recorded in the window */
	uint64_t	 e_sent;	/* messages sent, the whole run */
	uint64_t	 e_answers;	/* answers, the whole run */
	struct hist	 e_rtt;
};

static int	 echo_init(struct loadgen *);
static void	 echo_start(struct loadgen *);
static void	 echo_window(struct loadgen *);
static void	 echo_message(struct client *, int, const unsigned char *,
		     size_t);
static uint64_t	 echo_pending(struct loadgen *);
static void	 echo_closed(struct client *);
static void	 echo_report(struct loadgen *, struct dbuf *);
static void	 echo_free(struct loadgen *);
static void	 echo_build(unsigned char *, size_t, uint64_t);
static void	 echo_send(struct loadgen *, struct client *);

const struct scenario scenario_echo = {
	.sc_name = "echo",
	.sc_usage = " (closed loop: send -m bytes, wait for the same back)",
	.sc_init = echo_init,
	.sc_start = echo_start,
	.sc_window = echo_window,
	.sc_message = echo_message,
	.sc_pending = echo_pending,
	.sc_closed = echo_closed,
	.sc_report = echo_report,
	.sc_free = echo_free,
};

static int
echo_init(struct loadgen *lg)
{
	struct echo	*e;

	if (lg->lg_msg_size < ECHO_MIN_SIZE) {
		log_warnx("echo: messages must be at least %zu bytes",
		    ECHO_MIN_SIZE);
		return (-1);
	}
	if (lg->lg_msg_size > lg->lg_max_frame) {
		log_warnx("echo: -m is larger than -M");
		return (-1);
	}
	e = xcalloc(1, sizeof *e);
	e->e_conns = xcalloc(lg->lg_conns, sizeof *e->e_conns);
	e->e_buf = xmalloc(lg->lg_msg_size);
	e->e_expect = xmalloc(lg->lg_msg_size);
	hist_reset(&e->e_rtt);
	lg->lg_scen_data = e;
	return (0);
}

static void
echo_free(struct loadgen *lg)
{
	struct echo	*e = lg->lg_scen_data;

	free(e->e_conns);
	free(e->e_buf);
	free(e->e_expect);
	free(e);
}

/* The message with this seq, exactly size bytes. */
static void
echo_build(unsigned char *buf, size_t size, uint64_t seq)
{
	int	n;

	n = snprintf((char *)buf, size, ECHO_PREFIX "%llu" ECHO_MIDDLE,
	    (unsigned long long)seq);
	memset(buf + n, 'x', size - (size_t)n - 2);
	memcpy(buf + size - 2, ECHO_SUFFIX, 2);
}

static void
echo_send(struct loadgen *lg, struct client *c)
{
	struct echo		*e = lg->lg_scen_data;
	struct echo_conn	*ec = &e->e_conns[c->c_id];

	if (!loadgen_sending(lg) || lg->lg_scen_done)
		return;
	ec->ec_seq = ++e->e_seq;
	echo_build(e->e_buf, lg->lg_msg_size, ec->ec_seq);
	ec->ec_sent = mono_nsec();
	ec->ec_waiting = 1;
	e->e_pending++;
	e->e_sent++;
	(void)client_send(c, WS_OP_TEXT, e->e_buf, lg->lg_msg_size);
	/* If that failed, the connection is dead and echo_closed ran. */
}

static void
echo_start(struct loadgen *lg)
{
	unsigned	i;

	for (i = 0; i < lg->lg_conns; i++)
		if (lg->lg_clients[i].c_state == CLIENT_OPEN)
			echo_send(lg, &lg->lg_clients[i]);
}

static void
echo_window(struct loadgen *lg)
{
	struct echo	*e = lg->lg_scen_data;

	hist_reset(&e->e_rtt);
	e->e_msgs = 0;
}

static void
echo_message(struct client *c, int opcode, const unsigned char *p,
    size_t len)
{
	struct loadgen		*lg = client_loadgen(c);
	struct echo		*e = lg->lg_scen_data;
	struct echo_conn	*ec = &e->e_conns[c->c_id];
	uint64_t		 now = mono_nsec();

	if (!ec->ec_waiting) {
		loadgen_error(lg, len >= sizeof(ECHO_ERROR) - 1 &&
		    memcmp(p, ECHO_ERROR, sizeof(ECHO_ERROR) - 1) == 0 ?
		    ERR_SERVER : ERR_MISMATCH);
		return;
	}
	ec->ec_waiting = 0;
	e->e_pending--;
	e->e_answers++;
	if (len >= sizeof(ECHO_ERROR) - 1 &&
	    memcmp(p, ECHO_ERROR, sizeof(ECHO_ERROR) - 1) == 0) {
		loadgen_error(lg, ERR_SERVER);
		if (lg->lg_errors[ERR_SERVER] <= 3)
			log_warnx("connection %u: %.*s", c->c_id,
			    len > 300 ? 300 : (int)len, (const char *)p);
	} else {
		echo_build(e->e_expect, lg->lg_msg_size, ec->ec_seq);
		if (opcode != WS_OP_TEXT || len != lg->lg_msg_size ||
		    memcmp(p, e->e_expect, len) != 0) {
			loadgen_error(lg, ERR_MISMATCH);
			if (lg->lg_errors[ERR_MISMATCH] <= 3)
				log_warnx("connection %u: not the echo of seq "
				    "%llu: %.*s", c->c_id,
				    (unsigned long long)ec->ec_seq,
				    len > 100 ? 100 : (int)len,
				    (const char *)p);
		} else if (loadgen_recording(lg) && !lg->lg_scen_done) {
			hist_record(&e->e_rtt, now - ec->ec_sent);
			e->e_msgs++;
			if (lg->lg_max_msgs != 0 && e->e_msgs >= lg->lg_max_msgs)
				lg->lg_scen_done = 1;
		}
	}
	echo_send(lg, c);
}

static uint64_t
echo_pending(struct loadgen *lg)
{
	struct echo	*e = lg->lg_scen_data;

	return (e->e_pending);
}

static void
echo_closed(struct client *c)
{
	struct loadgen		*lg = client_loadgen(c);
	struct echo		*e = lg->lg_scen_data;
	struct echo_conn	*ec = &e->e_conns[c->c_id];

	if (ec->ec_waiting) {
		ec->ec_waiting = 0;
		e->e_pending--;
	}
}

static void
echo_report(struct loadgen *lg, struct dbuf *b)
{
	struct echo	*e = lg->lg_scen_data;
	double		 wall, srv;

	wall = loadgen_window(lg);
	(void)dbuf_printf(b, ",\"msg_size\":%zu,\"msgs\":%llu,"
	    "\"msgs_per_s\":%.1f,\"rtt_p50_us\":%.1f,\"rtt_p90_us\":%.1f,"
	    "\"rtt_p99_us\":%.1f,\"rtt_p999_us\":%.1f,\"rtt_max_us\":%.1f,"
	    "\"rtt_mean_us\":%.1f,\"sent_total\":%llu,\"answers_total\":%llu",
	    lg->lg_msg_size, (unsigned long long)e->e_msgs,
	    wall > 0 ? (double)e->e_msgs / wall : 0.0,
	    hist_percentile(&e->e_rtt, 50) / 1e3,
	    hist_percentile(&e->e_rtt, 90) / 1e3,
	    hist_percentile(&e->e_rtt, 99) / 1e3,
	    hist_percentile(&e->e_rtt, 99.9) / 1e3,
	    (e->e_rtt.h_count > 0 ? e->e_rtt.h_max : 0) / 1e3,
	    hist_mean(&e->e_rtt) / 1e3,
	    (unsigned long long)e->e_sent, (unsigned long long)e->e_answers);
	if (lg->lg_nserver_pids > 0 && e->e_msgs > 0 &&
	    (srv = loadgen_server_cpu(lg)) >= 0)
		(void)dbuf_printf(b, ",\"server_cpu_s_per_100k_msgs\":%.4f",
		    srv * 100000.0 / (double)e->e_msgs);
}
