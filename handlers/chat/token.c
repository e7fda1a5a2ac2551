/* token.c: wsrouter-chat-token, which mints a JWT for development and tests. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <jwt.h>

#include "common.h"
#include "chat.h"

#define TOKEN_PROGNAME		"wsrouter-chat-token"
#define TOKEN_KEY_MAX		65536	/* bytes of a key file */
#define TOKEN_TTL_DEFAULT	3600
#define TOKEN_TTL_MAX		(10L * 366 * 86400)
#define TOKEN_SUB_DEFAULT	"dev-user"
#define TOKEN_CLAIMS_MAX	64

#define TOKEN_EXIT_ERROR	1
#define TOKEN_EXIT_USAGE	2

static __dead void usage(int);
static __dead void token_fatal(const char *, ...) printflike(1, 2);
static int	 token_read_key(const char *, unsigned char **, size_t *);
static void	 token_check_key(enum jwt_alg_pin, const unsigned char *,
		    size_t);
static void	 token_add_claim(json_t *, const char *);

static __dead void
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-a HS256 | RS256] [-k keyfile] [-s subject] "
	    "[-t ttl]\n"
	    "       [-i issuer] [-A audience] [-c name=value ...]\n",
	    TOKEN_PROGNAME);
	exit(status);
}

static __dead void
token_fatal(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", TOKEN_PROGNAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(TOKEN_EXIT_ERROR);
}

/* The whole key file, byte for byte, as the handler reads it. */
static int
token_read_key(const char *path, unsigned char **key, size_t *len)
{
	switch (file_read(path, TOKEN_KEY_MAX, key, len)) {
	case FILE_READ_OK:
		return (0);
	case FILE_READ_OPEN:
		token_fatal("%s: %s", path, strerror(errno));
	case FILE_READ_BIG:
		token_fatal("%s: longer than %d bytes", path, TOKEN_KEY_MAX);
	default:
		token_fatal("%s: read error", path);
	}
}

/*
 * HS256 keys pass the handler's own check, so that a token minted here
 * is one the handler could accept. RS256 signs with the private key, the
 * one thing the handler refuses to hold.
 */
static void
token_check_key(enum jwt_alg_pin alg, const unsigned char *key, size_t len)
{
	struct jwt_policy	 pol;
	char			 err[256];

	if (alg == JWT_PIN_RS256) {
		if (memmem(key, len, "PRIVATE KEY-----", 16) == NULL)
			token_fatal("RS256 signs with a private key PEM "
			    "(the handler holds the public one): use -k");
		if (memmem(key, len, "ENCRYPTED PRIVATE KEY", 21) != NULL)
			token_fatal("the private key is encrypted: decrypt "
			    "it first (openssl pkey)");
		return;
	}
	memset(&pol, 0, sizeof pol);
	pol.alg = alg;
	pol.key = key;
	pol.key_len = len;
	if (jwt_policy_check(&pol, err, sizeof err) == -1)
		token_fatal("key refused: %s", err);
}

/* name=value: value is taken as JSON when it parses, else as a string. */
static void
token_add_claim(json_t *claims, const char *arg)
{
	const char	*eq;
	char		*name;
	json_t		*v;

	if ((eq = strchr(arg, '=')) == NULL || eq == arg) {
		fprintf(stderr, "%s: -c %s: expected name=value\n",
		    TOKEN_PROGNAME, arg);
		usage(TOKEN_EXIT_USAGE);
	}
	name = xstrndup(arg, (size_t)(eq - arg));
	v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    NULL);
	if (v == NULL)
		v = json_string(eq + 1);
	if (v == NULL)
		token_fatal("-c %s: the value is not valid UTF-8", name);
	json_object_set_new(claims, name, v);
	free(name);
}

int
main(int argc, char **argv)
{
	enum jwt_alg_pin	 alg = JWT_PIN_HS256;
	const char		*keyfile = NULL, *sub = TOKEN_SUB_DEFAULT;
	const char		*iss, *aud, *v, *extra[TOKEN_CLAIMS_MAX];
	unsigned char		*key;
	size_t			 keylen, nextra = 0, i;
	long			 ttl = TOKEN_TTL_DEFAULT;
	char			*end, *json, *out;
	json_t			*claims;
	jwt_t			*jwt;
	time_t			 now;
	int			 ch;

	if ((v = getenv("CHAT_JWT_ALG")) != NULL && *v != '\0') {
		if (strcmp(v, "RS256") == 0)
			alg = JWT_PIN_RS256;
		else if (strcmp(v, "HS256") != 0)
			token_fatal("CHAT_JWT_ALG: \"%s\" is not HS256 or "
			    "RS256", v);
	}
	iss = getenv("CHAT_JWT_ISSUER");
	aud = getenv("CHAT_JWT_AUDIENCE");

	while ((ch = getopt(argc, argv, "A:a:c:hi:k:s:t:")) != -1) {
		switch (ch) {
		case 'A':
			aud = optarg;
			break;
		case 'a':
			if (strcmp(optarg, "HS256") == 0)
				alg = JWT_PIN_HS256;
			else if (strcmp(optarg, "RS256") == 0)
				alg = JWT_PIN_RS256;
			else {
				fprintf(stderr, "%s: -a %s: HS256 or RS256\n",
				    TOKEN_PROGNAME, optarg);
				usage(TOKEN_EXIT_USAGE);
			}
			break;
		case 'c':
			if (nextra == nitems(extra))
				token_fatal("more than %d -c claims",
				    TOKEN_CLAIMS_MAX);
			extra[nextra++] = optarg;
			break;
		case 'h':
			usage(0);
		case 'i':
			iss = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 's':
			sub = optarg;
			break;
		case 't':
			errno = 0;
			ttl = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ttl < -TOKEN_TTL_MAX || ttl > TOKEN_TTL_MAX) {
				fprintf(stderr, "%s: -t %s: seconds, at most "
				    "%ld either way\n", TOKEN_PROGNAME, optarg,
				    TOKEN_TTL_MAX);
				usage(TOKEN_EXIT_USAGE);
			}
			break;
		default:
			usage(TOKEN_EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(TOKEN_EXIT_USAGE);

	/* The handler's order: CHAT_JWT_KEY_FILE, then CHAT_JWT_SECRET. */
	if (keyfile == NULL)
		keyfile = getenv("CHAT_JWT_KEY_FILE");
	if (keyfile != NULL && *keyfile != '\0')
		token_read_key(keyfile, &key, &keylen);
	else if (alg == JWT_PIN_HS256 && (v = getenv("CHAT_JWT_SECRET")) !=
	    NULL && *v != '\0') {
		key = (unsigned char *)xstrdup(v);
		keylen = strlen(v);
	} else
		token_fatal("no key: give -k, or set CHAT_JWT_KEY_FILE%s",
		    alg == JWT_PIN_HS256 ? " or CHAT_JWT_SECRET" : "");
	if (keylen > INT_MAX)
		token_fatal("the key is too large");
	token_check_key(alg, key, keylen);

	now = time(NULL);
	claims = json_object();
	if (json_object_set_new(claims, "sub", json_string(sub)) == -1)
		token_fatal("-s: the subject is not valid UTF-8");
	json_object_set_new(claims, "iat", json_integer((json_int_t)now));
	json_object_set_new(claims, "exp",
	    json_integer((json_int_t)now + ttl));
	if (iss != NULL && *iss != '\0' &&
	    json_object_set_new(claims, "iss", json_string(iss)) == -1)
		token_fatal("the issuer is not valid UTF-8");
	if (aud != NULL && *aud != '\0' &&
	    json_object_set_new(claims, "aud", json_string(aud)) == -1)
		token_fatal("the audience is not valid UTF-8");
	for (i = 0; i < nextra; i++)
		token_add_claim(claims, extra[i]);
	if ((json = json_dumps(claims, JSON_COMPACT)) == NULL)
		token_fatal("cannot encode the claims");
	json_decref(claims);

	if (jwt_new(&jwt) != 0)
		token_fatal("out of memory");
	if (jwt_add_grants_json(jwt, json) != 0)
		token_fatal("cannot add the claims");
	free(json);
	if (jwt_set_alg(jwt, alg == JWT_PIN_RS256 ? JWT_ALG_RS256 :
	    JWT_ALG_HS256, key, (int)keylen) != 0)
		token_fatal("the key is not usable");
	explicit_bzero(key, keylen);
	free(key);
	if ((out = jwt_encode_str(jwt)) == NULL)
		token_fatal("cannot sign the token%s", alg == JWT_PIN_RS256 ?
		    ": is the key an RSA private key PEM?" : "");
	jwt_free(jwt);
	if (printf("%s\n", out) < 0 || fflush(stdout) != 0)
		token_fatal("stdout: %s", strerror(errno));
	free(out);
	return (0);
}
