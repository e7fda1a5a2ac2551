/* test_route.c: the JSON route-key scanner and route selection. */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"
#include "tap.h"

struct extract_case {
	const char	*desc;
	const char	*path;		/* dotted */
	const char	*msg;
	size_t		 len;		/* 0: strlen(msg) */
	int		 found;
	const char	*key;		/* the expected bytes when found */
	size_t		 keylen;	/* 0: strlen(key) */
};

static size_t	split_path(const char *, char **, size_t);
static void	test_extract(void);
static void	test_nesting(void);
static void	test_outsz(void);
static void	test_select(void);
static void	test_select_many(void);

static const struct extract_case cases[] = {
	{ "plain key", "type", "{\"type\":\"chat\"}", 0, 1, "chat", 0 },
	{ "whitespace everywhere", "type",
	    " \t\r\n{ \"a\" : 1 , \"type\" :\n\"chat\" } \n", 0, 1, "chat", 0 },
	{ "other fields first", "action",
	    "{\"x\":[1,2,{\"action\":\"no\"}],\"y\":{\"action\":\"no\"},"
	    "\"action\":\"sendmessage\"}", 0, 1, "sendmessage", 0 },
	{ "empty string value", "type", "{\"type\":\"\"}", 0, 1, "", 0 },
	{ "nested path", "a.b", "{\"a\":{\"b\":\"x\"}}", 0, 1, "x", 0 },
	{ "deeper path", "a.b.c", "{\"a\":{\"z\":1,\"b\":{\"c\":\"deep\"}}}",
	    0, 1, "deep", 0 },
	{ "nested path, missing leaf", "a.b", "{\"a\":{\"c\":\"x\"}}", 0, 0,
	    NULL, 0 },
	{ "nested path through a string", "a.b", "{\"a\":\"b\"}", 0, 0, NULL,
	    0 },
	{ "nested path through an array", "a.b", "{\"a\":[{\"b\":\"x\"}]}", 0,
	    0, NULL, 0 },
	{ "key only in a nested object", "type",
	    "{\"x\":{\"type\":\"chat\"}}", 0, 0, NULL, 0 },
	{ "missing key", "type", "{\"kind\":\"chat\"}", 0, 0, NULL, 0 },
	{ "empty object", "type", "{}", 0, 0, NULL, 0 },
	{ "escaped key", "type", "{\"ty\\u0070e\":\"chat\"}", 0, 1, "chat",
	    0 },
	{ "key with an escaped quote", "a\"b", "{\"a\\\"b\":\"q\"}", 0, 1,
	    "q", 0 },
	{ "key prefix does not match", "type",
	    "{\"typ\":\"a\",\"types\":\"b\"}", 0, 0, NULL, 0 },
	{ "escaped value", "type",
	    "{\"type\":\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\"}", 0, 1,
	    "a\"b\\c/d\n\t\r\b\f", 0 },
	{ "\\u escape to UTF-8", "type", "{\"type\":\"caf\\u00e9\\u4e2d\"}",
	    0, 1, "caf\xc3\xa9\xe4\xb8\xad", 0 },
	{ "surrogate pair to UTF-8", "type",
	    "{\"type\":\"\\ud83d\\ude00\"}", 0, 1, "\xf0\x9f\x98\x80", 0 },
	{ "raw UTF-8 value", "type", "{\"type\":\"\xf0\x9f\x98\x80\"}", 0, 1,
	    "\xf0\x9f\x98\x80", 0 },
	{ "\\u0000 in the value", "type", "{\"type\":\"a\\u0000b\"}", 0, 1,
	    BIN("a\0b") },
	{ "lone high surrogate", "type", "{\"type\":\"\\ud83d\"}", 0, 0, NULL,
	    0 },
	{ "high surrogate then a letter", "type",
	    "{\"type\":\"\\ud83dx\"}", 0, 0, NULL, 0 },
	{ "high surrogate then a non-low", "type",
	    "{\"type\":\"\\ud83d\\u0041\"}", 0, 0, NULL, 0 },
	{ "lone low surrogate", "type", "{\"type\":\"\\ude00\"}", 0, 0, NULL,
	    0 },
	{ "bad \\u digits", "type", "{\"type\":\"\\u12g4\"}", 0, 0, NULL, 0 },
	{ "short \\u", "type", "{\"type\":\"\\u12\"}", 0, 0, NULL, 0 },
	{ "bad escape", "type", "{\"type\":\"\\x41\"}", 0, 0, NULL, 0 },
	{ "control character in a string", "type", "{\"type\":\"a\tb\"}", 0,
	    0, NULL, 0 },
	{ "invalid UTF-8", "type", "{\"type\":\"\xc3\x28\"}", 0, 0, NULL, 0 },
	{ "number value", "type", "{\"type\":5}", 0, 0, NULL, 0 },
	{ "true value", "type", "{\"type\":true}", 0, 0, NULL, 0 },
	{ "null value", "type", "{\"type\":null}", 0, 0, NULL, 0 },
	{ "object value", "type", "{\"type\":{}}", 0, 0, NULL, 0 },
	{ "array value", "type", "{\"type\":[\"chat\"]}", 0, 0, NULL, 0 },
	{ "duplicate keys: first wins", "type",
	    "{\"type\":\"a\",\"type\":\"b\"}", 0, 1, "a", 0 },
	{ "duplicate keys: first is not a string", "type",
	    "{\"type\":1,\"type\":\"b\"}", 0, 0, NULL, 0 },
	{ "duplicate nested keys: first wins", "a.b",
	    "{\"a\":{\"c\":1},\"a\":{\"b\":\"x\"}}", 0, 0, NULL, 0 },
	{ "all value kinds", "k",
	    "{\"n\":[0,-0,1.5,-2e10,3E+2,4e-3,123456789012345678901234567890],"
	    "\"t\":true,\"f\":false,\"z\":null,\"o\":{\"p\":[[],{}]},"
	    "\"k\":\"v\"}", 0, 1, "v", 0 },
	{ "not JSON", "type", "hello", 0, 0, NULL, 0 },
	{ "empty message", "type", "", 0, 0, NULL, 0 },
	{ "only whitespace", "type", "  \n", 0, 0, NULL, 0 },
	{ "top-level array", "type", "[{\"type\":\"chat\"}]", 0, 0, NULL, 0 },
	{ "top-level string", "type", "\"chat\"", 0, 0, NULL, 0 },
	{ "unclosed object", "type", "{\"type\":\"chat\"", 0, 0, NULL, 0 },
	{ "unclosed string", "type", "{\"type\":\"chat}", 0, 0, NULL, 0 },
	{ "unquoted value", "type", "{\"type\":chat}", 0, 0, NULL, 0 },
	{ "single quotes", "type", "{'type':'chat'}", 0, 0, NULL, 0 },
	{ "trailing comma", "type", "{\"type\":\"chat\",}", 0, 0, NULL, 0 },
	{ "missing colon", "type", "{\"type\" \"chat\"}", 0, 0, NULL, 0 },
	{ "missing comma", "type", "{\"a\":1 \"type\":\"chat\"}", 0, 0, NULL,
	    0 },
	{ "trailing garbage", "type", "{\"type\":\"chat\"}x", 0, 0, NULL, 0 },
	{ "two values", "type", "{\"type\":\"chat\"} {}", 0, 0, NULL, 0 },
	{ "NUL after the object", "type", BIN("{\"type\":\"chat\"}\0"), 0,
	    NULL, 0 },
	{ "invalid value later", "type", "{\"type\":\"chat\",\"x\":tru}", 0,
	    0, NULL, 0 },
	{ "number with leading zero", "type", "{\"type\":\"a\",\"x\":01}", 0,
	    0, NULL, 0 },
	{ "number with bare dot", "type", "{\"type\":\"a\",\"x\":1.}", 0, 0,
	    NULL, 0 },
	{ "number starting with a dot", "type", "{\"type\":\"a\",\"x\":.5}", 0,
	    0, NULL, 0 },
	{ "lone minus", "type", "{\"type\":\"a\",\"x\":-}", 0, 0, NULL, 0 },
	{ "exponent without digits", "type", "{\"type\":\"a\",\"x\":1e}", 0,
	    0, NULL, 0 },
	{ "plus sign", "type", "{\"type\":\"a\",\"x\":+1}", 0, 0, NULL, 0 },
	{ "NaN", "type", "{\"type\":\"a\",\"x\":NaN}", 0, 0, NULL, 0 },
	{ "unclosed array", "type", "{\"type\":\"a\",\"x\":[1,2}", 0, 0, NULL,
	    0 },
	{ "array trailing comma", "type", "{\"type\":\"a\",\"x\":[1,]}", 0, 0,
	    NULL, 0 },
	{ "non-string key", "type", "{1:\"a\",\"type\":\"b\"}", 0, 0, NULL,
	    0 },
	{ "vertical tab is not whitespace", "type",
	    "{\"type\":\"chat\"}\v", 0, 0, NULL, 0 },
};

/* Split a dotted path in place into segs; returns how many. */
static size_t
split_path(const char *path, char **segs, size_t max)
{
	char	*copy = xstrdup(path), *p = copy, *dot;
	size_t	 n = 0;

	while (n < max) {
		dot = strchr(p, '.');
		segs[n++] = dot ? xstrndup(p, dot - p) : xstrdup(p);
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	free(copy);
	return (n);
}

static void
test_extract(void)
{
	const struct extract_case	*c;
	char				*segs[8], out[ROUTE_KEY_MAX + 1];
	size_t				 i, j, nseg, len, outlen, keylen;
	int				 found, good;

	for (i = 0; i < nitems(cases); i++) {
		c = &cases[i];
		nseg = split_path(c->path, segs, nitems(segs));
		len = c->len ? c->len : strlen(c->msg);
		outlen = 999;
		memset(out, 'Z', sizeof out);
		found = route_extract(segs, nseg, c->msg, len, out,
		    sizeof out, &outlen);
		if (c->found) {
			keylen = c->keylen ? c->keylen : strlen(c->key);
			good = found == 1 && outlen == keylen &&
			    memcmp(out, c->key, keylen) == 0 &&
			    out[keylen] == '\0';
		} else
			good = found == 0 && out[0] == '\0';
		if (!ok(good, "%s", c->desc))
			tap_diag("  found %d, outlen %zu, out \"%.*s\"", found,
			    outlen, (int)(outlen < sizeof out ? outlen : 0),
			    out);
		for (j = 0; j < nseg; j++)
			free(segs[j]);
	}
}

/* Nesting is capped at 64 levels of objects and arrays together. */
static void
test_nesting(void)
{
	static const struct {
		size_t	depth;		/* levels including the top object */
		int	array;		/* nest arrays, not objects */
		int	found;
	} depths[] = {
		{ 63, 1, 1 }, { 64, 1, 1 }, { 65, 1, 0 }, { 1000, 1, 0 },
		{ 64, 0, 1 }, { 65, 0, 0 },
	};
	struct dbuf	 m;
	char		*type = xstrdup("type"), *segs[1] = { type };
	char		 out[16];
	size_t		 i, j, outlen;

	for (i = 0; i < nitems(depths); i++) {
		dbuf_init(&m, 1 << 16);
		dbuf_adds(&m, "{\"type\":\"deep\",\"x\":");
		for (j = 1; j < depths[i].depth; j++)
			dbuf_adds(&m, depths[i].array ? "[" : "{\"k\":");
		dbuf_adds(&m, "1");
		for (j = 1; j < depths[i].depth; j++)
			dbuf_adds(&m, depths[i].array ? "]" : "}");
		dbuf_adds(&m, "}");
		is_int(route_extract(segs, 1, m.data, m.len, out, sizeof out,
		    &outlen), depths[i].found, "nesting of %zu levels (%s) %s",
		    depths[i].depth, depths[i].array ? "arrays" : "objects",
		    depths[i].found ? "is fine" : "is refused");
		dbuf_free(&m);
	}

	/* The path itself may lead 64 levels down, but not 65. */
	for (i = 63; i <= 65; i++) {
		char	*psegs[70];

		dbuf_init(&m, 1 << 16);
		for (j = 0; j < i; j++) {
			psegs[j] = type;
			dbuf_adds(&m, "{\"type\":");
		}
		dbuf_adds(&m, "\"v\"");
		for (j = 0; j < i; j++)
			dbuf_adds(&m, "}");
		is_int(route_extract(psegs, i, m.data, m.len, out, sizeof out,
		    &outlen), i <= 64, "path %zu levels deep", i);
		dbuf_free(&m);
	}
	free(type);
}

static void
test_outsz(void)
{
	char	*segs[1] = { (char *)(uintptr_t)"type" };
	char	 out[8];
	size_t	 outlen = 0;

	ok(route_extract(segs, 1, BIN("{\"type\":\"1234567\"}"), out, 8,
	    &outlen) == 1 && outlen == 7 && strcmp(out, "1234567") == 0,
	    "a key of outsz - 1 bytes fits");
	ok(route_extract(segs, 1, BIN("{\"type\":\"12345678\"}"), out, 8,
	    &outlen) == 0 && out[0] == '\0', "a key of outsz bytes does not");
	ok(route_extract(segs, 1,
	    BIN("{\"type\":\"\\u00e9\\u00e9\\u00e9\\u00e9\"}"), out, 8,
	    &outlen) == 0, "escapes growing past outsz do not fit either");
	ok(route_extract(segs, 1, BIN("{\"type\":\"a\"}"), out, 0, &outlen) ==
	    0, "outsz 0 finds nothing");
	ok(route_extract(segs, 0, BIN("{\"type\":\"a\"}"), out, 8, &outlen) ==
	    0, "an empty path finds nothing");
	ok(route_extract(segs, 1, BIN("{\"type\":\"a\"}"), out, 8, NULL) == 1,
	    "outlen may be NULL");
}

static void
test_select(void)
{
	struct pool	 chat = { .name = (char *)(uintptr_t)"chat" };
	struct pool	 join = { .name = (char *)(uintptr_t)"join" };
	struct pool	 dflt = { .name = (char *)(uintptr_t)"dflt" };
	struct route	 routes[] = {
		{ (char *)(uintptr_t)"chat", &chat },
		{ (char *)(uintptr_t)"join", &join },
		{ (char *)(uintptr_t)"leave", &join },
	};
	char		*sel[] = { (char *)(uintptr_t)"action" };
	char		*nested[] = { (char *)(uintptr_t)"m",
			    (char *)(uintptr_t)"t" };
	struct endpoint	 ep;
	static const struct {
		const char	*desc;
		int		 nested;
		int		 binary;
		int		 nodefault;
		const char	*msg;
		size_t		 len;
		const char	*pool;	/* NULL: none */
		const char	*key;
	} sel_cases[] = {
		{ "known key", 0, 0, 0, "{\"action\":\"join\"}", 0, "join",
		    "join" },
		{ "another known key", 0, 0, 0, "{\"action\":\"leave\"}", 0,
		    "join", "leave" },
		{ "first key", 0, 0, 0, "{\"action\":\"chat\"}", 0, "chat",
		    "chat" },
		{ "unknown key", 0, 0, 0, "{\"action\":\"nope\"}", 0, "dflt",
		    "$default" },
		{ "special keys are not routes", 0, 0, 0,
		    "{\"action\":\"$connect\"}", 0, "dflt", "$default" },
		{ "missing key", 0, 0, 0, "{\"type\":\"chat\"}", 0, "dflt",
		    "$default" },
		{ "not JSON", 0, 0, 0, "chat", 0, "dflt", "$default" },
		{ "binary, even when it looks like JSON", 0, 1, 0,
		    "{\"action\":\"chat\"}", 0, "dflt", "$default" },
		{ "key with a NUL", 0, 0, 0, "{\"action\":\"chat\\u0000x\"}",
		    0, "dflt", "$default" },
		{ "key longer than ROUTE_KEY_MAX", 0, 0, 0,
		    "{\"action\":\"chat"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxx\"}", 0, "dflt", "$default" },
		{ "nested selection", 1, 0, 0, "{\"m\":{\"t\":\"chat\"}}", 0,
		    "chat", "chat" },
		{ "no default: unknown key", 0, 0, 1, "{\"action\":\"nope\"}",
		    0, NULL, "$default" },
		{ "no default: binary", 0, 1, 1, "x", 0, NULL, "$default" },
		{ "no default: known key still works", 0, 0, 1,
		    "{\"action\":\"chat\"}", 0, "chat", "chat" },
	};
	struct pool	*got;
	char		 key[ROUTE_KEY_MAX + 1];
	size_t		 i, len;

	for (i = 0; i < nitems(sel_cases); i++) {
		memset(&ep, 0, sizeof ep);
		ep.path = (char *)(uintptr_t)"/ws";
		ep.selection = sel_cases[i].nested ? nested : sel;
		ep.nselection = sel_cases[i].nested ? 2 : 1;
		ep.routes = routes;
		ep.nroutes = nitems(routes);
		ep.on_default = sel_cases[i].nodefault ? NULL : &dflt;
		len = sel_cases[i].len ? sel_cases[i].len :
		    strlen(sel_cases[i].msg);
		strcpy(key, "junk");
		got = route_select(&ep, sel_cases[i].msg, len,
		    sel_cases[i].binary, key, sizeof key);
		ok((sel_cases[i].pool == NULL ? got == NULL : got != NULL &&
		    strcmp(got->name, sel_cases[i].pool) == 0) &&
		    strcmp(key, sel_cases[i].key) == 0,
		    "select: %s -> %s (%s)", sel_cases[i].desc,
		    sel_cases[i].pool ? sel_cases[i].pool : "none",
		    sel_cases[i].key);
	}
}

/* bsearch over many sorted keys finds each one. */
static void
test_select_many(void)
{
	struct pool	*pools, dflt = { .name = (char *)(uintptr_t)"dflt" };
	struct route	*routes;
	struct endpoint	 ep;
	char		*sel[] = { (char *)(uintptr_t)"type" };
	char		 msg[64], key[ROUTE_KEY_MAX + 1];
	size_t		 i, n = 500, bad = 0;

	pools = xcalloc(n, sizeof *pools);
	routes = xcalloc(n, sizeof *routes);
	for (i = 0; i < n; i++) {
		xasprintf(&routes[i].key, "k%05zu", i * 2);
		routes[i].pool = &pools[i];
	}
	memset(&ep, 0, sizeof ep);
	ep.selection = sel;
	ep.nselection = 1;
	ep.routes = routes;
	ep.nroutes = n;
	ep.on_default = &dflt;
	for (i = 0; i < 2 * n; i++) {
		snprintf(msg, sizeof msg, "{\"type\":\"k%05zu\"}", i);
		if (route_select(&ep, msg, strlen(msg), 0, key, sizeof key) !=
		    (i % 2 == 0 ? &pools[i / 2] : &dflt))
			bad++;
	}
	is_int(bad, 0, "500 routes: every key and every miss selected right");
	for (i = 0; i < n; i++)
		free(routes[i].key);
	free(routes);
	free(pools);
}

int
main(void)
{
	test_extract();
	test_nesting();
	test_outsz();
	test_select();
	test_select_many();
	return (tap_done());
}
