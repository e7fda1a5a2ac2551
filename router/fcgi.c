/* fcgi.c: FastCGI 1.0 records: encoding requests, parsing responses. */
#include "config.h"

#include <string.h>

#include "wsrouter.h"

enum {
	FCGI_ST_HEADER = 0,
	FCGI_ST_CONTENT,
	FCGI_ST_PADDING,
	FCGI_ST_DONE,
	FCGI_ST_ERROR
};

/* The padding that brings n bytes of content to a multiple of 8. */
#define FCGI_PAD(n)	((8 - ((n) & 7)) & 7)

static void	fcgi_header(unsigned char *, uint8_t, uint16_t, size_t,
		    size_t);
static int	fcgi_fail(struct fcgi_parser *, const char *);
static int	fcgi_parse_header(struct fcgi_parser *);
static int	fcgi_record_done(struct fcgi_parser *,
		    const struct fcgi_parser_cb *, void *);

static void
fcgi_header(unsigned char *h, uint8_t type, uint16_t id, size_t clen,
    size_t plen)
{
	h[0] = FCGI_VERSION_1;
	h[1] = type;
	h[2] = id >> 8;
	h[3] = id & 0xff;
	h[4] = (clen >> 8) & 0xff;
	h[5] = clen & 0xff;
	h[6] = plen;
	h[7] = 0;
}

int
fcgi_begin_request(struct dbuf *b, uint16_t id, int keep_conn)
{
	unsigned char	rec[FCGI_HEADER_LEN + 8];

	fcgi_header(rec, FCGI_BEGIN_REQUEST, id, 8, 0);
	memset(rec + FCGI_HEADER_LEN, 0, 8);
	rec[FCGI_HEADER_LEN + 1] = FCGI_RESPONDER;
	rec[FCGI_HEADER_LEN + 2] = keep_conn ? FCGI_KEEP_CONN : 0;
	return (dbuf_add(b, rec, sizeof rec));
}

/*
 * Lengths below 128 take one byte, others four with the top bit set (spec
 * 3.4). Either the whole pair is appended or nothing is.
 */
int
fcgi_param(struct dbuf *body, const char *name, size_t nlen,
    const void *value, size_t vlen)
{
	unsigned char	 lens[8];
	size_t		 n = 0, i;
	size_t		 l[2];

	if (nlen > 0x7fffffff || vlen > 0x7fffffff)
		return (-1);
	l[0] = nlen;
	l[1] = vlen;
	for (i = 0; i < 2; i++) {
		if (l[i] < 128)
			lens[n++] = l[i];
		else {
			lens[n++] = 0x80 | (l[i] >> 24);
			lens[n++] = (l[i] >> 16) & 0xff;
			lens[n++] = (l[i] >> 8) & 0xff;
			lens[n++] = l[i] & 0xff;
		}
	}
	if (dbuf_space(body) < n || dbuf_space(body) - n < nlen ||
	    dbuf_space(body) - n - nlen < vlen)
		return (-1);
	if (dbuf_add(body, lens, n) == -1 ||
	    dbuf_add(body, name, nlen) == -1 ||
	    dbuf_add(body, value, vlen) == -1)
		return (-1);	/* not reached: the space was checked */
	return (0);
}

/* Either all the records are appended or nothing is. */
int
fcgi_stream(struct dbuf *b, uint8_t type, uint16_t id, const void *data,
    size_t len)
{
	static const unsigned char	 zero[8];
	const unsigned char		*p = data;
	unsigned char			 h[FCGI_HEADER_LEN];
	size_t				 nrec, last, total, n, pad;

	if (len == 0) {
		fcgi_header(h, type, id, 0, 0);
		return (dbuf_add(b, h, sizeof h));
	}
	if (len > SIZE_MAX / 2)
		return (-1);
	nrec = len / FCGI_MAX_CONTENT;
	last = len % FCGI_MAX_CONTENT;
	/* Full records carry 65535 bytes and one byte of padding. */
	total = nrec * (FCGI_HEADER_LEN + FCGI_MAX_CONTENT + 1);
	if (last != 0)
		total += FCGI_HEADER_LEN + last + FCGI_PAD(last);
	if (total > dbuf_space(b))
		return (-1);

	while (len > 0) {
		n = len > FCGI_MAX_CONTENT ? FCGI_MAX_CONTENT : len;
		pad = FCGI_PAD(n);
		fcgi_header(h, type, id, n, pad);
		if (dbuf_add(b, h, sizeof h) == -1 ||
		    dbuf_add(b, p, n) == -1 ||
		    dbuf_add(b, zero, pad) == -1)
			return (-1);	/* not reached: the space was checked */
		p += n;
		len -= n;
	}
	return (0);
}

void
fcgi_parser_init(struct fcgi_parser *p, uint16_t id)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->state = FCGI_ST_HEADER;
}

static int
fcgi_fail(struct fcgi_parser *p, const char *why)
{
	p->state = FCGI_ST_ERROR;
	p->error = why;
	return (-1);
}

/* Check a complete record header and set up for its content. */
static int
fcgi_parse_header(struct fcgi_parser *p)
{
	const unsigned char	*h = p->hdr;
	uint16_t		 id;

	if (h[0] != FCGI_VERSION_1)
		return (fcgi_fail(p, "bad FastCGI version"));
	p->type = h[1];
	id = (h[2] << 8) | h[3];
	switch (p->type) {
	case FCGI_STDOUT:
	case FCGI_STDERR:
	case FCGI_END_REQUEST:
		break;
	default:
		return (fcgi_fail(p, "unexpected FastCGI record type"));
	}
	if (id != p->id)
		return (fcgi_fail(p, "wrong FastCGI request id"));
	p->content_left = ((size_t)h[4] << 8) | h[5];
	p->padding_left = h[6];
	if (p->type == FCGI_END_REQUEST && p->content_left != 8)
		return (fcgi_fail(p, "bad END_REQUEST length"));
	p->end_len = 0;
	p->hdr_len = 0;
	p->state = FCGI_ST_CONTENT;
	return (0);
}

/* Content and padding are consumed: finish the record. */
static int
fcgi_record_done(struct fcgi_parser *p, const struct fcgi_parser_cb *cb,
    void *arg)
{
	const unsigned char	*e = p->end_body;
	uint32_t		 app_status;

	if (p->type != FCGI_END_REQUEST) {
		p->state = FCGI_ST_HEADER;
		return (0);
	}
	p->ended = 1;
	p->state = FCGI_ST_DONE;
	app_status = ((uint32_t)e[0] << 24) | ((uint32_t)e[1] << 16) |
	    ((uint32_t)e[2] << 8) | e[3];
	if (cb->on_end != NULL && cb->on_end(arg, app_status, e[4]) != 0)
		return (fcgi_fail(p, "callback failed"));
	return (0);
}

int
fcgi_parse(struct fcgi_parser *p, const void *buf, size_t len,
    const struct fcgi_parser_cb *cb, void *arg)
{
	const unsigned char	*in = buf;
	size_t			 n;
	int			 (*fn)(void *, const unsigned char *, size_t);

	if (p->state == FCGI_ST_ERROR)
		return (-1);
	while (len > 0) {
		switch (p->state) {
		case FCGI_ST_HEADER:
			n = FCGI_HEADER_LEN - p->hdr_len;
			if (n > len)
				n = len;
			memcpy(p->hdr + p->hdr_len, in, n);
			p->hdr_len += n;
			in += n;
			len -= n;
			if (p->hdr_len < FCGI_HEADER_LEN)
				break;
			if (fcgi_parse_header(p) == -1)
				return (-1);
			break;
		case FCGI_ST_CONTENT:
			n = p->content_left;
			if (n > len)
				n = len;
			if (p->type == FCGI_END_REQUEST) {
				memcpy(p->end_body + p->end_len, in, n);
				p->end_len += n;
			} else if (n > 0) {
				fn = p->type == FCGI_STDOUT ? cb->on_stdout :
				    cb->on_stderr;
				if (fn != NULL && fn(arg, in, n) != 0)
					return (fcgi_fail(p,
					    "callback failed"));
			}
			in += n;
			len -= n;
			p->content_left -= n;
			break;
		case FCGI_ST_PADDING:
			n = p->padding_left;
			if (n > len)
				n = len;
			in += n;
			len -= n;
			p->padding_left -= n;
			break;
		case FCGI_ST_DONE:
			return (fcgi_fail(p, "data after END_REQUEST"));
		default:
			return (fcgi_fail(p, "bad parser state"));
		}
		/* A record may end without more input (no padding). */
		if (p->state == FCGI_ST_CONTENT && p->content_left == 0)
			p->state = FCGI_ST_PADDING;
		if (p->state == FCGI_ST_PADDING && p->padding_left == 0 &&
		    fcgi_record_done(p, cb, arg) == -1)
			return (-1);
	}
	return (0);
}
