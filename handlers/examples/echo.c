/* echo.c: the smallest handler: every message comes back as one frame. */
#include <wsrouter/wsh.h>

static int
echo(struct wsh_event *ev, void *arg)
{
	const char	*payload;
	size_t		 len;

	if (wsh_event_type(ev) != WSH_MESSAGE)
		return (0);	/* CONNECT is accepted, DISCONNECT ignored */

	payload = wsh_payload(ev, &len);
	if (wsh_is_binary(ev))
		return (wsh_send_binary(ev, payload, len));
	return (wsh_send_text(ev, payload, len));
}

int
main(int argc, char **argv)
{
	return (wsh_main(argc, argv, echo, NULL));
}
