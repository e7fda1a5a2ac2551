/* jwtcheck.c: JWT verification against a pinned algorithm and key. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>

#include "common.h"
#include "chat.h"

/*
 * libjwt 1.10 takes the algorithm from the token, decodes base64 leniently
 * (libb64 skips characters it does not know) and checks no claims. So the
 * token is taken apart here first, strictly: three base64url parts, a
 * header whose alg is the pinned one, and only then does libjwt check the
 * signature with the pinned algorithm's key. The claims come from our own
 * strict parse of the same bytes the signature covers.
 */

#define JWT_KEY_MAX		65536	/* bytes of a configured key */
#define JWT_LEEWAY_MAX		3600	/* seconds */
#define JWT_SUB_MAX		255	/* bytes of the subject */
#define JWT_RSA_BITS_MIN	2048
#define JWT_HS256_SIG_LEN	32	/* bytes of an HMAC-SHA256 */
#define JWT_PEM_PUBLIC_BEGIN	"-----BEGIN PUBLIC KEY-----"
#define JWT_PEM_PUBLIC_END	"-----END PUBLIC KEY-----"
#define JWT_TIME_MAX		253402300799.0	/* the end of 9999 */

static void	 jwt_set_err(char *, size_t, const char *);
static int	 jwt_b64url_value(unsigned char);
static int	 jwt_b64url_decode(const char *, size_t, struct dbuf *);
static int	 jwt_b64_pem_decode(const char *, size_t, struct dbuf *);
static json_t	*jwt_part_json(const char *, size_t, const char *,
		    const char **);
static int	 jwt_split(const char *, size_t, size_t *, size_t *);
static int	 jwt_check_header(json_t *, enum jwt_alg_pin, const char **);
static int	 jwt_check_signature(const struct jwt_policy *, const char *,
		    size_t, const char **);
static int	 jwt_claim_time(json_t *, const char *, double *,
		    const char **);
static int	 jwt_sub_valid(const char *);
static int	 jwt_check_claims(const struct jwt_policy *, json_t *,
		    struct jwt_claims *, const char **);
static const void *jwt_memmem(const void *, size_t, const char *);
static int	 jwt_der_read(const unsigned char **, const unsigned char *,
		    unsigned char, size_t *);
static int	 jwt_rsa_spki_bits(const unsigned char *, size_t);
static const char *jwt_check_rs_key(const unsigned char *, size_t);
static const char *jwt_check_hs_key(const unsigned char *, size_t);
static int	 jwt_hexval(int);
static char	*jwt_token_copy(const char *, size_t);
static char	*jwt_token_from_query(const char *);
static char	*jwt_token_from_authorization(const char *);
static char	*jwt_token_from_protocols(const char *);

/* rsaEncryption, 1.2.840.113549.1.1.1, as DER with its tag and length. */
static const unsigned char jwt_oid_rsa[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01
};

static void
jwt_set_err(char *err, size_t errlen, const char *reason)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", reason);
}

static int
jwt_b64url_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return (ch - 'A');
	if (ch >= 'a' && ch <= 'z')
		return (ch - 'a' + 26);
	if (ch >= '0' && ch <= '9')
		return (ch - '0' + 52);
	if (ch == '-')
		return (62);
	if (ch == '_')
		return (63);
	return (-1);
}

/*
 * Strict base64url without padding (RFC 7515 section 2): only the 64
 * letters of the alphabet, no length of 1 mod 4, and the unused low bits
 * of the last letter zero, so that each byte string has one encoding.
 */
static int
jwt_b64url_decode(const char *s, size_t len, struct dbuf *out)
{
	unsigned int	 acc = 0;
	size_t		 i;
	int		 v, bits = 0;

	if (len % 4 == 1)
		return (-1);
	for (i = 0; i < len; i++) {
		if ((v = jwt_b64url_value((unsigned char)s[i])) == -1)
			return (-1);
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (dbuf_addc(out, (acc >> bits) & 0xff) == -1)
				return (-1);
		}
		acc &= (1u << bits) - 1;
	}
	if (acc != 0)
		return (-1);
	return (0);
}

/* The base64 body of a PEM block: standard alphabet, padding, line ends. */
static int
jwt_b64_pem_decode(const char *s, size_t len, struct dbuf *out)
{
	unsigned int	 acc = 0;
	size_t		 i, pad = 0, n = 0;
	int		 v, bits = 0;
	unsigned char	 ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad != 0)
			return (-1);
		if (ch == '+')
			v = 62;
		else if (ch == '/')
			v = 63;
		else if (ch == '-' || ch == '_' ||
		    (v = jwt_b64url_value(ch)) == -1)
			return (-1);
		n++;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (dbuf_addc(out, (acc >> bits) & 0xff) == -1)
				return (-1);
		}
		acc &= (1u << bits) - 1;
	}
	if (pad > 2 || (n + pad) % 4 != 0 || n % 4 == 1 || out->len == 0)
		return (-1);
	return (0);
}

/*
 * Decode one part and parse it as a JSON object: a new reference, or NULL
 * with *reason "malformed token" (base64url) or what (the JSON).
 */
static json_t *
jwt_part_json(const char *s, size_t len, const char *what,
    const char **reason)
{
	struct dbuf	 b;
	json_t		*js = NULL;

	dbuf_init(&b, JWT_TOKEN_MAX);
	if (jwt_b64url_decode(s, len, &b) == -1) {
		*reason = "malformed token";
		goto out;
	}
	js = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES,
	    NULL);
	if (js != NULL && !json_is_object(js)) {
		json_decref(js);
		js = NULL;
	}
	if (js == NULL)
		*reason = what;
out:
	dbuf_free(&b);
	return (js);
}

/*
 * Find the two dots of header.payload.signature: -1 unless there are
 * exactly two and the header and payload are not empty. An empty
 * signature is refused after the header, so that alg "none" says so.
 */
static int
jwt_split(const char *token, size_t len, size_t *dot1, size_t *dot2)
{
	size_t	i, ndots = 0;

	for (i = 0; i < len; i++) {
		if (token[i] != '.')
			continue;
		if (ndots == 0)
			*dot1 = i;
		else if (ndots == 1)
			*dot2 = i;
		ndots++;
	}
	if (ndots != 2)
		return (-1);
	if (*dot1 == 0 || *dot2 == *dot1 + 1)
		return (-1);
	return (0);
}

/* The header names the pinned algorithm, exactly, and nothing critical. */
static int
jwt_check_header(json_t *hdr, enum jwt_alg_pin pin, const char **reason)
{
	json_t		*alg, *typ;
	const char	*want;

	want = pin == JWT_PIN_RS256 ? "RS256" : "HS256";
	alg = json_object_get(hdr, "alg");
	if (!json_is_string(alg)) {
		*reason = "malformed header";
		return (-1);
	}
	if (strcmp(json_string_value(alg), want) != 0) {
		*reason = "algorithm not allowed";
		return (-1);
	}
	if (json_object_get(hdr, "crit") != NULL) {
		*reason = "unsupported critical header";
		return (-1);
	}
	typ = json_object_get(hdr, "typ");
	if (typ != NULL && (!json_is_string(typ) ||
	    strcasecmp(json_string_value(typ), "JWT") != 0)) {
		*reason = "unsupported token type";
		return (-1);
	}
	return (0);
}

/* libjwt checks the signature, with the pinned algorithm's key only. */
static int
jwt_check_signature(const struct jwt_policy *pol, const char *token,
    size_t siglen, const char **reason)
{
	jwt_t		*jwt = NULL;
	jwt_alg_t	 want;
	struct dbuf	 sig;
	size_t		 len = strlen(token), decoded;
	int		 rc, bad;

	want = pol->alg == JWT_PIN_RS256 ? JWT_ALG_RS256 : JWT_ALG_HS256;
	if (siglen == 0) {
		*reason = "malformed token";
		return (-1);
	}
	/* Our strict decoder, since libjwt's skips letters it does not know. */
	dbuf_init(&sig, JWT_TOKEN_MAX);
	bad = jwt_b64url_decode(token + len - siglen, siglen, &sig);
	decoded = sig.len;
	dbuf_free(&sig);
	if (bad == -1) {
		*reason = "malformed token";
		return (-1);
	}
	if (pol->alg == JWT_PIN_HS256 && decoded != JWT_HS256_SIG_LEN) {
		*reason = "bad signature";
		return (-1);
	}
	rc = jwt_decode(&jwt, token, pol->key, (int)pol->key_len);
	if (rc != 0 || jwt == NULL) {
		*reason = rc == ENOMEM ? "out of memory" : "bad signature";
		return (-1);
	}
	if (jwt_get_alg(jwt) != want) {
		jwt_free(jwt);
		*reason = "algorithm not allowed";
		return (-1);
	}
	jwt_free(jwt);
	return (0);
}

/*
 * A NumericDate claim: 1 and *when if present, 0 if absent, -1 if it is
 * not a number or out of range.
 */
static int
jwt_claim_time(json_t *claims, const char *name, double *when,
    const char **reason)
{
	json_t	*v;
	double	 d;

	if ((v = json_object_get(claims, name)) == NULL)
		return (0);
	if (!json_is_number(v)) {
		*reason = "malformed claims";
		return (-1);
	}
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > JWT_TIME_MAX) {
		*reason = "malformed claims";
		return (-1);
	}
	*when = d;
	return (1);
}

/*
 * The subject becomes the user id: 1 to JWT_SUB_MAX bytes of UTF-8 (jansson
 * has checked it and refused U+0000) without C0 or C1 controls or DEL.
 */
static int
jwt_sub_valid(const char *sub)
{
	const unsigned char	*p = (const unsigned char *)sub;
	size_t			 len = strlen(sub), i;

	if (len == 0 || len > JWT_SUB_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return (0);
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			return (0);
	}
	return (1);
}

static int
jwt_check_claims(const struct jwt_policy *pol, json_t *claims,
    struct jwt_claims *out, const char **reason)
{
	json_t		*sub, *iss, *aud, *v;
	double		 now, exp, nbf, iat;
	size_t		 i;
	int		 has_nbf, has_iat, found;

	now = (double)(pol->now != 0 ? pol->now : time(NULL));

	sub = json_object_get(claims, "sub");
	if (sub == NULL) {
		*reason = "missing subject";
		return (-1);
	}
	if (!json_is_string(sub) || !jwt_sub_valid(json_string_value(sub))) {
		*reason = "bad subject";
		return (-1);
	}

	switch (jwt_claim_time(claims, "exp", &exp, reason)) {
	case -1:
		return (-1);
	case 0:
		*reason = "missing expiry";
		return (-1);
	}
	if ((has_nbf = jwt_claim_time(claims, "nbf", &nbf, reason)) == -1)
		return (-1);
	if ((has_iat = jwt_claim_time(claims, "iat", &iat, reason)) == -1)
		return (-1);

	iss = json_object_get(claims, "iss");
	if (iss != NULL && !json_is_string(iss)) {
		*reason = "malformed claims";
		return (-1);
	}
	aud = json_object_get(claims, "aud");
	if (aud != NULL && !json_is_string(aud)) {
		if (!json_is_array(aud)) {
			*reason = "malformed claims";
			return (-1);
		}
		json_array_foreach(aud, i, v) {
			if (!json_is_string(v)) {
				*reason = "malformed claims";
				return (-1);
			}
		}
	}

	if (now - (double)pol->leeway > exp) {
		*reason = "expired";
		return (-1);
	}
	if (has_nbf && now + (double)pol->leeway < nbf) {
		*reason = "not yet valid";
		return (-1);
	}
	if (has_iat && iat > now + (double)pol->leeway) {
		*reason = "issued in the future";
		return (-1);
	}
	if (pol->issuer != NULL && (iss == NULL ||
	    strcmp(json_string_value(iss), pol->issuer) != 0)) {
		*reason = "wrong issuer";
		return (-1);
	}
	if (pol->audience != NULL) {
		found = 0;
		if (json_is_string(aud))
			found = strcmp(json_string_value(aud),
			    pol->audience) == 0;
		else if (aud != NULL) {
			json_array_foreach(aud, i, v) {
				if (strcmp(json_string_value(v),
				    pol->audience) == 0)
					found = 1;
			}
		}
		if (!found) {
			*reason = "wrong audience";
			return (-1);
		}
	}

	out->sub = xstrdup(json_string_value(sub));
	out->exp = (time_t)exp;
	return (0);
}

/* memmem for a NUL-terminated needle, on a key that may lack a NUL. */
static const void *
jwt_memmem(const void *hay, size_t len, const char *needle)
{
	const unsigned char	*h = hay;
	size_t			 nlen = strlen(needle), i;

	if (nlen == 0 || nlen > len)
		return (NULL);
	for (i = 0; i + nlen <= len; i++) {
		if (h[i] == (unsigned char)needle[0] &&
		    memcmp(h + i, needle, nlen) == 0)
			return (h + i);
	}
	return (NULL);
}

/* One DER element with the given tag: *p moves to its contents. */
static int
jwt_der_read(const unsigned char **p, const unsigned char *end,
    unsigned char tag, size_t *len)
{
	const unsigned char	*q = *p;
	size_t			 n, i, nbytes;

	if (end - q < 2 || q[0] != tag)
		return (-1);
	q++;
	if (*q < 0x80)
		n = *q++;
	else {
		nbytes = *q++ & 0x7f;
		if (nbytes == 0 || nbytes > 4 || (size_t)(end - q) < nbytes)
			return (-1);
		for (n = 0, i = 0; i < nbytes; i++)
			n = (n << 8) | *q++;
	}
	if (n > (size_t)(end - q))
		return (-1);
	*p = q;
	*len = n;
	return (0);
}

/*
 * The modulus size of an RSA SubjectPublicKeyInfo in bits, or -1 if the
 * DER is not one: SEQUENCE { SEQUENCE { rsaEncryption, NULL },
 * BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } }.
 */
static int
jwt_rsa_spki_bits(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der, *end = der + len, *alg_end;
	size_t			 n;
	int			 bits, top;

	if (jwt_der_read(&p, end, 0x30, &n) == -1 || p + n != end)
		return (-1);
	if (jwt_der_read(&p, end, 0x30, &n) == -1)
		return (-1);
	alg_end = p + n;
	if (n < sizeof jwt_oid_rsa ||
	    memcmp(p, jwt_oid_rsa, sizeof jwt_oid_rsa) != 0)
		return (-2);
	p = alg_end;
	if (jwt_der_read(&p, end, 0x03, &n) == -1 || p + n != end ||
	    n < 1 || *p != 0x00)
		return (-1);
	p++;
	if (jwt_der_read(&p, end, 0x30, &n) == -1 || p + n != end)
		return (-1);
	if (jwt_der_read(&p, end, 0x02, &n) == -1 || n == 0)
		return (-1);
	while (n > 0 && *p == 0x00) {
		p++;
		n--;
	}
	if (n == 0 || n > INT_MAX / 8)
		return (-1);
	bits = (int)(n - 1) * 8;
	for (top = *p; top != 0; top >>= 1)
		bits++;
	p += n;
	if (jwt_der_read(&p, end, 0x02, &n) == -1 || n == 0 || p + n != end)
		return (-1);
	return (bits);
}

/* An RS256 key must be an RSA public key PEM of 2048 bits or more. */
static const char *
jwt_check_rs_key(const unsigned char *key, size_t len)
{
	const char	*begin, *body, *end;
	struct dbuf	 der;
	int		 bits;

	if (jwt_memmem(key, len, "PRIVATE KEY-----") != NULL)
		return ("RS256 key is a private key: configure the public key");
	if (jwt_memmem(key, len, "-----BEGIN RSA PUBLIC KEY-----") != NULL)
		return ("RS256 key is PKCS#1: convert it to a PUBLIC KEY PEM");
	if ((begin = jwt_memmem(key, len, JWT_PEM_PUBLIC_BEGIN)) == NULL)
		return ("RS256 key is not a PEM public key");
	body = begin + strlen(JWT_PEM_PUBLIC_BEGIN);
	end = jwt_memmem(body, len - (size_t)(body - (const char *)key),
	    JWT_PEM_PUBLIC_END);
	if (end == NULL)
		return ("RS256 key is not a PEM public key");
	dbuf_init(&der, JWT_KEY_MAX);
	if (jwt_b64_pem_decode(body, (size_t)(end - body), &der) == -1) {
		dbuf_free(&der);
		return ("RS256 key is not a PEM public key");
	}
	bits = jwt_rsa_spki_bits(der.data, der.len);
	dbuf_free(&der);
	if (bits == -2)
		return ("RS256 key is not an RSA key");
	if (bits < 0)
		return ("RS256 key is not a PEM public key");
	if (bits < JWT_RSA_BITS_MIN)
		return ("RS256 key is shorter than 2048 bits");
	return (NULL);
}

/* An HS256 secret: at least JWT_HS_KEY_MIN bytes, and not a PEM key. */
static const char *
jwt_check_hs_key(const unsigned char *key, size_t len)
{
	if (len < JWT_HS_KEY_MIN)
		return ("HS256 key is shorter than 32 bytes");
	if (jwt_memmem(key, len, "-----BEGIN") != NULL)
		return ("HS256 key looks like a PEM key, not a shared secret");
	return (NULL);
}

int
jwt_policy_check(const struct jwt_policy *pol, char *err, size_t errlen)
{
	const char	*reason = NULL;

	if (pol->alg != JWT_PIN_HS256 && pol->alg != JWT_PIN_RS256)
		reason = "unknown algorithm";
	else if (pol->key == NULL || pol->key_len == 0)
		reason = "no key configured";
	else if (pol->key_len > JWT_KEY_MAX)
		reason = "key too large";
	else if (pol->leeway < 0 || pol->leeway > JWT_LEEWAY_MAX)
		reason = "leeway out of range (0 to 3600 seconds)";
	else if (pol->issuer != NULL && *pol->issuer == '\0')
		reason = "empty issuer";
	else if (pol->audience != NULL && *pol->audience == '\0')
		reason = "empty audience";
	else if (pol->alg == JWT_PIN_RS256)
		reason = jwt_check_rs_key(pol->key, pol->key_len);
	else
		reason = jwt_check_hs_key(pol->key, pol->key_len);
	if (reason != NULL) {
		jwt_set_err(err, errlen, reason);
		return (-1);
	}
	return (0);
}

int
jwt_verify(const struct jwt_policy *pol, const char *token,
    struct jwt_claims *claims, char *err, size_t errlen)
{
	json_t		*hdr = NULL, *body = NULL;
	const char	*reason = "malformed token";
	size_t		 len, dot1 = 0, dot2 = 0;

	memset(claims, 0, sizeof *claims);
	if (jwt_policy_check(pol, NULL, 0) == -1) {
		reason = "server key unusable";
		goto fail;
	}
	if (token == NULL || *token == '\0') {
		reason = "missing token";
		goto fail;
	}
	if ((len = strnlen(token, JWT_TOKEN_MAX + 1)) > JWT_TOKEN_MAX) {
		reason = "token too long";
		goto fail;
	}
	if (jwt_split(token, len, &dot1, &dot2) == -1)
		goto fail;
	if ((hdr = jwt_part_json(token, dot1, "malformed header",
	    &reason)) == NULL)
		goto fail;
	if (jwt_check_header(hdr, pol->alg, &reason) == -1)
		goto fail;
	if ((body = jwt_part_json(token + dot1 + 1, dot2 - dot1 - 1,
	    "malformed claims", &reason)) == NULL)
		goto fail;
	if (jwt_check_signature(pol, token, len - dot2 - 1, &reason) == -1)
		goto fail;
	if (jwt_check_claims(pol, body, claims, &reason) == -1)
		goto fail;
	json_decref(hdr);
	json_decref(body);
	return (0);

fail:
	json_decref(hdr);
	json_decref(body);
	jwt_claims_free(claims);
	jwt_set_err(err, errlen, reason);
	return (-1);
}

void
jwt_claims_free(struct jwt_claims *claims)
{
	free(claims->sub);
	claims->sub = NULL;
	claims->exp = 0;
}

static int
jwt_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}

/*
 * A copy of at most JWT_TOKEN_MAX + 1 bytes: a longer token is cut there,
 * so that jwt_verify still says "token too long" without our holding an
 * unbounded copy.
 */
static char *
jwt_token_copy(const char *s, size_t len)
{
	if (len > JWT_TOKEN_MAX + 1)
		len = JWT_TOKEN_MAX + 1;
	return (xstrndup(s, len));
}

/*
 * The first "token" parameter of a query string, percent-decoded ("+" is
 * a space, as in forms). An empty value is no token. A bad escape or %00
 * keeps the raw value, which jwt_verify then refuses as malformed.
 */
static char *
jwt_token_from_query(const char *q)
{
	const char	*p, *end, *eq, *v;
	struct dbuf	 b;
	char		*out;
	size_t		 vlen, i;
	int		 hi, lo, raw = 0;

	for (p = q; *p != '\0'; p = *end == '\0' ? end : end + 1) {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		if ((eq != NULL ? eq : end) - p != 5 ||
		    strncmp(p, "token", 5) != 0)
			continue;
		if (eq == NULL || eq + 1 == end)
			return (NULL);
		v = eq + 1;
		vlen = (size_t)(end - v);
		dbuf_init(&b, JWT_TOKEN_MAX + 2);
		for (i = 0; i < vlen && !raw; i++) {
			if (v[i] == '+')
				raw = dbuf_addc(&b, ' ') == -1;
			else if (v[i] != '%')
				raw = dbuf_addc(&b, (unsigned char)v[i]) == -1;
			else if (i + 2 < vlen &&
			    (hi = jwt_hexval(v[i + 1])) != -1 &&
			    (lo = jwt_hexval(v[i + 2])) != -1 &&
			    (hi | lo) != 0) {
				raw = dbuf_addc(&b, hi << 4 | lo) == -1;
				i += 2;
			} else
				raw = 1;
		}
		if (raw || b.len == 0)
			out = jwt_token_copy(v, vlen);
		else
			out = jwt_token_copy(dbuf_str(&b), b.len);
		dbuf_free(&b);
		return (out);
	}
	return (NULL);
}

/* "Bearer <token>": the scheme in any case, spaces or tabs around. */
static char *
jwt_token_from_authorization(const char *h)
{
	const char	*p = h, *e;

	p += strspn(p, " \t");
	if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return (NULL);
	p += 6;
	p += strspn(p, " \t");
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == p)
		return (NULL);
	return (jwt_token_copy(p, (size_t)(e - p)));
}

/* The first non-empty "bearer.<token>" entry of Sec-WebSocket-Protocol. */
static char *
jwt_token_from_protocols(const char *h)
{
	const char	*p, *end, *s, *e;

	for (p = h; *p != '\0'; p = *end == '\0' ? end : end + 1) {
		end = p + strcspn(p, ",");
		s = p + strspn(p, " \t");
		if (s > end)
			s = end;
		e = end;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - s > 7 && strncasecmp(s, "bearer.", 7) == 0)
			return (jwt_token_copy(s + 7, (size_t)(e - s - 7)));
	}
	return (NULL);
}

char *
jwt_token_from_request(const char *query, const char *authorization,
    const char *protocols)
{
	char	*t = NULL;

	if (query != NULL)
		t = jwt_token_from_query(query);
	if (t == NULL && authorization != NULL)
		t = jwt_token_from_authorization(authorization);
	if (t == NULL && protocols != NULL)
		t = jwt_token_from_protocols(protocols);
	return (t);
}
