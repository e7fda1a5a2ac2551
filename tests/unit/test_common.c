/* test_common.c: the capped buffer (lib/dbuf.c) and lib/util.c helpers. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tap.h"

static void	test_dbuf(void);
static void	test_utf8_valid(void);
static void	test_utf8_prefix(void);
static void	test_json_escape(void);
static void	test_iso8601(void);

static void
test_dbuf(void)
{
	struct dbuf	 b;
	char		 big[1000];

	dbuf_init(&b, 8);
	is_str(dbuf_str(&b), "", "a new buffer reads as empty");
	is_int(dbuf_space(&b), 8, "space is the cap");
	ok(dbuf_add(&b, "abcde", 5) == 0 && b.len == 5, "append within cap");
	ok(dbuf_add(&b, "fghi", 4) == -1 && b.len == 5 &&
	    memcmp(b.data, "abcde", 5) == 0,
	    "append past the cap fails and leaves the buffer unchanged");
	ok(dbuf_add(&b, "fgh", 3) == 0 && b.len == 8, "fill to the cap");
	is_str(dbuf_str(&b), "abcdefgh", "NUL-terminated at the cap");
	ok(b.alloc <= b.cap + 1, "allocation never passes cap + 1");
	ok(dbuf_addc(&b, 'x') == -1 && dbuf_add(&b, "", 0) == 0,
	    "a full buffer takes nothing but nothing");
	dbuf_consume(&b, 3);
	is_str(dbuf_str(&b), "defgh", "consume from the front");
	dbuf_consume(&b, 100);
	ok(b.len == 0, "consume more than held empties");
	dbuf_reset(&b);
	ok(dbuf_printf(&b, "%d-%s", 42, "x") == 0 &&
	    strcmp(dbuf_str(&b), "42-x") == 0, "printf");
	ok(dbuf_printf(&b, "%s", "12345") == -1 && b.len == 4,
	    "printf past the cap fails whole");
	dbuf_free(&b);

	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	dbuf_init(&b, 4096);
	ok(dbuf_printf(&b, "<%s>", big) == 0 && b.len == sizeof big + 1 &&
	    b.data[0] == '<' && b.data[b.len - 1] == '>',
	    "printf longer than the stack buffer");
	ok(dbuf_adds(&b, "") == 0 && b.len == sizeof big + 1, "adds of \"\"");
	dbuf_free(&b);
	dbuf_free(&b);
	ok(b.data == NULL && b.len == 0, "free twice is harmless");

	dbuf_init(&b, 0);
	ok(dbuf_add(&b, "a", 1) == -1 && dbuf_add(&b, "", 0) == 0 &&
	    strcmp(dbuf_str(&b), "") == 0, "a buffer of cap 0");
	dbuf_free(&b);

	dbuf_init(&b, SIZE_MAX - 1);
	ok(dbuf_add(&b, "abc", 3) == 0 && dbuf_add(&b, "x", SIZE_MAX - 1) ==
	    -1, "a huge append to a huge cap fails without wrapping");
	dbuf_free(&b);
}

static void
test_utf8_valid(void)
{
	static const struct {
		const char	*desc;
		const char	*s;
		size_t		 len;
		int		 valid;
	} cases[] = {
		{ "empty", BIN(""), 1 },
		{ "ASCII", BIN("hello, world"), 1 },
		{ "NUL is valid", BIN("a\0b"), 1 },
		{ "2-byte", BIN("\xc3\xa9"), 1 },
		{ "3-byte", BIN("\xe4\xb8\xad"), 1 },
		{ "4-byte", BIN("\xf0\x9f\x98\x80"), 1 },
		{ "U+10FFFF", BIN("\xf4\x8f\xbf\xbf"), 1 },
		{ "U+FFFF", BIN("\xef\xbf\xbf"), 1 },
		{ "U+D7FF", BIN("\xed\x9f\xbf"), 1 },
		{ "U+E000", BIN("\xee\x80\x80"), 1 },
		{ "overlong 2-byte C0", BIN("\xc0\xaf"), 0 },
		{ "overlong 2-byte C1", BIN("\xc1\xbf"), 0 },
		{ "overlong 3-byte", BIN("\xe0\x80\xaf"), 0 },
		{ "overlong 4-byte", BIN("\xf0\x8f\xbf\xbf"), 0 },
		{ "surrogate U+D800", BIN("\xed\xa0\x80"), 0 },
		{ "surrogate U+DFFF", BIN("\xed\xbf\xbf"), 0 },
		{ "above U+10FFFF", BIN("\xf4\x90\x80\x80"), 0 },
		{ "F5 lead", BIN("\xf5\x80\x80\x80"), 0 },
		{ "FF", BIN("\xff"), 0 },
		{ "lone continuation", BIN("a\x80"), 0 },
		{ "2-byte cut short", BIN("\xc3"), 0 },
		{ "4-byte cut short", BIN("\xf0\x9f\x98"), 0 },
		{ "ASCII in a continuation slot", BIN("\xc3\x28"), 0 },
		{ "valid then invalid", BIN("\xc3\xa9\xc3"), 0 },
	};
	size_t	i;

	for (i = 0; i < nitems(cases); i++)
		is_int(utf8_valid(cases[i].s, cases[i].len), cases[i].valid,
		    "utf8_valid: %s", cases[i].desc);
}

static void
test_utf8_prefix(void)
{
	static const struct {
		const char	*desc;
		const char	*s;
		size_t		 len;
		size_t		 prefix;
	} cases[] = {
		{ "empty", BIN(""), 0 },
		{ "ASCII", BIN("abc"), 3 },
		{ "complete 2-byte", BIN("a\xc3\xa9"), 3 },
		{ "cut 2-byte", BIN("a\xc3"), 1 },
		{ "cut 3-byte after 1", BIN("a\xe4"), 1 },
		{ "cut 3-byte after 2", BIN("a\xe4\xb8"), 1 },
		{ "cut 4-byte after 3", BIN("ab\xf0\x9f\x98"), 2 },
		{ "complete 4-byte", BIN("ab\xf0\x9f\x98\x80"), 6 },
		{ "invalid tail is not held back", BIN("a\xff"), 2 },
	};
	size_t	i;

	for (i = 0; i < nitems(cases); i++)
		is_int(utf8_complete_prefix(cases[i].s, cases[i].len),
		    cases[i].prefix, "utf8_complete_prefix: %s", cases[i].desc);
}

static void
test_json_escape(void)
{
	struct dbuf	b;

	dbuf_init(&b, 256);
	ok(json_escape(&b, BIN("a\"b\\c\n\r\t\b\f\x01\x1f\0z/\xc3\xa9")) ==
	    0, "json_escape");
	is_str(dbuf_str(&b),
	    "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u0000z/\xc3\xa9",
	    "json_escape output");
	dbuf_free(&b);
	dbuf_init(&b, 3);
	ok(json_escape(&b, "\"\"", 2) == -1, "json_escape past the cap");
	dbuf_free(&b);
}

static void
test_iso8601(void)
{
	char	buf[32], small[8];

	is_str(iso8601_utc(1767323045678000LL, buf, sizeof buf),
	    "2026-01-02T03:04:05.678Z", "iso8601_utc");
	is_str(iso8601_utc(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z",
	    "iso8601_utc of 0");
	is_str(iso8601_utc(0, small, sizeof small), "",
	    "iso8601_utc into a short buffer gives \"\"");
	ok(mono_usec() > 0 && wall_usec() > 1700000000LL * 1000000,
	    "clocks run");
}

int
main(void)
{
	test_dbuf();
	test_utf8_valid();
	test_utf8_prefix();
	test_json_escape();
	test_iso8601();
	return (tap_done());
}
