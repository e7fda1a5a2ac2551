/* frame.c: RFC 6455 frame headers: parse the server's, build the client's. */
#include "config.h"

#include <string.h>

#include "loadgen.h"

/*
 * Parse the frame header at p. Returns 1 with *f filled in, 0 if more bytes
 * are needed, or -1 with *cause set when the header cannot be valid. The
 * payload is not looked at.
 */
int
frame_parse(const unsigned char *p, size_t len, struct frame *f,
    const char **cause)
{
	size_t		need = 2;
	uint64_t	plen;
	int		i;

	if (len < 2)
		return (0);
	f->fr_fin = (p[0] & 0x80) != 0;
	f->fr_rsv = (p[0] >> 4) & 0x7;
	f->fr_opcode = p[0] & 0x0f;
	f->fr_masked = (p[1] & 0x80) != 0;
	plen = p[1] & 0x7f;
	if (plen == 126)
		need += 2;
	else if (plen == 127)
		need += 8;
	if (f->fr_masked)
		need += 4;
	if (len < need)
		return (0);
	if (plen == 126)
		plen = ((uint64_t)p[2] << 8) | p[3];
	else if (plen == 127) {
		if (p[2] & 0x80) {
			*cause = "64-bit length with the high bit set";
			return (-1);
		}
		plen = 0;
		for (i = 0; i < 8; i++)
			plen = (plen << 8) | p[2 + i];
	}
	if (f->fr_masked)
		memcpy(f->fr_mask, p + need - 4, 4);
	f->fr_len = plen;
	f->fr_hdrlen = need;
	return (1);
}

/*
 * What a client must refuse from a server (RFC 6455 5.1, 5.2, 5.5): masked
 * frames, RSV bits without an extension, unknown opcodes, fragmented or
 * long control frames. 0 if the frame is acceptable.
 */
int
frame_check_server(const struct frame *f, const char **cause)
{
	if (f->fr_masked) {
		*cause = "masked server frame";
		return (-1);
	}
	if (f->fr_rsv != 0) {
		*cause = "RSV bits set";
		return (-1);
	}
	switch (f->fr_opcode) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		return (0);
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!f->fr_fin) {
			*cause = "fragmented control frame";
			return (-1);
		}
		if (f->fr_len > 125) {
			*cause = "control frame longer than 125 bytes";
			return (-1);
		}
		return (0);
	default:
		*cause = "reserved opcode";
		return (-1);
	}
}

/*
 * Write a frame header into buf (WS_FRAME_HDR_MAX bytes) using the shortest
 * length form; with a mask, the mask follows. Returns the header length.
 */
size_t
frame_header(unsigned char *buf, int opcode, int fin, uint64_t len,
    const unsigned char *mask)
{
	size_t	n = 2;
	int	i;

	buf[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
	buf[1] = mask != NULL ? 0x80 : 0;
	if (len < 126)
		buf[1] |= (unsigned char)len;
	else if (len <= 0xffff) {
		buf[1] |= 126;
		buf[2] = (unsigned char)(len >> 8);
		buf[3] = (unsigned char)len;
		n = 4;
	} else {
		buf[1] |= 127;
		for (i = 0; i < 8; i++)
			buf[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		memcpy(buf + n, mask, 4);
		n += 4;
	}
	return (n);
}

/* XOR len bytes with the 4-byte mask, starting at mask offset 0. */
void
frame_mask(unsigned char *p, size_t len, const unsigned char *mask)
{
	uint32_t	m, w;
	size_t		i = 0;

	memcpy(&m, mask, 4);
	for (; i + 4 <= len; i += 4) {
		memcpy(&w, p + i, 4);
		w ^= m;
		memcpy(p + i, &w, 4);
	}
	for (; i < len; i++)
		p[i] ^= mask[i & 3];
}
