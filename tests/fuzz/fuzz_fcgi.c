/* fuzz_fcgi.c: libFuzzer target for FastCGI records. */
/*
 * The response parser gets hostile bytes in pieces whose size the first
 * byte picks; then the rest goes through the encoder and back.
 */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"

#define FUZZ_ID		1

struct fuzz_sink {
	size_t		 out;
	size_t		 err;
	int		 ends;
	struct dbuf	*back;		/* STDOUT is kept here when set */
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	fuzz_stdout(void *, const unsigned char *, size_t);
static int	fuzz_stderr(void *, const unsigned char *, size_t);
static int	fuzz_end(void *, uint32_t, uint8_t);
static void	fuzz_round_trip(const uint8_t *, size_t);

static int
fuzz_stdout(void *arg, const unsigned char *d, size_t n)
{
	struct fuzz_sink	*s = arg;

	if (n == 0 || s->ends != 0)
		abort();
	s->out += n;
	if (s->back != NULL && dbuf_add(s->back, d, n) == -1)
		abort();
	return (0);
}

static int
fuzz_stderr(void *arg, const unsigned char *d, size_t n)
{
	struct fuzz_sink	*s = arg;

	if (n == 0 || s->ends != 0)
		abort();
	s->err += n;
	return (0);
}

static int
fuzz_end(void *arg, uint32_t app, uint8_t proto)
{
	struct fuzz_sink	*s = arg;

	s->ends++;
	return (0);
}

static const struct fcgi_parser_cb fuzz_cb = {
	fuzz_stdout, fuzz_stderr, fuzz_end
};

/* Encode the input as STDOUT, parse it back: the same bytes must come out. */
static void
fuzz_round_trip(const uint8_t *data, size_t size)
{
	static const unsigned char	end[16] = { 1, FCGI_END_REQUEST, 0,
					    FUZZ_ID, 0, 8, 0, 0 };
	struct fcgi_parser		p;
	struct fuzz_sink		s;
	struct dbuf			b, back;

	dbuf_init(&b, 2 * size + 64);
	if (fcgi_stream(&b, FCGI_STDOUT, FUZZ_ID, data, size) == -1 ||
	    fcgi_stream(&b, FCGI_STDOUT, FUZZ_ID, NULL, 0) == -1 ||
	    dbuf_add(&b, end, sizeof end) == -1)
		abort();
	dbuf_init(&back, size + 1);
	memset(&s, 0, sizeof s);
	s.back = &back;
	fcgi_parser_init(&p, FUZZ_ID);
	if (fcgi_parse(&p, b.data, b.len, &fuzz_cb, &s) == -1 || !p.ended ||
	    s.ends != 1 || back.len != size ||
	    (size > 0 && memcmp(back.data, data, size) != 0))
		abort();
	dbuf_free(&back);
	dbuf_free(&b);

	/* Params: the pair must come back with its lengths. */
	dbuf_init(&b, 2 * size + 16);
	if (fcgi_param(&b, (const char *)data, size / 2, data + size / 2,
	    size - size / 2) == -1 || b.len < size + 2 || b.len > size + 8)
		abort();
	dbuf_free(&b);

	dbuf_init(&b, 16);
	if (size > 0 && (fcgi_begin_request(&b, data[0] << 8 | data[size - 1],
	    data[0] & 1) == -1 || b.len != 16 || b.data[10] != (data[0] & 1)))
		abort();
	dbuf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcgi_parser	p;
	struct fuzz_sink	s;
	size_t			step, off, n;
	int			rv = 0;

	if (size < 1)
		return (0);
	step = data[0] == 0 ? size : data[0];
	data++;
	size--;

	memset(&s, 0, sizeof s);
	fcgi_parser_init(&p, FUZZ_ID);
	for (off = 0; off < size && rv == 0; off += n) {
		n = size - off < step ? size - off : step;
		rv = fcgi_parse(&p, data + off, n, &fuzz_cb, &s);
	}
	if (s.out + s.err > size || s.ends > 1 || (rv == -1 && p.error ==
	    NULL) || (s.ends == 1) != (p.ended != 0))
		abort();
	if (rv == -1 && fcgi_parse(&p, "", 1, &fuzz_cb, &s) != -1)
		abort();

	fuzz_round_trip(data, size);
	return (0);
}
