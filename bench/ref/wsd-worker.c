/*
 * wsd-worker.c: the benchmark contract (bench/README.md) for websocketd,
 * which runs this program once per connection and turns every incoming
 * message into a line on standard input and every line written to
 * standard output into a message.
 *
 * Echo writes the line back. {"type":"stream","id":N,"tokens":T,"rate":R}
 * writes T token lines R per second, each stamped with CLOCK_MONOTONIC
 * just before its write, then a done line. One stream at a time per
 * connection: lines that arrive during a stream wait for its end. The
 * stream stops when websocketd closes our standard input (the connection
 * went away). Lines are capped at WSD_LINE_MAX bytes; a longer one is
 * skipped and answered with an error message.
 */
#define _GNU_SOURCE		/* ppoll */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../contract.h"

#define WSD_LINE_MAX	(64 * 1024)
#define WSD_BAD_STREAM	CONTRACT_BAD_STREAM "\n"
#define WSD_TOO_LONG	"{\"type\":\"error\",\"error\":\"message too long\"}\n"

static int	 wsd_read_line(char *, size_t, size_t *);
static int	 wsd_write(const char *, size_t);
static int	 wsd_number(const char *, size_t, const char *, long long *);
static int	 wsd_message(char *, size_t);
static int	 wsd_stream(long long, unsigned, unsigned);

/*
 * Read one line (without its newline) into buf, of at most max bytes.
 * Returns 0, 1 for a longer line (the rest is skipped), or -1 at the end
 * of the input.
 */
static int
wsd_read_line(char *buf, size_t max, size_t *len)
{
	size_t	n = 0;
	int	c, over = 0;

	while ((c = getc_unlocked(stdin)) != EOF && c != '\n') {
		if (n < max)
			buf[n++] = (char)c;
		else
			over = 1;
	}
	if (c == EOF && n == 0 && !over)
		return (-1);
	*len = n;
	return (over);
}

/* Write all of buf to standard output: one write(2) for a line, as a rule. */
static int
wsd_write(const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(STDOUT_FILENO, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * The integer after "key": in the line, or -1 if there is none. A key
 * search, not a JSON parser: enough for the contract's requests, which
 * have no nesting and no such keys inside strings.
 */
static int
wsd_number(const char *line, size_t len, const char *key, long long *v)
{
	const char	*p;
	char		*end;
	size_t		 klen = strlen(key);

	if ((p = memmem(line, len, key, klen)) == NULL)
		return (-1);
	p += klen;
	if (p >= line + len || (*p != '-' && (*p < '0' || *p > '9')))
		return (-1);
	errno = 0;
	*v = strtoll(p, &end, 10);
	if (errno != 0 || (*end != ',' && *end != '}'))
		return (-1);
	return (0);
}

/* Token k at start + k s / rate, against the start so drift does not add up. */
static int
wsd_stream(long long id, unsigned tokens, unsigned rate)
{
	char		 buf[CONTRACT_LINE_MAX];
	uint64_t	 start;
	unsigned	 k;

	start = contract_mono_ns();
	for (k = 0; k < tokens; k++) {
		/* Until the token is due, or websocketd closes our input. */
		if (k > 0 && contract_wait_until(STDIN_FILENO, 0,
		    contract_due(start, k, rate)) == -1)
			return (-1);
		if (wsd_write(buf, contract_token(buf, id, k, "\n")) == -1)
			return (-1);
	}
	return (wsd_write(buf, contract_done(buf, id, "\n")));
}

/*
 * One message. The echo fast path: a line that starts with exactly
 * {"type":"echo" goes back as it came; a stream request starts a stream;
 * any other line is echoed too. buf has room for the newline.
 */
static int
wsd_message(char *buf, size_t len)
{
	long long	id, tokens, rate;

	buf[len] = '\n';
	if ((len < sizeof CONTRACT_ECHO_PREFIX - 1 ||
	    memcmp(buf, CONTRACT_ECHO_PREFIX, sizeof CONTRACT_ECHO_PREFIX - 1) != 0) &&
	    memmem(buf, len, "\"type\":\"stream\"", 15) != NULL) {
		if (wsd_number(buf, len, "\"id\":", &id) == -1 ||
		    wsd_number(buf, len, "\"tokens\":", &tokens) == -1 ||
		    wsd_number(buf, len, "\"rate\":", &rate) == -1 ||
		    id < -CONTRACT_ID_MAX || id > CONTRACT_ID_MAX ||
		    tokens < 0 || tokens > CONTRACT_MAX_TOKENS ||
		    rate < 1 || rate > CONTRACT_MAX_RATE)
			return (wsd_write(WSD_BAD_STREAM,
			    sizeof WSD_BAD_STREAM - 1));
		return (wsd_stream(id, (unsigned)tokens, (unsigned)rate));
	}
	return (wsd_write(buf, len + 1));
}

int
main(void)
{
	static char	 buf[WSD_LINE_MAX + 1];
	size_t		 len;
	int		 rv;

	signal(SIGPIPE, SIG_IGN);	/* a gone reader: EPIPE, and we exit */
	while ((rv = wsd_read_line(buf, WSD_LINE_MAX, &len)) != -1) {
		if (rv == 1)
			rv = wsd_write(WSD_TOO_LONG, sizeof WSD_TOO_LONG - 1);
		else
			rv = wsd_message(buf, len);
		if (rv == -1)
			break;
	}
	return (0);
}
