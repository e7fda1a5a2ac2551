/*
 * handshake.c: the client side of the RFC 6455 opening handshake: the key,
 * the upgrade request, and the check of the server's 101 with its
 * Sec-WebSocket-Accept (SHA-1 and base64 are here so that the load
 * generator needs no crypto library).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "loadgen.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct sha1_ctx {
	uint32_t	 h[5];
};

static uint32_t	 rol32(uint32_t, int);
static void	 sha1_block(struct sha1_ctx *, const unsigned char *);
static int	 header_token(const char *, size_t, const char *);
static const char *header_trim(const char *, size_t *);

static uint32_t
rol32(uint32_t x, int n)
{
	return ((x << n) | (x >> (32 - n)));
}

static void
sha1_block(struct sha1_ctx *ctx, const unsigned char *p)
{
	uint32_t	w[80], a, b, c, d, e, f, k, t;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
		    ((uint32_t)p[4 * i + 2] << 8) | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = ctx->h[0];
	b = ctx->h[1];
	c = ctx->h[2];
	d = ctx->h[3];
	e = ctx->h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	ctx->h[0] += a;
	ctx->h[1] += b;
	ctx->h[2] += c;
	ctx->h[3] += d;
	ctx->h[4] += e;
}

/* The SHA-1 digest (20 bytes) of len bytes at p. */
void
sha1_digest(const void *data, size_t len, unsigned char *out)
{
	struct sha1_ctx		 ctx;
	const unsigned char	*p = data;
	unsigned char		 tail[128];
	uint64_t		 bits = (uint64_t)len * 8;
	size_t			 n, i;

	ctx.h[0] = 0x67452301;
	ctx.h[1] = 0xefcdab89;
	ctx.h[2] = 0x98badcfe;
	ctx.h[3] = 0x10325476;
	ctx.h[4] = 0xc3d2e1f0;
	for (; len >= 64; p += 64, len -= 64)
		sha1_block(&ctx, p);

	/* The tail, the 0x80 byte, zeros and the bit length: 1 or 2 blocks. */
	memset(tail, 0, sizeof tail);
	memcpy(tail, p, len);
	tail[len] = 0x80;
	n = len + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		tail[n - 8 + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_block(&ctx, tail);
	if (n == 128)
		sha1_block(&ctx, tail + 64);
	for (i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(ctx.h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(ctx.h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(ctx.h[i] >> 8);
		out[4 * i + 3] = (unsigned char)ctx.h[i];
	}
}

/* Standard base64 with padding; returns the length, or 0 if out is small. */
size_t
base64_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	static const char	 tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 i, n = 0;
	uint32_t		 v;

	if (outlen < (len + 2) / 3 * 4 + 1)
		return (0);
	for (i = 0; i + 3 <= len; i += 3) {
		v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
		out[n++] = tab[v >> 18];
		out[n++] = tab[(v >> 12) & 63];
		out[n++] = tab[(v >> 6) & 63];
		out[n++] = tab[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[n++] = tab[v >> 18];
		out[n++] = tab[(v >> 12) & 63];
		out[n++] = '=';
		out[n++] = '=';
	} else if (len - i == 2) {
		v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
		out[n++] = tab[v >> 18];
		out[n++] = tab[(v >> 12) & 63];
		out[n++] = tab[(v >> 6) & 63];
		out[n++] = '=';
	}
	out[n] = '\0';
	return (n);
}

/* A fresh Sec-WebSocket-Key: 16 random bytes in base64 (24 characters). */
void
handshake_key(char *out, size_t outlen, uint32_t *state)
{
	unsigned char	raw[16];
	uint32_t	x = *state;
	size_t		i;

	for (i = 0; i < sizeof raw; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		raw[i] = (unsigned char)(x >> 11);
	}
	*state = x;
	base64_encode(raw, sizeof raw, out, outlen);
}

/* The Sec-WebSocket-Accept a server must answer to key. */
void
handshake_accept(const char *key, char *out, size_t outlen)
{
	char		buf[128];
	unsigned char	md[20];
	int		n;

	n = snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
	if (n < 0 || (size_t)n >= sizeof buf)
		fatalx("%s: key too long", __func__);
	sha1_digest(buf, (size_t)n, md);
	base64_encode(md, sizeof md, out, outlen);
}

/* Append the upgrade request. */
int
handshake_request(struct dbuf *b, const char *host, const char *port,
    const char *path, const char *key, const char *origin)
{
	if (dbuf_printf(b, "GET %s HTTP/1.1\r\n"
	    "Host: %s:%s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "User-Agent: wsrouter-loadgen/" LOADGEN_VERSION "\r\n",
	    path, host, port, key) == -1)
		return (-1);
	if (origin != NULL && dbuf_printf(b, "Origin: %s\r\n", origin) == -1)
		return (-1);
	return (dbuf_adds(b, "\r\n"));
}

/* Skip blanks around a header value. */
static const char *
header_trim(const char *v, size_t *len)
{
	while (*len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		(*len)--;
	}
	while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
		(*len)--;
	return (v);
}

/* 1 if the comma-separated list v contains token (case-insensitive). */
static int
header_token(const char *v, size_t len, const char *token)
{
	const char	*item;
	size_t		 tl = strlen(token), i = 0, start, n;

	while (i <= len) {
		start = i;
		while (i < len && v[i] != ',')
			i++;
		n = i - start;
		item = header_trim(v + start, &n);
		if (n == tl && strncasecmp(item, token, tl) == 0)
			return (1);
		i++;
	}
	return (0);
}

/*
 * Check the server's answer in buf. Returns 1 when a complete, valid 101
 * was found (*used is its length; what follows are frames), 0 if more bytes
 * are needed, or -1 with *cause.
 */
int
handshake_response(const unsigned char *buf, size_t len, const char *accept,
    size_t *used, const char **cause)
{
	const char	*p = (const char *)buf, *end, *line, *eol, *colon, *v;
	int		 got_upgrade = 0, got_connection = 0, got_accept = 0;
	size_t		 vlen;

	end = memmem(p, len, "\r\n\r\n", 4);
	if (end == NULL)
		return (0);
	*used = (size_t)(end - p) + 4;

	eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
	if ((size_t)(eol - p) < 12 || strncmp(p, "HTTP/1.1 ", 9) != 0) {
		*cause = "not an HTTP/1.1 response";
		return (-1);
	}
	if (strncmp(p + 9, "101", 3) != 0 ||
	    (eol - p > 12 && p[12] != ' ')) {
		*cause = "status is not 101";
		return (-1);
	}
	for (line = eol + 2; line < end + 2; line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL) {
			*cause = "header line without a colon";
			return (-1);
		}
		v = colon + 1;
		vlen = (size_t)(eol - v);
		v = header_trim(v, &vlen);
#define IS(name) ((size_t)(colon - line) == sizeof(name) - 1 && \
	strncasecmp(line, name, sizeof(name) - 1) == 0)
		if (IS("Upgrade")) {
			if (vlen != 9 || strncasecmp(v, "websocket", 9) != 0) {
				*cause = "Upgrade is not websocket";
				return (-1);
			}
			got_upgrade = 1;
		} else if (IS("Connection")) {
			if (!header_token(v, vlen, "upgrade")) {
				*cause = "Connection has no upgrade token";
				return (-1);
			}
			got_connection = 1;
		} else if (IS("Sec-WebSocket-Accept")) {
			if (vlen != strlen(accept) ||
			    memcmp(v, accept, vlen) != 0) {
				*cause = "wrong Sec-WebSocket-Accept";
				return (-1);
			}
			got_accept = 1;
		} else if (IS("Sec-WebSocket-Extensions")) {
			*cause = "an extension that was not offered";
			return (-1);
		} else if (IS("Sec-WebSocket-Protocol")) {
			*cause = "a subprotocol that was not offered";
			return (-1);
		}
#undef IS
	}
	if (!got_upgrade || !got_connection || !got_accept) {
		*cause = !got_accept ? "no Sec-WebSocket-Accept" :
		    "no Upgrade or Connection header";
		return (-1);
	}
	return (1);
}
