/* safety.c: the lexicon classifier that screens user text for risk. */
/*
 * The lexicon (docs/safety.md, handlers/chat/safety-lexicon.txt) names
 * categories, each with a risk level, and their phrases. Text and phrases
 * are normalized the same way into words: ASCII, Latin-1, Greek, Cyrillic
 * and fullwidth letters folded to lower case, apostrophes (straight or
 * curly) and zero-width characters dropped, everything else that is not a
 * letter or digit a separator; some punctuation also ends a clause. A
 * phrase matches a run of whole words; a word of a phrase written with a
 * trailing '*' matches any word it is a prefix of.
 *
 * A match is negated when, within its clause, a negator ("not", "never",
 * "don't") stands right before it or separated from it only by filler
 * words ("going", "to", "want"). The highest level among the matches that
 * are not negated wins; ties go to the category listed first, then to the
 * earlier match in the text.
 *
 * Matching is one pass over the words: each word is looked up in a hash
 * of the phrases' first words, and of their prefixes for wildcards, so
 * the cost grows with the text's length, not with the lexicon's size. A
 * loaded lexicon is never changed, so threads can share it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "chat.h"

#define SAFETY_FILE_MAX		(1024 * 1024) /* a lexicon's bytes */
#define SAFETY_LINE_MAX		512	/* bytes, no newline */
#define SAFETY_CATEGORIES_MAX	64
#define SAFETY_PHRASES_MAX	4096
#define SAFETY_NEGATORS_MAX	128
#define SAFETY_FILLERS_MAX	256
#define SAFETY_PHRASE_MAX	120	/* bytes as written (verdicts) */
#define SAFETY_WORDS_MAX	12	/* words in a phrase or negator */
#define SAFETY_PREFIX_MIN	3	/* bytes before a '*' */
#define SAFETY_PREFIX_MAX	63	/* bytes before a '*' (a bit mask) */
#define SAFETY_NAME_MAX		63	/* a category name */
#define SAFETY_INTENT_MAX	31
#define SAFETY_FILLER_REACH	4	/* fillers before a negated match */

#define SAFETY_FNV_BASIS	2166136261u
#define SAFETY_FNV_PRIME	16777619u

/* What a character is to the tokenizer. */
enum safety_class {
	SAFETY_WORD,		/* part of a word */
	SAFETY_DROP,		/* dropped; the word goes on (') */
	SAFETY_SPACE,		/* ends a word */
	SAFETY_CLAUSE		/* ends a word and a clause */
};

/* A word of a text or a pattern, in a normalized copy. */
struct safety_tok {
	size_t		 tk_off;	/* into the copy, NUL after it */
	size_t		 tk_len;
	uint32_t	 tk_hash;
	size_t		 tk_clause;	/* which clause of the text */
	int		 tk_star;	/* patterns: a prefix, had '*' */
};

/* A text or pattern cut into words. */
struct safety_text {
	struct dbuf		 st_norm;	/* words, NUL after each */
	struct safety_tok	*st_toks;
	size_t			 st_ntoks;
	size_t			 st_maxtoks;	/* the input's most */
};

/* A phrase, negator or filler: a sequence of words. */
struct safety_seq {
	char			*sq_text;	/* as written, trimmed */
	char			*sq_norm;	/* words, NUL after each */
	struct safety_tok	*sq_words;	/* tk_off into sq_norm */
	size_t			 sq_nwords;
	size_t			 sq_line;
	size_t			 sq_category;	/* phrases: whose */
	long			 sq_next;	/* phrases: chain, or -1 */
};

struct safety_category {
	char		 sc_name[SAFETY_NAME_MAX + 1];
	char		 sc_intent[SAFETY_INTENT_MAX + 1];
	enum risk	 sc_level;
	size_t		 sc_line;
	size_t		 sc_nphrases;
};

struct safety_lexicon {
	struct safety_category	*lx_cats;
	size_t			 lx_ncats;
	struct safety_seq	*lx_phrases;
	size_t			 lx_nphrases;
	struct safety_seq	*lx_negators;
	size_t			 lx_nnegators;
	struct safety_seq	*lx_fillers;	/* one word each */
	size_t			 lx_nfillers;
	long			*lx_buckets;	/* by first word */
	size_t			 lx_nbuckets;	/* a power of two */
	uint64_t		 lx_prefix_lens; /* bit k: a k-byte prefix */
};

/* Where the loader is, for its messages. */
struct safety_parse {
	const char		*sp_name;
	size_t			 sp_line;
	char			*sp_err;
	size_t			 sp_errlen;
	enum {
		SAFETY_SECTION_NONE,
		SAFETY_SECTION_CATEGORY,
		SAFETY_SECTION_NEGATORS,
		SAFETY_SECTION_FILLERS
	}			 sp_section;
};

static size_t	safety_utf8_decode(const unsigned char *, size_t,
		    int32_t *);
static int32_t	safety_fold(int32_t);
static enum safety_class safety_classof(int32_t);
static uint32_t	safety_hash(const char *, size_t);
static void	safety_text_init(struct safety_text *, size_t);
static void	safety_text_free(struct safety_text *);
static int	safety_tokenize(struct safety_text *, const char *, size_t,
		    int, const char **);
static int	safety_seq_make(struct safety_seq *, const char *, size_t,
		    int, const char **);
static void	safety_seq_free(struct safety_seq *);
static int	safety_seq_same(const struct safety_seq *,
		    const struct safety_seq *);
static int	safety_word_match(const struct safety_seq *,
		    const struct safety_tok *, const struct safety_text *,
		    const struct safety_tok *);
static int	safety_perr(struct safety_parse *, const char *, ...)
		    printflike(2, 3);
static int	safety_parse_header(struct safety_parse *,
		    struct safety_lexicon *, char *);
static int	safety_parse_line(struct safety_parse *,
		    struct safety_lexicon *, const char *, size_t);
static int	safety_add_phrase(struct safety_parse *,
		    struct safety_lexicon *, const char *, size_t);
static int	safety_add_negator(struct safety_parse *,
		    struct safety_lexicon *, const char *, size_t);
static int	safety_add_fillers(struct safety_parse *,
		    struct safety_lexicon *, const char *, size_t);
static int	safety_end_section(struct safety_parse *,
		    struct safety_lexicon *);
static void	safety_index(struct safety_lexicon *);
static int	safety_seq_at(const struct safety_seq *,
		    const struct safety_text *, size_t);
static int	safety_is_filler(const struct safety_lexicon *,
		    const struct safety_text *, size_t);
static int	safety_negated(const struct safety_lexicon *,
		    const struct safety_text *, size_t);
static void	safety_consider(const struct safety_lexicon *,
		    const struct safety_text *, size_t, long, long *);

static const char *safety_levels[] = { "none", "low", "medium", "high" };
static const char *safety_intents[] = {
	"chat", "validate", "support", "crisis_support"
};

/*
 * Decode the character at p: its code point and its length. An invalid
 * or cut-short sequence gives -1 and length 1, so a bad byte never hides
 * the characters after it.
 */
static size_t
safety_utf8_decode(const unsigned char *p, size_t avail, int32_t *cp)
{
	unsigned int	u;
	size_t		bad;
	int		n;

	if ((n = utf8_decode(p, avail, 0, &u, &bad)) > 0) {
		*cp = (int32_t)u;
		return ((size_t)n);
	}
	*cp = -1;
	return (1);
}

/*
 * Lower case for the scripts folded here: ASCII, Latin-1, basic Greek and
 * Cyrillic, and fullwidth ASCII (to ASCII). Never longer in UTF-8 than
 * the character it replaces.
 */
static int32_t
safety_fold(int32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return (cp + 0x20);
	if (cp < 0x80)
		return (cp);
	if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
		return (cp + 0x20);
	if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
		return (cp + 0x20);
	if (cp >= 0x400 && cp <= 0x40f)
		return (cp + 0x50);
	if (cp >= 0x410 && cp <= 0x42f)
		return (cp + 0x20);
	if (cp >= 0xff21 && cp <= 0xff3a)		/* fullwidth A-Z */
		return (cp - 0xff21 + 'a');
	if (cp >= 0xff41 && cp <= 0xff5a)		/* fullwidth a-z */
		return (cp - 0xff41 + 'a');
	if (cp >= 0xff10 && cp <= 0xff19)		/* fullwidth 0-9 */
		return (cp - 0xff10 + '0');
	return (cp);
}

/* What cp (-1: an invalid byte) is to the tokenizer. */
static enum safety_class
safety_classof(int32_t cp)
{
	if (cp < 0)
		return (SAFETY_SPACE);
	if (cp < 0x80) {
		if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
		    (cp >= '0' && cp <= '9'))
			return (SAFETY_WORD);
		if (cp == '\'' || cp == '`')
			return (SAFETY_DROP);
		if (cp != 0 && strchr(".,;:!?()[]{}|\n\r", cp) != NULL)
			return (SAFETY_CLAUSE);
		return (SAFETY_SPACE);
	}
	switch (cp) {
	case 0x00ad:	/* soft hyphen */
	case 0x02bc:	/* modifier letter apostrophe */
	case 0x200b:	/* zero width space */
	case 0x200c:	/* zero width non-joiner */
	case 0x200d:	/* zero width joiner */
	case 0x2018:	/* left single quotation mark */
	case 0x2019:	/* right single quotation mark */
	case 0x201b:	/* single high-reversed-9 quotation mark */
	case 0x2032:	/* prime */
	case 0x2060:	/* word joiner */
	case 0xfe0e:	/* variation selectors */
	case 0xfe0f:
	case 0xfeff:	/* zero width no-break space */
	case 0xff07:	/* fullwidth apostrophe */
		return (SAFETY_DROP);
	case 0x00a1:	/* inverted exclamation mark */
	case 0x00bf:	/* inverted question mark */
	case 0x2013:	/* en dash */
	case 0x2014:	/* em dash */
	case 0x2026:	/* horizontal ellipsis */
	case 0x2028:	/* line separator */
	case 0x2029:	/* paragraph separator */
	case 0x3001:	/* ideographic comma */
	case 0x3002:	/* ideographic full stop */
	case 0xff01:	/* fullwidth ! */
	case 0xff0c:	/* fullwidth , */
	case 0xff0e:	/* fullwidth . */
	case 0xff1a:	/* fullwidth : */
	case 0xff1b:	/* fullwidth ; */
	case 0xff1f:	/* fullwidth ? */
		return (SAFETY_CLAUSE);
	}
	if (cp < 0xa0 ||			/* C1 controls */
	    (cp >= 0xa0 && cp <= 0xbf) ||	/* Latin-1 punctuation */
	    cp == 0xd7 || cp == 0xf7 ||		/* times, divide */
	    (cp >= 0x2000 && cp <= 0x2bff) ||	/* punctuation, symbols */
	    (cp >= 0x3000 && cp <= 0x303f) ||	/* CJK punctuation */
	    (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0xfe10 && cp <= 0xfe6f) ||	/* vertical, small forms */
	    (cp >= 0xff00 && cp <= 0xff0f) ||	/* fullwidth punctuation */
	    (cp >= 0xff1a && cp <= 0xff20) ||
	    (cp >= 0xff3b && cp <= 0xff40) ||
	    (cp >= 0xff5b && cp <= 0xff65) ||
	    (cp >= 0x1f000 && cp <= 0x1faff))	/* emoji, pictographs */
		return (SAFETY_SPACE);
	return (SAFETY_WORD);
}

/* FNV-1a over a normalized word. */
static uint32_t
safety_hash(const char *s, size_t len)
{
	uint32_t	h = SAFETY_FNV_BASIS;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= SAFETY_FNV_PRIME;
	}
	return (h);
}

/* Ready st for an input of len bytes; its buffers cannot outgrow it. */
static void
safety_text_init(struct safety_text *st, size_t len)
{
	/* Words, each with its NUL, never take more than len + 1 bytes. */
	dbuf_init(&st->st_norm, len + 1);
	st->st_toks = NULL;
	st->st_ntoks = 0;
	/* Two words need a separator between them. */
	st->st_maxtoks = len / 2 + 1;
}

static void
safety_text_free(struct safety_text *st)
{
	dbuf_free(&st->st_norm);
	free(st->st_toks);
	st->st_toks = NULL;
	st->st_ntoks = 0;
}

/*
 * Cut in[len] into normalized words. In a pattern (a lexicon line), a
 * '*' right after a word makes it a prefix; anywhere else it is an error,
 * given in *why. A text never fails.
 */
static int
safety_tokenize(struct safety_text *st, const char *in, size_t len,
    int pattern, const char **why)
{
	const unsigned char	*p = (const unsigned char *)in;
	unsigned char		 enc[4];
	struct safety_tok	*tk = NULL;
	enum safety_class	 cl;
	size_t			 i = 0, n, elen, clause = 0, alloc = 0;
	int32_t			 cp;

	while (i <= len) {
		if (i == len) {
			cl = SAFETY_SPACE;
			n = 1;
			cp = ' ';
		} else {
			n = safety_utf8_decode(p + i, len - i, &cp);
			if (pattern && cp == '*') {
				if (tk == NULL || tk->tk_star) {
					*why = "a '*' must end a word";
					return (-1);
				}
				if (tk->tk_len < SAFETY_PREFIX_MIN ||
				    tk->tk_len > SAFETY_PREFIX_MAX) {
					*why = "a word ending in '*' needs 3"
					    " to 63 bytes before it";
					return (-1);
				}
				tk->tk_star = 1;
				i += n;
				continue;
			}
			cl = safety_classof(cp);
		}
		if (cl == SAFETY_DROP) {
			i += n;
			continue;
		}
		if (cl == SAFETY_WORD) {
			if (tk != NULL && tk->tk_star) {
				*why = "a '*' must end a word";
				return (-1);
			}
			if (tk == NULL) {
				if (st->st_ntoks == st->st_maxtoks)
					fatalx("%s: more words than bytes",
					    __func__);
				if (st->st_ntoks == alloc) {
					alloc = alloc == 0 ? 16 : alloc * 2;
					if (alloc > st->st_maxtoks)
						alloc = st->st_maxtoks;
					st->st_toks = xreallocarray(
					    st->st_toks, alloc, sizeof *tk);
				}
				tk = &st->st_toks[st->st_ntoks++];
				tk->tk_off = st->st_norm.len;
				tk->tk_len = 0;
				tk->tk_clause = clause;
				tk->tk_star = 0;
			}
			elen = utf8_encode((unsigned int)safety_fold(cp), enc);
			if (dbuf_add(&st->st_norm, enc, elen) == -1)
				fatalx("%s: normalized text outgrew its input",
				    __func__);
			tk->tk_len += elen;
			i += n;
			continue;
		}
		if (tk != NULL) {
			if (dbuf_addc(&st->st_norm, '\0') == -1)
				fatalx("%s: normalized text outgrew its input",
				    __func__);
			tk->tk_hash = safety_hash((const char *)
			    st->st_norm.data + tk->tk_off, tk->tk_len);
			tk = NULL;
		}
		if (cl == SAFETY_CLAUSE)
			clause++;
		i += n;
	}
	return (0);
}

/* Make sq from a pattern; -1 with the reason in *why. */
static int
safety_seq_make(struct safety_seq *sq, const char *s, size_t len,
    int stars, const char **why)
{
	struct safety_text	 st;
	size_t			 i;

	memset(sq, 0, sizeof *sq);
	sq->sq_next = -1;
	safety_text_init(&st, len);
	if (safety_tokenize(&st, s, len, 1, why) == -1)
		goto fail;
	if (st.st_ntoks == 0) {
		*why = "no words";
		goto fail;
	}
	if (st.st_ntoks > SAFETY_WORDS_MAX) {
		*why = "more than 12 words";
		goto fail;
	}
	if (!stars) {
		for (i = 0; i < st.st_ntoks; i++) {
			if (st.st_toks[i].tk_star) {
				*why = "no '*' allowed here";
				goto fail;
			}
		}
	}
	sq->sq_text = xstrndup(s, len);
	sq->sq_norm = xmemdup(st.st_norm.data, st.st_norm.len);
	sq->sq_words = st.st_toks;
	sq->sq_nwords = st.st_ntoks;
	st.st_toks = NULL;
	safety_text_free(&st);
	return (0);

fail:
	safety_text_free(&st);
	return (-1);
}

static void
safety_seq_free(struct safety_seq *sq)
{
	free(sq->sq_text);
	free(sq->sq_norm);
	free(sq->sq_words);
}

/* Do a and b stand for the same words? */
static int
safety_seq_same(const struct safety_seq *a, const struct safety_seq *b)
{
	const struct safety_tok	*x, *y;
	size_t			 i;

	if (a->sq_nwords != b->sq_nwords)
		return (0);
	for (i = 0; i < a->sq_nwords; i++) {
		x = &a->sq_words[i];
		y = &b->sq_words[i];
		if (x->tk_len != y->tk_len || x->tk_star != y->tk_star ||
		    memcmp(a->sq_norm + x->tk_off, b->sq_norm + y->tk_off,
		    x->tk_len) != 0)
			return (0);
	}
	return (1);
}

/* Does the pattern word pw of sq match the text word tk of st? */
static int
safety_word_match(const struct safety_seq *sq, const struct safety_tok *pw,
    const struct safety_text *st, const struct safety_tok *tk)
{
	const char	*t = (const char *)st->st_norm.data + tk->tk_off;

	if (pw->tk_star)
		return (tk->tk_len >= pw->tk_len &&
		    memcmp(sq->sq_norm + pw->tk_off, t, pw->tk_len) == 0);
	return (tk->tk_len == pw->tk_len && tk->tk_hash == pw->tk_hash &&
	    memcmp(sq->sq_norm + pw->tk_off, t, pw->tk_len) == 0);
}

/* Put "name:line: message" in the caller's err; returns -1. */
static int
safety_perr(struct safety_parse *sp, const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (sp->sp_line != 0)
		snprintf(sp->sp_err, sp->sp_errlen, "%s:%zu: %s", sp->sp_name,
		    sp->sp_line, msg);
	else
		snprintf(sp->sp_err, sp->sp_errlen, "%s: %s", sp->sp_name,
		    msg);
	return (-1);
}

/* A "[...]" line, NUL-terminated and trimmed; it is cut up in place. */
static int
safety_parse_header(struct safety_parse *sp, struct safety_lexicon *lx,
    char *s)
{
	struct safety_category	*sc;
	char			*f[6], *last, *w;
	size_t			 nf = 0, i, len;
	enum risk		 level;

	len = strlen(s);
	if (len < 2 || s[len - 1] != ']')
		return (safety_perr(sp, "a section header ends with ']'"));
	s[len - 1] = '\0';
	for (w = strtok_r(s + 1, " \t", &last); w != NULL;
	    w = strtok_r(NULL, " \t", &last)) {
		if (nf == nitems(f))
			return (safety_perr(sp, "too many fields in a section"
			    " header"));
		f[nf++] = w;
	}
	if (nf == 0)
		return (safety_perr(sp, "empty section header"));
	if (safety_end_section(sp, lx) == -1)
		return (-1);

	if (strcmp(f[0], "negators") == 0 || strcmp(f[0], "fillers") == 0) {
		if (nf != 1)
			return (safety_perr(sp, "[%s] takes no fields", f[0]));
		sp->sp_section = f[0][0] == 'n' ? SAFETY_SECTION_NEGATORS :
		    SAFETY_SECTION_FILLERS;
		return (0);
	}
	if (strcmp(f[0], "category") != 0)
		return (safety_perr(sp, "unknown section \"%.64s\" (category,"
		    " negators or fillers)", f[0]));
	if (nf < 3 || nf > 4)
		return (safety_perr(sp, "expected [category NAME LEVEL"
		    " [INTENT]]"));

	len = strlen(f[1]);
	if (len > SAFETY_NAME_MAX)
		return (safety_perr(sp, "category name longer than %d bytes",
		    SAFETY_NAME_MAX));
	if (strspn(f[1], "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return (safety_perr(sp, "category name \"%.64s\": use a-z, 0-9"
		    " and _", f[1]));
	for (i = 0; i < lx->lx_ncats; i++) {
		if (strcmp(lx->lx_cats[i].sc_name, f[1]) == 0)
			return (safety_perr(sp, "category \"%s\" already at"
			    " line %zu", f[1], lx->lx_cats[i].sc_line));
	}
	for (level = RISK_LOW; level <= RISK_HIGH; level++) {
		if (strcmp(f[2], safety_levels[level]) == 0)
			break;
	}
	if (level > RISK_HIGH)
		return (safety_perr(sp, "unknown level \"%.32s\" (low, medium"
		    " or high)", f[2]));
	if (nf == 4) {
		len = strlen(f[3]);
		if (len > SAFETY_INTENT_MAX ||
		    strspn(f[3], "abcdefghijklmnopqrstuvwxyz0123456789_") !=
		    len)
			return (safety_perr(sp, "intent \"%.64s\": up to %d of"
			    " a-z, 0-9 and _", f[3], SAFETY_INTENT_MAX));
	}
	if (lx->lx_ncats == SAFETY_CATEGORIES_MAX)
		return (safety_perr(sp, "more than %d categories",
		    SAFETY_CATEGORIES_MAX));

	lx->lx_cats = xreallocarray(lx->lx_cats, lx->lx_ncats + 1,
	    sizeof *lx->lx_cats);
	sc = &lx->lx_cats[lx->lx_ncats++];
	memset(sc, 0, sizeof *sc);
	snprintf(sc->sc_name, sizeof sc->sc_name, "%s", f[1]);
	snprintf(sc->sc_intent, sizeof sc->sc_intent, "%s",
	    nf == 4 ? f[3] : safety_intents[level]);
	sc->sc_level = level;
	sc->sc_line = sp->sp_line;
	sp->sp_section = SAFETY_SECTION_CATEGORY;
	return (0);
}

/* Close the section being read: a category needs a phrase. */
static int
safety_end_section(struct safety_parse *sp, struct safety_lexicon *lx)
{
	struct safety_category	*sc;

	if (sp->sp_section != SAFETY_SECTION_CATEGORY)
		return (0);
	sc = &lx->lx_cats[lx->lx_ncats - 1];
	if (sc->sc_nphrases == 0) {
		sp->sp_line = sc->sc_line;
		return (safety_perr(sp, "category \"%s\" has no phrases",
		    sc->sc_name));
	}
	return (0);
}

/* One line of the file, without its newline. */
static int
safety_parse_line(struct safety_parse *sp, struct safety_lexicon *lx,
    const char *line, size_t len)
{
	char	hdr[SAFETY_LINE_MAX + 1];

	if (len > SAFETY_LINE_MAX)
		return (safety_perr(sp, "line longer than %d bytes",
		    SAFETY_LINE_MAX));
	if (memchr(line, '\0', len) != NULL)
		return (safety_perr(sp, "NUL byte"));
	if (!utf8_valid(line, len))
		return (safety_perr(sp, "invalid UTF-8"));
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' ||
	    line[len - 1] == '\r'))
		len--;
	while (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
		line++;
		len--;
	}
	if (len == 0 || line[0] == '#')
		return (0);
	if (line[0] == '[') {
		memcpy(hdr, line, len);
		hdr[len] = '\0';
		return (safety_parse_header(sp, lx, hdr));
	}
	switch (sp->sp_section) {
	case SAFETY_SECTION_CATEGORY:
		return (safety_add_phrase(sp, lx, line, len));
	case SAFETY_SECTION_NEGATORS:
		return (safety_add_negator(sp, lx, line, len));
	case SAFETY_SECTION_FILLERS:
		return (safety_add_fillers(sp, lx, line, len));
	case SAFETY_SECTION_NONE:
		break;
	}
	return (safety_perr(sp, "a phrase before any section"));
}

static int
safety_add_phrase(struct safety_parse *sp, struct safety_lexicon *lx,
    const char *s, size_t len)
{
	struct safety_seq	 sq;
	const char		*why;
	size_t			 i;

	if (len > SAFETY_PHRASE_MAX)
		return (safety_perr(sp, "phrase longer than %d bytes",
		    SAFETY_PHRASE_MAX));
	if (lx->lx_nphrases == SAFETY_PHRASES_MAX)
		return (safety_perr(sp, "more than %d phrases",
		    SAFETY_PHRASES_MAX));
	if (safety_seq_make(&sq, s, len, 1, &why) == -1)
		return (safety_perr(sp, "phrase: %s", why));
	/* Quadratic, but only at load, on a few thousand phrases. */
	for (i = 0; i < lx->lx_nphrases; i++) {
		if (safety_seq_same(&lx->lx_phrases[i], &sq)) {
			safety_seq_free(&sq);
			return (safety_perr(sp, "phrase \"%s\" repeats line"
			    " %zu", lx->lx_phrases[i].sq_text,
			    lx->lx_phrases[i].sq_line));
		}
	}
	sq.sq_line = sp->sp_line;
	sq.sq_category = lx->lx_ncats - 1;
	lx->lx_phrases = xreallocarray(lx->lx_phrases, lx->lx_nphrases + 1,
	    sizeof *lx->lx_phrases);
	lx->lx_phrases[lx->lx_nphrases++] = sq;
	lx->lx_cats[lx->lx_ncats - 1].sc_nphrases++;
	return (0);
}

static int
safety_add_negator(struct safety_parse *sp, struct safety_lexicon *lx,
    const char *s, size_t len)
{
	struct safety_seq	 sq;
	const char		*why;
	size_t			 i;

	if (lx->lx_nnegators == SAFETY_NEGATORS_MAX)
		return (safety_perr(sp, "more than %d negators",
		    SAFETY_NEGATORS_MAX));
	if (safety_seq_make(&sq, s, len, 0, &why) == -1)
		return (safety_perr(sp, "negator: %s", why));
	for (i = 0; i < lx->lx_nnegators; i++) {
		if (safety_seq_same(&lx->lx_negators[i], &sq)) {
			safety_seq_free(&sq);
			return (safety_perr(sp, "negator repeats line %zu",
			    lx->lx_negators[i].sq_line));
		}
	}
	sq.sq_line = sp->sp_line;
	lx->lx_negators = xreallocarray(lx->lx_negators,
	    lx->lx_nnegators + 1, sizeof *lx->lx_negators);
	lx->lx_negators[lx->lx_nnegators++] = sq;
	return (0);
}

/* A fillers line: one or more words, each a filler. */
static int
safety_add_fillers(struct safety_parse *sp, struct safety_lexicon *lx,
    const char *s, size_t len)
{
	struct safety_seq	 line, sq;
	const char		*why;
	size_t			 i, j;
	int			 rv = -1;

	if (safety_seq_make(&line, s, len, 0, &why) == -1)
		return (safety_perr(sp, "fillers: %s", why));
	for (i = 0; i < line.sq_nwords; i++) {
		if (lx->lx_nfillers == SAFETY_FILLERS_MAX) {
			safety_perr(sp, "more than %d fillers",
			    SAFETY_FILLERS_MAX);
			goto fail;
		}
		if (safety_seq_make(&sq, line.sq_norm +
		    line.sq_words[i].tk_off, line.sq_words[i].tk_len, 0,
		    &why) == -1)
			fatalx("%s: a normalized word did not parse",
			    __func__);
		for (j = 0; j < lx->lx_nfillers; j++) {
			if (safety_seq_same(&lx->lx_fillers[j], &sq)) {
				safety_perr(sp, "filler \"%s\" repeats line"
				    " %zu", sq.sq_text,
				    lx->lx_fillers[j].sq_line);
				safety_seq_free(&sq);
				goto fail;
			}
		}
		sq.sq_line = sp->sp_line;
		lx->lx_fillers = xreallocarray(lx->lx_fillers,
		    lx->lx_nfillers + 1, sizeof *lx->lx_fillers);
		lx->lx_fillers[lx->lx_nfillers++] = sq;
	}
	rv = 0;
fail:
	safety_seq_free(&line);
	return (rv);
}

/* Hash the phrases by first word, or by its prefix for a wildcard. */
static void
safety_index(struct safety_lexicon *lx)
{
	struct safety_seq	*sq;
	const struct safety_tok	*w;
	size_t			 i, b;

	lx->lx_nbuckets = 16;
	while (lx->lx_nbuckets < 2 * lx->lx_nphrases)
		lx->lx_nbuckets *= 2;
	lx->lx_buckets = xreallocarray(NULL, lx->lx_nbuckets,
	    sizeof *lx->lx_buckets);
	for (b = 0; b < lx->lx_nbuckets; b++)
		lx->lx_buckets[b] = -1;
	/* Backwards, so that each chain lists phrases in file order. */
	for (i = lx->lx_nphrases; i > 0; i--) {
		sq = &lx->lx_phrases[i - 1];
		w = &sq->sq_words[0];
		if (w->tk_star)
			lx->lx_prefix_lens |= (uint64_t)1 << w->tk_len;
		b = w->tk_hash & (lx->lx_nbuckets - 1);
		sq->sq_next = lx->lx_buckets[b];
		lx->lx_buckets[b] = (long)(i - 1);
	}
}

struct safety_lexicon *
safety_load_buf(const char *buf, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct safety_lexicon	*lx;
	struct safety_parse	 sp;
	const char		*line, *nl, *end = buf + len;

	lx = xcalloc(1, sizeof *lx);
	memset(&sp, 0, sizeof sp);
	sp.sp_name = name != NULL ? name : "(lexicon)";
	sp.sp_err = err;
	sp.sp_errlen = errlen;
	sp.sp_section = SAFETY_SECTION_NONE;
	if (errlen > 0)
		err[0] = '\0';

	for (line = buf; len > 0 && line < end; line = nl + 1) {
		sp.sp_line++;
		if ((nl = memchr(line, '\n', end - line)) == NULL)
			nl = end;
		if (safety_parse_line(&sp, lx, line, nl - line) == -1)
			goto fail;
		if (nl == end)
			break;
	}
	if (safety_end_section(&sp, lx) == -1)
		goto fail;
	sp.sp_line = 0;
	if (lx->lx_ncats == 0) {
		safety_perr(&sp, "no categories");
		goto fail;
	}
	safety_index(lx);
	return (lx);

fail:
	safety_free(lx);
	return (NULL);
}

struct safety_lexicon *
safety_load(const char *path, char *err, size_t errlen)
{
	struct safety_lexicon	*lx;
	unsigned char		*buf;
	size_t			 len;

#ifdef CHAT_DATADIR
	if (path == NULL)
		path = CHAT_DATADIR "/safety-lexicon.txt";
#endif
	if (path == NULL) {
		snprintf(err, errlen, "no lexicon path");
		return (NULL);
	}
	switch (file_read(path, SAFETY_FILE_MAX, &buf, &len)) {
	case FILE_READ_OK:
		break;
	case FILE_READ_BIG:
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    SAFETY_FILE_MAX);
		return (NULL);
	default:
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	lx = safety_load_buf((const char *)buf, len, path, err, errlen);
	free(buf);
	return (lx);
}

void
safety_free(struct safety_lexicon *lx)
{
	size_t	i;

	if (lx == NULL)
		return;
	for (i = 0; i < lx->lx_nphrases; i++)
		safety_seq_free(&lx->lx_phrases[i]);
	for (i = 0; i < lx->lx_nnegators; i++)
		safety_seq_free(&lx->lx_negators[i]);
	for (i = 0; i < lx->lx_nfillers; i++)
		safety_seq_free(&lx->lx_fillers[i]);
	free(lx->lx_phrases);
	free(lx->lx_negators);
	free(lx->lx_fillers);
	free(lx->lx_cats);
	free(lx->lx_buckets);
	free(lx);
}

/* Does sq match the words of st starting at word i? */
static int
safety_seq_at(const struct safety_seq *sq, const struct safety_text *st,
    size_t i)
{
	size_t	k;

	if (sq->sq_nwords > st->st_ntoks - i)
		return (0);
	for (k = 0; k < sq->sq_nwords; k++) {
		if (!safety_word_match(sq, &sq->sq_words[k], st,
		    &st->st_toks[i + k]))
			return (0);
	}
	return (1);
}

static int
safety_is_filler(const struct safety_lexicon *lx,
    const struct safety_text *st, size_t i)
{
	size_t	k;

	for (k = 0; k < lx->lx_nfillers; k++) {
		if (safety_word_match(&lx->lx_fillers[k],
		    &lx->lx_fillers[k].sq_words[0], st, &st->st_toks[i]))
			return (1);
	}
	return (0);
}

/*
 * Is the match starting at word i negated? Walk back within its clause
 * over at most SAFETY_FILLER_REACH fillers, looking for a negator that
 * ends right there.
 */
static int
safety_negated(const struct safety_lexicon *lx, const struct safety_text *st,
    size_t i)
{
	const struct safety_seq	*ng;
	size_t			 j = i, k, skipped = 0, clause;

	clause = st->st_toks[i].tk_clause;
	while (j > 0 && st->st_toks[j - 1].tk_clause == clause) {
		for (k = 0; k < lx->lx_nnegators; k++) {
			ng = &lx->lx_negators[k];
			if (ng->sq_nwords > j ||
			    st->st_toks[j - ng->sq_nwords].tk_clause != clause)
				continue;
			if (safety_seq_at(ng, st, j - ng->sq_nwords))
				return (1);
		}
		if (skipped == SAFETY_FILLER_REACH ||
		    !safety_is_filler(lx, st, j - 1))
			break;
		skipped++;
		j--;
	}
	return (0);
}

/* Phrase p at word i: keep it in *best if it matches and beats it. */
static void
safety_consider(const struct safety_lexicon *lx, const struct safety_text *st,
    size_t i, long p, long *best)
{
	const struct safety_seq		*sq = &lx->lx_phrases[p], *bq;
	const struct safety_category	*c, *bc;

	c = &lx->lx_cats[sq->sq_category];
	if (*best != -1) {
		bq = &lx->lx_phrases[*best];
		bc = &lx->lx_cats[bq->sq_category];
		if (c->sc_level < bc->sc_level || (c->sc_level ==
		    bc->sc_level && sq->sq_category >= bq->sq_category))
			return;
	}
	if (!safety_seq_at(sq, st, i) || safety_negated(lx, st, i))
		return;
	*best = p;
}

void
safety_classify(const struct safety_lexicon *lx, const char *text,
    size_t len, struct safety_verdict *v)
{
	struct safety_text		 st;
	const struct safety_tok		*tk, *fw;
	const struct safety_seq		*sq;
	const struct safety_category	*c;
	const unsigned char		*w;
	size_t				 i, k, mask;
	long				 p, best = -1;
	uint32_t			 h;

	memset(v, 0, sizeof *v);
	v->level = RISK_NONE;
	snprintf(v->intent, sizeof v->intent, "%s", safety_intents[RISK_NONE]);
	if (lx == NULL || text == NULL || len == 0)
		return;

	safety_text_init(&st, len);
	safety_tokenize(&st, text, len, 0, NULL);
	mask = lx->lx_nbuckets - 1;
	for (i = 0; i < st.st_ntoks; i++) {
		tk = &st.st_toks[i];
		for (p = lx->lx_buckets[tk->tk_hash & mask]; p != -1;
		    p = lx->lx_phrases[p].sq_next) {
			fw = &lx->lx_phrases[p].sq_words[0];
			if (!fw->tk_star)
				safety_consider(lx, &st, i, p, &best);
		}
		if (lx->lx_prefix_lens == 0)
			continue;
		w = st.st_norm.data + tk->tk_off;
		h = SAFETY_FNV_BASIS;
		for (k = 1; k <= tk->tk_len && k <= SAFETY_PREFIX_MAX; k++) {
			h ^= w[k - 1];
			h *= SAFETY_FNV_PRIME;
			if ((lx->lx_prefix_lens & ((uint64_t)1 << k)) == 0)
				continue;
			for (p = lx->lx_buckets[h & mask]; p != -1;
			    p = lx->lx_phrases[p].sq_next) {
				fw = &lx->lx_phrases[p].sq_words[0];
				if (fw->tk_star && fw->tk_len == k)
					safety_consider(lx, &st, i, p, &best);
			}
		}
	}
	safety_text_free(&st);
	if (best == -1)
		return;

	sq = &lx->lx_phrases[best];
	c = &lx->lx_cats[sq->sq_category];
	v->level = c->sc_level;
	snprintf(v->category, sizeof v->category, "%s", c->sc_name);
	snprintf(v->phrase, sizeof v->phrase, "%s", sq->sq_text);
	snprintf(v->intent, sizeof v->intent, "%s", c->sc_intent);
}

const char *
risk_name(enum risk r)
{
	if ((unsigned)r >= nitems(safety_levels))
		return ("unknown");
	return (safety_levels[r]);
}
