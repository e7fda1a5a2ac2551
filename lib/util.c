/* util.c: clocks, timestamps, UTF-8 checks and JSON string escaping. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"

uint64_t
mono_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

int64_t
wall_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Format a wall-clock time in microseconds as 2026-01-02T03:04:05.678Z. */
char *
iso8601_utc(int64_t usec, char *buf, size_t len)
{
	struct tm	tm;
	time_t		t = (time_t)(usec / 1000000);
	size_t		n;

	gmtime_r(&t, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0 || n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return (buf);
	}
	snprintf(buf + n, len - n, ".%03dZ", (int)((usec / 1000) % 1000));
	return (buf);
}

/*
 * Decode the sequence at p: its length (1 to 4) and *cp, 0 if it is
 * invalid (*bad: how many bytes to replace with one U+FFFD, the maximal
 * subpart), or -1 if it is valid so far but cut short. With surrogates,
 * ED A0..ED BF (a UTF-16 surrogate written as three bytes) is accepted.
 */
int
utf8_decode(const unsigned char *p, size_t avail, int surrogates,
    unsigned int *cp, size_t *bad)
{
	unsigned char	c = p[0], lo = 0x80, hi = 0xbf;
	unsigned int	v;
	int		n, i;

	*bad = 1;
	if (c < 0x80) {
		*cp = c;
		return (1);
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed && !surrogates)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return (0);
	for (i = 1; i < n; i++) {
		if ((size_t)i >= avail)
			return (-1);
		if (p[i] < lo || p[i] > hi) {
			*bad = i;
			return (0);
		}
		v = (v << 6) | (p[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = v;
	return (n);
}

/*
 * Length of the UTF-8 sequence starting at p (1 to 4), 0 if p starts an
 * invalid sequence, or -1 if the sequence is valid so far but cut short.
 */
static int
utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned int	cp;
	size_t		bad;

	return (utf8_decode(p, avail, 0, &cp, &bad));
}

/*
 * Write cp (below 0x110000; a surrogate too, as three bytes) as UTF-8 at
 * out, which has room for 4 bytes. Returns the length.
 */
size_t
utf8_encode(unsigned int cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | (cp >> 12);
		out[1] = 0x80 | ((cp >> 6) & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return (3);
	}
	out[0] = 0xf0 | (cp >> 18);
	out[1] = 0x80 | ((cp >> 12) & 0x3f);
	out[2] = 0x80 | ((cp >> 6) & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return (4);
}

/* 1 if buf is entirely valid UTF-8, else 0. */
int
utf8_valid(const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	size_t			 i = 0;
	int			 n;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq(p + i, len - i)) <= 0)
			return (0);
		i += n;
	}
	return (1);
}

/*
 * The length of the longest prefix of buf that does not end inside a
 * multi-byte character: what can be sent now without splitting one.
 */
size_t
utf8_complete_prefix(const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	size_t			 i;

	/* Look back at most three bytes for the start of the last character. */
	for (i = len; i > 0 && len - i < 4; i--) {
		if ((p[i - 1] & 0xc0) != 0x80) {
			if (utf8_seq(p + i - 1, len - (i - 1)) == -1)
				return (i - 1);
			return (len);
		}
	}
	return (len);
}

/* Append s as the inside of a JSON string (no quotes). -1 past the cap. */
int
json_escape(struct dbuf *b, const void *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = s;
	size_t			 i, start = 0;
	char			 esc[7];

	for (i = 0; i < len; i++) {
		unsigned char	c = p[i];
		const char	*e = NULL;

		switch (c) {
		case '"':  e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		default:
			if (c < 0x20) {
				esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0';
				esc[3] = '0'; esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15]; esc[6] = '\0';
				e = esc;
			}
		}
		if (e == NULL)
			continue;
		if (dbuf_add(b, p + start, i - start) == -1 ||
		    dbuf_adds(b, e) == -1)
			return (-1);
		start = i + 1;
	}
	return (dbuf_add(b, p + start, len - start));
}
