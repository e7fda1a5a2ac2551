/* test_llmparse.c: the providers' stream parsers, fed every byte split. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "llmparse.h"
#include "tap.h"

enum framing {
	FRAME_SSE,
	FRAME_NDJSON
};

/* Either framing parser, fed alike. */
struct framer {
	enum framing		 kind;
	struct llm_sse		 sse;
	struct llm_ndjson	 nd;
};

/* The records a framing parser handed out, each as "[data]". */
struct records {
	struct dbuf	 all;
	int		 n;
	int		 stop_at;	/* 0: never stop */
};

/* What a whole answer came to, through all three layers. */
struct answer {
	struct dbuf	 text;
	int		 pieces;	/* text_feed calls that gave text */
	int		 bad_pieces;	/* pieces not whole UTF-8, or NUL */
	int		 done;
	int		 errors;	/* error events */
	int		 malformed;	/* records that were not JSON */
	long		 tokens;
	char		 finish[32];
	char		 message[256];
	struct llm_text	 tx;
	int		 ollama;
};

static void	 framer_init(struct framer *, enum framing, size_t);
static enum llmparse_status framer_feed(struct framer *, const char *,
		    size_t, llmparse_record_cb *, void *);
static enum llmparse_status framer_end(struct framer *, enum llmparse_status,
		    llmparse_record_cb *, void *);
static void	 rec_init(struct records *);
static int	 rec_cb(void *, const char *, size_t);
static enum llmparse_status split(enum framing, const char *, size_t, size_t,
		    size_t, size_t, struct records *);
static int	 every_split(enum framing, const char *, size_t, const char *);
static int	 answer_cb(void *, const char *, size_t);
static void	 answer_run(const char *, size_t, size_t, int, struct answer *);
static void	 answer_cut(const char *, size_t, size_t, size_t, int,
		    struct answer *);
static void	 answer_free(struct answer *);
static int	 answer_is(struct answer *, const char *, long);
static void	 answer_splits(const char *, const char *, size_t, int,
		    const char *, long);
static const char *text_of(const char *, size_t, size_t);
static const char *text_pieces(const char **, const size_t *, int *);

#define OPENAI(s)	llmparse_openai(BIN(s), &ev)
#define OLLAMA(s)	llmparse_ollama(BIN(s), &ev)

static void	 test_sse_basic(void);
static void	 test_sse_fields(void);
static void	 test_sse_line_ends(void);
static void	 test_sse_bom(void);
static void	 test_sse_caps(void);
static void	 test_ndjson(void);
static void	 test_openai_transcript(void);
static void	 test_openai_events(void);
static void	 test_ollama_transcript(void);
static void	 test_ollama_lines(void);
static void	 test_error_bodies(void);
static void	 test_repair(void);
static void	 test_text(void);
static void	 test_text_through_json(void);

/* An OpenAI chat.completion.chunk stream with include_usage, as sent. */
static const char openai_stream[] =
    "data: {\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\","
    "\"created\":1731000000,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\","
    "\"created\":1731000000,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\","
    "\"created\":1731000000,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"! Caf\\u00e9 \"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\","
    "\"created\":1731000000,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"\xe2\x98\x95 \\ud83d\\ude00\\n\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\","
    "\"created\":1731000000,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
    "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\","
    "\"created\":1731000000,\"model\":\"gpt-4o-mini-2024-07-18\","
    "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":7,"
    "\"total_tokens\":26,\"prompt_tokens_details\":{\"cached_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";
static const char openai_text[] =
    "Hello! Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80\n";

/* An Ollama /api/chat stream, one compact JSON object a line. */
static const char ollama_stream[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2024-11-07T10:00:00.1234567Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\"The\"},"
    "\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2024-11-07T10:00:00.1434567Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\" sky \\u2014 \"},"
    "\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2024-11-07T10:00:00.1634567Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\"\xe6\x97\xa5\xe6\x9c"
    "\xac \xf0\x9f\x8c\x8c\"},\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2024-11-07T10:00:00.1834567Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":5191566416,"
    "\"load_duration\":2154458,\"prompt_eval_count\":26,"
    "\"prompt_eval_duration\":383809000,\"eval_count\":3,"
    "\"eval_duration\":4799921000}\n";
static const char ollama_text[] =
    "The sky \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8c\x8c";

int
main(void)
{
	log_init("test_llmparse", LOG_LEVEL_WARN, 0);
	test_sse_basic();
	test_sse_fields();
	test_sse_line_ends();
	test_sse_bom();
	test_sse_caps();
	test_ndjson();
	test_openai_transcript();
	test_openai_events();
	test_ollama_transcript();
	test_ollama_lines();
	test_error_bodies();
	test_repair();
	test_text();
	test_text_through_json();
	return (tap_done());
}

static void
framer_init(struct framer *f, enum framing kind, size_t max)
{
	f->kind = kind;
	llmparse_sse_init(&f->sse, max);
	llmparse_ndjson_init(&f->nd, max);
}

static enum llmparse_status
framer_feed(struct framer *f, const char *s, size_t len,
    llmparse_record_cb *cb, void *arg)
{
	if (f->kind == FRAME_NDJSON)
		return (llmparse_ndjson_feed(&f->nd, s, len, cb, arg));
	return (llmparse_sse_feed(&f->sse, s, len, cb, arg));
}

/*
 * The end of the stream after rv, the feeds' status: an NDJSON line without
 * its newline is handed out if rv is LLMPARSE_OK. Frees the parsers.
 */
static enum llmparse_status
framer_end(struct framer *f, enum llmparse_status rv, llmparse_record_cb *cb,
    void *arg)
{
	if (rv == LLMPARSE_OK && f->kind == FRAME_NDJSON)
		rv = llmparse_ndjson_finish(&f->nd, cb, arg);
	llmparse_sse_free(&f->sse);
	llmparse_ndjson_free(&f->nd);
	return (rv);
}

static void
rec_init(struct records *r)
{
	memset(r, 0, sizeof *r);
	dbuf_init(&r->all, 64 * 1024 * 1024);
}

static int
rec_cb(void *arg, const char *s, size_t len)
{
	struct records	*r = arg;

	if (s[len] != '\0')
		dbuf_adds(&r->all, "<not terminated>");
	dbuf_addc(&r->all, '[');
	dbuf_add(&r->all, s, len);
	dbuf_addc(&r->all, ']');
	r->n++;
	if (r->stop_at != 0 && r->n == r->stop_at)
		return (-1);
	return (0);
}

/*
 * Feed s to a new parser (cap max) in three parts, cut at a and b; stop at
 * the first status that is not LLMPARSE_OK.
 */
static enum llmparse_status
split(enum framing kind, const char *s, size_t len, size_t max, size_t a,
    size_t b, struct records *r)
{
	struct framer		f;
	enum llmparse_status	rv = LLMPARSE_OK;
	size_t			cut[4] = { 0, a, b, len }, i;

	framer_init(&f, kind, max);
	for (i = 0; i < 3 && rv == LLMPARSE_OK; i++)
		rv = framer_feed(&f, s + cut[i], cut[i + 1] - cut[i], rec_cb,
		    r);
	return (framer_end(&f, rv, rec_cb, r));
}

/* Every pair of cut points, and byte by byte: all give want. */
static int
every_split(enum framing kind, const char *s, size_t len, const char *want)
{
	struct records	r;
	struct framer	f;
	size_t		a, b, i;
	int		bad = 0;

	for (a = 0; a <= len && bad < 3; a++) {
		for (b = a; b <= len && bad < 3; b++) {
			rec_init(&r);
			if (split(kind, s, len, LLM_RECORD_MAX, a, b, &r) !=
			    LLMPARSE_OK ||
			    strcmp(dbuf_str(&r.all), want) != 0) {
				tap_diag("split at %zu,%zu: %s", a, b,
				    dbuf_str(&r.all));
				bad++;
			}
			dbuf_free(&r.all);
		}
	}
	rec_init(&r);
	framer_init(&f, kind, LLM_RECORD_MAX);
	for (i = 0; i < len; i++)
		framer_feed(&f, s + i, 1, rec_cb, &r);
	framer_end(&f, LLMPARSE_OK, rec_cb, &r);
	if (strcmp(dbuf_str(&r.all), want) != 0) {
		tap_diag("byte by byte: %s", dbuf_str(&r.all));
		bad++;
	}
	dbuf_free(&r.all);
	return (bad == 0);
}

static void
test_sse_basic(void)
{
	static const char	s[] = "data: a\n\ndata: {\"b\":1}\n\n";
	struct records		r;

	ok(every_split(FRAME_SSE, s, sizeof s - 1, "[a][{\"b\":1}]"),
	    "sse: two events, every split");
	ok(every_split(FRAME_SSE, BIN("data: x\n"), ""),
	    "sse: an event without its blank line is not dispatched");
	ok(every_split(FRAME_SSE, BIN("\n\n\n"), ""),
	    "sse: blank lines alone dispatch nothing");
	ok(every_split(FRAME_SSE, BIN("data:\n\n"), "[]"),
	    "sse: an empty data field dispatches an empty event");

	rec_init(&r);
	r.stop_at = 1;
	is_int(split(FRAME_SSE, s, sizeof s - 1, LLM_RECORD_MAX, 3, 3, &r),
	    LLMPARSE_STOPPED, "sse: a callback's -1 stops the feed");
	is_int(r.n, 1, "sse: no event after the stop");
	dbuf_free(&r.all);
}

static void
test_sse_fields(void)
{
	static const char	s[] =
	    ": this is a comment\n"
	    "event: message\n"
	    "id: 42\n"
	    "retry: 1000\n"
	    "data: first\n"
	    "data:second\n"
	    "data:  two spaces\n"
	    "data\n"
	    "unknown: field\n"
	    "datax: not data\n"
	    "\n"
	    ":keep-alive\n\n"
	    "data: a: colon inside\n\n";

	ok(every_split(FRAME_SSE, s, sizeof s - 1,
	    "[first\nsecond\n two spaces\n][a: colon inside]"),
	    "sse: comments, event/id/retry ignored, multi-line data joined");
}

static void
test_sse_line_ends(void)
{
	static const char	crlf[] =
	    "data: a\r\n\r\ndata: b\r\ndata: c\r\n\r\n";
	static const char	cr[] = "data: a\r\rdata: b\r\r";
	static const char	mixed[] =
	    "data: a\r\n\ndata: b\r\rdata: c\n\r\n";

	ok(every_split(FRAME_SSE, crlf, sizeof crlf - 1, "[a][b\nc]"),
	    "sse: CRLF line ends, every split");
	ok(every_split(FRAME_SSE, cr, sizeof cr - 1, "[a][b]"),
	    "sse: CR line ends, every split");
	ok(every_split(FRAME_SSE, mixed, sizeof mixed - 1, "[a][b][c]"),
	    "sse: mixed line ends, every split");
	ok(every_split(FRAME_SSE, BIN("data: a\r\r\n"), "[a]"),
	    "sse: CR, then CRLF: two line ends");
}

static void
test_sse_bom(void)
{
	static const char	bom[] = "\xef\xbb\xbf" "data: a\n\n";
	static const char	twice[] =
	    "\xef\xbb\xbf\xef\xbb\xbf" "data: a\n\n";
	static const char	half[] = "\xef\xbb" "data: a\n\n";

	ok(every_split(FRAME_SSE, bom, sizeof bom - 1, "[a]"),
	    "sse: a leading BOM is skipped, every split");
	/* Only the first is a BOM; the second makes an unknown field. */
	ok(every_split(FRAME_SSE, twice, sizeof twice - 1, ""),
	    "sse: a second BOM is part of the line");
	ok(every_split(FRAME_SSE, half, sizeof half - 1, ""),
	    "sse: half a BOM is part of the line");
}

static void
test_sse_caps(void)
{
	struct records	 r;
	char		*big;
	size_t		 n = LLM_RECORD_MAX + 16;

	big = xmalloc(n + 16);
	/* A line of exactly the cap passes. */
	memcpy(big, "data: ", 6);
	memset(big + 6, 'x', LLM_RECORD_MAX - 6);
	memcpy(big + LLM_RECORD_MAX, "\n\n", 2);
	rec_init(&r);
	is_int(split(FRAME_SSE, big, LLM_RECORD_MAX + 2, LLM_RECORD_MAX,
	    4096, LLM_RECORD_MAX - 1, &r), LLMPARSE_OK,
	    "sse: a line of exactly 1 MiB passes");
	is_int(r.all.len, LLM_RECORD_MAX - 6 + 2, "sse: and makes one event");
	dbuf_free(&r.all);

	/* One byte more is too long, however it is split. */
	memcpy(big, "data: ", 6);
	memset(big + 6, 'x', LLM_RECORD_MAX - 5);
	memcpy(big + LLM_RECORD_MAX + 1, "\n\n", 2);
	rec_init(&r);
	is_int(split(FRAME_SSE, big, LLM_RECORD_MAX + 3, LLM_RECORD_MAX, 1, 2,
	    &r), LLMPARSE_TOOLONG, "sse: a line past 1 MiB is refused");
	is_int(r.n, 0, "sse: and dispatches nothing");
	dbuf_free(&r.all);

	/* An event of many lines past the cap in all. */
	rec_init(&r);
	is_int(split(FRAME_SSE,
	    BIN("data: 1234567\ndata: 1234567\ndata: 1\n\n"), 16, 5, 20, &r),
	    LLMPARSE_TOOLONG, "sse: an event's data past the cap is refused");
	dbuf_free(&r.all);

	/* A line with no end at all. */
	memset(big, 'y', n);
	rec_init(&r);
	is_int(split(FRAME_SSE, big, n, LLM_RECORD_MAX, 10, 20, &r),
	    LLMPARSE_TOOLONG, "sse: garbage without a newline is refused");
	dbuf_free(&r.all);

	/* NDJSON too. */
	memset(big, 'z', n);
	rec_init(&r);
	is_int(split(FRAME_NDJSON, big, n, LLM_RECORD_MAX, 100, 200, &r),
	    LLMPARSE_TOOLONG, "ndjson: a line past 1 MiB is refused");
	dbuf_free(&r.all);
	memset(big, ' ', LLM_RECORD_MAX);
	memcpy(big + LLM_RECORD_MAX, "\r\n", 2);
	rec_init(&r);
	is_int(split(FRAME_NDJSON, big, LLM_RECORD_MAX + 2, LLM_RECORD_MAX, 100,
	    200, &r), LLMPARSE_OK,
	    "ndjson: a line of exactly 1 MiB plus CRLF passes");
	dbuf_free(&r.all);
	free(big);
}

static void
test_ndjson(void)
{
	static const char	s[] =
	    "{\"a\":1}\n\n{\"b\":2}\r\n  \r\n{\"c\":3}";
	static const char	bom[] = "\xef\xbb\xbf{\"a\":1}\n";
	struct records		r;

	ok(every_split(FRAME_NDJSON, s, sizeof s - 1,
	    "[{\"a\":1}][{\"b\":2}][{\"c\":3}]"),
	    "ndjson: LF, CRLF, blank lines, a last line without LF");
	ok(every_split(FRAME_NDJSON, bom, sizeof bom - 1, "[{\"a\":1}]"),
	    "ndjson: a leading BOM is skipped");
	rec_init(&r);
	r.stop_at = 2;
	is_int(split(FRAME_NDJSON, s, sizeof s - 1, LLM_RECORD_MAX, 0, 0, &r),
	    LLMPARSE_STOPPED, "ndjson: a callback's -1 stops the feed");
	dbuf_free(&r.all);
}

/* A record: interpret it, and feed its content on to the text. */
static int
answer_cb(void *arg, const char *s, size_t len)
{
	struct answer		*a = arg;
	struct llm_event	 ev;
	size_t			 before = a->text.len;
	int			 rv;

	memset(&ev, 0, sizeof ev);
	rv = a->ollama ? llmparse_ollama(s, len, &ev) :
	    llmparse_openai(s, len, &ev);
	if (rv == -1) {
		a->malformed++;
		llmparse_event_clear(&ev);
		return (0);
	}
	if (ev.ev_content != NULL) {
		llmparse_text_feed(&a->tx, ev.ev_content, ev.ev_content_len,
		    &a->text);
		if (a->text.len > before) {
			a->pieces++;
			if (!utf8_valid(a->text.data + before,
			    a->text.len - before) ||
			    memchr(a->text.data + before, '\0',
			    a->text.len - before) != NULL)
				a->bad_pieces++;
		}
	}
	if (ev.ev_done)
		a->done = 1;
	if (ev.ev_finish[0] != '\0')
		snprintf(a->finish, sizeof a->finish, "%s", ev.ev_finish);
	if (ev.ev_tokens >= 0)
		a->tokens = ev.ev_tokens;
	if (ev.ev_error) {
		a->errors++;
		snprintf(a->message, sizeof a->message, "%s", ev.ev_message);
	}
	llmparse_event_clear(&ev);
	return (0);
}

/* Run a whole stream, fed step bytes at a time (0: at once). */
static void
answer_run(const char *s, size_t len, size_t step, int ollama,
    struct answer *a)
{
	answer_cut(s, len, step, 0, ollama, a);
}

/* The same, with the first step cut bytes long. */
static void
answer_cut(const char *s, size_t len, size_t step, size_t cut, int ollama,
    struct answer *a)
{
	struct framer	f;
	size_t		i, n;

	memset(a, 0, sizeof *a);
	a->tokens = -1;
	a->ollama = ollama;
	dbuf_init(&a->text, 1024 * 1024);
	llmparse_text_init(&a->tx);
	framer_init(&f, ollama ? FRAME_NDJSON : FRAME_SSE, LLM_RECORD_MAX);
	if (step == 0)
		step = len;
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		if (i == 0 && cut != 0)
			n = cut;
		framer_feed(&f, s + i, n, answer_cb, a);
	}
	framer_end(&f, LLMPARSE_OK, answer_cb, a);
	llmparse_text_flush(&a->tx, &a->text);
}

static void
answer_free(struct answer *a)
{
	dbuf_free(&a->text);
}

/* The text and the token count, done, whole pieces, nothing malformed. */
static int
answer_is(struct answer *a, const char *text, long tokens)
{
	return (strcmp(dbuf_str(&a->text), text) == 0 &&
	    a->bad_pieces == 0 && a->done && a->tokens == tokens &&
	    a->malformed == 0);
}

/* The stream in steps of 1 to 64 bytes, and cut in two at every byte. */
static void
answer_splits(const char *name, const char *s, size_t len, int ollama,
    const char *text, long tokens)
{
	struct answer	a;
	size_t		step;
	int		bad = 0;

	for (step = 1; step <= 64; step++) {
		answer_run(s, len, step, ollama, &a);
		bad += !answer_is(&a, text, tokens);
		answer_free(&a);
	}
	is_int(bad, 0, "%s: the same in steps of 1 to 64 bytes", name);

	bad = 0;
	for (step = 1; step < len; step++) {
		answer_cut(s, len, len, step, ollama, &a);
		bad += !answer_is(&a, text, tokens);
		answer_free(&a);
	}
	is_int(bad, 0, "%s: the same cut in two at every byte", name);
}

static void
test_openai_transcript(void)
{
	struct answer	a;
	size_t		len = sizeof openai_stream - 1;

	answer_run(openai_stream, len, 0, 0, &a);
	is_str(dbuf_str(&a.text), openai_text, "openai: the answer's text");
	is_int(a.pieces, 3, "openai: three pieces of text");
	is_int(a.bad_pieces, 0, "openai: every piece whole UTF-8");
	ok(a.done, "openai: [DONE] seen");
	is_str(a.finish, "stop", "openai: finish_reason");
	is_int(a.tokens, 7, "openai: usage.completion_tokens");
	is_int(a.errors + a.malformed, 0,
	    "openai: no error, nothing malformed");
	answer_free(&a);

	answer_splits("openai", openai_stream, len, 0, openai_text, 7);
}

static void
test_openai_events(void)
{
	struct llm_event	ev;

	memset(&ev, 0, sizeof ev);
	is_int(OPENAI("[DONE]"), 0, "openai: [DONE] parses");
	ok(ev.ev_done && ev.ev_content == NULL, "openai: [DONE] is done");

	is_int(OPENAI(" [DONE] "), 0,
	    "openai: [DONE] with spaces");
	ok(ev.ev_done, "openai: is still done");

	is_int(OPENAI(""), 0, "openai: an empty event");
	ok(!ev.ev_done && ev.ev_content == NULL && !ev.ev_error,
	    "openai: says nothing");

	is_int(OPENAI("{\"error\":{\"message\":\"The server had an "
	    "error while processing your request.\",\"type\":\"server_error\","
	    "\"param\":null,\"code\":null}}"), 0,
	    "openai: an error event parses");
	ok(ev.ev_error, "openai: it is an error");
	is_str(ev.ev_message, "The server had an error while processing your "
	    "request.", "openai: its message");

	is_int(OPENAI("{\"error\":\"overloaded\"}"), 0,
	    "openai: an error as a string");
	is_str(ev.ev_message, "overloaded", "openai: its message");

	is_int(OPENAI("{\"error\":{\"type\":\"x\"}}"), 0,
	    "openai: an error without a message");
	ok(ev.ev_error && strlen(ev.ev_message) > 0,
	    "openai: gets a message of ours");

	is_int(OPENAI("{\"error\":{\"message\":\"a\\nb\\u0000c\\td\"}}"), 0,
	    "openai: an error message with controls");
	is_str(ev.ev_message, "a bc d",
	    "openai: controls become spaces, NUL is dropped, in a message");

	is_int(OPENAI("{\"error\":null,\"choices\":[]}"), 0,
	    "openai: \"error\": null");
	ok(!ev.ev_error, "openai: is no error");

	is_int(OPENAI("not json"), -1,
	    "openai: garbage is malformed");
	is_int(OPENAI("{\"choices\":["), -1,
	    "openai: cut JSON is malformed");
	is_int(OPENAI("[1,2]"), -1,
	    "openai: an array is malformed");
	is_int(OPENAI("\"x\""), -1,
	    "openai: a string is malformed");
	is_int(OPENAI("{} {}"), -1,
	    "openai: two objects are malformed");

	is_int(OPENAI("{\"choices\":[{\"delta\":{\"content\":null},"
	    "\"finish_reason\":\"length\"}]}"), 0,
	    "openai: content null");
	ok(ev.ev_content == NULL, "openai: no content");
	is_str(ev.ev_finish, "length", "openai: finish_reason length");

	is_int(OPENAI("{\"choices\":[{\"delta\":{\"content\":7}}]}"), 0,
	    "openai: content not a string");
	ok(ev.ev_content == NULL, "openai: is ignored");

	is_int(OPENAI("{\"choices\":[{\"delta\":{\"content\":\"x\"}}],"
	    "\"usage\":{\"completion_tokens\":-3}}"), 0,
	    "openai: negative usage");
	is_int(ev.ev_tokens, -1, "openai: is ignored");

	is_int(OPENAI("{\"choices\":[{\"delta\":{\"content\":"
	    "\"a\\u0000b\"}}]}"), 0, "openai: content with \\u0000");
	is_int(ev.ev_content_len, 3,
	    "openai: keeps the NUL for the text layer");
	llmparse_event_clear(&ev);
}

static void
test_ollama_transcript(void)
{
	struct answer	a;
	size_t		len = sizeof ollama_stream - 1;

	answer_run(ollama_stream, len, 0, 1, &a);
	is_str(dbuf_str(&a.text), ollama_text, "ollama: the answer's text");
	is_int(a.pieces, 3, "ollama: three pieces of text");
	ok(a.done, "ollama: done seen");
	is_str(a.finish, "stop", "ollama: done_reason");
	is_int(a.tokens, 3, "ollama: eval_count");
	is_int(a.errors + a.malformed, 0,
	    "ollama: no error, nothing malformed");
	answer_free(&a);

	answer_splits("ollama", ollama_stream, len, 1, ollama_text, 3);
}

static void
test_ollama_lines(void)
{
	struct llm_event	ev;
	struct answer		a;
	static const char	err[] =
	    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
	    "\"content\":\"Hi\"},\"done\":false}\n"
	    "{\"error\":\"an error was encountered while running the model: "
	    "unexpected EOF\"}\n";

	memset(&ev, 0, sizeof ev);
	is_int(OLLAMA("{\"error\":\"model \\\"x\\\" not found, try "
	    "pulling it first\"}"), 0, "ollama: an error line");
	ok(ev.ev_error, "ollama: it is an error");
	is_str(ev.ev_message, "model \"x\" not found, try pulling it first",
	    "ollama: its message");
	is_int(OLLAMA("{\"done\":true}"), 0,
	    "ollama: done alone");
	ok(ev.ev_done && ev.ev_tokens == -1, "ollama: done without a count");
	is_int(OLLAMA("{\"done\":\"yes\"}"), 0,
	    "ollama: done not a boolean");
	ok(!ev.ev_done, "ollama: is not done");
	is_int(OLLAMA("{\"message\":"), -1,
	    "ollama: cut JSON is malformed");
	is_int(OLLAMA("42"), -1,
	    "ollama: a number is malformed");
	llmparse_event_clear(&ev);

	answer_run(err, sizeof err - 1, 5, 1, &a);
	is_str(dbuf_str(&a.text), "Hi", "ollama: text before the error");
	is_int(a.errors, 1, "ollama: the mid-stream error is seen");
	is_str(a.message, "an error was encountered while running the model: "
	    "unexpected EOF", "ollama: and its message");
	ok(!a.done, "ollama: no done");
	answer_free(&a);
}

static void
test_error_bodies(void)
{
	char		buf[256];
	static const char openai401[] =
	    "{\n    \"error\": {\n        \"message\": \"Incorrect API key "
	    "provided: sk-abc. You can find your API key at "
	    "https://platform.openai.com/account/api-keys.\",\n"
	    "        \"type\": \"invalid_request_error\",\n"
	    "        \"param\": null,\n        \"code\": \"invalid_api_key\"\n"
	    "    }\n}\n";

	is_int(llmparse_error_body(openai401, sizeof openai401 - 1, buf,
	    sizeof buf), 0, "error body: OpenAI's");
	ok(strncmp(buf, "Incorrect API key provided", 26) == 0,
	    "error body: error.message");
	is_int(llmparse_error_body(BIN("{\"error\":\"model 'x' not found\"}"),
	    buf, sizeof buf), 0, "error body: Ollama's");
	is_str(buf, "model 'x' not found", "error body: error string");
	is_int(llmparse_error_body(BIN("{\"detail\":\"Not Found\"}"), buf,
	    sizeof buf), 0, "error body: a detail");
	is_str(buf, "Not Found", "error body: its text");
	is_int(llmparse_error_body(BIN("<html>502 Bad Gateway</html>"), buf,
	    sizeof buf), -1, "error body: HTML is no message");
	is_str(buf, "", "error body: and leaves nothing");
	is_int(llmparse_error_body(BIN("{\"error\":{\"code\":500}}"), buf,
	    sizeof buf), -1, "error body: an error without a message");
	is_int(llmparse_error_body(BIN(""), buf, sizeof buf), -1,
	    "error body: empty");
	is_int(llmparse_error_body(BIN("{\"error\":\"0123456789abcdefghij\"}"),
	    buf, 8), 0, "error body: a long message");
	is_str(buf, "0123456", "error body: cut to the buffer");
	is_int(llmparse_error_body(
	    BIN("{\"error\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}"), buf, 6), 0,
	    "error body: a long multi-byte message");
	is_str(buf, "\xc3\xa9\xc3\xa9", "error body: cut between characters");
}

/* The repaired text of s, as a string (static storage). */
static const char *
text_of(const char *s, size_t len, size_t cap)
{
	static char	out[1024];
	struct dbuf	d;

	dbuf_init(&d, cap);
	if (llmparse_json_repair(s, len, &d) == -1)
		snprintf(out, sizeof out, "(full)");
	else
		snprintf(out, sizeof out, "%s", dbuf_str(&d));
	dbuf_free(&d);
	return (out);
}

static void
test_repair(void)
{
	static const char	clean[] =
	    "{\"a\":\"x\\u00e9\\ud83d\\ude00\\\\ud800\",\"b\":\"\xc3\xa9\"}";

	is_str(text_of(BIN(clean), 1024), clean,
	    "repair: valid JSON is left alone (an escaped backslash too)");
	is_str(text_of(BIN("{\"a\":\"\\ud83d\"}"), 1024),
	    "{\"a\":\"\xef\xb7\x90\xf4\x8d\xa0\xbd\"}",
	    "repair: a lone high surrogate becomes a marker");
	is_str(text_of(BIN("{\"a\":\"\\uDE00x\"}"), 1024),
	    "{\"a\":\"\xef\xb7\x90\xf4\x8d\xb8\x80x\"}",
	    "repair: a lone low surrogate becomes a marker");
	is_str(text_of(BIN("{\"a\":\"\xff\"}"), 1024),
	    "{\"a\":\"\xef\xb7\x90\xf4\x8f\xbf\xbf\"}",
	    "repair: an invalid byte becomes a marker");
	is_str(text_of(BIN("{\"a\":\"\t\x01\"}"), 1024),
	    "{\"a\":\"\\u0009\\u0001\"}",
	    "repair: raw control bytes in a string are escaped");
	is_str(text_of(BIN("{\"a\":\"\\ufdd0\xef\xb7\x90\"}"), 1024),
	    "{\"a\":\"\\ufffd\xef\xbf\xbd\"}",
	    "repair: U+FDD0 becomes U+FFFD");
	is_str(text_of(BIN("{\t\"a\":1}"), 1024), "{\t\"a\":1}",
	    "repair: white space outside strings is left alone");
	is_str(text_of(BIN("{\"a\":\"\\ud83d\"}"), 10), "(full)",
	    "repair: -1 past the output's cap");
}

/* Feed pieces (NULL-terminated list) to one text; the result. */
static const char *
text_pieces(const char **pieces, const size_t *lens, int *bad)
{
	static char	out[1024];
	struct llm_text	t;
	struct dbuf	d;
	size_t		before, i;

	*bad = 0;
	llmparse_text_init(&t);
	dbuf_init(&d, 4096);
	for (i = 0; pieces[i] != NULL; i++) {
		before = d.len;
		llmparse_text_feed(&t, pieces[i], lens[i], &d);
		if (d.len > before && (!utf8_valid(d.data + before,
		    d.len - before) || memchr(d.data + before, '\0',
		    d.len - before) != NULL))
			(*bad)++;
	}
	llmparse_text_flush(&t, &d);
	snprintf(out, sizeof out, "%s", dbuf_str(&d));
	dbuf_free(&d);
	return (out);
}

#define PIECES(...) do {						\
	const char	*p_[] = { __VA_ARGS__, NULL };			\
	size_t		 l_[nitems(p_)], i_;				\
	for (i_ = 0; p_[i_] != NULL; i_++)				\
		l_[i_] = strlen(p_[i_]);				\
	got = text_pieces(p_, l_, &bad);				\
} while (0)

static void
test_text(void)
{
	const char	*got;
	const char	*nul[] = { "a", "\0b\0", "c\0", NULL };
	size_t		 nullen[] = { 1, 3, 2 };
	struct llm_text	 t;
	struct dbuf	 d;
	int		 bad;

	PIECES("ab", "c\xc3\xa9");
	is_str(got, "abc\xc3\xa9", "text: whole pieces pass");
	got = text_pieces(nul, nullen, &bad);
	is_str(got, "abc", "text: U+0000 is dropped");
	PIECES("\xff" "a", "\xc3");
	is_str(got, "\xef\xbf\xbd" "a\xef\xbf\xbd",
	    "text: invalid bytes and a cut tail become U+FFFD");
	is_int(bad, 0, "text: every piece valid");
	PIECES("\xe2\x82", "x");
	is_str(got, "\xef\xbf\xbdx",
	    "text: an unfinished character then ASCII");
	PIECES("\xed\xa0\x80", "x");
	is_str(got, "\xef\xbf\xbdx",
	    "text: a high surrogate and no low one: one U+FFFD");
	PIECES("\xed\xa0\xbd", "\xed\xb8\x80");
	is_str(got, "\xf0\x9f\x98\x80",
	    "text: surrogates as bytes, split over pieces, are joined");
	PIECES("\xc0\xaf" "a");
	is_str(got, "\xef\xbf\xbd\xef\xbf\xbd" "a",
	    "text: an overlong form is replaced");
	PIECES("\xf4\x90\x80\x80");
	is_str(got, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "text: past U+10FFFF is replaced");

	/* The tail is held, not given out, until it is whole. */
	llmparse_text_init(&t);
	dbuf_init(&d, 64);
	llmparse_text_feed(&t, "a\xf0\x9f", 3, &d);
	is_int(d.len, 1, "text: half of an emoji is held back");
	llmparse_text_feed(&t, "\x98", 1, &d);
	is_int(d.len, 1, "text: three quarters are still held back");
	llmparse_text_feed(&t, "\x80", 1, &d);
	is_str(dbuf_str(&d), "a\xf0\x9f\x98\x80",
	    "text: the emoji comes out whole");
	llmparse_text_flush(&t, &d);
	is_int(d.len, 5, "text: flush adds nothing after a whole character");
	dbuf_free(&d);

	dbuf_init(&d, 2);
	llmparse_text_init(&t);
	is_int(llmparse_text_feed(&t, "abc", 3, &d), -1,
	    "text: -1 when the output is full");
	dbuf_free(&d);
}

/*
 * Content split oddly by a provider, through JSON: a surrogate pair over
 * two events, a UTF-8 character's bytes over two events.
 */
static void
test_text_through_json(void)
{
	static const char	pair[] =
	    "data: {\"choices\":[{\"delta\":{\"content\":\"a\\ud83d\"}}]}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"\\ude00b\"}}]}\n\n"
	    "data: [DONE]\n\n";
	static const char	bytes[] =
	    "{\"message\":{\"content\":\"caf\xc3\"},\"done\":false}\n"
	    "{\"message\":{\"content\":\"\xa9 \xe6\x97\"},\"done\":false}\n"
	    "{\"message\":{\"content\":\"\xa5!\"},\"done\":true}\n";
	static const char	lone[] =
	    "data: {\"choices\":[{\"delta\":{\"content\":\"a\\ud83d\"}}]}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"b\\ude00\"}}]}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"\\ud83d\"}}]}\n\n";
	static const char	nul[] =
	    "data: {\"choices\":[{\"delta\":{\"content\":\"\\u0000\"}}]}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"x\\u0000y\"}}]}\n\n";
	struct answer		a;
	size_t			step;
	int			bad = 0;

	answer_run(pair, sizeof pair - 1, 0, 0, &a);
	is_str(dbuf_str(&a.text), "a\xf0\x9f\x98\x80" "b",
	    "json text: a surrogate pair split over two events is joined");
	is_int(a.bad_pieces, 0, "json text: no piece carries half of it");
	is_int(a.malformed, 0, "json text: nothing malformed");
	answer_free(&a);

	for (step = 1; step <= 48; step++) {
		answer_run(bytes, sizeof bytes - 1, step, 1, &a);
		if (strcmp(dbuf_str(&a.text),
		    "caf\xc3\xa9 \xe6\x97\xa5!") != 0 ||
		    a.bad_pieces != 0 || a.malformed != 0)
			bad++;
		answer_free(&a);
	}
	is_int(bad, 0, "json text: UTF-8 bytes split over lines are joined, "
	    "every step");

	answer_run(lone, sizeof lone - 1, 7, 0, &a);
	is_str(dbuf_str(&a.text), "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd",
	    "json text: lone surrogates become U+FFFD");
	is_int(a.bad_pieces, 0, "json text: every piece valid");
	answer_free(&a);

	answer_run(nul, sizeof nul - 1, 3, 0, &a);
	is_str(dbuf_str(&a.text), "xy", "json text: \\u0000 is dropped");
	is_int(a.pieces, 1, "json text: a piece of only U+0000 gives nothing");
	answer_free(&a);
}
