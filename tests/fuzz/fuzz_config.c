/* fuzz_config.c: libFuzzer target for the configuration parser. */
/*
 * A parsed config must be consistent: routes sorted and resolved, lookups
 * finding every pool and endpoint. Built with
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, the parser resolves numeric
 * hosts and localhost only, so no name lookups leave the machine.
 */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check(const struct config *);
static void	fuzz_values(const uint8_t *, size_t);

static void
fuzz_check(const struct config *cfg)
{
	const struct endpoint	*ep;
	size_t			 i, j;

	for (i = 0; i < cfg->npools; i++) {
		if (config_find_pool(cfg, cfg->pools[i]->name) !=
		    cfg->pools[i] || cfg->pools[i]->naddrs == 0 ||
		    cfg->pools[i]->concurrency == 0)
			abort();
	}
	for (i = 0; i < cfg->nendpoints; i++) {
		ep = cfg->endpoints[i];
		if (config_find_endpoint(cfg, ep->path, strlen(ep->path)) !=
		    ep || ep->path[0] != '/' || ep->nselection == 0 ||
		    ep->max_message_size == 0)
			abort();
		for (j = 0; j < ep->nroutes; j++) {
			if (ep->routes[j].pool == NULL ||
			    config_find_pool(cfg, ep->routes[j].pool->name) !=
			    ep->routes[j].pool ||
			    strlen(ep->routes[j].key) > ROUTE_KEY_MAX ||
			    ep->routes[j].key[0] == '$')
				abort();
			if (j > 0 && strcmp(ep->routes[j - 1].key,
			    ep->routes[j].key) >= 0)
				abort();
		}
	}
	if (cfg->send_queue_low >= cfg->send_queue_high ||
	    cfg->send_queue_max < cfg->send_queue_high ||
	    cfg->max_inflight == 0 || cfg->listen.text == NULL)
		abort();
}

/* The value parsers on the input as one string. */
static void
fuzz_values(const uint8_t *data, size_t size)
{
	char		*s;
	size_t		 v;
	unsigned	 ms;

	s = malloc(size + 1);
	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (parse_size(s, &v) == 0 && (s[0] < '0' || s[0] > '9'))
		abort();
	if (parse_duration_ms(s, &ms) == 0 && (s[0] < '0' || s[0] > '9'))
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg;
	struct dbuf	 errors;
	int		 rv;

	dbuf_init(&errors, 1 << 20);
	rv = config_parse("fuzz.conf", (const char *)data, size, &cfg,
	    &errors);
	if ((rv == 0) != (cfg != NULL) || (rv == 0) != (errors.len == 0))
		abort();
	if (cfg != NULL)
		fuzz_check(cfg);
	config_free(cfg);
	dbuf_free(&errors);
	if (size <= 64)
		fuzz_values(data, size);
	return (0);
}
