/*
 * maskcheck.c: RFC 6455 section 5.1 requires a server to close the
 * connection when a client sends an unmasked frame. libwebsockets 4.1.6
 * accepts them (fixed upstream only in 5.0). We interpose recv(2), which
 * lws uses to read its sockets, and follow the frame headers of each
 * WebSocket connection: payload bytes are skipped, so the cost is a few
 * comparisons per frame. A connection that sent an unmasked frame is
 * flagged, and conn.c closes it with 1002 on its next callback. close(2)
 * is interposed too, so that nothing known of a descriptor (here or in
 * subproto.c) outlives it.
 */
#include "config.h"

#include <sys/syscall.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsrouter.h"

struct mask_state {
	uint8_t		active;
	uint8_t		violated;
	uint8_t		hlen;		/* header bytes seen */
	uint8_t		need;		/* header bytes in all, once known */
	uint8_t		hdr[14];
	uint64_t	skip;		/* payload bytes left to pass over */
};

static struct mask_state	*states;
static size_t			 nstates;

static void	 maskcheck_forget(int);
static void	 mask_scan(struct mask_state *, const unsigned char *, size_t);

void
maskcheck_watch(int fd)
{
	size_t	n;

	if (fd < 0)
		return;
	if ((size_t)fd >= nstates) {
		n = nstates == 0 ? 1024 : nstates;
		while (n <= (size_t)fd)
			n *= 2;
		states = xreallocarray(states, n, sizeof *states);
		memset(states + nstates, 0, (n - nstates) * sizeof *states);
		nstates = n;
	}
	memset(&states[fd], 0, sizeof states[fd]);
	states[fd].active = 1;
}

static void
maskcheck_forget(int fd)
{
	if (fd >= 0 && (size_t)fd < nstates)
		memset(&states[fd], 0, sizeof states[fd]);
}

int
maskcheck_violated(int fd)
{
	return (fd >= 0 && (size_t)fd < nstates && states[fd].violated);
}

static void
mask_scan(struct mask_state *s, const unsigned char *p, size_t len)
{
	size_t		take;
	uint64_t	plen;
	int		i;

	while (len > 0) {
		if (s->skip > 0) {
			take = s->skip < len ? s->skip : len;
			s->skip -= take;
			p += take;
			len -= take;
			continue;
		}
		s->hdr[s->hlen++] = *p++;
		len--;
		if (s->hlen == 2) {
			if ((s->hdr[1] & 0x80) == 0) {
				s->violated = 1;
				s->active = 0;
				return;
			}
			plen = s->hdr[1] & 0x7f;
			s->need = 2 + 4 + (plen == 126 ? 2 : plen == 127 ? 8 : 0);
		}
		if (s->hlen < 2 || s->hlen < s->need)
			continue;
		plen = s->hdr[1] & 0x7f;
		if (plen == 126)
			plen = (uint64_t)s->hdr[2] << 8 | s->hdr[3];
		else if (plen == 127)
			for (plen = 0, i = 2; i < 10; i++)
				plen = plen << 8 | s->hdr[i];
		s->skip = plen;
		s->hlen = s->need = 0;
	}
}

/* lws reads every socket with recv(); this definition takes its place. */
ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t	n;

	n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
	if (n <= 0 || (flags & MSG_PEEK) != 0)
		return (n);
	if (fd >= 0 && (size_t)fd < nstates && states[fd].active)
		mask_scan(&states[fd], buf, n);
	else
		subproto_recv(fd, buf, n);	/* a request head, maybe */
	return (n);
}

/*
 * The next socket gets the number of the one closed: forget its state.
 * A connection lws drops before CLOSED (a head it refuses half-read) must
 * not leave a pending rewrite for whatever socket comes next.
 */
int
close(int fd)
{
	maskcheck_forget(fd);
	subproto_forget(fd);
	return ((int)syscall(SYS_close, fd));
}
