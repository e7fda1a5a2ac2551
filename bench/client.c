/*
 * client.c: one WebSocket client connection on the load generator's epoll
 * loop: non-blocking connect from a chosen source address, the opening
 * handshake, masked frames out, server frames in (fragments reassembled,
 * pings answered, closes answered), and a teardown that never frees inside
 * a callback. What the connection says is up to the scenario. With -P eio
 * the messages ride as socket.io v4 "message" events over Engine.IO v4
 * (its open, connect and heartbeat handled here).
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

#define CLIENT_OUT_CAP	(64 * 1024 * 1024)
#define CLIENT_READ_MAX	(256 * 1024)

/* Engine.IO v4 packets, socket.io v4 packets inside type 4 (message). */
#define EIO_OPEN	"0"
#define EIO_PING	"2"
#define EIO_PONG	"3"
#define SIO_CONNECT	"40"
#define SIO_DISCONNECT	"41"
#define SIO_EVENT	"42[\"message\","
#define SIO_CONNECT_ERR	"44"

static void	 client_fail(struct client *, enum lg_error, const char *);
static void	 client_dead(struct client *);
static void	 client_connected(struct client *);
static void	 client_read(struct client *);
static void	 client_flush(struct client *);
static void	 client_watch(struct client *, uint32_t);
static long	 client_parse(struct client *, const unsigned char *, size_t);
static int	 client_frame(struct client *, const struct frame *,
		     const unsigned char *);
static int	 client_deliver(struct client *, int, const unsigned char *,
		     size_t);
static int	 client_queue(struct client *, int, const void *, size_t);
static int	 client_eio(struct client *, const unsigned char *, size_t);
static void	 client_up(struct client *);

#define HAS_PREFIX(p, len, s) \
	((len) >= sizeof(s) - 1 && memcmp((p), (s), sizeof(s) - 1) == 0)

static unsigned char	client_rbuf[CLIENT_READ_MAX];
static struct dbuf	client_wrap;	/* an outgoing socket.io event */

void
client_init(struct loadgen *lg, struct client *c, unsigned id)
{
	memset(c, 0, sizeof *c);
	c->c_lg = lg;
	c->c_id = id;
	c->c_fd = -1;
	c->c_state = CLIENT_IDLE;
	dbuf_init(&c->c_in, lg->lg_max_frame + WS_FRAME_HDR_MAX +
	    WS_HANDSHAKE_MAX);
	dbuf_init(&c->c_out, CLIENT_OUT_CAP);
	dbuf_init(&c->c_msg, lg->lg_max_frame);
	c->c_rand = (uint32_t)(mono_nsec() ^ (0x9e3779b9u * (id + 1)));
	if (c->c_rand == 0)
		c->c_rand = 1;
}

void
client_free(struct client *c)
{
	if (c->c_fd != -1)
		close(c->c_fd);
	c->c_fd = -1;
	dbuf_free(&c->c_in);
	dbuf_free(&c->c_out);
	dbuf_free(&c->c_msg);
}

void *
client_data(struct client *c)
{
	return (c->c_data);
}

void
client_set_data(struct client *c, void *data)
{
	c->c_data = data;
}

struct loadgen *
client_loadgen(struct client *c)
{
	return (c->c_lg);
}

/* Open the socket and start connecting. -1 if it failed at once. */
int
client_start(struct client *c)
{
	struct loadgen		*lg = c->c_lg;
	struct sockaddr_in	 src;
	struct epoll_event	 ev;
	int			 fd, one = 1;

	c->c_t_connect = lg->lg_now;
	c->c_state = CLIENT_CONNECTING;
	lg->lg_connecting++;
	fd = socket(lg->lg_dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		client_fail(c, ERR_CONNECT, strerror(errno));
		return (-1);
	}
	c->c_fd = fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (lg->lg_src_addrs > 0 && lg->lg_dst.ss_family == AF_INET) {
		/* Let connect() choose the port: a port per destination. */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof one);
		memset(&src, 0, sizeof src);
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000000u + lg->lg_src_first +
		    c->c_id % lg->lg_src_addrs);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) == -1) {
			client_fail(c, ERR_CONNECT, strerror(errno));
			return (-1);
		}
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(lg->lg_epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("%s: epoll_ctl", __func__);
	c->c_events = EPOLLOUT;
	if (connect(fd, (struct sockaddr *)&lg->lg_dst, lg->lg_dstlen) == -1) {
		if (errno != EINPROGRESS) {
			client_fail(c, ERR_CONNECT, strerror(errno));
			return (-1);
		}
		return (0);
	}
	client_connected(c);
	return (c->c_state == CLIENT_DEAD ? -1 : 0);
}

/* Close the fd and leave the connection dead; the memory stays. */
static void
client_dead(struct client *c)
{
	struct loadgen	*lg = c->c_lg;
	int		 was = c->c_state;

	if (was == CLIENT_DEAD)
		return;
	if (was == CLIENT_CONNECTING || was == CLIENT_HANDSHAKE ||
	    was == CLIENT_EIO)
		lg->lg_connecting--;
	if (was == CLIENT_OPEN || was == CLIENT_CLOSING)
		lg->lg_open--;
	c->c_state = CLIENT_DEAD;
	if (c->c_fd != -1)
		close(c->c_fd);
	c->c_fd = -1;
	if (was == CLIENT_OPEN && lg->lg_scen->sc_closed != NULL)
		lg->lg_scen->sc_closed(c);
}

/* Count an error against this connection and drop it. */
static void
client_fail(struct client *c, enum lg_error err, const char *cause)
{
	struct loadgen	*lg = c->c_lg;

	if (c->c_state == CLIENT_DEAD)
		return;
	/* A reset while we close is the server being quick, not an error. */
	if (c->c_state == CLIENT_CLOSING && err == ERR_CLOSED) {
		client_dead(c);
		return;
	}
	if (c->c_state == CLIENT_CONNECTING && err == ERR_CLOSED)
		err = ERR_CONNECT;
	if ((c->c_state == CLIENT_HANDSHAKE || c->c_state == CLIENT_EIO) &&
	    err == ERR_CLOSED)
		err = ERR_HANDSHAKE;
	loadgen_error(lg, err);
	if (lg->lg_errors[err] <= 3 || lg->lg_verbose)
		log_warnx("connection %u: %s", c->c_id, cause);
	client_dead(c);
}

/* Drop the connection, counting err unless it is ERR_MAX. */
void
client_kill(struct client *c, enum lg_error err)
{
	if (err == ERR_MAX)
		client_dead(c);
	else
		client_fail(c, err, "dropped");
}

static void
client_watch(struct client *c, uint32_t events)
{
	struct epoll_event	ev;

	if (c->c_fd == -1 || events == c->c_events)
		return;
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(c->c_lg->lg_epfd, EPOLL_CTL_MOD, c->c_fd, &ev) == -1)
		fatal("%s: epoll_ctl", __func__);
	c->c_events = events;
}

/* TCP is up: send the upgrade request. */
static void
client_connected(struct client *c)
{
	struct loadgen	*lg = c->c_lg;
	char		 key[32];

	handshake_key(key, sizeof key, &c->c_rand);
	handshake_accept(key, c->c_accept, sizeof c->c_accept);
	if (handshake_request(&c->c_out, lg->lg_host, lg->lg_port,
	    lg->lg_path, key, lg->lg_origin) == -1)
		fatalx("%s: request too long", __func__);
	c->c_state = CLIENT_HANDSHAKE;
	client_watch(c, EPOLLIN);
	client_flush(c);
}

void
client_io(struct client *c, uint32_t events)
{
	int		err = 0;
	socklen_t	len = sizeof err;

	if (c->c_state == CLIENT_DEAD)
		return;
	if (c->c_state == CLIENT_CONNECTING) {
		if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			client_fail(c, ERR_CONNECT, strerror(err));
			return;
		}
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			client_connected(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		client_read(c);
	if (c->c_state != CLIENT_DEAD && (events & EPOLLOUT))
		client_flush(c);
}

static void
client_read(struct client *c)
{
	ssize_t	n;
	long	used;

	n = read(c->c_fd, client_rbuf, sizeof client_rbuf);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		client_fail(c, ERR_CLOSED, strerror(errno));
		return;
	}
	if (n == 0) {
		client_fail(c, ERR_CLOSED, "the server closed the connection");
		return;
	}
	if (c->c_in.len == 0) {
		/* The common case: parse straight from the read buffer. */
		used = client_parse(c, client_rbuf, (size_t)n);
		if (used == -1 || c->c_state == CLIENT_DEAD)
			return;
		if ((size_t)used < (size_t)n &&
		    dbuf_add(&c->c_in, client_rbuf + used, (size_t)n - used) == -1)
			client_fail(c, ERR_PROTOCOL, "frame too large");
		return;
	}
	if (dbuf_add(&c->c_in, client_rbuf, (size_t)n) == -1) {
		client_fail(c, ERR_PROTOCOL, "frame too large");
		return;
	}
	used = client_parse(c, c->c_in.data, c->c_in.len);
	if (used == -1 || c->c_state == CLIENT_DEAD)
		return;
	dbuf_consume(&c->c_in, (size_t)used);
}

/*
 * Parse the handshake answer and then frames from p; returns the bytes
 * used, or -1 when the connection died.
 */
static long
client_parse(struct client *c, const unsigned char *p, size_t len)
{
	struct loadgen	*lg = c->c_lg;
	struct frame	 f;
	const char	*cause = NULL;
	size_t		 off = 0, used;
	int		 r;

	if (c->c_state == CLIENT_HANDSHAKE) {
		r = handshake_response(p, len, c->c_accept, &used, &cause);
		if (r == 0) {
			if (len > WS_HANDSHAKE_MAX) {
				client_fail(c, ERR_HANDSHAKE,
				    "handshake response too long");
				return (-1);
			}
			return (0);
		}
		if (r == -1) {
			client_fail(c, ERR_HANDSHAKE, cause);
			return (-1);
		}
		off = used;
		if (lg->lg_proto == PROTO_EIO)
			c->c_state = CLIENT_EIO;	/* wait for "40" */
		else
			client_up(c);
	}
	while (off < len && (c->c_state == CLIENT_OPEN ||
	    c->c_state == CLIENT_CLOSING || c->c_state == CLIENT_EIO)) {
		r = frame_parse(p + off, len - off, &f, &cause);
		if (r == 0)
			break;
		if (r == -1 || frame_check_server(&f, &cause) == -1) {
			client_fail(c, ERR_PROTOCOL, cause);
			return (-1);
		}
		if (f.fr_len > lg->lg_max_frame) {
			client_fail(c, ERR_PROTOCOL, "frame too large");
			return (-1);
		}
		if (len - off - f.fr_hdrlen < f.fr_len)
			break;
		lg->lg_frames_in++;
		if (client_frame(c, &f, p + off + f.fr_hdrlen) == -1)
			return (-1);
		off += f.fr_hdrlen + f.fr_len;
	}
	return (c->c_state == CLIENT_DEAD ? -1 : (long)off);
}

/* The connection is open for the scenario. */
static void
client_up(struct client *c)
{
	struct loadgen	*lg = c->c_lg;

	c->c_state = CLIENT_OPEN;
	lg->lg_connecting--;
	lg->lg_open++;
	lg->lg_opened++;
}

/* One complete frame; -1 if the connection died. */
static int
client_frame(struct client *c, const struct frame *f, const unsigned char *p)
{
	struct loadgen	*lg = c->c_lg;
	size_t		 len = f->fr_len;
	unsigned	 code;
	int		 op;

	switch (f->fr_opcode) {
	case WS_OP_PING:
		lg->lg_pings++;
		if (c->c_state != CLIENT_CLOSING &&
		    client_queue(c, WS_OP_PONG, p, len) == -1)
			return (-1);
		client_flush(c);
		break;
	case WS_OP_PONG:
		if (c->c_state == CLIENT_OPEN && lg->lg_scen->sc_pong != NULL)
			lg->lg_scen->sc_pong(c, p, len);
		break;
	case WS_OP_CLOSE:
		if (len == 1) {
			client_fail(c, ERR_PROTOCOL, "close frame of 1 byte");
			return (-1);
		}
		if (c->c_state == CLIENT_CLOSING) {
			/* Our close was answered: the handshake is done. */
			client_dead(c);
			return (-1);
		}
		code = len >= 2 ? ((unsigned)p[0] << 8 | p[1]) : 1005;
		if (lg->lg_verbose || lg->lg_errors[ERR_CLOSED] < 3)
			log_warnx("connection %u: server closed with %u %.*s",
			    c->c_id, code, len > 2 ? (int)(len - 2) : 0,
			    len > 2 ? (const char *)p + 2 : "");
		/* Echo the code back, as RFC 6455 5.5.1 asks, then go. */
		(void)client_queue(c, WS_OP_CLOSE, p, len >= 2 ? 2 : 0);
		client_flush(c);
		client_fail(c, ERR_CLOSED, "closed by the server");
		return (-1);
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (c->c_msg_opcode != 0) {
			client_fail(c, ERR_PROTOCOL,
			    "new message inside a fragmented one");
			return (-1);
		}
		if (f->fr_fin)
			return (client_deliver(c, f->fr_opcode, p, len));
		c->c_msg_opcode = f->fr_opcode;
		dbuf_reset(&c->c_msg);
		if (dbuf_add(&c->c_msg, p, len) == -1) {
			client_fail(c, ERR_PROTOCOL, "message too large");
			return (-1);
		}
		break;
	case WS_OP_CONT:
		if (c->c_msg_opcode == 0) {
			client_fail(c, ERR_PROTOCOL,
			    "continuation without a message");
			return (-1);
		}
		if (dbuf_add(&c->c_msg, p, len) == -1) {
			client_fail(c, ERR_PROTOCOL, "message too large");
			return (-1);
		}
		if (f->fr_fin) {
			op = c->c_msg_opcode;
			c->c_msg_opcode = 0;
			return (client_deliver(c, op, c->c_msg.data,
			    c->c_msg.len));
		}
		break;
	}
	return (c->c_state == CLIENT_DEAD ? -1 : 0);
}

/* A whole message: check text, hand it to the scenario. */
static int
client_deliver(struct client *c, int opcode, const unsigned char *p,
    size_t len)
{
	if (opcode == WS_OP_TEXT && !utf8_valid(p, len)) {
		client_fail(c, ERR_PROTOCOL, "text message is not UTF-8");
		return (-1);
	}
	if (c->c_lg->lg_proto == PROTO_EIO)
		return (client_eio(c, p, len));
	if (c->c_state == CLIENT_OPEN)
		c->c_lg->lg_scen->sc_message(c, opcode, p, len);
	return (c->c_state == CLIENT_DEAD ? -1 : 0);
}

/*
 * An Engine.IO v4 packet: the open packet is answered with a socket.io
 * connect, whose answer opens the connection; heartbeats are answered;
 * a "message" event's argument goes to the scenario as the message.
 */
static int
client_eio(struct client *c, const unsigned char *p, size_t len)
{
	struct loadgen	*lg = c->c_lg;

	if (len == 1 && p[0] == EIO_PING[0]) {
		lg->lg_pings++;
		(void)client_queue(c, WS_OP_TEXT, EIO_PONG, 1);
		client_flush(c);
	} else if (c->c_state == CLIENT_EIO && HAS_PREFIX(p, len, EIO_OPEN) &&
	    len > 1 && p[1] == '{') {
		(void)client_queue(c, WS_OP_TEXT, SIO_CONNECT, 2);
		client_flush(c);
	} else if (c->c_state == CLIENT_EIO && HAS_PREFIX(p, len, SIO_CONNECT))
		client_up(c);
	else if (c->c_state == CLIENT_EIO) {
		client_fail(c, ERR_HANDSHAKE, HAS_PREFIX(p, len,
		    SIO_CONNECT_ERR) ? "socket.io connect refused" :
		    "unexpected packet in the Engine.IO handshake");
		return (-1);
	} else if (HAS_PREFIX(p, len, SIO_EVENT) && p[len - 1] == ']') {
		if (c->c_state == CLIENT_OPEN)
			lg->lg_scen->sc_message(c, WS_OP_TEXT,
			    p + sizeof(SIO_EVENT) - 1,
			    len - sizeof(SIO_EVENT));
	} else if (HAS_PREFIX(p, len, SIO_DISCONNECT)) {
		client_fail(c, ERR_CLOSED, "socket.io disconnect");
		return (-1);
	} else {
		client_fail(c, ERR_PROTOCOL, "not a socket.io message event");
		return (-1);
	}
	return (c->c_state == CLIENT_DEAD ? -1 : 0);
}

/* Append one masked frame to the output; -1 (connection dropped) if full. */
static int
client_queue(struct client *c, int opcode, const void *data, size_t len)
{
	unsigned char	hdr[WS_FRAME_HDR_MAX], mask[4];
	uint32_t	x = c->c_rand;
	size_t		hlen, at;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	c->c_rand = x;
	memcpy(mask, &x, 4);
	hlen = frame_header(hdr, opcode, 1, len, mask);
	if (dbuf_space(&c->c_out) < hlen + len) {
		client_fail(c, ERR_PROTOCOL, "output queue full");
		return (-1);
	}
	(void)dbuf_add(&c->c_out, hdr, hlen);
	at = c->c_out.len;
	(void)dbuf_add(&c->c_out, data, len);
	frame_mask(c->c_out.data + at, len, mask);
	c->c_lg->lg_frames_out++;
	return (0);
}

/* Send one frame now (as much as the socket takes). */
int
client_send(struct client *c, int opcode, const void *data, size_t len)
{
	if (c->c_state != CLIENT_OPEN)
		return (-1);
	if (c->c_lg->lg_proto == PROTO_EIO) {
		/* Wrapped as 42["message",DATA]: DATA is a JSON value. */
		if (client_wrap.cap == 0)
			dbuf_init(&client_wrap, c->c_lg->lg_max_frame + 64);
		dbuf_reset(&client_wrap);
		if (dbuf_adds(&client_wrap, SIO_EVENT) == -1 ||
		    dbuf_add(&client_wrap, data, len) == -1 ||
		    dbuf_adds(&client_wrap, "]") == -1) {
			client_fail(c, ERR_PROTOCOL, "message too large");
			return (-1);
		}
		data = client_wrap.data;
		len = client_wrap.len;
	}
	if (client_queue(c, opcode, data, len) == -1)
		return (-1);
	client_flush(c);
	return (c->c_state == CLIENT_DEAD ? -1 : 0);
}

/* Send a ping with this payload (at most 125 bytes). */
int
client_ping(struct client *c, const void *data, size_t len)
{
	if (c->c_state != CLIENT_OPEN || len > 125)
		return (-1);
	if (client_queue(c, WS_OP_PING, data, len) == -1)
		return (-1);
	client_flush(c);
	return (c->c_state == CLIENT_DEAD ? -1 : 0);
}

/* Start the closing handshake with code; not yet open means just drop. */
void
client_close(struct client *c, uint16_t code)
{
	unsigned char	p[2];

	if (c->c_state != CLIENT_OPEN) {
		client_dead(c);
		return;
	}
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	if (client_queue(c, WS_OP_CLOSE, p, 2) == -1)
		return;
	c->c_state = CLIENT_CLOSING;
	client_flush(c);
}

static void
client_flush(struct client *c)
{
	ssize_t	n;

	while (c->c_out_off < c->c_out.len) {
		n = send(c->c_fd, c->c_out.data + c->c_out_off,
		    c->c_out.len - c->c_out_off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_fail(c, ERR_CLOSED, strerror(errno));
			return;
		}
		c->c_out_off += (size_t)n;
	}
	if (c->c_out_off == c->c_out.len) {
		dbuf_reset(&c->c_out);
		c->c_out_off = 0;
		client_watch(c, EPOLLIN);
		return;
	}
	if (c->c_out_off > c->c_out.len / 2) {
		dbuf_consume(&c->c_out, c->c_out_off);
		c->c_out_off = 0;
	}
	client_watch(c, EPOLLIN | EPOLLOUT);
}
