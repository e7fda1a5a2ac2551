/* dbuf.c: a growable byte buffer whose cap is set when it is created. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int	dbuf_grow(struct dbuf *, size_t);

void
dbuf_init(struct dbuf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void
dbuf_free(struct dbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

void
dbuf_reset(struct dbuf *b)
{
	b->len = 0;
}

size_t
dbuf_space(const struct dbuf *b)
{
	return (b->cap - b->len);
}

/* Make room for need more bytes plus the NUL; -1 if that passes the cap. */
static int
dbuf_grow(struct dbuf *b, size_t need)
{
	size_t	want, n;

	if (need > b->cap - b->len)
		return (-1);
	want = b->len + need + 1;
	if (want <= b->alloc)
		return (0);
	n = b->alloc == 0 ? 64 : b->alloc;
	while (n < want)
		n = n > SIZE_MAX / 2 ? want : n * 2;
	if (n > b->cap + 1)
		n = b->cap + 1;
	b->data = xrealloc(b->data, n);
	b->alloc = n;
	return (0);
}

int
dbuf_add(struct dbuf *b, const void *p, size_t len)
{
	if (dbuf_grow(b, len) == -1)
		return (-1);
	if (len != 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	return (0);
}

int
dbuf_addc(struct dbuf *b, unsigned char c)
{
	return (dbuf_add(b, &c, 1));
}

int
dbuf_adds(struct dbuf *b, const char *s)
{
	return (dbuf_add(b, s, strlen(s)));
}

int
dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 small[256], *big = NULL;
	int	 n, rv;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (-1);
	if ((size_t)n < sizeof small)
		return (dbuf_add(b, small, n));
	va_start(ap, fmt);
	n = xvasprintf(&big, fmt, ap);
	va_end(ap);
	rv = dbuf_add(b, big, n);
	free(big);
	return (rv);
}

void
dbuf_consume(struct dbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

const char *
dbuf_str(struct dbuf *b)
{
	if (b->data == NULL)
		return ("");
	b->data[b->len] = '\0';
	return ((const char *)b->data);
}
