/* test_safety.c: the safety classifier, its lexicon and labeled phrases. */
/*
 * Reads the shipped lexicon (handlers/chat/safety-lexicon.txt) and the
 * labeled set (tests/unit/safety-phrases.tsv) under $top_srcdir, which the
 * test driver exports (../.. when run by hand from the build's tests/).
 * One TAP line per labeled phrase; lines marked "todo:" are TAP TODOs.
 * The accuracy figures are printed as diagnostics at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "chat.h"
#include "tap.h"

#define PHRASES_MIN	150
#define TEXT_MAX	4096

struct load_case {
	const char	*desc;
	const char	*text;
	const char	*want;		/* the "t.txt:N: " prefix */
	const char	*says;		/* a part of the rest */
};

struct verdict_case {
	const char	*desc;
	const char	*text;
	size_t		 len;		/* 0: strlen(text) */
	enum risk	 level;
	const char	*category;
	const char	*phrase;
	const char	*intent;
};

static char	*slurp(const char *, size_t *);
static size_t	 unescape(const char *, size_t, char *, size_t);
static int	 level_parse(const char *, size_t, enum risk *);
static void	 test_phrases(const struct safety_lexicon *, const char *);
static void	 test_verdicts(const struct safety_lexicon *);
static void	 test_small_lexicon(void);
static void	 test_load_errors(void);
static void	 test_load_limits(void);
static void	 test_load_file(void);
static void	 test_speed(const struct safety_lexicon *);
static void	 test_names(void);

static const struct load_case load_cases[] = {
	{ "unknown section", "[category a high]\nx\n[phrases]\n",
	    "t.txt:3: ", "unknown section \"phrases\"" },
	{ "unknown level", "# c\n[category a severe]\nx\n",
	    "t.txt:2: ", "unknown level \"severe\"" },
	{ "level none is not a category level", "[category a none]\nx\n",
	    "t.txt:1: ", "unknown level \"none\"" },
	{ "header without its bracket", "[category a high\nx\n",
	    "t.txt:1: ", "ends with ']'" },
	{ "header missing the level", "[category a]\nx\n",
	    "t.txt:1: ", "[category NAME LEVEL [INTENT]]" },
	{ "header with too many fields", "[category a high b c]\nx\n",
	    "t.txt:1: ", "[category NAME LEVEL [INTENT]]" },
	{ "empty header", "[   ]\n", "t.txt:1: ", "empty section header" },
	{ "negators take no fields", "[negators x]\n", "t.txt:1: ",
	    "takes no fields" },
	{ "bad category name", "[category Self-Harm high]\nx\n",
	    "t.txt:1: ", "use a-z, 0-9 and _" },
	{ "bad intent", "[category a high Crisis!]\nx\n", "t.txt:1: ",
	    "intent" },
	{ "repeated category", "[category a high]\nx\n[category a low]\ny\n",
	    "t.txt:3: ", "already at line 1" },
	{ "phrase before any section", "\n\nkill myself\n", "t.txt:3: ",
	    "before any section" },
	{ "category without phrases", "[category a high]\n# none\n"
	    "[category b low]\nx\n", "t.txt:1: ", "has no phrases" },
	{ "last category without phrases", "[category a high]\nx\n"
	    "[category b low]\n", "t.txt:3: ", "has no phrases" },
	{ "repeated phrase", "[category a high]\nKill Myself\n"
	    "[category b low]\nkill   myself!\n", "t.txt:4: ",
	    "repeats line 2" },
	{ "phrase of punctuation only", "[category a high]\n...\n",
	    "t.txt:2: ", "no words" },
	{ "star inside a word", "[category a high]\nkill*ed\n", "t.txt:2: ",
	    "must end a word" },
	{ "star alone", "[category a high]\nkill *\n", "t.txt:2: ",
	    "must end a word" },
	{ "star on a short prefix", "[category a high]\nab* me\n",
	    "t.txt:2: ", "3 to 63 bytes" },
	{ "two stars", "[category a high]\nkill** me\n", "t.txt:2: ",
	    "must end a word" },
	{ "star in a negator", "[category a high]\nx\n[negators]\nno*t\n",
	    "t.txt:4: ", "negator" },
	{ "star in a filler", "[category a high]\nx\n[fillers]\ngoing*\n",
	    "t.txt:4: ", "no '*' allowed" },
	{ "repeated filler", "[category a high]\nx\n[fillers]\nto going\n"
	    "\nto\n", "t.txt:6: ", "repeats line 4" },
	{ "repeated negator", "[category a high]\nx\n[negators]\nnot\n"
	    "Not\n", "t.txt:5: ", "repeats line 4" },
	{ "thirteen words", "[category a high]\n"
	    "a b c d e f g h i j k l m\n", "t.txt:2: ", "more than 12 words" },
	{ "invalid UTF-8", "[category a high]\nkill \xff myself\n",
	    "t.txt:2: ", "invalid UTF-8" },
	{ "no categories", "# only comments\n[negators]\nnot\n", "t.txt: ",
	    "no categories" },
	{ "empty file", "", "t.txt: ", "no categories" },
};

static const struct verdict_case verdict_cases[] = {
	{ "the verdict names the phrase as written", "I want to KILL myself",
	    0, RISK_HIGH, "suicide", "kill* myself", "crisis_support" },
	{ "none gives the chat intent", "what a lovely day", 0, RISK_NONE, "",
	    "", "chat" },
	{ "medium gives support", "I can't take it anymore", 0, RISK_MEDIUM,
	    "hopelessness", "cant take it anymore", "support" },
	{ "low gives validate", "so stressed", 0, RISK_LOW, "distress",
	    "stress*", "validate" },
	{ "the highest level wins over an earlier lower one",
	    "I'm so stressed and I want to die", 0, RISK_HIGH, "suicide",
	    "want to die", "crisis_support" },
	{ "the earlier category wins a tie", "I want to die, I took too many "
	    "pills", 0, RISK_HIGH, "crisis", "took too many pills",
	    "crisis_support" },
	{ "a negated high match leaves the lower one", "I won't kill myself "
	    "but I feel hopeless", 0, RISK_MEDIUM, "hopelessness",
	    "hopeless", "support" },
	{ "a NUL byte separates words", "want to\0die", 11, RISK_HIGH,
	    "suicide", "want to die", "crisis_support" },
	{ "NUL inside a word splits it", "wa\0nt to die", 12, RISK_NONE, "",
	    "", "chat" },
	{ "only the given length is read", "I want to die", 9, RISK_NONE, "",
	    "", "chat" },
};

/* Read a whole file, NUL-terminated. */
static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0, alloc = 0, n;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	for (;;) {
		if (alloc - len < 4096) {
			alloc = alloc == 0 ? 65536 : alloc * 2;
			buf = xrealloc(buf, alloc);
		}
		n = fread(buf + len, 1, alloc - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/* Undo \\ \t \n \r \xHH; returns the length written to out. */
static size_t
unescape(const char *s, size_t len, char *out, size_t outlen)
{
	size_t		 i, o = 0;
	unsigned	 v;
	char		 hex[3];

	for (i = 0; i < len && o < outlen; i++) {
		if (s[i] != '\\' || i + 1 == len) {
			out[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case 't':
			out[o++] = '\t';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 'x':
			if (i + 2 >= len)
				return (o);
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			v = (unsigned)strtoul(hex, NULL, 16);
			out[o++] = (char)v;
			i += 2;
			break;
		default:
			out[o++] = s[i];
			break;
		}
	}
	return (o);
}

static int
level_parse(const char *s, size_t len, enum risk *r)
{
	enum risk	l;

	for (l = RISK_NONE; l <= RISK_HIGH; l++) {
		if (strlen(risk_name(l)) == len &&
		    memcmp(risk_name(l), s, len) == 0) {
			*r = l;
			return (0);
		}
	}
	return (-1);
}

/* Each labeled line, then the accuracy figures. */
static void
test_phrases(const struct safety_lexicon *lx, const char *path)
{
	struct safety_verdict	 v;
	char			*buf, *line, *nl, *tab, *tab2, *end;
	char			 text[TEXT_MAX];
	size_t			 len, lineno = 0, tlen, n = 0, right = 0;
	size_t			 conf[4][4], i, j, todo = 0;
	size_t			 tp = 0, fn = 0, fp = 0, tn = 0;
	enum risk		 want;

	memset(conf, 0, sizeof conf);
	if ((buf = slurp(path, &len)) == NULL) {
		ok(0, "read %s: %s", path, strerror(errno));
		return;
	}
	for (line = buf; *line != '\0'; line = nl + 1) {
		lineno++;
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		*nl = '\0';
		if (line[0] == '#' || line[0] == '\0') {
			if (nl == buf + len)
				break;
			continue;
		}
		tab = strchr(line, '\t');
		if (tab == NULL || level_parse(line, tab - line, &want) == -1) {
			ok(0, "safety-phrases.tsv:%zu: expected LEVEL<TAB>TEXT",
			    lineno);
			break;
		}
		tab2 = strchr(tab + 1, '\t');
		end = tab2 != NULL ? tab2 : nl;
		tlen = unescape(tab + 1, end - (tab + 1), text, sizeof text);
		safety_classify(lx, text, tlen, &v);
		if (tab2 != NULL && strncmp(tab2 + 1, "todo:", 5) != 0) {
			ok(0, "safety-phrases.tsv:%zu: a third column starts"
			    " with \"todo:\"", lineno);
			break;
		}
		/* A third column makes the check a TODO, with its reason. */
		if (tab2 != NULL)
			tap_todo = tab2 + 6 + strspn(tab2 + 6, " ");
		if (!ok(v.level == want, "safety-phrases.tsv:%zu: %s: %.*s",
		    lineno, risk_name(want), (int)(end - tab - 1), tab + 1))
			tap_diag("  got %s (%s: \"%s\")", risk_name(v.level),
			    v.category, v.phrase);
		tap_todo = NULL;
		n++;
		todo += tab2 != NULL;
		right += v.level == want;
		conf[want][v.level]++;
		if (want == RISK_HIGH)
			v.level == RISK_HIGH ? tp++ : fn++;
		else
			v.level == RISK_HIGH ? fp++ : tn++;
		if (nl == buf + len)
			break;
	}
	free(buf);

	ok(n >= PHRASES_MIN, "the set has %zu labeled lines (at least %d)", n,
	    PHRASES_MIN);
	if (n == 0)
		return;
	tap_diag("accuracy: %zu of %zu lines right (%.1f%%), %zu known misses"
	    " marked todo", right, n, 100.0 * right / n, todo);
	tap_diag("escalation (high vs the rest): recall %zu/%zu, false"
	    " escalations %zu of %zu", tp, tp + fn, fp, fp + tn);
	tap_diag("confusion, rows expected, columns got:");
	tap_diag("%8s %6s %6s %6s %6s", "", "none", "low", "medium", "high");
	for (i = 0; i < 4; i++) {
		j = 0;
		tap_diag("%8s %6zu %6zu %6zu %6zu", risk_name(i), conf[i][j],
		    conf[i][j + 1], conf[i][j + 2], conf[i][j + 3]);
	}
}

static void
test_verdicts(const struct safety_lexicon *lx)
{
	const struct verdict_case	*c;
	struct safety_verdict		 v;
	size_t				 i;

	for (i = 0; i < nitems(verdict_cases); i++) {
		c = &verdict_cases[i];
		safety_classify(lx, c->text, c->len != 0 ? c->len :
		    strlen(c->text), &v);
		is_str(risk_name(v.level), risk_name(c->level), "%s: level",
		    c->desc);
		is_str(v.category, c->category, "%s: category", c->desc);
		is_str(v.phrase, c->phrase, "%s: phrase", c->desc);
		is_str(v.intent, c->intent, "%s: intent", c->desc);
	}

	safety_classify(NULL, "I want to die", 13, &v);
	ok(v.level == RISK_NONE && strcmp(v.intent, "chat") == 0,
	    "no lexicon: none");
	safety_classify(lx, NULL, 0, &v);
	ok(v.level == RISK_NONE, "NULL text: none");
}

/* Format details, on a lexicon written here. */
static void
test_small_lexicon(void)
{
	static const char	 lexicon[] =
	    "# a test lexicon\n"
	    "  [ category   first   medium   look_closer ]  \r\n"
	    "\tblue   moon\t\r\n"
	    "[category second medium]\n"
	    "blue moon*\n"
	    "[category third high]\n"
	    "red* sky\n"
	    "хочу умереть\n"
	    "été brûlant\n"
	    "[category fourth low]\n"
	    "green\n"
	    "[negators]\n"
	    "not\n"
	    "no longer\n"
	    "[fillers]\n"
	    "going to\n"
	    "see";
	static const struct {
		const char	*text;
		const char	*level;
		const char	*desc;
	} levels[] = {
		{ "REDDISH   sky!", "high", "a wildcard on the first word" },
		{ "re sky", "none", "a wildcard needs its whole prefix" },
		{ "skyred sky", "none", "a prefix is at the word's start" },
		{ "ХОЧУ УМЕРЕТЬ", "high", "Cyrillic is folded" },
		{ "ÉTÉ BRÛLANT", "high", "Latin-1 is folded" },
		{ "ete brulant", "none", "accents are not stripped" },
		{ "greenery", "none", "whole words only" },
		{ "not green", "none", "a negator right before" },
		{ "no longer green", "none", "a negator of two words" },
		{ "not going to see green", "none",
		    "negation over three fillers" },
		{ "not going to see to going green", "low",
		    "negation reaches over four fillers at most" },
		{ "not going to see to green", "none",
		    "negation reaches over four fillers" },
		{ "not. green", "low", "negation stops at a clause's end" },
		{ "not really green", "low", "negation stops at a non-filler" },
		{ "no green", "low", "half a negator is none" },
		{ "not green but green", "low",
		    "a later match stands on its own" },
	};
	struct safety_lexicon	*lx;
	struct safety_verdict	 v;
	char			 err[256];
	size_t			 i;

	lx = safety_load_buf(lexicon, sizeof lexicon - 1, "small", err,
	    sizeof err);
	ok(lx != NULL, "small lexicon loads (%s)", lx ? "ok" : err);
	if (lx == NULL)
		return;

	safety_classify(lx, "a blue moon", 11, &v);
	is_str(v.category, "first", "a tie goes to the category listed first");
	is_str(v.intent, "look_closer", "a category's own intent");
	safety_classify(lx, "blue moonlight", 14, &v);
	is_str(v.category, "second", "a wildcard on a later word");
	for (i = 0; i < nitems(levels); i++) {
		safety_classify(lx, levels[i].text, strlen(levels[i].text), &v);
		is_str(risk_name(v.level), levels[i].level, "%s",
		    levels[i].desc);
	}
	safety_free(lx);
}

static void
test_load_errors(void)
{
	const struct load_case	*c;
	struct safety_lexicon	*lx;
	char			 err[256];
	size_t			 i, wl;

	for (i = 0; i < nitems(load_cases); i++) {
		c = &load_cases[i];
		memset(err, 'x', sizeof err);
		lx = safety_load_buf(c->text, strlen(c->text), "t.txt", err,
		    sizeof err);
		wl = strlen(c->want);
		if (!ok(lx == NULL && strncmp(err, c->want, wl) == 0 &&
		    strstr(err + wl, c->says) != NULL, "load error: %s",
		    c->desc))
			tap_diag("  got \"%s\", want \"%s...%s...\"",
			    lx == NULL ? err : "(loaded)", c->want, c->says);
		safety_free(lx);
	}

	lx = safety_load_buf(BIN("[category a high]\nx\0y\n"), "t.txt", err,
	    sizeof err);
	ok(lx == NULL && strcmp(err, "t.txt:2: NUL byte") == 0,
	    "load error: a NUL byte (%s)", err);
	safety_free(lx);
}

/* The caps on lines, phrases and their lengths. */
static void
test_load_limits(void)
{
	struct safety_lexicon	*lx;
	struct dbuf		 b;
	char			 err[256], word[16];
	size_t			 i;

	dbuf_init(&b, 1024 * 1024);
	dbuf_adds(&b, "[category a high]\n");
	for (i = 0; i < 512; i++)
		dbuf_addc(&b, 'a');
	dbuf_adds(&b, "\n");
	lx = safety_load_buf(dbuf_str(&b), b.len, "t.txt", err, sizeof err);
	ok(lx == NULL && strstr(err, "t.txt:2: phrase longer than 120") !=
	    NULL, "a 512-byte line is read, its phrase too long (%s)", err);
	safety_free(lx);
	b.len -= 1;
	dbuf_adds(&b, "a\n");
	lx = safety_load_buf(dbuf_str(&b), b.len, "t.txt", err, sizeof err);
	ok(lx == NULL && strcmp(err, "t.txt:2: line longer than 512 bytes") ==
	    0, "a 513-byte line (%s)", err);
	safety_free(lx);

	dbuf_reset(&b);
	dbuf_adds(&b, "[category a high]\n");
	for (i = 0; i < 120; i++)
		dbuf_addc(&b, i % 2 ? ' ' : 'a' + (i / 2) % 26);
	dbuf_adds(&b, "\n");
	lx = safety_load_buf(dbuf_str(&b), b.len, "t.txt", err, sizeof err);
	ok(lx == NULL && strstr(err, "t.txt:2: phrase: more than 12") != NULL,
	    "120 bytes of 60 words (%s)", err);
	safety_free(lx);

	dbuf_reset(&b);
	dbuf_adds(&b, "[category a high]\n");
	for (i = 0; i < 4097; i++) {
		snprintf(word, sizeof word, "w%zu\n", i);
		dbuf_adds(&b, word);
	}
	lx = safety_load_buf(dbuf_str(&b), b.len, "t.txt", err, sizeof err);
	ok(lx == NULL && strcmp(err, "t.txt:4098: more than 4096 phrases") ==
	    0, "4097 phrases (%s)", err);
	safety_free(lx);
	b.len -= strlen(word);
	lx = safety_load_buf(dbuf_str(&b), b.len, "t.txt", err, sizeof err);
	ok(lx != NULL, "4096 phrases load (%s)", lx ? "ok" : err);
	safety_free(lx);

	dbuf_reset(&b);
	for (i = 0; i < 65; i++) {
		snprintf(word, sizeof word, "%zu", i);
		dbuf_printf(&b, "[category c%s low]\nw%s\n", word, word);
	}
	lx = safety_load_buf(dbuf_str(&b), b.len, "t.txt", err, sizeof err);
	ok(lx == NULL && strcmp(err, "t.txt:129: more than 64 categories") ==
	    0, "65 categories (%s)", err);
	safety_free(lx);
	dbuf_free(&b);
}

/* safety_load reads a file and names it in errors. */
static void
test_load_file(void)
{
	struct safety_lexicon	*lx;
	struct safety_verdict	 v;
	char			 path[] = "/tmp/test_safety.XXXXXX";
	char			 err[512];
	char			 want[600];
	FILE			*f;
	int			 fd;

	lx = safety_load("/nonexistent/lexicon.txt", err, sizeof err);
	ok(lx == NULL && strcmp(err, "/nonexistent/lexicon.txt: No such file"
	    " or directory") == 0, "a missing file is named (%s)", err);

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		ok(0, "mkstemp: %s", strerror(errno));
		return;
	}
	fputs("[category a low]\nfine\n[category b high]\nbad\n[category c"
	    " low]\n", f);
	fclose(f);
	lx = safety_load(path, err, sizeof err);
	snprintf(want, sizeof want, "%s:5: category \"c\" has no phrases",
	    path);
	is_str(lx == NULL ? err : "(loaded)", want, "an error names file:line");

	if ((f = fopen(path, "a")) != NULL) {
		fputs("ok\n", f);
		fclose(f);
	}
	lx = safety_load(path, err, sizeof err);
	ok(lx != NULL, "the file loads once fixed (%s)", lx ? "ok" : err);
	safety_classify(lx, "That is bad, not fine", 21, &v);
	is_str(v.category, "b", "the fixed file classifies");
	safety_free(lx);
	unlink(path);
}

/*
 * A megabyte of text made to be slow: every word starts phrases and
 * negations. Linear matching does it in milliseconds; anything worse
 * than about linear would take far longer than the bound.
 */
static void
test_speed(const struct safety_lexicon *lx)
{
	static const char	 unit[] = "i dont want to i am not going to ";
	struct safety_verdict	 v;
	struct dbuf		 b;
	struct timespec		 t0, t1;
	double			 secs;

	dbuf_init(&b, 2 * 1024 * 1024);
	while (b.len < 1024 * 1024)
		dbuf_adds(&b, unit);
	dbuf_adds(&b, "kill myself");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	safety_classify(lx, dbuf_str(&b), b.len, &v);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	is_str(risk_name(v.level), "none", "1 MiB ending in a negated phrase");
	ok(secs < 5.0, "1 MiB classified in %.3f s (bound 5 s)", secs);

	dbuf_reset(&b);
	while (b.len < 1024 * 1024)
		dbuf_adds(&b, "\xf0\x9f\x98\xad\xe2\x80\x99\xff");
	dbuf_adds(&b, " wanna die");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	safety_classify(lx, dbuf_str(&b), b.len, &v);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	is_str(risk_name(v.level), "high", "1 MiB of emoji and bad bytes, then"
	    " a phrase");
	ok(secs < 5.0, "classified in %.3f s (bound 5 s)", secs);
	dbuf_free(&b);
}

static void
test_names(void)
{
	is_str(risk_name(RISK_NONE), "none", "risk_name none");
	is_str(risk_name(RISK_LOW), "low", "risk_name low");
	is_str(risk_name(RISK_MEDIUM), "medium", "risk_name medium");
	is_str(risk_name(RISK_HIGH), "high", "risk_name high");
	is_str(risk_name((enum risk)7), "unknown", "risk_name out of range");
}

int
main(void)
{
	struct safety_lexicon	*lx;
	const char		*top;
	char			*lexicon, *phrases, err[512];

	if ((top = getenv("top_srcdir")) == NULL || *top == '\0')
		top = "../..";
	xasprintf(&lexicon, "%s/handlers/chat/safety-lexicon.txt", top);
	xasprintf(&phrases, "%s/tests/unit/safety-phrases.tsv", top);

	lx = safety_load(lexicon, err, sizeof err);
	if (!ok(lx != NULL, "the shipped lexicon loads"))
		tap_diag("  %s", err);
	if (lx != NULL) {
		test_phrases(lx, phrases);
		test_verdicts(lx);
		test_speed(lx);
	}
	test_small_lexicon();
	test_load_errors();
	test_load_limits();
	test_load_file();
	test_names();
	safety_free(lx);
	free(lexicon);
	free(phrases);
	return (tap_done());
}
