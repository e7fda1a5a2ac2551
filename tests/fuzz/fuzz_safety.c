/* fuzz_safety.c: libFuzzer target for the safety lexicon and classifier. */
/*
 * The first byte picks the mode: even, the rest is a lexicon to load
 * (and, if it loads, a text it classifies); odd, the rest is a text
 * classified with a small lexicon written here and, when the build names
 * it, the shipped one. A verdict must be consistent, and must not change
 * when ASCII letters change case or a space is doubled.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "chat.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check(const struct safety_verdict *);
static void	fuzz_classify(const struct safety_lexicon *, const uint8_t *,
		    size_t);

static const char fuzz_lexicon[] =
	"[category first high]\n"
	"kill* myself\n"
	"want to die\n"
	"dont want to live\n"
	"хочу умереть\n"
	"[category second medium look_closer]\n"
	"no way out\n"
	"été brûlant\n"
	"[category third low]\n"
	"sad\n"
	"[negators]\n"
	"not\n"
	"never\n"
	"no longer\n"
	"[fillers]\n"
	"i going to want\n";

static struct safety_lexicon	*fuzz_small, *fuzz_shipped;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	err[512];

	fuzz_small = safety_load_buf(fuzz_lexicon, sizeof fuzz_lexicon - 1,
	    "fuzz", err, sizeof err);
	if (fuzz_small == NULL)
		abort();
#ifdef FUZZ_SAFETY_LEXICON
	fuzz_shipped = safety_load(FUZZ_SAFETY_LEXICON, err, sizeof err);
	if (fuzz_shipped == NULL)
		abort();
#endif
	return (0);
}

/* Every field is a NUL-terminated string, and they agree. */
static void
fuzz_check(const struct safety_verdict *v)
{
	if (v->level < RISK_NONE || v->level > RISK_HIGH)
		abort();
	if (memchr(v->category, '\0', sizeof v->category) == NULL ||
	    memchr(v->phrase, '\0', sizeof v->phrase) == NULL ||
	    memchr(v->intent, '\0', sizeof v->intent) == NULL)
		abort();
	if ((v->level == RISK_NONE) != (v->category[0] == '\0') ||
	    (v->level == RISK_NONE) != (v->phrase[0] == '\0') ||
	    v->intent[0] == '\0')
		abort();
	if (strcmp(risk_name(v->level), "unknown") == 0)
		abort();
}

static void
fuzz_classify(const struct safety_lexicon *lx, const uint8_t *data,
    size_t size)
{
	struct safety_verdict	 v, w;
	char			*alt;
	size_t			 i, n;

	safety_classify(lx, (const char *)data, size, &v);
	fuzz_check(&v);

	/* Upper-case ASCII: the same verdict. */
	alt = malloc(size * 2 + 1);
	if (alt == NULL)
		return;
	for (i = 0; i < size; i++)
		alt[i] = (data[i] >= 'a' && data[i] <= 'z') ?
		    (char)(data[i] - 0x20) : (char)data[i];
	safety_classify(lx, alt, size, &w);
	if (memcmp(&v, &w, sizeof v) != 0)
		abort();

	/* Every space doubled: the same verdict. */
	for (i = 0, n = 0; i < size; i++) {
		alt[n++] = (char)data[i];
		if (data[i] == ' ')
			alt[n++] = ' ';
	}
	safety_classify(lx, alt, n, &w);
	if (memcmp(&v, &w, sizeof v) != 0)
		abort();
	free(alt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct safety_lexicon	*lx;
	char			 err[256];

	if (size < 1)
		return (0);
	if (data[0] % 2 == 0) {
		memset(err, 'x', sizeof err);
		lx = safety_load_buf((const char *)data + 1, size - 1, "fuzz",
		    err, sizeof err);
		if (lx == NULL) {
			if (memchr(err, '\0', sizeof err) == NULL ||
			    strncmp(err, "fuzz", 4) != 0)
				abort();
			return (0);
		}
		fuzz_classify(lx, data + 1, size - 1);
		safety_free(lx);
		return (0);
	}
	fuzz_classify(fuzz_small, data + 1, size - 1);
	if (fuzz_shipped != NULL)
		fuzz_classify(fuzz_shipped, data + 1, size - 1);
	return (0);
}
