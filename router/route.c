/* route.c: route selection, with a validating JSON scanner (RFC 8259). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"

#define ROUTE_JSON_DEPTH	64		/* nested objects and arrays */
#define ROUTE_OFF_PATH		SIZE_MAX	/* a value not on the path */

struct route_scan {
	const unsigned char	*p;
	const unsigned char	*end;
	int			 depth;
	char *const		*path;
	size_t			 npath;
	char			*out;
	size_t			 outsz;
	size_t			 outlen;
	int			 found;
};

/* Where the decoded bytes of a string go: compared with cmp, or copied. */
struct route_sink {
	const char	*cmp;
	size_t		 cmplen;
	char		*out;
	size_t		 outsz;
	size_t		 len;
	int		 differs;
	int		 overflow;
};

static void	route_ws(struct route_scan *);
static int	route_value(struct route_scan *, size_t);
static int	route_object(struct route_scan *, size_t);
static int	route_array(struct route_scan *);
static void	route_emit(struct route_sink *, const void *, size_t);
static int	route_hex4(struct route_scan *, unsigned *);
static int	route_string(struct route_scan *, struct route_sink *);
static int	route_number(struct route_scan *);
static int	route_literal(struct route_scan *, const char *);
static int	route_cmp(const void *, const void *);

static void
route_ws(struct route_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/*
 * Scan one value. level is how many path segments led here, or
 * ROUTE_OFF_PATH. Returns 0, or -1 when the input is not JSON.
 */
static int
route_value(struct route_scan *s, size_t level)
{
	struct route_sink	sink;

	route_ws(s);
	if (s->p == s->end)
		return (-1);
	switch (*s->p) {
	case '{':
		return (route_object(s, level));
	case '[':
		return (route_array(s));
	case '"':
		if (level != s->npath)
			return (route_string(s, NULL));
		memset(&sink, 0, sizeof sink);
		sink.out = s->out;
		sink.outsz = s->outsz;
		if (route_string(s, &sink) == -1)
			return (-1);
		if (!sink.overflow) {
			s->out[sink.len] = '\0';
			s->outlen = sink.len;
			s->found = 1;
		}
		return (0);
	case 't':
		return (route_literal(s, "true"));
	case 'f':
		return (route_literal(s, "false"));
	case 'n':
		return (route_literal(s, "null"));
	default:
		return (route_number(s));
	}
}

/* Duplicate keys: only the first one on the path is followed. */
static int
route_object(struct route_scan *s, size_t level)
{
	struct route_sink	sink;
	int			matched = 0, hit;

	if (++s->depth > ROUTE_JSON_DEPTH)
		return (-1);
	s->p++;
	route_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return (0);
	}
	for (;;) {
		route_ws(s);
		if (s->p == s->end || *s->p != '"')
			return (-1);
		hit = 0;
		if (level < s->npath && !matched) {
			memset(&sink, 0, sizeof sink);
			sink.cmp = s->path[level];
			sink.cmplen = strlen(sink.cmp);
			if (route_string(s, &sink) == -1)
				return (-1);
			hit = !sink.differs && sink.len == sink.cmplen;
		} else if (route_string(s, NULL) == -1)
			return (-1);
		route_ws(s);
		if (s->p == s->end || *s->p != ':')
			return (-1);
		s->p++;
		if (hit)
			matched = 1;
		if (route_value(s, hit ? level + 1 : ROUTE_OFF_PATH) == -1)
			return (-1);
		route_ws(s);
		if (s->p == s->end)
			return (-1);
		if (*s->p == '}')
			break;
		if (*s->p != ',')
			return (-1);
		s->p++;
	}
	s->p++;
	s->depth--;
	return (0);
}

static int
route_array(struct route_scan *s)
{
	if (++s->depth > ROUTE_JSON_DEPTH)
		return (-1);
	s->p++;
	route_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return (0);
	}
	for (;;) {
		if (route_value(s, ROUTE_OFF_PATH) == -1)
			return (-1);
		route_ws(s);
		if (s->p == s->end)
			return (-1);
		if (*s->p == ']')
			break;
		if (*s->p != ',')
			return (-1);
		s->p++;
	}
	s->p++;
	s->depth--;
	return (0);
}

static void
route_emit(struct route_sink *k, const void *b, size_t n)
{
	if (k == NULL || n == 0)
		return;
	if (k->cmp != NULL && !k->differs) {
		if (n > k->cmplen - k->len ||
		    memcmp(k->cmp + k->len, b, n) != 0)
			k->differs = 1;
	}
	if (k->out != NULL && !k->overflow) {
		if (n >= k->outsz - k->len)
			k->overflow = 1;
		else
			memcpy(k->out + k->len, b, n);
	}
	k->len += n;
}

static int
route_hex4(struct route_scan *s, unsigned *v)
{
	int	i;

	if (s->end - s->p < 4)
		return (-1);
	*v = 0;
	for (i = 0; i < 4; i++) {
		unsigned char c = *s->p++;

		if (c >= '0' && c <= '9')
			*v = *v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = *v * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v = *v * 16 + (c - 'A' + 10);
		else
			return (-1);
	}
	return (0);
}

/* Scan a string, decoding escapes into the sink (which may be NULL). */
static int
route_string(struct route_scan *s, struct route_sink *k)
{
	const unsigned char	*start;
	unsigned char		 c, u[4];
	unsigned		 cp, lo;
	size_t			 n;

	start = ++s->p;
	while (s->p < s->end) {
		c = *s->p;
		if (c == '"') {
			route_emit(k, start, s->p - start);
			s->p++;
			return (0);
		}
		if (c < 0x20)
			return (-1);
		if (c != '\\') {
			s->p++;
			continue;
		}
		route_emit(k, start, s->p - start);
		if (++s->p == s->end)
			return (-1);
		c = *s->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (route_hex4(s, &cp) == -1)
				return (-1);
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return (-1);	/* a lone low surrogate */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (s->end - s->p < 2 || s->p[0] != '\\' ||
				    s->p[1] != 'u')
					return (-1);
				s->p += 2;
				if (route_hex4(s, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return (-1);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			n = utf8_encode(cp, u);
			route_emit(k, u, n);
			start = s->p;
			continue;
		default:
			return (-1);
		}
		route_emit(k, &c, 1);
		start = s->p;
	}
	return (-1);
}

static int
route_number(struct route_scan *s)
{
	const unsigned char	*d;

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p == s->end)
		return (-1);
	if (*s->p == '0')
		s->p++;
	else if (*s->p >= '1' && *s->p <= '9') {
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	} else
		return (-1);
	if (s->p < s->end && *s->p == '.') {
		d = ++s->p;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p == d)
			return (-1);
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		d = s->p;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p == d)
			return (-1);
	}
	return (0);
}

static int
route_literal(struct route_scan *s, const char *word)
{
	size_t	n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return (-1);
	s->p += n;
	return (0);
}

int
route_extract(char *const *path, size_t npath, const void *msg, size_t len,
    char *out, size_t outsz, size_t *outlen)
{
	struct route_scan	s;

	if (npath == 0 || outsz == 0)
		return (0);
	out[0] = '\0';
	if (!utf8_valid(msg, len))
		return (0);
	memset(&s, 0, sizeof s);
	s.p = msg;
	s.end = s.p + len;
	s.path = path;
	s.npath = npath;
	s.out = out;
	s.outsz = outsz;

	route_ws(&s);
	if (s.p == s.end || *s.p != '{')
		return (0);
	if (route_value(&s, 0) == -1)
		goto fail;
	route_ws(&s);
	if (s.p != s.end || !s.found)
		goto fail;
	if (outlen != NULL)
		*outlen = s.outlen;
	return (1);

fail:
	out[0] = '\0';
	return (0);
}

static int
route_cmp(const void *a, const void *b)
{
	const struct route	*ra = a, *rb = b;

	return (strcmp(ra->key, rb->key));
}

struct pool *
route_select(const struct endpoint *ep, const void *msg, size_t len,
    int binary, char *key, size_t keysz)
{
	char		 buf[ROUTE_KEY_MAX + 1];
	size_t		 n;
	struct route	 want, *r;

	if (!binary && ep->nselection > 0 && ep->nroutes > 0 &&
	    route_extract(ep->selection, ep->nselection, msg, len, buf,
	    sizeof buf, &n) && memchr(buf, '\0', n) == NULL) {
		want.key = buf;
		want.pool = NULL;
		r = bsearch(&want, ep->routes, ep->nroutes, sizeof *ep->routes,
		    route_cmp);
		if (r != NULL && n < keysz) {
			memcpy(key, buf, n + 1);
			return (r->pool);
		}
	}
	if (keysz > 0) {
		n = strlen("$default");
		if (n >= keysz)
			n = keysz - 1;
		memcpy(key, "$default", n);
		key[n] = '\0';
	}
	return (ep->on_default);
}
