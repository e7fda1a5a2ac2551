/* llmparse.c: the providers' stream formats, parsed without I/O. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "llmparse.h"

/*
 * The markers llmparse_json_repair writes inside JSON strings: U+FDD0 (a
 * noncharacter, never text) followed by one code point of plane 16 whose
 * low 16 bits say what stood there: U+10D800..U+10DFFF a lone surrogate
 * escape, U+10FF80..U+10FFFF a raw byte that was not valid UTF-8.
 */
#define MARK_LEAD0	0xef
#define MARK_LEAD1	0xb7
#define MARK_LEAD2	0x90
#define MARK_LEN	7	/* three bytes of U+FDD0, four of U+10xxxx */
#define MARK_RAW	0xff00

static const unsigned char utf8_bom[3] = { 0xef, 0xbb, 0xbf };
static const unsigned char utf8_fffd[3] = { 0xef, 0xbf, 0xbd };

static enum llmparse_status skip_bom(int *, struct dbuf *,
		    const unsigned char *, size_t, size_t *);
static enum llmparse_status sse_line(struct llm_sse *, llmparse_record_cb *,
		    void *);
static enum llmparse_status sse_dispatch(struct llm_sse *,
		    llmparse_record_cb *, void *);
static enum llmparse_status ndjson_line(struct llm_ndjson *,
		    llmparse_record_cb *, void *);
static int	 hex4(const unsigned char *, size_t, unsigned int *);
static int	 repair_put(struct dbuf *, const unsigned char *, size_t *,
		    size_t, const void *, size_t, size_t);
static void	 mark_make(unsigned int, unsigned char *);
static size_t	 text_expand(const unsigned char *, size_t, unsigned char *);
static int	 text_run(struct llm_text *, const char *, size_t, int,
		    struct dbuf *);
static size_t	 trim(const char **, size_t);
static json_t	*json_load_repaired(const char *, size_t);
static json_t	*record_object(const char *, size_t, struct llm_event *);
static void	 event_content(struct llm_event *, json_t *);
static int	 error_text(json_t *, char *, size_t);
static void	 event_message(struct llm_event *, json_t *);
static void	 copy_word(char *, size_t, json_t *);

/*
 * Skip a byte order mark at the start of the stream, even when split:
 * *matched counts its bytes seen so far (3: done). Bytes that turn out
 * not to be one start the first line.
 */
static enum llmparse_status
skip_bom(int *matched, struct dbuf *line, const unsigned char *s, size_t len,
    size_t *ip)
{
	size_t	i = *ip;

	while (*matched < 3 && i < len) {
		if (s[i] == utf8_bom[*matched]) {
			(*matched)++;
			i++;
			continue;
		}
		if (dbuf_add(line, utf8_bom, *matched) == -1)
			return (LLMPARSE_TOOLONG);
		*matched = 3;
	}
	*ip = i;
	return (LLMPARSE_OK);
}

/* SSE framing. */

void
llmparse_sse_init(struct llm_sse *p, size_t max)
{
	memset(p, 0, sizeof *p);
	dbuf_init(&p->sse_line, max);
	dbuf_init(&p->sse_data, max + 1);
}

void
llmparse_sse_free(struct llm_sse *p)
{
	dbuf_free(&p->sse_line);
	dbuf_free(&p->sse_data);
}

enum llmparse_status
llmparse_sse_feed(struct llm_sse *p, const void *buf, size_t len,
    llmparse_record_cb *cb, void *arg)
{
	const unsigned char	*s = buf;
	size_t			 i = 0, j;
	enum llmparse_status	 rv;

	if ((rv = skip_bom(&p->sse_bom, &p->sse_line, s, len, &i)) !=
	    LLMPARSE_OK)
		return (rv);
	while (i < len) {
		if (p->sse_cr) {
			p->sse_cr = 0;
			if (s[i] == '\n') {
				i++;
				continue;
			}
		}
		for (j = i; j < len && s[j] != '\r' && s[j] != '\n'; j++)
			;
		if (dbuf_add(&p->sse_line, s + i, j - i) == -1)
			return (LLMPARSE_TOOLONG);
		if (j == len)
			break;
		p->sse_cr = s[j] == '\r';
		i = j + 1;
		rv = sse_line(p, cb, arg);
		dbuf_reset(&p->sse_line);
		if (rv != LLMPARSE_OK)
			return (rv);
	}
	return (LLMPARSE_OK);
}

/* One complete line: a field, a comment, or the blank line that ends. */
static enum llmparse_status
sse_line(struct llm_sse *p, llmparse_record_cb *cb, void *arg)
{
	const char	*line = (const char *)p->sse_line.data;
	const char	*colon, *value;
	size_t		 len = p->sse_line.len, flen, vlen;

	if (len == 0)
		return (sse_dispatch(p, cb, arg));
	if (line[0] == ':')
		return (LLMPARSE_OK);
	if ((colon = memchr(line, ':', len)) != NULL) {
		flen = colon - line;
		value = colon + 1;
		vlen = len - flen - 1;
		if (vlen > 0 && value[0] == ' ') {
			value++;
			vlen--;
		}
	} else {
		flen = len;
		value = "";
		vlen = 0;
	}
	/* event, id, retry and unknown fields do not matter to us. */
	if (flen != 4 || memcmp(line, "data", 4) != 0)
		return (LLMPARSE_OK);
	if (dbuf_add(&p->sse_data, value, vlen) == -1 ||
	    dbuf_addc(&p->sse_data, '\n') == -1)
		return (LLMPARSE_TOOLONG);
	p->sse_has_data = 1;
	return (LLMPARSE_OK);
}

/* The blank line: hand out the data, without its last newline. */
static enum llmparse_status
sse_dispatch(struct llm_sse *p, llmparse_record_cb *cb, void *arg)
{
	int	rv;

	if (!p->sse_has_data)
		return (LLMPARSE_OK);
	p->sse_data.len--;
	rv = cb(arg, dbuf_str(&p->sse_data), p->sse_data.len);
	dbuf_reset(&p->sse_data);
	p->sse_has_data = 0;
	return (rv == -1 ? LLMPARSE_STOPPED : LLMPARSE_OK);
}

/* NDJSON framing. */

void
llmparse_ndjson_init(struct llm_ndjson *p, size_t max)
{
	memset(p, 0, sizeof *p);
	dbuf_init(&p->nd_line, max + 1);	/* room for a CR */
}

void
llmparse_ndjson_free(struct llm_ndjson *p)
{
	dbuf_free(&p->nd_line);
}

enum llmparse_status
llmparse_ndjson_feed(struct llm_ndjson *p, const void *buf, size_t len,
    llmparse_record_cb *cb, void *arg)
{
	const unsigned char	*s = buf;
	size_t			 i = 0, j;
	enum llmparse_status	 rv;

	if ((rv = skip_bom(&p->nd_bom, &p->nd_line, s, len, &i)) !=
	    LLMPARSE_OK)
		return (rv);
	while (i < len) {
		for (j = i; j < len && s[j] != '\n'; j++)
			;
		if (dbuf_add(&p->nd_line, s + i, j - i) == -1)
			return (LLMPARSE_TOOLONG);
		if (j == len)
			break;
		i = j + 1;
		rv = ndjson_line(p, cb, arg);
		dbuf_reset(&p->nd_line);
		if (rv != LLMPARSE_OK)
			return (rv);
	}
	return (LLMPARSE_OK);
}

enum llmparse_status
llmparse_ndjson_finish(struct llm_ndjson *p, llmparse_record_cb *cb,
    void *arg)
{
	enum llmparse_status	rv;

	rv = ndjson_line(p, cb, arg);
	dbuf_reset(&p->nd_line);
	return (rv);
}

/* One line without its LF: drop a CR, skip it if it is blank. */
static enum llmparse_status
ndjson_line(struct llm_ndjson *p, llmparse_record_cb *cb, void *arg)
{
	const char	*line;
	size_t		 len = p->nd_line.len;

	if (len > 0 && p->nd_line.data[len - 1] == '\r')
		p->nd_line.len = --len;
	if (len > p->nd_line.cap - 1)
		return (LLMPARSE_TOOLONG);	/* the CR's room was used */
	line = dbuf_str(&p->nd_line);
	if (trim(&line, len) == 0)
		return (LLMPARSE_OK);
	if (cb(arg, dbuf_str(&p->nd_line), len) == -1)
		return (LLMPARSE_STOPPED);
	return (LLMPARSE_OK);
}

/* UTF-8. */

static int
hex4(const unsigned char *p, size_t avail, unsigned int *v)
{
	size_t	i;

	if (avail < 4)
		return (0);
	*v = 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			*v |= p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v |= p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			*v |= p[i] - 'A' + 10;
		else
			return (0);
	}
	return (1);
}

/* The seven bytes of a marker for v (a surrogate, or MARK_RAW | byte). */
static void
mark_make(unsigned int v, unsigned char *out)
{
	size_t	n = 0;

	n += utf8_encode(0xfdd0, out + n);
	n += utf8_encode(0x100000 | v, out + n);
}

/* JSON repair. */

/*
 * Replace the skip bytes at s + *i with rep: copy what came before it
 * from s + *start first.
 */
static int
repair_put(struct dbuf *out, const unsigned char *s, size_t *start,
    size_t i, const void *rep, size_t replen, size_t skip)
{
	if (dbuf_add(out, s + *start, i - *start) == -1 ||
	    dbuf_add(out, rep, replen) == -1)
		return (-1);
	*start = i + skip;
	return (0);
}

int
llmparse_json_repair(const char *in, size_t len, struct dbuf *out)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*s = (const unsigned char *)in;
	unsigned char		 rep[MARK_LEN];
	unsigned int		 u, u2, cp;
	size_t			 i = 0, start = 0, bad;
	int			 instr = 0, n;

	while (i < len) {
		unsigned char	c = s[i];

		if (!instr || c == '"') {
			if (c == '"')
				instr = !instr;
			i++;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= len || s[i + 1] != 'u' ||
			    !hex4(s + i + 2, len - i - 2, &u)) {
				i += 2;	/* jansson judges the rest */
				continue;
			}
			if (u >= 0xd800 && u <= 0xdbff && i + 12 <= len &&
			    s[i + 6] == '\\' && s[i + 7] == 'u' &&
			    hex4(s + i + 8, 4, &u2) &&
			    u2 >= 0xdc00 && u2 <= 0xdfff) {
				i += 12;	/* a whole pair */
				continue;
			}
			if (u >= 0xd800 && u <= 0xdfff) {
				mark_make(u, rep);
				if (repair_put(out, s, &start, i, rep,
				    MARK_LEN, 6) == -1)
					return (-1);
			} else if (u == 0xfdd0) {
				if (repair_put(out, s, &start, i, "\\ufffd", 6,
				    6) == -1)
					return (-1);
			}
			i += 6;
			continue;
		}
		if (c < 0x20) {
			memcpy(rep, "\\u00", 4);
			rep[4] = hex[c >> 4];
			rep[5] = hex[c & 15];
			if (repair_put(out, s, &start, i, rep, 6, 1) == -1)
				return (-1);
			i++;
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		n = utf8_decode(s + i, len - i, 0, &cp, &bad);
		if (n > 0 && cp != 0xfdd0) {
			i += n;
			continue;
		}
		if (n > 0) {
			if (repair_put(out, s, &start, i, utf8_fffd, 3,
			    3) == -1)
				return (-1);
			i += 3;
			continue;
		}
		mark_make(MARK_RAW | c, rep);
		if (repair_put(out, s, &start, i, rep, MARK_LEN, 1) == -1)
			return (-1);
		i++;
	}
	if (start < len && dbuf_add(out, s + start, len - start) == -1)
		return (-1);
	return (0);
}

/* Text. */

void
llmparse_text_init(struct llm_text *t)
{
	memset(t, 0, sizeof *t);
}

/*
 * Turn the markers in s back into what they stand for: a surrogate as its
 * three generalized UTF-8 bytes, a raw byte as itself. out has room for
 * len bytes (this never grows the text).
 */
static size_t
text_expand(const unsigned char *s, size_t len, unsigned char *out)
{
	unsigned int	cp;
	size_t		i = 0, n = 0, bad;

	while (i < len) {
		if (len - i >= MARK_LEN && s[i] == MARK_LEAD0 &&
		    s[i + 1] == MARK_LEAD1 && s[i + 2] == MARK_LEAD2 &&
		    utf8_decode(s + i + 3, len - i - 3, 0, &cp, &bad) == 4) {
			if (cp >= 0x10d800 && cp <= 0x10dfff) {
				n += utf8_encode(cp & 0xffff, out + n);
				i += MARK_LEN;
				continue;
			}
			if (cp >= (0x100000 | MARK_RAW | 0x80)) {
				out[n++] = cp & 0xff;
				i += MARK_LEN;
				continue;
			}
		}
		out[n++] = s[i++];
	}
	return (n);
}

int
llmparse_text_feed(struct llm_text *t, const char *s, size_t len,
    struct dbuf *out)
{
	return (text_run(t, s, len, 0, out));
}

int
llmparse_text_flush(struct llm_text *t, struct dbuf *out)
{
	if (t->tx_ntail == 0)
		return (0);
	return (text_run(t, NULL, 0, 1, out));
}

/* Decode the held tail and s; at the end (final) hold nothing back. */
static int
text_run(struct llm_text *t, const char *s, size_t len, int final,
    struct dbuf *out)
{
	unsigned char	*w, buf[8];
	unsigned int	 cp, cp2;
	size_t		 n, i = 0, bad, bad2, k;
	int		 m, m2, rv = -1;

	w = xmalloc(t->tx_ntail + len + 1);
	memcpy(w, t->tx_tail, t->tx_ntail);
	n = t->tx_ntail;
	if (len > 0)
		n += text_expand((const unsigned char *)s, len, w + n);
	t->tx_ntail = 0;

	while (i < n) {
		if (w[i] == 0) {
			i++;	/* U+0000 is dropped */
			continue;
		}
		if (w[i] < 0x80) {
			for (k = i; k < n && w[k] != 0 && w[k] < 0x80; k++)
				;
			if (dbuf_add(out, w + i, k - i) == -1)
				goto out;
			i = k;
			continue;
		}
		m = utf8_decode(w + i, n - i, 1, &cp, &bad);
		if (m == 0) {
			if (dbuf_add(out, utf8_fffd, 3) == -1)
				goto out;
			i += bad;
			continue;
		}
		if (m == -1)
			goto tail;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			if (dbuf_add(out, utf8_fffd, 3) == -1)
				goto out;
			i += m;
			continue;
		}
		if (cp < 0xd800 || cp > 0xdbff) {
			if (dbuf_add(out, w + i, m) == -1)
				goto out;
			i += m;
			continue;
		}
		/* A high surrogate: a low one must follow. */
		if (i + m == n)
			goto tail;
		m2 = utf8_decode(w + i + m, n - i - m, 1, &cp2, &bad2);
		if (m2 == -1)
			goto tail;
		if (m2 > 0 && cp2 >= 0xdc00 && cp2 <= 0xdfff) {
			k = utf8_encode(0x10000 + ((cp - 0xd800) << 10) +
			    (cp2 - 0xdc00), buf);
			if (dbuf_add(out, buf, k) == -1)
				goto out;
			i += m + m2;
			continue;
		}
		if (dbuf_add(out, utf8_fffd, 3) == -1)
			goto out;
		i += m;
	}
	rv = 0;
	goto out;

tail:
	/* What is left could still become whole: at most 3 + 2 bytes. */
	if (final || n - i > sizeof t->tx_tail) {
		if (dbuf_add(out, utf8_fffd, 3) == -1)
			goto out;
	} else {
		memcpy(t->tx_tail, w + i, n - i);
		t->tx_ntail = n - i;
	}
	rv = 0;
out:
	free(w);
	return (rv);
}

void
llmparse_clean(const char *s, size_t len, char *buf, size_t size)
{
	struct llm_text	 t;
	struct dbuf	 d;
	size_t		 i, n = 0, keep;
	const char	*p;

	if (size == 0)
		return;
	buf[0] = '\0';
	llmparse_text_init(&t);
	dbuf_init(&d, len * 3 + 8);
	if (llmparse_text_feed(&t, s, len, &d) == -1 ||
	    llmparse_text_flush(&t, &d) == -1 || d.len == 0) {
		dbuf_free(&d);
		return;
	}
	for (i = 0; i < d.len; i++) {
		if (d.data[i] < 0x20 || d.data[i] == 0x7f)
			d.data[i] = ' ';
	}
	p = (const char *)d.data;
	n = trim(&p, d.len);
	keep = n < size - 1 ? n : size - 1;
	keep = utf8_complete_prefix(p, keep);
	memcpy(buf, p, keep);
	buf[keep] = '\0';
	dbuf_free(&d);
}

/* Skip white space at both ends of *s; the length left. */
static size_t
trim(const char **s, size_t len)
{
	const char	*p = *s;

	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
	    p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	*s = p;
	return (len);
}

/* Records. */

/* A new reference to the JSON value of s, repaired first; NULL if none. */
static json_t *
json_load_repaired(const char *s, size_t len)
{
	struct dbuf	 d;
	json_error_t	 err;
	json_t		*j = NULL;

	dbuf_init(&d, len * MARK_LEN + 16);
	if (llmparse_json_repair(s, len, &d) == 0 && d.len > 0)
		j = json_loadb((const char *)d.data, d.len, JSON_ALLOW_NUL,
		    &err);
	dbuf_free(&d);
	return (j);
}

/*
 * A record's JSON object (a new reference), its "error" member, unless
 * null, taken into ev; NULL when the record is not a JSON object.
 */
static json_t *
record_object(const char *s, size_t len, struct llm_event *ev)
{
	json_t	*root, *err;

	if ((root = json_load_repaired(s, len)) == NULL)
		return (NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return (NULL);
	}
	if ((err = json_object_get(root, "error")) != NULL &&
	    !json_is_null(err))
		event_message(ev, err);
	return (root);
}

void
llmparse_event_clear(struct llm_event *ev)
{
	free(ev->ev_content);
	memset(ev, 0, sizeof *ev);
	ev->ev_tokens = -1;
}

/* Take the string content (borrowed) as the event's piece. */
static void
event_content(struct llm_event *ev, json_t *content)
{
	size_t	len;

	if (!json_is_string(content))
		return;
	len = json_string_length(content);
	free(ev->ev_content);
	ev->ev_content = xmemdup(json_string_value(content), len + 1);
	ev->ev_content_len = len;
}

/*
 * The message of an error value (borrowed): a string, or an object with a
 * message (perhaps one level down). 0, or -1 and buf empty.
 */
static int
error_text(json_t *err, char *buf, size_t size)
{
	static const char	*fields[] = { "message", "error", "detail" };
	json_t			*m = NULL;
	size_t			 i;

	buf[0] = '\0';
	if (json_is_string(err))
		m = err;
	for (i = 0; m == NULL && json_is_object(err) && i < nitems(fields);
	    i++) {
		m = json_object_get(err, fields[i]);
		if (json_is_object(m))
			m = json_object_get(m, "message");
		if (!json_is_string(m))
			m = NULL;
	}
	if (m != NULL)
		llmparse_clean(json_string_value(m), json_string_length(m),
		    buf, size);
	return (buf[0] == '\0' ? -1 : 0);
}

/* The event is an error; say what it was if it says. */
static void
event_message(struct llm_event *ev, json_t *err)
{
	ev->ev_error = 1;
	if (error_text(err, ev->ev_message, sizeof ev->ev_message) == -1)
		snprintf(ev->ev_message, sizeof ev->ev_message,
		    "the model server reported an error");
}

/* A short string value (borrowed) into buf, cleaned. */
static void
copy_word(char *buf, size_t size, json_t *v)
{
	if (json_is_string(v))
		llmparse_clean(json_string_value(v), json_string_length(v),
		    buf, size);
}

int
llmparse_openai(const char *s, size_t len, struct llm_event *ev)
{
	json_t	*root, *choices, *c0, *delta, *usage, *v;

	llmparse_event_clear(ev);
	if ((len = trim(&s, len)) == 0)
		return (0);
	if (len == 6 && memcmp(s, "[DONE]", 6) == 0) {
		ev->ev_done = 1;
		return (0);
	}
	if ((root = record_object(s, len, ev)) == NULL)
		return (-1);
	choices = json_object_get(root, "choices");
	if ((c0 = json_array_get(choices, 0)) != NULL && json_is_object(c0)) {
		if ((delta = json_object_get(c0, "delta")) != NULL)
			event_content(ev, json_object_get(delta, "content"));
		copy_word(ev->ev_finish, sizeof ev->ev_finish,
		    json_object_get(c0, "finish_reason"));
	}
	if ((usage = json_object_get(root, "usage")) != NULL &&
	    (v = json_object_get(usage, "completion_tokens")) != NULL &&
	    json_is_integer(v) && json_integer_value(v) >= 0)
		ev->ev_tokens = json_integer_value(v);
	json_decref(root);
	return (0);
}

int
llmparse_ollama(const char *s, size_t len, struct llm_event *ev)
{
	json_t	*root, *msg, *v;

	llmparse_event_clear(ev);
	if ((len = trim(&s, len)) == 0)
		return (0);
	if ((root = record_object(s, len, ev)) == NULL)
		return (-1);
	if ((msg = json_object_get(root, "message")) != NULL)
		event_content(ev, json_object_get(msg, "content"));
	ev->ev_done = json_is_true(json_object_get(root, "done"));
	copy_word(ev->ev_finish, sizeof ev->ev_finish,
	    json_object_get(root, "done_reason"));
	if ((v = json_object_get(root, "eval_count")) != NULL &&
	    json_is_integer(v) && json_integer_value(v) >= 0)
		ev->ev_tokens = json_integer_value(v);
	json_decref(root);
	return (0);
}

int
llmparse_error_body(const char *s, size_t len, char *buf, size_t size)
{
	json_t	*root, *err;
	int	 rv;

	if (size == 0)
		return (-1);
	buf[0] = '\0';
	if ((len = trim(&s, len)) == 0 ||
	    (root = json_load_repaired(s, len)) == NULL)
		return (-1);
	err = json_object_get(root, "error");
	if (err == NULL || json_is_null(err))
		err = root;
	rv = error_text(err, buf, size);
	json_decref(root);
	return (rv);
}
