/* test_fcgi.c: FastCGI record encoding and the response parser. */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"
#include "tap.h"

#define ID	0x1234

struct rec {
	uint8_t		 version;
	uint8_t		 type;
	uint16_t	 id;
	size_t		 clen;
	size_t		 plen;
	const unsigned char *content;
};

struct sink {
	struct dbuf	 out;
	struct dbuf	 err;
	int		 ends;
	uint32_t	 app_status;
	uint8_t		 proto_status;
	int		 fail_stdout;
};

static void	 decode_rec(const unsigned char *, struct rec *);
static int	 on_stdout(void *, const unsigned char *, size_t);
static int	 on_stderr(void *, const unsigned char *, size_t);
static int	 on_end(void *, uint32_t, uint8_t);
static void	 sink_init(struct sink *);
static void	 sink_free(struct sink *);
static void	 add_end(struct dbuf *, uint16_t, uint32_t, uint8_t);
static int	 feed(struct fcgi_parser *, const unsigned char *, size_t,
		     size_t, struct sink *);
static void	 test_begin_request(void);
static void	 test_params(void);
static void	 test_stream(void);
static void	 test_round_trip(void);
static void	 test_max_record(void);
static void	 test_hostile(void);
static void	 test_misc(void);

static const struct fcgi_parser_cb cb = { on_stdout, on_stderr, on_end };

static void
decode_rec(const unsigned char *p, struct rec *r)
{
	r->version = p[0];
	r->type = p[1];
	r->id = (p[2] << 8) | p[3];
	r->clen = (p[4] << 8) | p[5];
	r->plen = p[6];
	r->content = p + FCGI_HEADER_LEN;
}

static int
on_stdout(void *arg, const unsigned char *d, size_t n)
{
	struct sink	*s = arg;

	if (s->fail_stdout)
		return (-1);
	return (dbuf_add(&s->out, d, n));
}

static int
on_stderr(void *arg, const unsigned char *d, size_t n)
{
	struct sink	*s = arg;

	return (dbuf_add(&s->err, d, n));
}

static int
on_end(void *arg, uint32_t app, uint8_t proto)
{
	struct sink	*s = arg;

	s->ends++;
	s->app_status = app;
	s->proto_status = proto;
	return (0);
}

static void
sink_init(struct sink *s)
{
	memset(s, 0, sizeof *s);
	dbuf_init(&s->out, 1 << 20);
	dbuf_init(&s->err, 1 << 20);
}

static void
sink_free(struct sink *s)
{
	dbuf_free(&s->out);
	dbuf_free(&s->err);
}

static void
add_end(struct dbuf *b, uint16_t id, uint32_t app, uint8_t proto)
{
	unsigned char	r[16] = { 1, FCGI_END_REQUEST, id >> 8, id & 0xff,
			    0, 8, 0, 0, app >> 24, (app >> 16) & 0xff,
			    (app >> 8) & 0xff, app & 0xff, proto, 0, 0, 0 };

	dbuf_add(b, r, sizeof r);
}

/* Feed in pieces of step bytes (0: all at once). */
static int
feed(struct fcgi_parser *p, const unsigned char *d, size_t len, size_t step,
    struct sink *s)
{
	size_t	off, n;

	if (step == 0)
		return (fcgi_parse(p, d, len, &cb, s));
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		if (fcgi_parse(p, d + off, n, &cb, s) == -1)
			return (-1);
	}
	return (0);
}

static void
test_begin_request(void)
{
	static const unsigned char want_keep[16] = { 1, 1, 0x12, 0x34, 0, 8,
	    0, 0, 0, 1, 1, 0, 0, 0, 0, 0 };
	static const unsigned char want_close[16] = { 1, 1, 0x12, 0x34, 0, 8,
	    0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	struct dbuf	b;

	dbuf_init(&b, 64);
	ok(fcgi_begin_request(&b, ID, 1) == 0 && b.len == 16 &&
	    memcmp(b.data, want_keep, 16) == 0,
	    "BEGIN_REQUEST with keep_conn");
	dbuf_reset(&b);
	ok(fcgi_begin_request(&b, ID, 0) == 0 && b.len == 16 &&
	    memcmp(b.data, want_close, 16) == 0,
	    "BEGIN_REQUEST without keep_conn");
	dbuf_free(&b);
	dbuf_init(&b, 15);
	ok(fcgi_begin_request(&b, ID, 0) == -1 && b.len == 0,
	    "BEGIN_REQUEST past the cap fails and appends nothing");
	dbuf_free(&b);
}

/* Decode one name-value pair's length (spec 3.4). */
static size_t
param_len(const unsigned char **p)
{
	size_t	n;

	if (**p < 128)
		return (*(*p)++);
	n = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) |
	    ((size_t)(*p)[2] << 8) | (*p)[3];
	*p += 4;
	return (n);
}

static void
test_params(void)
{
	static const struct {
		size_t	nlen;
		size_t	vlen;
		size_t	hdr;	/* bytes of lengths */
	} cases[] = {
		{ 0, 0, 2 },
		{ 1, 0, 2 },
		{ 127, 127, 2 },
		{ 128, 127, 5 },
		{ 127, 128, 5 },
		{ 128, 128, 8 },
		{ 11, 70000, 5 },
		{ 300, 1, 5 },
	};
	struct dbuf		 b;
	const unsigned char	*p;
	char			*name, *value;
	size_t			 i, n, v;

	for (i = 0; i < nitems(cases); i++) {
		name = xmalloc(cases[i].nlen + 1);
		value = xmalloc(cases[i].vlen + 1);
		memset(name, 'N', cases[i].nlen);
		memset(value, 'v', cases[i].vlen);
		dbuf_init(&b, 1 << 20);
		ok(fcgi_param(&b, name, cases[i].nlen, value,
		    cases[i].vlen) == 0 && b.len == cases[i].hdr +
		    cases[i].nlen + cases[i].vlen,
		    "param %zu/%zu: %zu length bytes", cases[i].nlen,
		    cases[i].vlen, cases[i].hdr);
		p = b.data;
		n = param_len(&p);
		v = param_len(&p);
		ok(n == cases[i].nlen && v == cases[i].vlen &&
		    (size_t)(p - b.data) == cases[i].hdr &&
		    memcmp(p, name, n) == 0 && memcmp(p + n, value, v) == 0,
		    "param %zu/%zu decodes back", cases[i].nlen,
		    cases[i].vlen);
		if (cases[i].nlen == 128)
			ok(b.data[0] == 0x80 && b.data[3] == 128,
			    "4-byte length has the top bit set");
		dbuf_free(&b);
		free(name);
		free(value);
	}

	dbuf_init(&b, 10);
	ok(fcgi_param(&b, "ABCD", 4, "1234", 4) == 0 && b.len == 10,
	    "param filling the cap exactly");
	ok(fcgi_param(&b, "A", 1, "", 0) == -1 && b.len == 10,
	    "param past the cap fails and appends nothing");
	dbuf_free(&b);
	dbuf_init(&b, 200);
	ok(fcgi_param(&b, "A", 1, "x", (size_t)1 << 31) == -1 && b.len == 0,
	    "param value of 2^31 bytes is refused");
	dbuf_free(&b);
}

static void
test_stream(void)
{
	static const size_t lens[] = { 1, 7, 8, 9, 65534, 65535, 65536,
	    131070, 131071, 131072, 200000 };
	struct dbuf	 b;
	struct rec	 r;
	unsigned char	*data, *back;
	size_t		 i, j, off, nrec, got, want_nrec;
	int		 good;

	data = xmalloc(200000);
	back = xmalloc(200000);
	for (j = 0; j < 200000; j++)
		data[j] = (j * 7 + j / 251) & 0xff;

	dbuf_init(&b, 64);
	ok(fcgi_stream(&b, FCGI_STDIN, ID, NULL, 0) == 0 && b.len == 8,
	    "empty stream record is one header");
	decode_rec(b.data, &r);
	ok(r.version == 1 && r.type == FCGI_STDIN && r.id == ID &&
	    r.clen == 0 && r.plen == 0, "empty record header fields");
	dbuf_free(&b);

	for (i = 0; i < nitems(lens); i++) {
		dbuf_init(&b, 1 << 20);
		ok(fcgi_stream(&b, FCGI_STDIN, ID, data, lens[i]) == 0,
		    "STDIN of %zu bytes encodes", lens[i]);
		good = 1;
		nrec = got = 0;
		for (off = 0; off < b.len; off += FCGI_HEADER_LEN + r.clen +
		    r.plen) {
			if (b.len - off < FCGI_HEADER_LEN) {
				good = 0;
				break;
			}
			decode_rec(b.data + off, &r);
			if (r.version != 1 || r.type != FCGI_STDIN ||
			    r.id != ID || r.clen == 0 ||
			    (r.clen + r.plen) % 8 != 0 || r.plen > 7 ||
			    off + FCGI_HEADER_LEN + r.clen + r.plen > b.len) {
				good = 0;
				break;
			}
			memcpy(back + got, r.content, r.clen);
			got += r.clen;
			nrec++;
		}
		want_nrec = (lens[i] + FCGI_MAX_CONTENT - 1) / FCGI_MAX_CONTENT;
		ok(good && got == lens[i] && memcmp(back, data, got) == 0 &&
		    nrec == want_nrec,
		    "STDIN of %zu bytes: %zu records, padded to 8, data back",
		    lens[i], want_nrec);
		dbuf_free(&b);
	}

	dbuf_init(&b, 65535 + 8);
	ok(fcgi_stream(&b, FCGI_STDIN, ID, data, 65535) == -1 && b.len == 0,
	    "stream past the cap (padding) fails and appends nothing");
	dbuf_free(&b);
	dbuf_init(&b, 65535 + 9);
	ok(fcgi_stream(&b, FCGI_STDIN, ID, data, 65535) == 0 &&
	    b.len == 65535 + 9, "stream filling the cap exactly");
	dbuf_free(&b);

	free(data);
	free(back);
}

static void
test_round_trip(void)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7, 8, 9, 100, 65536 };
	struct fcgi_parser	 p;
	struct sink		 s;
	struct dbuf		 b;
	unsigned char		*out;
	size_t			 i, j, outlen = 150000;

	out = xmalloc(outlen);
	for (j = 0; j < outlen; j++)
		out[j] = (j * 13) & 0xff;
	dbuf_init(&b, 1 << 20);
	fcgi_stream(&b, FCGI_STDERR, ID, "warn: x\n", 8);
	fcgi_stream(&b, FCGI_STDOUT, ID, out, 70000);
	fcgi_stream(&b, FCGI_STDERR, ID, "more", 4);
	fcgi_stream(&b, FCGI_STDOUT, ID, out + 70000, outlen - 70000);
	fcgi_stream(&b, FCGI_STDOUT, ID, NULL, 0);
	fcgi_stream(&b, FCGI_STDERR, ID, NULL, 0);
	add_end(&b, ID, 0x01020304, FCGI_REQUEST_COMPLETE);

	for (i = 0; i < nitems(steps); i++) {
		sink_init(&s);
		fcgi_parser_init(&p, ID);
		ok(feed(&p, b.data, b.len, steps[i], &s) == 0 &&
		    s.out.len == outlen && memcmp(s.out.data, out, outlen) ==
		    0 && s.err.len == 12 && memcmp(s.err.data,
		    "warn: x\nmore", 12) == 0 && s.ends == 1 &&
		    s.app_status == 0x01020304 && s.proto_status == 0 &&
		    p.ended, "response round trip in pieces of %zu", steps[i]);
		sink_free(&s);
	}

	/* Truncated at every record boundary region: no end, no error. */
	sink_init(&s);
	fcgi_parser_init(&p, ID);
	ok(fcgi_parse(&p, b.data, b.len - 1, &cb, &s) == 0 && !p.ended &&
	    s.ends == 0, "response cut one byte short: not ended yet");
	ok(fcgi_parse(&p, b.data + b.len - 1, 1, &cb, &s) == 0 && p.ended &&
	    s.ends == 1, "last byte ends it");
	sink_free(&s);
	dbuf_free(&b);
	free(out);
}

/* Content length 65535 with padding 255: the largest record there is. */
static void
test_max_record(void)
{
	struct fcgi_parser	 p;
	struct sink		 s;
	struct dbuf		 b;
	unsigned char		 h[8] = { 1, FCGI_STDOUT, ID >> 8, ID & 0xff,
				    0xff, 0xff, 0xff, 0 };
	unsigned char		*blob;
	size_t			 step;

	blob = xcalloc(1, 65535 + 255);
	memset(blob, 'x', 65535);
	memset(blob + 65535, 'P', 255);
	dbuf_init(&b, 1 << 20);
	dbuf_add(&b, h, 8);
	dbuf_add(&b, blob, 65535 + 255);
	add_end(&b, ID, 7, FCGI_REQUEST_COMPLETE);
	for (step = 0; step <= 1; step++) {
		sink_init(&s);
		fcgi_parser_init(&p, ID);
		ok(feed(&p, b.data, b.len, step, &s) == 0 &&
		    s.out.len == 65535 && memchr(s.out.data, 'P', 65535) ==
		    NULL && s.ends == 1 && s.app_status == 7,
		    "content 65535 + padding 255, %s",
		    step ? "byte by byte" : "at once");
		sink_free(&s);
	}
	dbuf_free(&b);
	free(blob);
}

static void
test_hostile(void)
{
	static const struct {
		const char	*desc;
		unsigned char	 bytes[40];
		size_t		 len;
		const char	*error;
	} cases[] = {
		{ "version 0", { 0, 6, 0x12, 0x34, 0, 1, 7, 0, 'x' }, 9,
		    "bad FastCGI version" },
		{ "version 2", { 2, 6, 0x12, 0x34, 0, 1, 7, 0, 'x' }, 9,
		    "bad FastCGI version" },
		{ "wrong request id", { 1, 6, 0x12, 0x35, 0, 1, 7, 0, 'x' }, 9,
		    "wrong FastCGI request id" },
		{ "request id 0", { 1, 6, 0, 0, 0, 0, 0, 0 }, 8,
		    "wrong FastCGI request id" },
		{ "type 0", { 1, 0, 0x12, 0x34, 0, 0, 0, 0 }, 8,
		    "unexpected FastCGI record type" },
		{ "type 255", { 1, 255, 0x12, 0x34, 0, 0, 0, 0 }, 8,
		    "unexpected FastCGI record type" },
		{ "BEGIN_REQUEST from the server",
		    { 1, 1, 0x12, 0x34, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
		    16, "unexpected FastCGI record type" },
		{ "STDIN from the server", { 1, 5, 0x12, 0x34, 0, 0, 0, 0 }, 8,
		    "unexpected FastCGI record type" },
		{ "GET_VALUES_RESULT", { 1, 10, 0, 0, 0, 0, 0, 0 }, 8,
		    "unexpected FastCGI record type" },
		{ "UNKNOWN_TYPE", { 1, 11, 0, 0, 0, 8, 0, 0, 99 }, 9,
		    "unexpected FastCGI record type" },
		{ "END_REQUEST of 7 bytes",
		    { 1, 3, 0x12, 0x34, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		    16, "bad END_REQUEST length" },
		{ "END_REQUEST of 9 bytes",
		    { 1, 3, 0x12, 0x34, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		    16, "bad END_REQUEST length" },
		{ "a byte after END_REQUEST",
		    { 1, 3, 0x12, 0x34, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    1 }, 17, "data after END_REQUEST" },
		{ "a record after END_REQUEST",
		    { 1, 3, 0x12, 0x34, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    1, 6, 0x12, 0x34, 0, 0, 0, 0 }, 24,
		    "data after END_REQUEST" },
		{ "padding bytes after END_REQUEST's padding",
		    { 1, 3, 0x12, 0x34, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0 }, 19, "data after END_REQUEST" },
	};
	struct fcgi_parser	p;
	struct sink		s;
	size_t			i, step;
	int			rv;

	for (i = 0; i < nitems(cases); i++) {
		for (step = 0; step <= 1; step++) {
			sink_init(&s);
			fcgi_parser_init(&p, ID);
			rv = feed(&p, cases[i].bytes, cases[i].len, step, &s);
			if (!ok(rv == -1 && p.error != NULL &&
			    strcmp(p.error, cases[i].error) == 0,
			    "%s is refused (%s)", cases[i].desc,
			    step ? "byte by byte" : "at once"))
				tap_diag("  rv %d, error %s", rv,
				    p.error ? p.error : "(none)");
			ok(fcgi_parse(&p, "", 1, &cb, &s) == -1,
			    "%s: the error sticks", cases[i].desc);
			sink_free(&s);
		}
	}
}

static void
test_misc(void)
{
	static const unsigned char	out1[] = { 1, 6, 0x12, 0x34, 0, 2, 6, 0,
					    'h', 'i', 0, 0, 0, 0, 0, 0 };
	struct fcgi_parser		p;
	struct sink			s;
	struct fcgi_parser_cb		nocb;

	sink_init(&s);
	s.fail_stdout = 1;
	fcgi_parser_init(&p, ID);
	ok(fcgi_parse(&p, out1, sizeof out1, &cb, &s) == -1 &&
	    strcmp(p.error, "callback failed") == 0,
	    "a failing callback fails the parse");
	sink_free(&s);

	/* Padding is skipped, not delivered; no callbacks is fine. */
	memset(&nocb, 0, sizeof nocb);
	fcgi_parser_init(&p, ID);
	ok(fcgi_parse(&p, out1, sizeof out1, &nocb, NULL) == 0 && !p.ended,
	    "NULL callbacks are allowed");

	sink_init(&s);
	fcgi_parser_init(&p, ID);
	ok(fcgi_parse(&p, out1, 9, &cb, &s) == 0 && s.out.len == 1 &&
	    fcgi_parse(&p, out1 + 9, 1, &cb, &s) == 0 && s.out.len == 2 &&
	    memcmp(s.out.data, "hi", 2) == 0,
	    "STDOUT is delivered as it arrives, before the record ends");
	ok(fcgi_parse(&p, out1 + 10, 6, &cb, &s) == 0 && s.out.len == 2,
	    "padding is not delivered");
	sink_free(&s);
}

int
main(void)
{
	test_begin_request();
	test_params();
	test_stream();
	test_round_trip();
	test_max_record();
	test_hostile();
	test_misc();
	return (tap_done());
}
