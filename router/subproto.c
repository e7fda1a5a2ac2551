/*
 * subproto.c: long Sec-WebSocket-Protocol lists. Browsers cannot set
 * headers, so clients pass a token as a subprotocol entry
 * ("wsrouter, bearer.<jwt>"). libwebsockets 4.1.6 copies the list into a
 * 128-byte buffer while it picks the subprotocol and drops the socket,
 * unanswered, when the list is longer: every real JWT is.
 *
 * The router reads every socket through its own recv() (maskcheck.c),
 * which hands us the bytes of each plain-HTTP request head before lws
 * parses them. When the head holds a Sec-WebSocket-Protocol line longer
 * than lws takes, that offers "wsrouter", we keep the whole list for the
 * CONNECT handler and rewrite the line in place, at the same length, to
 * "wsrouter" plus a filler header lws ignores. lws then selects and
 * answers "wsrouter" as for any short list.
 *
 * The head may come in several reads (a long query string, a long
 * list): on the first read of a head that does not hold all of it, we
 * peek at the bytes still queued in the kernel to find the line, and
 * patch each read as it passes. A head that has not arrived whole by
 * then (a client trickling it) is left as it is: lws sees the long list
 * and conn.c refuses the upgrade with 400.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/syscall.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "wsrouter.h"

#define SUBPROTO_LWS_MAX	126		/* lws 4.1.6: char buf[128] */
#define SUBPROTO_MAX		8192		/* what we keep for a handler */

static const char	 hdr_name[] = "\r\nSec-WebSocket-Protocol:";
static const char	 pad_name[] = "\r\nX-Wsrouter-Pad: ";

/* What we know of a socket's current request head. */
struct sp_fd {
	char	*kept;		/* the whole list, for the CONNECT handler */
	char	*patch;		/* replacement bytes not yet applied */
	size_t	 pstart;	/* offset of patch[0] in the head */
	size_t	 plen;
	size_t	 off;		/* head bytes read so far */
};

static struct sp_fd	*fds;
static size_t		 nfds;

static struct sp_fd *sp_fd(int);
static char	*find_header(char *, size_t, size_t *);
static int	 offers_wsrouter(const char *, size_t);
static void	 apply(struct sp_fd *, char *, size_t);

static struct sp_fd *
sp_fd(int fd)
{
	size_t	n;

	if ((size_t)fd >= nfds) {
		n = nfds == 0 ? 1024 : nfds;
		while (n <= (size_t)fd)
			n *= 2;
		fds = xreallocarray(fds, n, sizeof *fds);
		memset(fds + nfds, 0, (n - nfds) * sizeof *fds);
		nfds = n;
	}
	return (&fds[fd]);
}

/* The header line's value [*vlen bytes], or NULL: within the head only. */
static char *
find_header(char *buf, size_t len, size_t *vlen)
{
	size_t	 nlen = sizeof hdr_name - 1, i;
	char	*v, *end;

	for (i = 0; i + nlen <= len; i++) {
		if (buf[i] == '\r' && i + 3 < len &&
		    memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return (NULL);		/* end of the head */
		if (strncasecmp(buf + i, hdr_name, nlen) != 0)
			continue;
		v = buf + i + nlen;
		while (v < buf + len && (*v == ' ' || *v == '\t'))
			v++;
		if ((end = memchr(v, '\r', buf + len - v)) == NULL)
			return (NULL);		/* the line goes on: too late */
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*vlen = end - v;
		return (v);
	}
	return (NULL);
}

/* Does the list offer "wsrouter" and not the internal raw protocol? */
static int
offers_wsrouter(const char *v, size_t len)
{
	const char	*p = v, *end = v + len, *e;
	size_t		 n;
	int		 offered = 0;

	while (p < end) {
		if ((e = memchr(p, ',', end - p)) == NULL)
			e = end;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		n = e - p;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 8 && memcmp(p, "wsrouter", 8) == 0)
			offered = 1;
		else if (n == 13 && memcmp(p, "wsrouter-fcgi", 13) == 0)
			return (0);
		p = e + 1;
	}
	return (offered);
}

/* Patch the part of the head this read holds. */
static void
apply(struct sp_fd *st, char *buf, size_t n)
{
	size_t	from, to, i;

	from = st->pstart > st->off ? st->pstart : st->off;
	to = st->pstart + st->plen < st->off + n ? st->pstart + st->plen :
	    st->off + n;
	for (i = from; i < to; i++)
		buf[i - st->off] = st->patch[i - st->pstart];
	st->off += n;
	if (st->off >= st->pstart + st->plen) {
		free(st->patch);
		st->patch = NULL;
	}
}

/* Bytes recv() read on a socket that is not (yet) a WebSocket. */
void
subproto_recv(int fd, char *buf, size_t n)
{
	struct sp_fd	*st;
	char		*view = buf, *v;
	size_t		 len = n, vlen, pad = sizeof pad_name - 1;
	ssize_t		 m;

	if (fd < 0)
		return;
	if ((size_t)fd < nfds && fds[fd].patch != NULL) {
		apply(&fds[fd], buf, n);
		return;
	}
	if (n < 4 || memcmp(buf, "GET ", 4) != 0)
		return;
	subproto_forget(fd);		/* a new request on this socket */
	if (memmem(buf, n, "\r\n\r\n", 4) == NULL && n < HTTP_HEAD_MAX) {
		/* The rest of the head, still queued: peek at it. */
		view = xmalloc(HTTP_HEAD_MAX);
		memcpy(view, buf, n);
		m = syscall(SYS_recvfrom, fd, view + n, HTTP_HEAD_MAX - n,
		    MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
		if (m > 0)
			len += m;
	}
	if ((v = find_header(view, len, &vlen)) != NULL &&
	    vlen > SUBPROTO_LWS_MAX && vlen <= SUBPROTO_MAX &&
	    offers_wsrouter(v, vlen)) {
		st = sp_fd(fd);
		st->kept = xstrndup(v, vlen);
		/* "wsrouter" CRLF "X-Wsrouter-Pad: " filler: the same length. */
		st->patch = xmalloc(vlen);
		memcpy(st->patch, "wsrouter", 8);
		memcpy(st->patch + 8, pad_name, pad);
		memset(st->patch + 8 + pad, 'x', vlen - 8 - pad);
		st->pstart = v - view;
		st->plen = vlen;
		st->off = 0;
		apply(st, buf, n);
	}
	if (view != buf)
		free(view);
}

/* The whole list kept for fd's request, handed over (or NULL). */
char *
subproto_take(int fd)
{
	char	*s;

	if (fd < 0 || (size_t)fd >= nfds)
		return (NULL);
	s = fds[fd].kept;
	fds[fd].kept = NULL;
	return (s);
}

void
subproto_forget(int fd)
{
	if (fd < 0 || (size_t)fd >= nfds)
		return;
	free(fds[fd].kept);
	free(fds[fd].patch);
	memset(&fds[fd], 0, sizeof fds[fd]);
}
