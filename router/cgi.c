/* cgi.c: the handler's response: CGI headers, then a body cut into frames. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "wsrouter.h"

enum {
	CGI_ST_HEADER = 0,
	CGI_ST_WHOLE,		/* text or binary: the body is one frame */
	CGI_ST_NDJSON,
	CGI_ST_EV_LINE,		/* events: "TYPE HEXLEN\r\n" or "TYPE\r\n" */
	CGI_ST_EV_CONTENT,
	CGI_ST_EV_CR,		/* the line end after an event's content */
	CGI_ST_EV_LF,
	CGI_ST_DONE,
	CGI_ST_ERROR
};

#define CGI_EVENT_LINE_MAX	32	/* "CONTROL ffffffff\r\n" is 18 */
#define CGI_EVENT_IGNORED	(-1)	/* PING and PONG */
#define CGI_HEX_DIGITS_MAX	8

static const struct cgi_event_type {
	const char	*name;
	int		 kind;
} cgi_event_types[] = {
	{ "TEXT",	CGI_FRAME_TEXT },
	{ "BINARY",	CGI_FRAME_BINARY },
	{ "CLOSE",	CGI_FRAME_CLOSE },
	{ "CONTROL",	CGI_FRAME_CONTROL },
	{ "PING",	CGI_EVENT_IGNORED },
	{ "PONG",	CGI_EVENT_IGNORED },
};

static const struct cgi_content_type {
	const char	*name;
	enum cgi_mode	 mode;
} cgi_content_types[] = {
	{ "application/websocket-events",	CGI_MODE_EVENTS },
	{ "application/x-ndjson",		CGI_MODE_NDJSON },
	{ "application/jsonl",			CGI_MODE_NDJSON },
	{ "application/octet-stream",		CGI_MODE_BINARY },
};

static int	cgi_fail(struct cgi_parser *, const char *);
static int	cgi_buffer(struct cgi_parser *, const unsigned char *, size_t,
		    size_t);
static int	cgi_header_end(const struct dbuf *);
static int	cgi_parse_headers(struct cgi_parser *);
static int	cgi_header_line(struct cgi_parser *, char *, size_t,
		    unsigned *);
static int	cgi_parse_status(struct cgi_parser *, const char *, size_t);
static enum cgi_mode cgi_parse_mode(const char *, size_t);
static int	cgi_deliver(struct cgi_parser *, int, const unsigned char *,
		    size_t, const struct cgi_parser_cb *, void *);
static int	cgi_ndjson_line(struct cgi_parser *, const unsigned char *,
		    size_t, const struct cgi_parser_cb *, void *);
static int	cgi_event_line(struct cgi_parser *, const unsigned char *,
		    size_t, const struct cgi_parser_cb *, void *);
static int	cgi_body_whole(struct cgi_parser *, const unsigned char *,
		    size_t);
static int	cgi_body_ndjson(struct cgi_parser *, const unsigned char *,
		    size_t, const struct cgi_parser_cb *, void *);
static int	cgi_body_events(struct cgi_parser *, const unsigned char *,
		    size_t, const struct cgi_parser_cb *, void *);

/*
 * The body buffer holds a frame, an NDJSON line (a frame and its \r) or an
 * event line, whichever is longest; each use checks its own limit.
 */
void
cgi_parser_init(struct cgi_parser *p, size_t max_frame)
{
	size_t	cap;

	memset(p, 0, sizeof *p);
	p->state = CGI_ST_HEADER;
	p->max_frame = max_frame;
	dbuf_init(&p->hdr, CGI_MAX_HEADER);
	cap = max_frame < SIZE_MAX ? max_frame + 1 : max_frame;
	if (cap < CGI_EVENT_LINE_MAX)
		cap = CGI_EVENT_LINE_MAX;
	dbuf_init(&p->body, cap);
	p->headers.status = 200;
	p->headers.mode = CGI_MODE_TEXT;
}

void
cgi_parser_free(struct cgi_parser *p)
{
	dbuf_free(&p->hdr);
	dbuf_free(&p->body);
	p->headers.identity = NULL;
	p->headers.context = NULL;
}

static int
cgi_fail(struct cgi_parser *p, const char *why)
{
	p->state = CGI_ST_ERROR;
	p->error = why;
	return (-1);
}

/* Append to p->body if it then holds at most limit bytes. */
static int
cgi_buffer(struct cgi_parser *p, const unsigned char *in, size_t len,
    size_t limit)
{
	if (p->body.len > limit || len > limit - p->body.len)
		return (-1);
	return (dbuf_add(&p->body, in, len));
}

/* 1 if the header buffer, which ends in \n, now ends in an empty line. */
static int
cgi_header_end(const struct dbuf *b)
{
	const unsigned char	*d = b->data;
	size_t			 n = b->len;

	if (n == 1 || d[n - 2] == '\n')
		return (1);
	if (d[n - 2] == '\r' && (n == 2 || d[n - 3] == '\n'))
		return (1);
	return (0);
}

/*
 * Parse the complete header section in p->hdr. Values are NUL-terminated in
 * place, so identity and context point into p->hdr, which is not touched
 * again until cgi_parser_free().
 */
static int
cgi_parse_headers(struct cgi_parser *p)
{
	char		*d = (char *)p->hdr.data, *nl;
	size_t		 off = 0, n;
	unsigned	 seen = 0;

	if (memchr(d, '\0', p->hdr.len) != NULL)
		return (cgi_fail(p, "NUL byte in the header section"));
	for (;;) {
		nl = memchr(d + off, '\n', p->hdr.len - off);
		if (nl == NULL)
			return (cgi_fail(p, "bad parser state"));
		n = nl - (d + off);
		if (n > 0 && d[off + n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (cgi_header_line(p, d + off, n, &seen) == -1)
			return (-1);
		off = nl - d + 1;
	}
	return (0);
}

/* One header line, without its line end; the byte after it is writable. */
static int
cgi_header_line(struct cgi_parser *p, char *line, size_t len,
    unsigned *seen)
{
	struct cgi_headers	*h = &p->headers;
	char			*v;
	size_t			 nlen, vlen, i;
	unsigned		 bit;

	v = memchr(line, ':', len);
	if (v == NULL || v == line)
		return (cgi_fail(p, "malformed header line"));
	nlen = v - line;
	for (i = 0; i < nlen; i++) {
		if ((unsigned char)line[i] <= ' ' ||
		    (unsigned char)line[i] >= 0x7f)
			return (cgi_fail(p, "malformed header name"));
	}
	v++;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	v[vlen] = '\0';

#define CGI_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(line, s, nlen) == 0)
	if (CGI_IS("Status"))
		bit = 1;
	else if (CGI_IS("Content-Type"))
		bit = 2;
	else if (CGI_IS("X-WS-Identity"))
		bit = 4;
	else if (CGI_IS("X-WS-Context"))
		bit = 8;
	else
		return (0);
#undef CGI_IS
	if (*seen & bit)
		return (cgi_fail(p, "duplicate header"));
	*seen |= bit;

	switch (bit) {
	case 1:
		return (cgi_parse_status(p, v, vlen));
	case 2:
		h->mode = cgi_parse_mode(v, vlen);
		break;
	case 4:
		if (vlen > IDENTITY_MAX)
			return (cgi_fail(p, "X-WS-Identity too long"));
		h->identity = v;
		h->identity_len = vlen;
		break;
	case 8:
		if (vlen > CONTEXT_MAX)
			return (cgi_fail(p, "X-WS-Context too long"));
		h->context = v;
		h->context_len = vlen;
		break;
	}
	return (0);
}

/* "NNN" or "NNN reason". The reason is cut to fit, on a UTF-8 boundary. */
static int
cgi_parse_status(struct cgi_parser *p, const char *v, size_t len)
{
	struct cgi_headers	*h = &p->headers;
	size_t			 i, n;

	if (len < 3)
		return (cgi_fail(p, "malformed Status"));
	for (i = 0; i < 3; i++) {
		if (v[i] < '0' || v[i] > '9')
			return (cgi_fail(p, "malformed Status"));
	}
	if (v[0] < '1' || v[0] > '5')
		return (cgi_fail(p, "Status out of range"));
	if (len > 3 && v[3] != ' ' && v[3] != '\t')
		return (cgi_fail(p, "malformed Status"));
	h->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');

	v += 3;
	len -= 3;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	n = len < sizeof h->reason - 1 ? len : sizeof h->reason - 1;
	n = utf8_complete_prefix(v, n);
	if (!utf8_valid(v, n))
		n = 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)v[i] < ' ' || v[i] == 0x7f) {
			n = 0;
			break;
		}
	}
	memcpy(h->reason, v, n);
	h->reason[n] = '\0';
	return (0);
}

/* The media type before any ";" parameters, case-insensitively. */
static enum cgi_mode
cgi_parse_mode(const char *v, size_t len)
{
	const char	*semi;
	size_t		 i;

	if ((semi = memchr(v, ';', len)) != NULL)
		len = semi - v;
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	for (i = 0; i < nitems(cgi_content_types); i++) {
		if (strlen(cgi_content_types[i].name) == len &&
		    strncasecmp(cgi_content_types[i].name, v, len) == 0)
			return (cgi_content_types[i].mode);
	}
	return (CGI_MODE_TEXT);
}

/* Check one complete frame and hand it to the callback. */
static int
cgi_deliver(struct cgi_parser *p, int kind, const unsigned char *data,
    size_t len, const struct cgi_parser_cb *cb, void *arg)
{
	unsigned	code;

	if (len > p->max_frame)
		return (cgi_fail(p, "frame too large"));
	switch (kind) {
	case CGI_EVENT_IGNORED:
		return (0);
	case CGI_FRAME_TEXT:
		if (!utf8_valid(data, len))
			return (cgi_fail(p, "text frame is not UTF-8"));
		break;
	case CGI_FRAME_BINARY:
		break;
	case CGI_FRAME_CLOSE:
		if (len == 0)
			break;
		if (len < 2)
			return (cgi_fail(p, "bad CLOSE event"));
		code = (data[0] << 8) | data[1];
		if (code != 1000 && code != 1001 &&
		    (code < 3000 || code > 4999))
			return (cgi_fail(p, "bad close code"));
		if (len - 2 > CLOSE_REASON_MAX)
			return (cgi_fail(p, "close reason too long"));
		if (!utf8_valid(data + 2, len - 2))
			return (cgi_fail(p, "close reason is not UTF-8"));
		break;
	case CGI_FRAME_CONTROL:
		if (len == 0)
			return (cgi_fail(p, "empty CONTROL event"));
		if (!utf8_valid(data, len))
			return (cgi_fail(p, "CONTROL event is not UTF-8"));
		break;
	default:
		return (cgi_fail(p, "bad parser state"));
	}
	if (cb->on_frame != NULL &&
	    cb->on_frame(arg, (enum cgi_frame)kind, data, len) != 0)
		return (cgi_fail(p, "callback failed"));
	return (0);
}

/* One NDJSON line without its \n. */
static int
cgi_ndjson_line(struct cgi_parser *p, const unsigned char *line, size_t len,
    const struct cgi_parser_cb *cb, void *arg)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return (0);
	return (cgi_deliver(p, CGI_FRAME_TEXT, line, len, cb, arg));
}

/* An event line without its \n: "TYPE HEXLEN" or "TYPE", maybe with \r. */
static int
cgi_event_line(struct cgi_parser *p, const unsigned char *line, size_t len,
    const struct cgi_parser_cb *cb, void *arg)
{
	const unsigned char	*sp, *hex;
	size_t			 tlen, hlen, i, value = 0;
	int			 kind = 0, found = 0;
	unsigned char		 c;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	sp = memchr(line, ' ', len);
	tlen = sp != NULL ? (size_t)(sp - line) : len;
	for (i = 0; i < nitems(cgi_event_types); i++) {
		if (strlen(cgi_event_types[i].name) == tlen &&
		    memcmp(cgi_event_types[i].name, line, tlen) == 0) {
			kind = cgi_event_types[i].kind;
			found = 1;
			break;
		}
	}
	if (!found)
		return (cgi_fail(p, "unknown event type"));

	if (sp == NULL) {
		/* An event without content, and without a trailing \r\n. */
		p->state = CGI_ST_EV_LINE;
		return (cgi_deliver(p, kind, (const unsigned char *)"", 0,
		    cb, arg));
	}
	hex = sp + 1;
	hlen = len - tlen - 1;
	if (hlen == 0 || hlen > CGI_HEX_DIGITS_MAX)
		return (cgi_fail(p, "bad event length"));
	for (i = 0; i < hlen; i++) {
		c = hex[i];
		if (c >= '0' && c <= '9')
			value = value * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			value = value * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			value = value * 16 + (c - 'A' + 10);
		else
			return (cgi_fail(p, "bad event length"));
	}
	if (value > p->max_frame)
		return (cgi_fail(p, "frame too large"));
	p->event_kind = kind;
	p->event_left = value;
	if (value == 0) {
		p->state = CGI_ST_EV_CR;
		return (cgi_deliver(p, kind, (const unsigned char *)"", 0,
		    cb, arg));
	}
	p->state = CGI_ST_EV_CONTENT;
	return (0);
}

static int
cgi_body_whole(struct cgi_parser *p, const unsigned char *in, size_t len)
{
	if (cgi_buffer(p, in, len, p->max_frame) == -1)
		return (cgi_fail(p, "frame too large"));
	return (0);
}

static int
cgi_body_ndjson(struct cgi_parser *p, const unsigned char *in, size_t len,
    const struct cgi_parser_cb *cb, void *arg)
{
	const unsigned char	*nl;
	size_t			 n, limit;
	int			 rv;

	/* A line may hold a frame and the \r before its \n. */
	limit = p->max_frame < SIZE_MAX ? p->max_frame + 1 : p->max_frame;
	while (len > 0) {
		if ((nl = memchr(in, '\n', len)) == NULL) {
			if (cgi_buffer(p, in, len, limit) == -1)
				return (cgi_fail(p, "frame too large"));
			return (0);
		}
		n = nl - in;
		if (p->body.len == 0)
			rv = cgi_ndjson_line(p, in, n, cb, arg);
		else {
			if (cgi_buffer(p, in, n, limit) == -1)
				return (cgi_fail(p, "frame too large"));
			rv = cgi_ndjson_line(p, p->body.data, p->body.len,
			    cb, arg);
			dbuf_reset(&p->body);
		}
		if (rv == -1)
			return (-1);
		in += n + 1;
		len -= n + 1;
	}
	return (0);
}

static int
cgi_body_events(struct cgi_parser *p, const unsigned char *in, size_t len,
    const struct cgi_parser_cb *cb, void *arg)
{
	const unsigned char	*nl;
	size_t			 n;
	int			 rv;

	while (len > 0) {
		switch (p->state) {
		case CGI_ST_EV_LINE:
			nl = memchr(in, '\n', len);
			n = nl != NULL ? (size_t)(nl - in) : len;
			/* p->body holds at most CGI_EVENT_LINE_MAX here. */
			if (n > CGI_EVENT_LINE_MAX - p->body.len)
				return (cgi_fail(p, "event line too long"));
			if (nl == NULL) {
				if (cgi_buffer(p, in, len,
				    CGI_EVENT_LINE_MAX) == -1)
					return (cgi_fail(p,
					    "event line too long"));
				return (0);
			}
			if (p->body.len == 0)
				rv = cgi_event_line(p, in, n, cb, arg);
			else {
				if (cgi_buffer(p, in, n,
				    CGI_EVENT_LINE_MAX) == -1)
					return (cgi_fail(p,
					    "event line too long"));
				rv = cgi_event_line(p, p->body.data,
				    p->body.len, cb, arg);
				dbuf_reset(&p->body);
			}
			if (rv == -1)
				return (-1);
			in += n + 1;
			len -= n + 1;
			break;
		case CGI_ST_EV_CONTENT:
			if (p->event_kind == CGI_EVENT_IGNORED) {
				n = len < p->event_left ? len : p->event_left;
				p->event_left -= n;
			} else if (p->body.len == 0 && len >= p->event_left) {
				n = p->event_left;
				p->event_left = 0;
				if (cgi_deliver(p, p->event_kind, in, n, cb,
				    arg) == -1)
					return (-1);
			} else {
				n = len < p->event_left ? len : p->event_left;
				if (cgi_buffer(p, in, n, p->max_frame) == -1)
					return (cgi_fail(p, "frame too large"));
				p->event_left -= n;
				if (p->event_left == 0) {
					rv = cgi_deliver(p, p->event_kind,
					    p->body.data, p->body.len, cb, arg);
					dbuf_reset(&p->body);
					if (rv == -1)
						return (-1);
				}
			}
			in += n;
			len -= n;
			if (p->event_left == 0)
				p->state = CGI_ST_EV_CR;
			break;
		case CGI_ST_EV_CR:
			if (*in == '\r')
				p->state = CGI_ST_EV_LF;
			else if (*in == '\n')
				p->state = CGI_ST_EV_LINE;
			else
				return (cgi_fail(p, "no line end after event"));
			in++;
			len--;
			break;
		case CGI_ST_EV_LF:
			if (*in != '\n')
				return (cgi_fail(p, "no line end after event"));
			p->state = CGI_ST_EV_LINE;
			in++;
			len--;
			break;
		default:
			return (cgi_fail(p, "bad parser state"));
		}
	}
	return (0);
}

int
cgi_parse(struct cgi_parser *p, const void *buf, size_t len,
    const struct cgi_parser_cb *cb, void *arg)
{
	const unsigned char	*in = buf, *nl;
	size_t			 n;

	while (p->state == CGI_ST_HEADER && len > 0) {
		nl = memchr(in, '\n', len);
		n = nl != NULL ? (size_t)(nl - in) + 1 : len;
		if (dbuf_add(&p->hdr, in, n) == -1)
			return (cgi_fail(p, "header section too large"));
		in += n;
		len -= n;
		if (nl == NULL || !cgi_header_end(&p->hdr))
			continue;
		if (cgi_parse_headers(p) == -1)
			return (-1);
		switch (p->headers.mode) {
		case CGI_MODE_EVENTS:
			p->state = CGI_ST_EV_LINE;
			break;
		case CGI_MODE_NDJSON:
			p->state = CGI_ST_NDJSON;
			break;
		default:
			p->state = CGI_ST_WHOLE;
			break;
		}
		if (cb->on_headers != NULL &&
		    cb->on_headers(arg, &p->headers) != 0)
			return (cgi_fail(p, "callback failed"));
	}
	if (len == 0)
		return (p->state == CGI_ST_ERROR ? -1 : 0);

	switch (p->state) {
	case CGI_ST_WHOLE:
		return (cgi_body_whole(p, in, len));
	case CGI_ST_NDJSON:
		return (cgi_body_ndjson(p, in, len, cb, arg));
	case CGI_ST_EV_LINE:
	case CGI_ST_EV_CONTENT:
	case CGI_ST_EV_CR:
	case CGI_ST_EV_LF:
		return (cgi_body_events(p, in, len, cb, arg));
	case CGI_ST_DONE:
		return (cgi_fail(p, "data after the end of the response"));
	case CGI_ST_ERROR:
		return (-1);
	default:
		return (cgi_fail(p, "bad parser state"));
	}
}

int
cgi_finish(struct cgi_parser *p, const struct cgi_parser_cb *cb, void *arg)
{
	int	rv = 0, kind;

	switch (p->state) {
	case CGI_ST_HEADER:
		return (cgi_fail(p, "response ended in the header section"));
	case CGI_ST_WHOLE:
		if (p->body.len == 0)
			break;
		kind = p->headers.mode == CGI_MODE_BINARY ? CGI_FRAME_BINARY :
		    CGI_FRAME_TEXT;
		rv = cgi_deliver(p, kind, p->body.data, p->body.len, cb, arg);
		break;
	case CGI_ST_NDJSON:
		if (p->body.len > 0)
			rv = cgi_ndjson_line(p, p->body.data, p->body.len, cb,
			    arg);
		break;
	case CGI_ST_EV_LINE:
		if (p->body.len > 0)
			return (cgi_fail(p, "response ended inside an event"));
		break;
	case CGI_ST_EV_CONTENT:
	case CGI_ST_EV_CR:
	case CGI_ST_EV_LF:
		return (cgi_fail(p, "response ended inside an event"));
	case CGI_ST_DONE:
		return (cgi_fail(p, "response finished twice"));
	default:
		return (-1);
	}
	dbuf_reset(&p->body);
	if (rv == -1)
		return (-1);
	p->state = CGI_ST_DONE;
	return (0);
}
