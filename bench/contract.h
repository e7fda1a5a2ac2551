/*
 * contract.h: the benchmark's wire contract (bench/README.md) for the C
 * servers (handler.c, ref/wsd-worker.c) and the load generator's stream
 * scenario: its messages and limits, and the token, built and stamped the
 * one way both servers send it.
 */
#ifndef CONTRACT_H
#define CONTRACT_H

#include <errno.h>
#include <poll.h>		/* ppoll and POLLRDHUP: _GNU_SOURCE first */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CONTRACT_ECHO_PREFIX	"{\"type\":\"echo\""
#define CONTRACT_TOKEN_PREFIX	"{\"type\":\"token\",\"id\":"
#define CONTRACT_TOKEN_TAIL	",\"text\":\"tok\"}"
#define CONTRACT_DONE_PREFIX	"{\"type\":\"done\",\"id\":"
#define CONTRACT_ERROR_PREFIX	"{\"type\":\"error\""
#define CONTRACT_BAD_STREAM	\
	"{\"type\":\"error\",\"error\":\"bad stream request\"}"
#define CONTRACT_MAX_TOKENS	10000
#define CONTRACT_MAX_RATE	10000
#define CONTRACT_ID_MAX		9007199254740991LL	/* 2^53 - 1, as in JS */
#define CONTRACT_LINE_MAX	160	/* a token or done message, and eol */

static inline uint64_t
contract_mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* When token k of a stream that began at start is due. */
static inline uint64_t
contract_due(uint64_t start, unsigned k, unsigned rate)
{
	return (start + (uint64_t)k * 1000000000ULL / rate);
}

/*
 * Sleep until the monotonic time due (ns); -1 as soon as fd hangs up (with
 * events POLLRDHUP, or 0 for a pipe, where only the hangup can wake it).
 * One ppoll per wait, for nanosecond timeouts and an immediate wake on the
 * hangup; the time left is read again after every wake, so a late wake
 * does not shift the tokens after it.
 */
static inline int
contract_wait_until(int fd, short events, uint64_t due)
{
	struct pollfd	pfd;
	struct timespec	ts;
	uint64_t	now, left;
	int		n;

	for (;;) {
		if ((now = contract_mono_ns()) >= due)
			return (0);
		left = due - now;
		ts.tv_sec = (time_t)(left / 1000000000ULL);
		ts.tv_nsec = (long)(left % 1000000000ULL);
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = ppoll(&pfd, 1, &ts, NULL);
		if (n == -1 && errno != EINTR)
			return (-1);
		if (n == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR |
		    POLLNVAL)) != 0)
			return (-1);
	}
}

/*
 * Token k of stream id into buf (CONTRACT_LINE_MAX bytes), followed by eol
 * ("" or "\n"); returns its length. The clock is read after the rest of
 * the prefix is built, so that only the digits of t and the tail are
 * written between the stamp and the caller's send.
 */
static inline size_t
contract_token(char *buf, long long id, unsigned k, const char *eol)
{
	char		tmp[20];
	uint64_t	t;
	size_t		len, n = 0;

	/* < 80 bytes: id has at most 17 digits. */
	len = (size_t)snprintf(buf, CONTRACT_LINE_MAX,
	    CONTRACT_TOKEN_PREFIX "%lld,\"i\":%u,\"t\":", id, k);
	t = contract_mono_ns();
	do {
		tmp[n++] = (char)('0' + t % 10);
		t /= 10;
	} while (t != 0);
	while (n > 0)
		buf[len++] = tmp[--n];
	return (len + (size_t)snprintf(buf + len, CONTRACT_LINE_MAX - len,
	    CONTRACT_TOKEN_TAIL "%s", eol));
}

/* The done message of stream id, followed by eol; returns its length. */
static inline size_t
contract_done(char *buf, long long id, const char *eol)
{
	return ((size_t)snprintf(buf, CONTRACT_LINE_MAX,
	    CONTRACT_DONE_PREFIX "%lld}%s", id, eol));
}

#endif
