/* test_cgi.c: the handler response parser. */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"
#include "tap.h"

/*
 * Each case is a response and the log of callbacks it must produce; every
 * case is run whole, split in two at every offset, and byte by byte, and
 * must give the same log.
 */

#define MAX_FRAME	64

struct cgi_case {
	const char	*desc;
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	int		 rv;		/* 0, or -1: an error somewhere */
	const char	*log;		/* callbacks, see log_*() */
	const char	*error;		/* p->error when rv is -1 */
};

struct run {
	struct dbuf		 log;
	const unsigned char	*in;	/* the piece being parsed */
	size_t			 inlen;
	int			 zero_copy;	/* frames pointing into it */
	int			 fail_frames;
};

static void	log_bytes(struct dbuf *, const unsigned char *, size_t);
static int	on_headers(void *, const struct cgi_headers *);
static int	on_frame(void *, enum cgi_frame, const unsigned char *,
		    size_t);
static int	run_case(const char *, size_t, const size_t *, size_t,
		    size_t, struct run *, const char **);
static void	check_case(const struct cgi_case *, size_t);
static void	test_header_caps(void);
static void	test_zero_copy(void);
static void	test_misc(void);

static const struct cgi_parser_cb cb = { on_headers, on_frame };

/* Printable bytes as they are, others as \xHH. */
static void
log_bytes(struct dbuf *b, const unsigned char *d, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\\')
			dbuf_addc(b, d[i]);
		else
			dbuf_printf(b, "\\x%02x", d[i]);
	}
}

/* "H 200 T reason\n", then "I identity\n" and "X context\n" if set. */
static int
on_headers(void *arg, const struct cgi_headers *h)
{
	struct run	*r = arg;
	static const char modes[] = "ENTB";

	dbuf_printf(&r->log, "H %d %c %s\n", h->status, modes[h->mode],
	    h->reason);
	if (h->identity != NULL) {
		dbuf_adds(&r->log, "I ");
		log_bytes(&r->log, (const unsigned char *)h->identity,
		    h->identity_len);
		dbuf_adds(&r->log, "\n");
	}
	if (h->context != NULL) {
		dbuf_adds(&r->log, "X ");
		log_bytes(&r->log, (const unsigned char *)h->context,
		    h->context_len);
		dbuf_adds(&r->log, "\n");
	}
	return (0);
}

/* "T text\n", "B bytes\n", "C bytes\n" (close), "K json\n" (control). */
static int
on_frame(void *arg, enum cgi_frame kind, const unsigned char *d, size_t n)
{
	struct run	*r = arg;
	static const char kinds[] = "TBCK";

	if (r->fail_frames)
		return (-1);
	if (r->in != NULL && d >= r->in && d + n <= r->in + r->inlen && n > 0)
		r->zero_copy++;
	dbuf_printf(&r->log, "%c ", kinds[kind]);
	log_bytes(&r->log, d, n);
	dbuf_adds(&r->log, "\n");
	return (0);
}

/*
 * Feed in at the given cut offsets (sorted), then finish. Appends "E\n" to
 * the log on an error. Returns the result.
 */
static int
run_case(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_frame, struct run *r, const char **error)
{
	struct cgi_parser	p;
	size_t			i, off = 0, end;
	int			rv = 0;

	cgi_parser_init(&p, max_frame);
	for (i = 0; i <= ncuts && rv == 0; i++) {
		end = i < ncuts ? cuts[i] : len;
		r->in = (const unsigned char *)in + off;
		r->inlen = end - off;
		rv = cgi_parse(&p, in + off, end - off, &cb, r);
		off = end;
	}
	r->in = NULL;
	if (rv == 0)
		rv = cgi_finish(&p, &cb, r);
	if (rv == -1)
		dbuf_adds(&r->log, "E\n");
	*error = p.error;
	cgi_parser_free(&p);
	return (rv);
}

static const struct cgi_case cases[] = {
	/* The header section. */
	{ "no Status, text", "Content-Type: text/plain\n\nhello", 0, 0,
	    "H 200 T \nT hello\n", NULL },
	{ "no headers at all", "\nhi", 0, 0, "H 200 T \nT hi\n", NULL },
	{ "empty header section, CRLF", "\r\nhi", 0, 0, "H 200 T \nT hi\n",
	    NULL },
	{ "Status: 403 Forbidden", "Status: 403 Forbidden\n\nno", 0, 0,
	    "H 403 T Forbidden\nT no\n", NULL },
	{ "Status without reason", "Status: 404\r\n\r\n", 0, 0,
	    "H 404 T \n", NULL },
	{ "Status with a long reason is cut",
	    "Status: 500 aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee"
	    "ffffffffffgggggggggg\n\n", 0, 0,
	    "H 500 T aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeefffffff"
	    "fffggg\n", NULL },
	{ "CRLF header lines", "Status: 201 Created\r\nContent-Type: "
	    "text/plain; charset=utf-8\r\n\r\nhey", 0, 0,
	    "H 201 T Created\nT hey\n", NULL },
	{ "mixed LF and CRLF", "Status: 202 OK\nX-A: b\r\n\nz", 0, 0,
	    "H 202 T OK\nT z\n", NULL },
	{ "header names are case-insensitive",
	    "content-TYPE: Application/X-NDJSON\nSTATUS: 200 fine\n\n"
	    "{\"a\":1}\n", 0, 0, "H 200 N fine\nT {\"a\":1}\n", NULL },
	{ "parameters after ; are ignored",
	    "Content-Type: application/octet-stream ; x=y\n\nab", 0, 0,
	    "H 200 B \nB ab\n", NULL },
	{ "other headers are ignored",
	    "X-Powered-By: PHP/8.2\nContent-type: text/html; charset=UTF-8\n"
	    "\n<p>", 0, 0, "H 200 T \nT <p>\n", NULL },
	{ "identity and context",
	    "X-WS-Identity: user-42\nX-WS-Context:  {\"a\":1} \n\n", 0, 0,
	    "H 200 T \nI user-42\nX {\"a\":1}\n", NULL },
	{ "malformed Status", "Status: abc\n\n", 0, -1, "E\n",
	    "malformed Status" },
	{ "Status of two digits", "Status: 99\n\n", 0, -1, "E\n",
	    "malformed Status" },
	{ "Status of four digits", "Status: 2000\n\n", 0, -1, "E\n",
	    "malformed Status" },
	{ "Status 600", "Status: 600 x\n\n", 0, -1, "E\n",
	    "Status out of range" },
	{ "Status 099", "Status: 099\n\n", 0, -1, "E\n",
	    "Status out of range" },
	{ "two Status headers", "Status: 200\nStatus: 403\n\n", 0, -1, "E\n",
	    "duplicate header" },
	{ "header line without a colon", "Bogus\n\n", 0, -1, "E\n",
	    "malformed header line" },
	{ "header line starting with a colon", ": x\n\n", 0, -1, "E\n",
	    "malformed header line" },
	{ "folded header line", "X-A: b\n c: d\n\n", 0, -1, "E\n",
	    "malformed header name" },
	{ "NUL in a header", BIN("X-A: b\0c\n\n"), -1, "E\n",
	    "NUL byte in the header section" },
	{ "no header terminator", "Status: 200\r\n", 0, -1, "E\n",
	    "response ended in the header section" },
	{ "empty response", "", 0, -1, "E\n",
	    "response ended in the header section" },

	/* Text and binary bodies. */
	{ "empty text body sends nothing", "Status: 200\n\n", 0, 0,
	    "H 200 T \n", NULL },
	{ "text body with newlines is one frame", "\nline1\nline2\n", 0, 0,
	    "H 200 T \nT line1\\x0aline2\\x0a\n", NULL },
	{ "binary body", BIN("Content-Type: application/octet-stream\n\n"
	    "\x00\x01\xff"), 0, "H 200 B \nB \\x00\\x01\\xff\n", NULL },
	{ "text body of max_frame bytes", "\n"
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    0, 0, "H 200 T \nT "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\n", NULL },
	{ "text body over max_frame", "\n"
	    "01234567890123456789012345678901234567890123456789012345678901234",
	    0, -1, "H 200 T \nE\n", "frame too large" },
	{ "invalid UTF-8 text body", "\nab\xc3\x28", 0, -1, "H 200 T \nE\n",
	    "text frame is not UTF-8" },
	{ "invalid UTF-8 is fine in a binary body",
	    "Content-Type: application/octet-stream\n\n\xc3\x28", 0, 0,
	    "H 200 B \nB \\xc3(\n", NULL },

	/* NDJSON. */
	{ "NDJSON with trailing newline",
	    "Content-Type: application/x-ndjson\n\n{\"a\":1}\n{\"b\":2}\n", 0,
	    0, "H 200 N \nT {\"a\":1}\nT {\"b\":2}\n", NULL },
	{ "NDJSON without trailing newline",
	    "Content-Type: application/x-ndjson\n\na\nb", 0, 0,
	    "H 200 N \nT a\nT b\n", NULL },
	{ "NDJSON CRLF and empty lines",
	    "Content-Type: application/jsonl\n\n\na\r\n\r\n\nb\r\n", 0, 0,
	    "H 200 N \nT a\nT b\n", NULL },
	{ "NDJSON lone CR at the end is dropped",
	    "Content-Type: application/x-ndjson\n\na\r", 0, 0,
	    "H 200 N \nT a\n", NULL },
	{ "NDJSON empty body", "Content-Type: application/x-ndjson\n\n", 0,
	    0, "H 200 N \n", NULL },
	{ "NDJSON line of max_frame bytes plus CR",
	    "Content-Type: application/x-ndjson\n\n"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\r\nx\n", 0, 0, "H 200 N \nT "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\nT x\n", NULL },
	{ "NDJSON line over max_frame",
	    "Content-Type: application/x-ndjson\n\nok\n"
	    "01234567890123456789012345678901234567890123456789012345678901234"
	    "\n", 0, -1, "H 200 N \nT ok\nE\n", "frame too large" },
	{ "NDJSON invalid UTF-8 line",
	    "Content-Type: application/x-ndjson\n\nok\n\xff\n", 0, -1,
	    "H 200 N \nT ok\nE\n", "text frame is not UTF-8" },

	/* Events. */
	{ "events: text, binary, close",
	    BIN("Content-Type: application/websocket-events\r\n\r\n"
	    "TEXT 5\r\nhello\r\nBINARY 3\r\n\x00\x01\x02\r\n"
	    "CLOSE 6\r\n\x03\xe8" "bye!\r\n"), 0,
	    "H 200 E \nT hello\nB \\x00\\x01\\x02\nC \\x03\\xe8bye!\n",
	    NULL },
	{ "events without content",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT\r\nBINARY\r\nCLOSE\r\n", 0, 0, "H 200 E \nT \nB \nC \n",
	    NULL },
	{ "events with zero length",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT 0\r\n\r\nBINARY 0\r\n\r\n", 0, 0, "H 200 E \nT \nB \n",
	    NULL },
	{ "events: control",
	    "Content-Type: application/websocket-events\n\n"
	    "CONTROL 1d\r\n{\"type\":\"join\",\"channel\":\"r\"}\r\n", 0, 0,
	    "H 200 E \nK {\"type\":\"join\",\"channel\":\"r\"}\n", NULL },
	{ "events: PING and PONG are ignored",
	    "Content-Type: application/websocket-events\n\n"
	    "PING 4\r\nabcd\r\nPONG\r\nTEXT 1\r\nx\r\nPONG 0\r\n\r\n", 0, 0,
	    "H 200 E \nT x\n", NULL },
	{ "events: upper and lower case hex",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT A\r\n0123456789\r\nTEXT b\r\n0123456789a\r\n", 0, 0,
	    "H 200 E \nT 0123456789\nT 0123456789a\n", NULL },
	{ "events: leading zeros, 8 hex digits",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT 00000002\r\nab\r\n", 0, 0, "H 200 E \nT ab\n", NULL },
	{ "events: bare LF line ends",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT 2\nab\nTEXT\n", 0, 0, "H 200 E \nT ab\nT \n", NULL },
	{ "events: content holding CRLF",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT 4\r\n\r\n\r\n\r\n", 0, 0,
	    "H 200 E \nT \\x0d\\x0a\\x0d\\x0a\n",
	    NULL },
	{ "events: empty body", "Content-Type: application/websocket-events"
	    "\n\n", 0, 0, "H 200 E \n", NULL },
	{ "events: 9 hex digits",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT 000000001\r\nx\r\n", 0, -1, "H 200 E \nE\n",
	    "bad event length" },
	{ "events: hex length overflow",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXT 100000000\r\n", 0, -1, "H 200 E \nE\n",
	    "bad event length" },
	{ "events: ffffffff is over max_frame",
	    "Content-Type: application/websocket-events\n\n"
	    "BINARY ffffffff\r\n", 0, -1, "H 200 E \nE\n", "frame too large" },
	{ "events: frame over max_frame",
	    "Content-Type: application/websocket-events\n\nTEXT 41\r\n", 0,
	    -1, "H 200 E \nE\n", "frame too large" },
	{ "events: PING over max_frame",
	    "Content-Type: application/websocket-events\n\nPING 41\r\n", 0,
	    -1, "H 200 E \nE\n", "frame too large" },
	{ "events: frame of max_frame bytes",
	    "Content-Type: application/websocket-events\n\nBINARY 40\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\r\n", 0, 0, "H 200 E \nB "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\n", NULL },
	{ "events: negative length",
	    "Content-Type: application/websocket-events\n\nTEXT -5\r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: plus sign",
	    "Content-Type: application/websocket-events\n\nTEXT +5\r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: 0x prefix",
	    "Content-Type: application/websocket-events\n\nTEXT 0x5\r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: two spaces",
	    "Content-Type: application/websocket-events\n\nTEXT  5\r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: space inside the length",
	    "Content-Type: application/websocket-events\n\nTEXT 1 0\r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: trailing space",
	    "Content-Type: application/websocket-events\n\nTEXT 5 \r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: empty length",
	    "Content-Type: application/websocket-events\n\nTEXT \r\n", 0,
	    -1, "H 200 E \nE\n", "bad event length" },
	{ "events: unknown type",
	    "Content-Type: application/websocket-events\n\nOPEN\r\n", 0,
	    -1, "H 200 E \nE\n", "unknown event type" },
	{ "events: types are upper case",
	    "Content-Type: application/websocket-events\n\ntext 1\r\nx\r\n",
	    0, -1, "H 200 E \nE\n", "unknown event type" },
	{ "events: empty line",
	    "Content-Type: application/websocket-events\n\n\r\n", 0,
	    -1, "H 200 E \nE\n", "unknown event type" },
	{ "events: event line too long",
	    "Content-Type: application/websocket-events\n\n"
	    "TEXTTEXTTEXTTEXTTEXTTEXTTEXTTEXTT", 0, -1, "H 200 E \nE\n",
	    "event line too long" },
	{ "events: garbage after the content",
	    "Content-Type: application/websocket-events\n\nTEXT 1\r\nxY\r\n",
	    0, -1, "H 200 E \nT x\nE\n", "no line end after event" },
	{ "events: CR without LF after the content",
	    "Content-Type: application/websocket-events\n\nTEXT 1\r\nx\rY",
	    0, -1, "H 200 E \nT x\nE\n", "no line end after event" },
	{ "events: content cut short",
	    "Content-Type: application/websocket-events\n\nTEXT 5\r\nhel", 0,
	    -1, "H 200 E \nE\n", "response ended inside an event" },
	{ "events: line cut short",
	    "Content-Type: application/websocket-events\n\nTEXT", 0, -1,
	    "H 200 E \nE\n", "response ended inside an event" },
	{ "events: trailer cut short",
	    "Content-Type: application/websocket-events\n\nTEXT 1\r\nx\r", 0,
	    -1, "H 200 E \nT x\nE\n", "response ended inside an event" },
	{ "events: invalid UTF-8 text",
	    "Content-Type: application/websocket-events\n\nTEXT 2\r\n"
	    "\xc3\x28\r\n", 0, -1, "H 200 E \nE\n",
	    "text frame is not UTF-8" },
	{ "events: overlong UTF-8 text",
	    "Content-Type: application/websocket-events\n\nTEXT 2\r\n"
	    "\xc0\xaf\r\n", 0, -1, "H 200 E \nE\n",
	    "text frame is not UTF-8" },
	{ "events: UTF-8 text",
	    "Content-Type: application/websocket-events\n\nTEXT 4\r\n"
	    "\xf0\x9f\x98\x80\r\n", 0, 0, "H 200 E \nT \\xf0\\x9f\\x98\\x80\n",
	    NULL },
	{ "events: CLOSE of one byte",
	    "Content-Type: application/websocket-events\n\nCLOSE 1\r\nx\r\n",
	    0, -1, "H 200 E \nE\n", "bad CLOSE event" },
	{ "events: CLOSE code 1005",
	    "Content-Type: application/websocket-events\n\nCLOSE 2\r\n"
	    "\x03\xed\r\n", 0, -1, "H 200 E \nE\n", "bad close code" },
	{ "events: CLOSE code 5000",
	    "Content-Type: application/websocket-events\n\nCLOSE 2\r\n"
	    "\x13\x88\r\n", 0, -1, "H 200 E \nE\n", "bad close code" },
	{ "events: CLOSE code 4999",
	    "Content-Type: application/websocket-events\n\nCLOSE 2\r\n"
	    "\x13\x87\r\n", 0, 0, "H 200 E \nC \\x13\\x87\n", NULL },
	{ "events: CLOSE reason not UTF-8",
	    "Content-Type: application/websocket-events\n\nCLOSE 3\r\n"
	    "\x0f\xa0\xff\r\n", 0, -1, "H 200 E \nE\n",
	    "close reason is not UTF-8" },
	{ "events: empty CONTROL",
	    "Content-Type: application/websocket-events\n\nCONTROL\r\n", 0,
	    -1, "H 200 E \nE\n", "empty CONTROL event" },
	{ "events: binary may hold anything",
	    "Content-Type: application/websocket-events\n\nBINARY 2\r\n"
	    "\xff\n\r\n", 0, 0, "H 200 E \nB \\xff\\x0a\n", NULL },
};

/* The same, with max_frame 1: smaller than an event line. */
static const struct cgi_case small_cases[] = {
	{ "events: max_frame 1 still takes split event lines",
	    "Content-Type: application/websocket-events\n\nTEXT 0\r\n\r\n"
	    "BINARY 1\r\nx\r\nCONTROL\r\n", 0, -1, "H 200 E \nT \nB x\nE\n",
	    "empty CONTROL event" },
	{ "NDJSON with max_frame 1",
	    "Content-Type: application/x-ndjson\n\na\r\nb\nc\r\nde\n", 0, -1,
	    "H 200 N \nT a\nT b\nT c\nE\n", "frame too large" },
	{ "text with max_frame 1", "\nab", 0, -1, "H 200 T \nE\n",
	    "frame too large" },
};

static void
check_case(const struct cgi_case *c, size_t max_frame)
{
	struct run	 r;
	size_t		 len = c->len ? c->len : strlen(c->in), i, cut[2];
	size_t		*cuts;
	const char	*err;
	int		 rv, good;

	memset(&r, 0, sizeof r);
	dbuf_init(&r.log, 1 << 16);
	rv = run_case(c->in, len, NULL, 0, max_frame, &r, &err);
	good = rv == c->rv && strcmp(dbuf_str(&r.log), c->log) == 0 &&
	    (c->error == NULL ? err == NULL :
	    err != NULL && strcmp(err, c->error) == 0);
	if (!ok(good, "%s", c->desc))
		tap_diag("  rv %d, error %s, log:\n%s", rv,
		    err ? err : "(none)", dbuf_str(&r.log));

	/* Two pieces, cut at every offset. */
	good = 1;
	for (i = 0; i <= len && good; i++) {
		dbuf_reset(&r.log);
		cut[0] = i;
		rv = run_case(c->in, len, cut, 1, max_frame, &r, &err);
		good = rv == c->rv && strcmp(dbuf_str(&r.log), c->log) == 0;
	}
	if (!ok(good, "%s: split at every offset", c->desc))
		tap_diag("  cut at %zu: rv %d, log:\n%s", i - 1, rv,
		    dbuf_str(&r.log));

	/* Three pieces, byte by byte. */
	good = 1;
	for (i = 0; i + 1 < len && good; i++) {
		dbuf_reset(&r.log);
		cut[0] = i;
		cut[1] = i + 1;
		rv = run_case(c->in, len, cut, 2, max_frame, &r, &err);
		good = rv == c->rv && strcmp(dbuf_str(&r.log), c->log) == 0;
	}
	cuts = xcalloc(len + 1, sizeof *cuts);
	for (i = 0; i < len; i++)
		cuts[i] = i;
	if (good) {
		dbuf_reset(&r.log);
		rv = run_case(c->in, len, cuts, len, max_frame,
		    &r, &err);
		good = rv == c->rv && strcmp(dbuf_str(&r.log), c->log) == 0;
	}
	if (!ok(good, "%s: byte by byte", c->desc))
		tap_diag("  rv %d, log:\n%s", rv, dbuf_str(&r.log));
	free(cuts);
	dbuf_free(&r.log);
}

/* Caps that need long inputs: the header section and the X-WS- headers. */
static void
test_header_caps(void)
{
	static const struct {
		const char	*desc;
		const char	*name;
		size_t		 vlen;
		int		 rv;
	} caps[] = {
		{ "X-WS-Identity of 1024 bytes", "X-WS-Identity", 1024, 0 },
		{ "X-WS-Identity of 1025 bytes", "X-WS-Identity", 1025, -1 },
		{ "X-WS-Context of 8192 bytes", "X-WS-Context", 8192, 0 },
		{ "X-WS-Context of 8193 bytes", "X-WS-Context", 8193, -1 },
	};
	struct cgi_parser	 p;
	struct run		 r;
	struct dbuf		 in;
	size_t			 i, pad;
	int			 rv;

	memset(&r, 0, sizeof r);
	for (i = 0; i < nitems(caps); i++) {
		dbuf_init(&in, 1 << 16);
		dbuf_init(&r.log, 1 << 16);
		dbuf_printf(&in, "%s: ", caps[i].name);
		for (pad = 0; pad < caps[i].vlen; pad++)
			dbuf_addc(&in, 'a' + pad % 26);
		dbuf_adds(&in, "\r\n\r\n");
		cgi_parser_init(&p, MAX_FRAME);
		rv = cgi_parse(&p, in.data, in.len, &cb, &r);
		if (rv == 0)
			rv = cgi_finish(&p, &cb, &r);
		ok(rv == caps[i].rv, "%s: %s", caps[i].desc,
		    caps[i].rv ? "refused" : "accepted");
		if (rv == 0)
			ok((p.headers.identity != NULL &&
			    p.headers.identity_len == caps[i].vlen &&
			    strlen(p.headers.identity) == caps[i].vlen) ||
			    (p.headers.context != NULL &&
			    p.headers.context_len == caps[i].vlen),
			    "%s: value and length kept", caps[i].desc);
		cgi_parser_free(&p);
		dbuf_free(&r.log);
		dbuf_free(&in);
	}

	/* A header section of exactly CGI_MAX_HEADER bytes, and one more. */
	for (i = 0; i < 2; i++) {
		dbuf_init(&in, 1 << 16);
		dbuf_init(&r.log, 1 << 16);
		dbuf_adds(&in, "X-Pad: ");
		while (in.len < CGI_MAX_HEADER - 4 + i)
			dbuf_addc(&in, 'p');
		dbuf_adds(&in, "\r\n\r\nbody");
		cgi_parser_init(&p, MAX_FRAME);
		rv = cgi_parse(&p, in.data, in.len, &cb, &r);
		if (rv == 0)
			rv = cgi_finish(&p, &cb, &r);
		if (i == 0)
			ok(rv == 0 && strcmp(dbuf_str(&r.log),
			    "H 200 T \nT body\n") == 0,
			    "header section of %d bytes", CGI_MAX_HEADER);
		else
			ok(rv == -1 && strcmp(p.error,
			    "header section too large") == 0,
			    "header section of %d bytes is refused",
			    CGI_MAX_HEADER + 1);
		cgi_parser_free(&p);
		dbuf_free(&r.log);
		dbuf_free(&in);
	}

	/* A header over the cap fed in small pieces fails early. */
	dbuf_init(&r.log, 1 << 16);
	cgi_parser_init(&p, MAX_FRAME);
	for (i = 0, rv = 0; i < 2 * CGI_MAX_HEADER && rv == 0; i++)
		rv = cgi_parse(&p, "x", 1, &cb, &r);
	ok(rv == -1 && i == CGI_MAX_HEADER + 1,
	    "an endless header line fails at byte %d", CGI_MAX_HEADER + 1);
	cgi_parser_free(&p);
	dbuf_free(&r.log);
}

/* Whole lines and events inside one input are passed without a copy. */
static void
test_zero_copy(void)
{
	static const char	ndjson[] = "Content-Type: application/x-ndjson"
				    "\n\na\nbb\nccc\n";
	static const char	events[] = "Content-Type: application/"
				    "websocket-events\n\nTEXT 1\r\na\r\n"
				    "BINARY 2\r\nbb\r\n";
	struct run		r;
	const char		*err;
	size_t			cut;

	memset(&r, 0, sizeof r);
	dbuf_init(&r.log, 1 << 16);
	ok(run_case(ndjson, strlen(ndjson), NULL, 0, MAX_FRAME, &r,
	    &err) == 0 && r.zero_copy == 3,
	    "NDJSON lines inside the input are not copied");
	r.zero_copy = 0;
	ok(run_case(events, strlen(events), NULL, 0, MAX_FRAME, &r,
	    &err) == 0 && r.zero_copy == 2,
	    "events inside the input are not copied");
	r.zero_copy = 0;
	cut = strlen(events) - 3;
	dbuf_reset(&r.log);
	ok(run_case(events, strlen(events), &cut, 1, MAX_FRAME, &r,
	    &err) == 0 && r.zero_copy == 1 && strcmp(dbuf_str(&r.log),
	    "H 200 E \nT a\nB bb\n") == 0,
	    "an event split across inputs is buffered");
	dbuf_free(&r.log);
}

static void
test_misc(void)
{
	static const char	 resp[] = "Content-Type: application/x-ndjson"
				     "\n\na\n";
	struct cgi_parser	 p;
	struct run		 r;

	memset(&r, 0, sizeof r);
	dbuf_init(&r.log, 1 << 16);

	cgi_parser_init(&p, MAX_FRAME);
	ok(cgi_parse(&p, resp, strlen(resp), &cb, &r) == 0 &&
	    cgi_finish(&p, &cb, &r) == 0 && cgi_parse(&p, "x", 1, &cb, &r) ==
	    -1, "bytes after cgi_finish are an error");
	cgi_parser_free(&p);

	cgi_parser_init(&p, MAX_FRAME);
	r.fail_frames = 1;
	ok(cgi_parse(&p, resp, strlen(resp), &cb, &r) == -1 &&
	    strcmp(p.error, "callback failed") == 0 &&
	    cgi_parse(&p, "b\n", 2, &cb, &r) == -1,
	    "a failing callback fails the parse, and the error sticks");
	cgi_parser_free(&p);
	r.fail_frames = 0;

	cgi_parser_init(&p, MAX_FRAME);
	ok(cgi_parse(&p, "Status: 200\n\n", 13, &cb, &r) == 0 &&
	    cgi_parse(&p, "", 0, &cb, &r) == 0 &&
	    cgi_finish(&p, &cb, &r) == 0, "empty input is fine");
	cgi_parser_free(&p);

	cgi_parser_init(&p, 0);
	ok(cgi_parse(&p, resp, strlen(resp), &cb, &r) == -1,
	    "max_frame 0 refuses every non-empty frame");
	cgi_parser_free(&p);
	dbuf_free(&r.log);
}

int
main(void)
{
	size_t	i;

	for (i = 0; i < nitems(cases); i++)
		check_case(&cases[i], MAX_FRAME);
	for (i = 0; i < nitems(small_cases); i++)
		check_case(&small_cases[i], 1);
	test_header_caps();
	test_zero_copy();
	test_misc();
	return (tap_done());
}
