/*
 * stream.c: streams numbered text frames for every message, the way an LLM
 * answer is streamed: {"n":20,"interval_ms":50} asks for 20 frames, 50 ms
 * apart. It stops as soon as the client goes away.
 */
#include <jansson.h>
#include <wsrouter/wsh.h>

static int
stream(struct wsh_event *ev, void *arg)
{
	json_t		*msg;
	size_t		 len;
	const char	*payload;
	int		 i, n = 20, interval_ms = 50;

	if (wsh_event_type(ev) != WSH_MESSAGE)
		return (0);

	payload = wsh_payload(ev, &len);
	if ((msg = json_loadb(payload, len, 0, NULL)) != NULL) {
		if (json_is_integer(json_object_get(msg, "n")))
			n = json_integer_value(json_object_get(msg, "n"));
		if (json_is_integer(json_object_get(msg, "interval_ms")))
			interval_ms = json_integer_value(json_object_get(msg,
			    "interval_ms"));
		json_decref(msg);
	}
	if (n < 0 || n > 100000 || interval_ms < 0 || interval_ms > 60000)
		return (wsh_send_textf(ev,
		    "{\"error\":\"bad n or interval\"}"));

	for (i = 1; i <= n; i++) {
		if (wsh_send_textf(ev, "{\"seq\":%d,\"n\":%d}", i, n) == -1)
			return (-1);	/* the client is gone */
		if (i < n && wsh_sleep_ms(ev, interval_ms) == -1) {
			wsh_log(WSH_LOG_INFO, "cancelled after %d frames", i);
			return (-1);
		}
	}
	return (0);
}

int
main(int argc, char **argv)
{
	return (wsh_main(argc, argv, stream, NULL));
}
