/* fuzz_llmparse.c: libFuzzer target for the model stream parsers. */
/*
 * The first byte picks what is fuzzed and where the input is cut, the rest
 * is the input. Properties checked:
 *	- the framing parsers hand out the same records, and end the same
 *	  way, however the input is cut;
 *	- every piece of text is valid UTF-8 without NUL;
 *	- valid UTF-8 without U+0000 and U+FDD0 comes through the text layer
 *	  unchanged, however it is cut;
 *	- JSON that jansson takes as it is, the repair leaves alone;
 *	- an error message is valid UTF-8 without control characters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "llmparse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_run {
	struct dbuf	 records;	/* each as a length and the bytes */
	struct llm_text	 text;
	struct dbuf	 out;
	int		 ollama;
};

static void	fuzz_run_init(struct fuzz_run *, int);
static void	fuzz_run_free(struct fuzz_run *);
static int	fuzz_record(void *, const char *, size_t);
static enum llmparse_status fuzz_frame(struct fuzz_run *, const uint8_t *,
		    size_t, size_t, size_t);
static void	fuzz_check_text(const struct dbuf *);
static void	fuzz_framing(const uint8_t *, size_t, unsigned int);
static void	fuzz_text(const uint8_t *, size_t, unsigned int);
static void	fuzz_repair(const uint8_t *, size_t);
static void	fuzz_message(const uint8_t *, size_t);
static int	fuzz_has_fdd0(const uint8_t *, size_t);

static void
fuzz_run_init(struct fuzz_run *r, int ollama)
{
	memset(r, 0, sizeof *r);
	dbuf_init(&r->records, 64 * 1024 * 1024);
	dbuf_init(&r->out, 64 * 1024 * 1024);
	llmparse_text_init(&r->text);
	r->ollama = ollama;
}

static void
fuzz_run_free(struct fuzz_run *r)
{
	dbuf_free(&r->records);
	dbuf_free(&r->out);
}

/* Keep the record, interpret it, and feed its text on. */
static int
fuzz_record(void *arg, const char *s, size_t len)
{
	struct fuzz_run		*r = arg;
	struct llm_event	 ev;
	int			 rv;

	if (s[len] != '\0')
		abort();
	if (dbuf_add(&r->records, &len, sizeof len) == -1 ||
	    dbuf_add(&r->records, s, len) == -1)
		abort();
	memset(&ev, 0, sizeof ev);
	rv = r->ollama ? llmparse_ollama(s, len, &ev) :
	    llmparse_openai(s, len, &ev);
	if (rv == 0 && ev.ev_content != NULL &&
	    llmparse_text_feed(&r->text, ev.ev_content, ev.ev_content_len,
	    &r->out) == -1)
		abort();
	if (rv == 0 && ev.ev_error && (ev.ev_message[0] == '\0' ||
	    !utf8_valid(ev.ev_message, strlen(ev.ev_message))))
		abort();
	llmparse_event_clear(&ev);
	return (0);
}

/* Feed the input cut at a and b (a <= b <= len). */
static enum llmparse_status
fuzz_frame(struct fuzz_run *r, const uint8_t *data, size_t len, size_t a,
    size_t b)
{
	struct llm_sse		sse;
	struct llm_ndjson	nd;
	size_t			cut[4] = { 0, a, b, len }, i;
	enum llmparse_status	rv = LLMPARSE_OK;

	llmparse_sse_init(&sse, 4096);
	llmparse_ndjson_init(&nd, 4096);
	for (i = 0; i < 3 && rv == LLMPARSE_OK; i++) {
		if (r->ollama)
			rv = llmparse_ndjson_feed(&nd, data + cut[i],
			    cut[i + 1] - cut[i], fuzz_record, r);
		else
			rv = llmparse_sse_feed(&sse, data + cut[i],
			    cut[i + 1] - cut[i], fuzz_record, r);
	}
	if (rv == LLMPARSE_OK && r->ollama)
		rv = llmparse_ndjson_finish(&nd, fuzz_record, r);
	if (llmparse_text_flush(&r->text, &r->out) == -1)
		abort();
	llmparse_sse_free(&sse);
	llmparse_ndjson_free(&nd);
	return (rv);
}

static void
fuzz_check_text(const struct dbuf *d)
{
	if (!utf8_valid(d->data, d->len) ||
	    (d->len > 0 && memchr(d->data, '\0', d->len) != NULL))
		abort();
}

static void
fuzz_framing(const uint8_t *data, size_t len, unsigned int sel)
{
	struct fuzz_run		whole, split;
	enum llmparse_status	rv1, rv2;
	size_t			a, b;

	a = len == 0 ? 0 : (sel * 7919u) % (len + 1);
	b = a + (len - a) / 2;
	fuzz_run_init(&whole, sel & 1);
	fuzz_run_init(&split, sel & 1);
	rv1 = fuzz_frame(&whole, data, len, len, len);
	rv2 = fuzz_frame(&split, data, len, a, b);
	/*
	 * The same records in the same order. A line too long is found at
	 * different places, so only the records before it are compared.
	 */
	if (rv1 != rv2)
		abort();
	if (rv1 == LLMPARSE_OK && (whole.records.len != split.records.len ||
	    (whole.records.len > 0 && memcmp(whole.records.data,
	    split.records.data, whole.records.len) != 0)))
		abort();
	fuzz_check_text(&whole.out);
	fuzz_check_text(&split.out);
	if (rv1 == LLMPARSE_OK && (whole.out.len != split.out.len ||
	    (whole.out.len > 0 && memcmp(whole.out.data, split.out.data,
	    whole.out.len) != 0)))
		abort();
	fuzz_run_free(&whole);
	fuzz_run_free(&split);
}

static void
fuzz_text(const uint8_t *data, size_t len, unsigned int sel)
{
	struct llm_text	t;
	struct dbuf	out;
	size_t		i, step = 1 + sel % 7, n;
	int		plain;

	plain = utf8_valid(data, len) && memchr(data, '\0', len) == NULL &&
	    memmem(data, len, "\xef\xb7\x90", 3) == NULL;
	llmparse_text_init(&t);
	dbuf_init(&out, 3 * len + 16);
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		if (llmparse_text_feed(&t, (const char *)data + i, n,
		    &out) == -1)
			abort();
		fuzz_check_text(&out);
	}
	if (llmparse_text_flush(&t, &out) == -1)
		abort();
	fuzz_check_text(&out);
	if (plain && (out.len != len ||
	    (len > 0 && memcmp(out.data, data, len) != 0)))
		abort();
	dbuf_free(&out);
}

/* U+FDD0, raw or as an escape in any case: the repair changes it. */
static int
fuzz_has_fdd0(const uint8_t *data, size_t len)
{
	size_t	i;

	if (memmem(data, len, "\xef\xb7\x90", 3) != NULL)
		return (1);
	for (i = 0; i + 4 <= len; i++) {
		if ((data[i] | 0x20) == 'f' && (data[i + 1] | 0x20) == 'd' &&
		    (data[i + 2] | 0x20) == 'd' && data[i + 3] == '0')
			return (1);
	}
	return (0);
}

static void
fuzz_repair(const uint8_t *data, size_t len)
{
	struct dbuf	 out;
	json_error_t	 err;
	json_t		*j;

	dbuf_init(&out, 7 * len + 16);
	if (llmparse_json_repair((const char *)data, len, &out) == -1)
		abort();
	j = json_loadb((const char *)data, len, JSON_ALLOW_NUL, &err);
	if (j != NULL && !fuzz_has_fdd0(data, len) &&
	    (out.len != len || (len > 0 && memcmp(out.data, data, len) != 0)))
		abort();
	json_decref(j);
	dbuf_free(&out);
}

static void
fuzz_message(const uint8_t *data, size_t len)
{
	char	buf[64];
	size_t	i, n;

	if (llmparse_error_body((const char *)data, len, buf, sizeof buf) ==
	    0 && buf[0] == '\0')
		abort();
	n = strlen(buf);
	if (n >= sizeof buf || !utf8_valid(buf, n))
		abort();
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int	sel;

	if (size < 1 || size > 65536)
		return (0);
	sel = data[0];
	data++;
	size--;
	switch (sel % 4) {
	case 0:
	case 1:
		fuzz_framing(data, size, sel);
		break;
	case 2:
		fuzz_text(data, size, sel >> 2);
		break;
	default:
		fuzz_repair(data, size);
		fuzz_message(data, size);
		break;
	}
	return (0);
}
