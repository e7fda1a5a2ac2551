/*
 * handler.c: the wsrouter side of the benchmark contract (bench/README.md),
 * a threaded FastCGI handler built on the SDK. Echo sends every message
 * back as it came; {"type":"stream","id":N,"tokens":T,"rate":R} streams T
 * token frames R per second, each stamped with CLOCK_MONOTONIC just before
 * it is handed to the SDK, then a done frame.
 */
#define _GNU_SOURCE		/* ppoll, POLLRDHUP */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <wsrouter/wsh.h>

#include "contract.h"


static int	 bench(struct wsh_event *, void *);
static int	 bench_stream(struct wsh_event *, json_int_t, unsigned,
		     unsigned);

/*
 * Token k goes out at start + k s / rate: against the start time, so that
 * drift does not add up. The frame is built on the stack up to "t":, and
 * the clock is read after that, just before the send; only the digits of
 * t and the tail are written in between.
 */
static int
bench_stream(struct wsh_event *ev, json_int_t id, unsigned tokens,
    unsigned rate)
{
	char		 buf[CONTRACT_LINE_MAX];
	uint64_t	 start;
	size_t		 len;
	unsigned	 k;

	start = contract_mono_ns();
	for (k = 0; k < tokens; k++) {
		/* wsh_sleep_ms has whole milliseconds; this, nanoseconds. */
		if (k > 0 && contract_wait_until(wsh_fd(ev), POLLRDHUP,
		    contract_due(start, k, rate)) == -1)
			return (0);	/* the client is gone: stop quietly */
		len = contract_token(buf, id, k, "");
		if (wsh_send_text(ev, buf, len) == -1)
			return (0);
	}
	wsh_send_text(ev, buf, contract_done(buf, id, ""));
	return (0);
}

static int
bench(struct wsh_event *ev, void *arg)
{
	json_t		*msg;
	json_int_t	 id, tokens, rate;
	const char	*payload, *type;
	size_t		 len;
	int		 bad;

	if (wsh_event_type(ev) != WSH_MESSAGE)
		return (0);	/* CONNECT is accepted, DISCONNECT ignored */

	payload = wsh_payload(ev, &len);
	if (wsh_is_binary(ev))
		return (wsh_send_binary(ev, payload, len));
	/*
	 * The echo fast path: a message that starts with exactly
	 * {"type":"echo" goes back as it came, unparsed, which makes echo as
	 * cheap as handlers/examples/echo. Anything else is parsed once: a
	 * stream request starts a stream, any other message is echoed too.
	 */
	if (len >= sizeof CONTRACT_ECHO_PREFIX - 1 &&
	    memcmp(payload, CONTRACT_ECHO_PREFIX,
	    sizeof CONTRACT_ECHO_PREFIX - 1) == 0)
		return (wsh_send_text(ev, payload, len));

	if ((msg = json_loadb(payload, len, 0, NULL)) == NULL)
		return (wsh_send_text(ev, payload, len));
	type = json_string_value(json_object_get(msg, "type"));
	if (type == NULL || strcmp(type, "stream") != 0) {
		json_decref(msg);
		return (wsh_send_text(ev, payload, len));
	}
	bad = !json_is_integer(json_object_get(msg, "id")) ||
	    !json_is_integer(json_object_get(msg, "tokens")) ||
	    !json_is_integer(json_object_get(msg, "rate"));
	id = json_integer_value(json_object_get(msg, "id"));
	tokens = json_integer_value(json_object_get(msg, "tokens"));
	rate = json_integer_value(json_object_get(msg, "rate"));
	json_decref(msg);
	if (bad || id < -CONTRACT_ID_MAX || id > CONTRACT_ID_MAX ||
	    tokens < 0 || tokens > CONTRACT_MAX_TOKENS ||
	    rate < 1 || rate > CONTRACT_MAX_RATE)
		return (wsh_send_text(ev, CONTRACT_BAD_STREAM,
		    sizeof CONTRACT_BAD_STREAM - 1));
	return (bench_stream(ev, id, (unsigned)tokens, (unsigned)rate));
}

int
main(int argc, char **argv)
{
	return (wsh_main(argc, argv, bench, NULL));
}
