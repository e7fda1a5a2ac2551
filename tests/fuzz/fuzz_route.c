/* fuzz_route.c: libFuzzer target for the route-key scanner and selection. */
/*
 * The first byte picks the selection path. A found key must not depend on
 * the output size beyond whether it fits, whitespace around the message
 * must not matter, and route_select must agree with route_extract.
 */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_select(char **, size_t, const uint8_t *, size_t, int);

static char	fuzz_type[] = "type", fuzz_a[] = "a", fuzz_b[] = "b";
static char	fuzz_action[] = "action";
static char	*fuzz_path_type[] = { fuzz_type };
static char	*fuzz_path_ab[] = { fuzz_a, fuzz_b };
static char	*fuzz_path_action[] = { fuzz_action };

static const struct {
	char	**path;
	size_t	  npath;
} fuzz_paths[] = {
	{ fuzz_path_type, 1 },
	{ fuzz_path_ab, 2 },
	{ fuzz_path_action, 1 },
};

static char	fuzz_chat[] = "chat", fuzz_join[] = "join";
static struct pool	fuzz_pool_chat, fuzz_pool_join, fuzz_pool_default;
static struct route	fuzz_routes[] = {
	{ fuzz_chat, &fuzz_pool_chat },
	{ fuzz_join, &fuzz_pool_join },
};

/* route_select must agree with route_extract. */
static void
fuzz_select(char **path, size_t npath, const uint8_t *data, size_t size,
    int binary)
{
	struct endpoint	 ep;
	struct pool	*got, *want;
	char		 key[ROUTE_KEY_MAX + 1], k[ROUTE_KEY_MAX + 1];
	size_t		 kl;

	memset(&ep, 0, sizeof ep);
	ep.selection = path;
	ep.nselection = npath;
	ep.routes = fuzz_routes;
	ep.nroutes = nitems(fuzz_routes);
	ep.on_default = binary ? NULL : &fuzz_pool_default;

	want = ep.on_default;
	if (!binary && route_extract(path, npath, data, size, k, sizeof k,
	    &kl) && kl == 4) {
		if (memcmp(k, "chat", 5) == 0)
			want = &fuzz_pool_chat;
		else if (memcmp(k, "join", 5) == 0)
			want = &fuzz_pool_join;
	}
	got = route_select(&ep, data, size, binary, key, sizeof key);
	if (got != want || (got == ep.on_default &&
	    strcmp(key, "$default") != 0) || (got != NULL &&
	    got != ep.on_default && strcmp(key, k) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 big[ROUTE_KEY_MAX + 1], small[8], *spaced;
	size_t		 bl = 0, sl = 0, i;
	int		 bf, sf, wf;
	char		**path;
	size_t		 npath;

	if (size < 1)
		return (0);
	i = data[0] % nitems(fuzz_paths);
	path = fuzz_paths[i].path;
	npath = fuzz_paths[i].npath;
	data++;
	size--;

	bf = route_extract(path, npath, data, size, big, sizeof big, &bl);
	sf = route_extract(path, npath, data, size, small, sizeof small, &sl);
	if (bf && (bl >= sizeof big || big[bl] != '\0'))
		abort();
	if (sf && (!bf || sl != bl || sl >= sizeof small ||
	    memcmp(small, big, sl + 1) != 0))
		abort();
	if (bf && !sf && bl < sizeof small)
		abort();

	spaced = malloc(size + 4);
	if (spaced == NULL)
		return (0);
	memcpy(spaced, " \n", 2);
	if (size > 0)
		memcpy(spaced + 2, data, size);
	memcpy(spaced + 2 + size, "\t\r", 2);
	wf = route_extract(path, npath, spaced, size + 4, small,
	    sizeof small, &sl);
	if (wf != sf)
		abort();
	free(spaced);

	fuzz_select(path, npath, data, size, 0);
	fuzz_select(path, npath, data, size, 1);
	return (0);
}
