/* fuzz_cgi.c: libFuzzer target for the handler response parser. */
/*
 * The first two bytes pick max_frame and a piece size. The input is parsed
 * whole and again in pieces; both runs must give the same callbacks and
 * result.
 */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	fuzz_headers(void *, const struct cgi_headers *);
static int	fuzz_frame(void *, enum cgi_frame, const unsigned char *,
		    size_t);
static int	fuzz_run(const uint8_t *, size_t, size_t, size_t,
		    struct dbuf *);

static size_t	fuzz_max_frame;

static int
fuzz_headers(void *arg, const struct cgi_headers *h)
{
	struct dbuf	*log = arg;

	if (h->status < 100 || h->status > 599 ||
	    strlen(h->reason) >= sizeof h->reason ||
	    (h->identity != NULL && (h->identity_len > IDENTITY_MAX ||
	    strlen(h->identity) != h->identity_len)) ||
	    (h->context != NULL && (h->context_len > CONTEXT_MAX ||
	    strlen(h->context) != h->context_len)))
		abort();
	dbuf_printf(log, "H%d %d %s|", h->status, h->mode, h->reason);
	if (h->identity != NULL)
		dbuf_add(log, h->identity, h->identity_len);
	dbuf_addc(log, '|');
	if (h->context != NULL)
		dbuf_add(log, h->context, h->context_len);
	dbuf_addc(log, '\n');
	return (0);
}

static int
fuzz_frame(void *arg, enum cgi_frame kind, const unsigned char *d, size_t n)
{
	struct dbuf	*log = arg;

	if (n > fuzz_max_frame || (kind == CGI_FRAME_TEXT &&
	    !utf8_valid(d, n)))
		abort();
	dbuf_printf(log, "F%d %zu:", kind, n);
	dbuf_add(log, d, n);
	dbuf_addc(log, '\n');
	return (0);
}

static const struct cgi_parser_cb fuzz_cb = { fuzz_headers, fuzz_frame };

static int
fuzz_run(const uint8_t *data, size_t size, size_t step, size_t max_frame,
    struct dbuf *log)
{
	struct cgi_parser	p;
	size_t			off, n;
	int			rv = 0;

	cgi_parser_init(&p, max_frame);
	for (off = 0; off < size && rv == 0; off += n) {
		n = size - off < step ? size - off : step;
		rv = cgi_parse(&p, data + off, n, &fuzz_cb, log);
	}
	if (rv == 0)
		rv = cgi_finish(&p, &fuzz_cb, log);
	if (rv == -1 && (p.error == NULL || cgi_finish(&p, &fuzz_cb, log) !=
	    -1))
		abort();
	cgi_parser_free(&p);
	return (rv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbuf	whole, pieces;
	size_t		step;
	int		rv1, rv2;

	if (size < 2)
		return (0);
	fuzz_max_frame = (size_t)1 << (data[0] % 21);
	step = data[1] == 0 ? 1 : data[1];
	data += 2;
	size -= 2;

	dbuf_init(&whole, 1 << 24);
	dbuf_init(&pieces, 1 << 24);
	rv1 = fuzz_run(data, size, size + 1, fuzz_max_frame, &whole);
	rv2 = fuzz_run(data, size, step, fuzz_max_frame, &pieces);
	if (rv1 != rv2 || whole.len != pieces.len ||
	    (whole.len > 0 && memcmp(whole.data, pieces.data, whole.len) != 0))
		abort();
	dbuf_free(&whole);
	dbuf_free(&pieces);
	return (0);
}
