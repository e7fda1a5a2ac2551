/* config.c: the configuration file, as docs/configuration.md defines it. */
#include "config.h"

#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wsrouter.h"

#define CONFIG_FILE_MAX		(1024 * 1024)
#define CONFIG_TOKENS_MAX	16
#define CONFIG_SIZE_MAX		((size_t)1 << 30)	/* 1g */
#define CONFIG_COUNT_MAX	1000000
#define CONFIG_NAME_MAX		64		/* pool names */
#define CONFIG_PATH_MAX		1024		/* endpoint paths */
#define CONFIG_INSTANCE_MAX	16
#define CONFIG_UNIX_MODE	0660

enum config_ctx {
	CONFIG_GLOBAL = 0,
	CONFIG_POOL,
	CONFIG_ENDPOINT
};

/*
 * Errors are collected with their line, sorted and reported together, so
 * that checks needing the whole file (routes to pools defined later,
 * duplicates) report in line order too.
 */
struct config_error {
	size_t		 line;
	size_t		 seq;
	char		*text;
};

/* A route as written, resolved when the whole file has been read. */
struct config_pending {
	size_t		 ep;		/* index into cfg->endpoints */
	char		*key;
	char		*pool;
	size_t		 line;
};

/* A name with the line that gave it, for sorting and duplicates. */
struct config_name {
	const char	*name;
	size_t		 line;
	size_t		 idx;
};

struct config_parser;

struct config_directive {
	const char	*key;
	enum config_ctx	 ctx;
	size_t		 minargs;
	size_t		 maxargs;
	int		 repeatable;
	void		(*fn)(struct config_parser *, const char *, char **,
			    size_t);
};

struct config_parser {
	const char		*file;
	size_t			 line;
	struct config		*cfg;
	struct config_error	*errs;
	size_t			 nerrs;

	enum config_ctx		 ctx;
	const char		*block_key;
	size_t			 block_line;
	struct pool		*pool;		/* the open pool block */
	struct endpoint		*ep;		/* the open endpoint block */
	int			 discard;	/* a block with a bad name */
	size_t			*gseen;		/* line per global directive */
	size_t			*bseen;		/* the same in the open block */

	size_t			*pool_lines;	/* parallel to cfg->pools */
	size_t			*ep_lines;	/* parallel to cfg->endpoints */
	struct config_pending	*pend;
	size_t			 npend;
};

static void	config_error(struct config_parser *, const char *,
		    const char *, ...) printflike(3, 4);
static void	config_error_at(struct config_parser *, size_t, const char *,
		    const char *, ...) printflike(4, 5);
static int	config_error_cmp(const void *, const void *);
static struct config *config_new(const char *);
static int	config_lex(struct config_parser *, char *, char **, int *,
		    size_t *);
static void	config_line(struct config_parser *, char *, size_t);
static void	config_open_block(struct config_parser *, char **, size_t);
static void	config_close_block(struct config_parser *);
static void	config_directive(struct config_parser *, char **, size_t);
static size_t	config_gline(struct config_parser *, const char *);
static void	config_finish(struct config_parser *);
static void	config_resolve_routes(struct config_parser *);
static void	config_duplicates(struct config_parser *, struct config_name *,
		    size_t, const char *);
static int	config_name_cmp(const void *, const void *);
static int	config_pending_cmp(const void *, const void *);
static void	config_pool_free(struct pool *);
static void	config_endpoint_free(struct endpoint *);
static void	config_listen_free(struct listen_addr *);

static int	config_bool(struct config_parser *, const char *,
		    const char *, int *);
static int	config_number(struct config_parser *, const char *,
		    const char *, unsigned, unsigned, unsigned *);
static int	config_size(struct config_parser *, const char *,
		    const char *, size_t, size_t *);
static int	config_ms(struct config_parser *, const char *, const char *,
		    unsigned *);
static int	config_seconds(struct config_parser *, const char *,
		    const char *, unsigned *);
static int	config_hostport(struct config_parser *, const char *,
		    const char *, int, char **, int *);
static int	config_resolve(struct config_parser *, const char *,
		    const char *, int, int, struct addrinfo **);
static int	config_unix_path(struct config_parser *, const char *,
		    const char *);
static int	config_loopback(const struct sockaddr *);
static int	config_listen_addr(struct config_parser *, const char *,
		    const char *, int, struct listen_addr *);

static void	cf_listen(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_api(struct config_parser *, const char *, char **, size_t);
static void	cf_reuseport(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_instance(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_event_loop(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_log_level(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_global_size(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_max_inflight(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_global_seconds(struct config_parser *, const char *,
		    char **, size_t);
static void	cf_origin(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_static_root(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_address(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_pool_number(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_pool_duration(struct config_parser *, const char *,
		    char **, size_t);
static void	cf_keepalive(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_param(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_route_selection(struct config_parser *, const char *,
		    char **, size_t);
static void	cf_route(struct config_parser *, const char *, char **,
		    size_t);
static void	cf_ep_max_message_size(struct config_parser *, const char *,
		    char **, size_t);
static void	cf_binary(struct config_parser *, const char *, char **,
		    size_t);

static const struct config_directive config_directives[] = {
	{ "listen",		CONFIG_GLOBAL,	1, 1, 0, cf_listen },
	{ "api",		CONFIG_GLOBAL,	1, 2, 0, cf_api },
	{ "reuseport",		CONFIG_GLOBAL,	1, 1, 0, cf_reuseport },
	{ "instance",		CONFIG_GLOBAL,	1, 1, 0, cf_instance },
	{ "log_level",		CONFIG_GLOBAL,	1, 1, 0, cf_log_level },
	{ "event_loop",		CONFIG_GLOBAL,	1, 1, 0, cf_event_loop },
	{ "max_message_size",	CONFIG_GLOBAL,	1, 1, 0, cf_global_size },
	{ "max_output_frame",	CONFIG_GLOBAL,	1, 1, 0, cf_global_size },
	{ "max_inflight",	CONFIG_GLOBAL,	1, 1, 0, cf_max_inflight },
	{ "ping_interval",	CONFIG_GLOBAL,	1, 1, 0, cf_global_seconds },
	{ "idle_timeout",	CONFIG_GLOBAL,	1, 1, 0, cf_global_seconds },
	{ "send_queue_high",	CONFIG_GLOBAL,	1, 1, 0, cf_global_size },
	{ "send_queue_low",	CONFIG_GLOBAL,	1, 1, 0, cf_global_size },
	{ "send_queue_max",	CONFIG_GLOBAL,	1, 1, 0, cf_global_size },
	{ "shutdown_timeout",	CONFIG_GLOBAL,	1, 1, 0, cf_global_seconds },
	{ "origin",		CONFIG_GLOBAL,	1, 1, 1, cf_origin },
	{ "static_root",	CONFIG_GLOBAL,	1, 1, 0, cf_static_root },

	{ "address",		CONFIG_POOL,	1, 1, 1, cf_address },
	{ "concurrency",	CONFIG_POOL,	1, 1, 0, cf_pool_number },
	{ "queue",		CONFIG_POOL,	1, 1, 0, cf_pool_number },
	{ "queue_timeout",	CONFIG_POOL,	1, 1, 0, cf_pool_duration },
	{ "connect_timeout",	CONFIG_POOL,	1, 1, 0, cf_pool_duration },
	{ "first_byte_timeout",	CONFIG_POOL,	1, 1, 0, cf_pool_duration },
	{ "idle_timeout",	CONFIG_POOL,	1, 1, 0, cf_pool_duration },
	{ "keepalive",		CONFIG_POOL,	1, 1, 0, cf_keepalive },
	{ "param",		CONFIG_POOL,	2, 2, 1, cf_param },

	{ "route_selection",	CONFIG_ENDPOINT, 1, 1, 0, cf_route_selection },
	{ "route",		CONFIG_ENDPOINT, 2, 2, 1, cf_route },
	{ "max_message_size",	CONFIG_ENDPOINT, 1, 1, 0,
	    cf_ep_max_message_size },
	{ "binary",		CONFIG_ENDPOINT, 1, 1, 0, cf_binary },
};

static const char *const config_ctx_names[] = {
	"at the top level", "inside a pool block", "inside an endpoint block"
};

static void
config_error(struct config_parser *cp, const char *key, const char *fmt, ...)
{
	struct config_error	*e;
	va_list			 ap;
	char			*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	cp->errs = xreallocarray(cp->errs, cp->nerrs + 1, sizeof *cp->errs);
	e = &cp->errs[cp->nerrs];
	e->line = cp->line;
	e->seq = cp->nerrs++;
	xasprintf(&e->text, "%s:%zu: %s: %s\n", cp->file, cp->line, key, msg);
	free(msg);
}

static void
config_error_at(struct config_parser *cp, size_t line, const char *key,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	size_t	 saved = cp->line;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	cp->line = line;
	config_error(cp, key, "%s", msg);
	cp->line = saved;
	free(msg);
}

static int
config_error_cmp(const void *a, const void *b)
{
	const struct config_error	*ea = a, *eb = b;

	if (ea->line != eb->line)
		return (ea->line < eb->line ? -1 : 1);
	if (ea->seq != eb->seq)
		return (ea->seq < eb->seq ? -1 : 1);
	return (0);
}

static struct config *
config_new(const char *name)
{
	struct config	*cfg;

	cfg = xcalloc(1, sizeof *cfg);
	cfg->file = xstrdup(name);
	cfg->listen.text = xstrdup("127.0.0.1:8080");
	cfg->listen.host = xstrdup("127.0.0.1");
	cfg->listen.port = 8080;
	cfg->listen.unix_mode = CONFIG_UNIX_MODE;
	cfg->api.unix_mode = CONFIG_UNIX_MODE;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->max_message_size = 128 * 1024;
	cfg->max_output_frame = 1024 * 1024;
	cfg->max_inflight = 16;
	cfg->ping_interval = 30;
	cfg->idle_timeout = 600;
	cfg->send_queue_high = 256 * 1024;
	cfg->send_queue_low = 64 * 1024;
	cfg->send_queue_max = 16 * 1024 * 1024;
	cfg->shutdown_timeout = 30;
	return (cfg);
}

int
config_parse(const char *name, const char *text, size_t len,
    struct config **out, struct dbuf *errors)
{
	struct config_parser	 cp;
	const char		*nl;
	char			*line;
	size_t			 off = 0, n, i;
	int			 rv = -1;

	*out = NULL;
	memset(&cp, 0, sizeof cp);
	cp.file = name;
	cp.cfg = config_new(name);
	cp.gseen = xcalloc(nitems(config_directives), sizeof *cp.gseen);
	cp.bseen = xcalloc(nitems(config_directives), sizeof *cp.bseen);

	while (off < len) {
		nl = memchr(text + off, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - (text + off)) : len - off;
		cp.line++;
		line = xmalloc(n + 1);
		memcpy(line, text + off, n);
		line[n] = '\0';
		config_line(&cp, line, n);
		free(line);
		off += n + 1;
	}
	config_finish(&cp);

	if (cp.nerrs > 0)
		qsort(cp.errs, cp.nerrs, sizeof *cp.errs, config_error_cmp);
	for (i = 0; i < cp.nerrs; i++) {
		dbuf_adds(errors, cp.errs[i].text);
		free(cp.errs[i].text);
	}
	if (cp.nerrs == 0) {
		*out = cp.cfg;
		rv = 0;
	} else
		config_free(cp.cfg);

	free(cp.errs);
	for (i = 0; i < cp.npend; i++) {
		free(cp.pend[i].key);
		free(cp.pend[i].pool);
	}
	free(cp.pend);
	free(cp.gseen);
	free(cp.bseen);
	free(cp.pool_lines);
	free(cp.ep_lines);
	return (rv);
}

int
config_load(const char *path, struct config **out, struct dbuf *errors)
{
	unsigned char	*buf;
	size_t		 len;
	int		 rv;

	*out = NULL;
	switch (file_read(path, CONFIG_FILE_MAX, &buf, &len)) {
	case FILE_READ_OK:
		break;
	case FILE_READ_BIG:
		dbuf_printf(errors, "%s: larger than %d bytes\n", path,
		    CONFIG_FILE_MAX);
		return (-1);
	default:
		dbuf_printf(errors, "%s: %s\n", path, strerror(errno));
		return (-1);
	}
	rv = config_parse(path, (char *)buf, len, out, errors);
	free(buf);
	return (rv);
}

/* Split a line into arguments in place: quotes, escapes and comments. */
static int
config_lex(struct config_parser *cp, char *s, char **tok, int *quoted,
    size_t *ntok)
{
	char		*r = s, *w = s;
	const char	*key;
	char		 c;

	*ntok = 0;
	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r')
			r++;
		if (*r == '\0' || *r == '#')
			return (0);
		key = *ntok > 0 ? tok[0] : "syntax";
		if (*ntok == CONFIG_TOKENS_MAX) {
			config_error(cp, key, "too many arguments");
			return (-1);
		}
		tok[*ntok] = w;
		quoted[*ntok] = *r == '"';
		if (*r == '"') {
			r++;
			for (;;) {
				c = *r++;
				if (c == '\0') {
					config_error(cp, key,
					    "unterminated quoted argument");
					return (-1);
				}
				if (c == '"')
					break;
				if (c == '\\') {
					if (*r != '"' && *r != '\\') {
						config_error(cp, key,
						    "bad escape in quotes (only"
						    " \\\" and \\\\)");
						return (-1);
					}
					c = *r++;
				}
				*w++ = c;
			}
			if (*r != '\0' && *r != ' ' && *r != '\t' &&
			    *r != '\r' && *r != '#') {
				config_error(cp, key,
				    "no space after a quoted argument");
				return (-1);
			}
		} else {
			while (*r != '\0' && *r != ' ' && *r != '\t' &&
			    *r != '\r' && *r != '#') {
				if (*r == '"') {
					config_error(cp, key,
					    "quote inside an argument");
					return (-1);
				}
				*w++ = *r++;
			}
		}
		/*
		 * w is behind r here, or on r only when r is at a blank or
		 * the end; a '#' under it must survive the NUL.
		 */
		c = *r;
		*w++ = '\0';
		if (c == '#')
			return (++(*ntok), 0);
		if (c != '\0')
			r++;
		(*ntok)++;
		if (c == '\0')
			return (0);
	}
}

static void
config_line(struct config_parser *cp, char *line, size_t len)
{
	char	*tok[CONFIG_TOKENS_MAX];
	int	 quoted[CONFIG_TOKENS_MAX];
	size_t	 ntok, i;

	for (i = 0; i < len; i++) {
		if (line[i] == '\0' || ((unsigned char)line[i] < ' ' &&
		    line[i] != '\t' && line[i] != '\r') || line[i] == 0x7f) {
			config_error(cp, "syntax", "control character in line");
			return;
		}
	}
	if (config_lex(cp, line, tok, quoted, &ntok) == -1 || ntok == 0)
		return;

	for (i = 0; i + 1 < ntok; i++) {
		if (!quoted[i] && strcmp(tok[i], "{") == 0) {
			config_error(cp, tok[0], "'{' must end the line");
			return;
		}
	}
	if (!quoted[0] && strcmp(tok[0], "}") == 0) {
		if (ntok > 1)
			config_error(cp, "}", "'}' must stand alone");
		else if (cp->ctx == CONFIG_GLOBAL)
			config_error(cp, "}", "no block to close");
		else
			config_close_block(cp);
		return;
	}
	if (!quoted[ntok - 1] && strcmp(tok[ntok - 1], "{") == 0) {
		config_open_block(cp, tok, ntok);
		return;
	}
	config_directive(cp, tok, ntok);
}

static void
config_open_block(struct config_parser *cp, char **tok, size_t ntok)
{
	struct config	*cfg = cp->cfg;
	const char	*key = tok[0], *name;
	size_t		 i, n;
	int		 bad = 0;

	if (strcmp(key, "pool") != 0 && strcmp(key, "endpoint") != 0) {
		config_error(cp, key, "not a block (only pool and endpoint)");
		return;
	}
	if (cp->ctx != CONFIG_GLOBAL) {
		config_error(cp, key, "blocks do not nest (the %s block of "
		    "line %zu is not closed)", cp->block_key, cp->block_line);
		config_close_block(cp);
	}
	if (ntok < 3) {
		config_error(cp, key, "missing argument");
		bad = 1;
	} else if (ntok > 3) {
		config_error(cp, key, "extra argument \"%s\"", tok[2]);
		bad = 1;
	}
	name = ntok >= 3 ? tok[1] : "";
	n = strlen(name);

	cp->block_line = cp->line;
	memset(cp->bseen, 0, nitems(config_directives) * sizeof *cp->bseen);
	if (key[0] == 'p') {
		cp->ctx = CONFIG_POOL;
		cp->block_key = "pool";
		if (!bad && (n == 0 || n > CONFIG_NAME_MAX ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)) {
			config_error(cp, key, "bad pool name \"%s\" (1-%d of "
			    "A-Z a-z 0-9 _ . -)", name, CONFIG_NAME_MAX);
			bad = 1;
		}
		cp->pool = xcalloc(1, sizeof *cp->pool);
		cp->pool->name = xstrdup(name);
		cp->pool->concurrency = 64;
		cp->pool->queue = 1024;
		cp->pool->queue_timeout_ms = 10000;
		cp->pool->connect_timeout_ms = 3000;
		cp->pool->first_byte_timeout_ms = 60000;
		cp->pool->idle_timeout_ms = 60000;
		cp->discard = bad;
		if (bad)
			return;
		i = cfg->npools++;
		cfg->pools = xreallocarray(cfg->pools, cfg->npools,
		    sizeof *cfg->pools);
		cp->pool_lines = xreallocarray(cp->pool_lines, cfg->npools,
		    sizeof *cp->pool_lines);
		cfg->pools[i] = cp->pool;
		cp->pool_lines[i] = cp->line;
		return;
	}

	cp->ctx = CONFIG_ENDPOINT;
	cp->block_key = "endpoint";
	if (!bad) {
		for (i = 0; i < n; i++) {
			if ((unsigned char)name[i] <= ' ' ||
			    (unsigned char)name[i] >= 0x7f ||
			    name[i] == '?' || name[i] == '#')
				break;
		}
		if (name[0] != '/' || i != n || n > CONFIG_PATH_MAX) {
			config_error(cp, key, "bad path \"%s\" (it starts with"
			    " / and has no blanks, ? or #)", name);
			bad = 1;
		}
	}
	cp->ep = xcalloc(1, sizeof *cp->ep);
	cp->ep->path = xstrdup(name);
	cp->ep->selection_text = xstrdup("type");
	cp->ep->selection = xcalloc(1, sizeof *cp->ep->selection);
	cp->ep->selection[0] = xstrdup("type");
	cp->ep->nselection = 1;
	cp->ep->allow_binary = 1;
	cp->discard = bad;
	if (bad)
		return;
	i = cfg->nendpoints++;
	cfg->endpoints = xreallocarray(cfg->endpoints, cfg->nendpoints,
	    sizeof *cfg->endpoints);
	cp->ep_lines = xreallocarray(cp->ep_lines, cfg->nendpoints,
	    sizeof *cp->ep_lines);
	cfg->endpoints[i] = cp->ep;
	cp->ep_lines[i] = cp->line;
}

static void
config_close_block(struct config_parser *cp)
{
	if (cp->discard) {
		if (cp->pool != NULL)
			config_pool_free(cp->pool);
		if (cp->ep != NULL)
			config_endpoint_free(cp->ep);
	}
	cp->pool = NULL;
	cp->ep = NULL;
	cp->discard = 0;
	cp->ctx = CONFIG_GLOBAL;
	memset(cp->bseen, 0, nitems(config_directives) * sizeof *cp->bseen);
}

static void
config_directive(struct config_parser *cp, char **tok, size_t ntok)
{
	const struct config_directive	*d = NULL;
	const char			*key = tok[0];
	size_t				 i, nargs = ntok - 1, elsewhere = 0;
	size_t				*seen;

	for (i = 0; i < nitems(config_directives); i++) {
		if (strcmp(config_directives[i].key, key) != 0)
			continue;
		if (config_directives[i].ctx == cp->ctx) {
			d = &config_directives[i];
			break;
		}
		elsewhere = 1 + config_directives[i].ctx;
	}
	if (d == NULL) {
		if (elsewhere)
			config_error(cp, key, "not allowed %s (only %s)",
			    config_ctx_names[cp->ctx],
			    config_ctx_names[elsewhere - 1]);
		else
			config_error(cp, key, "unknown key");
		return;
	}
	if (nargs < d->minargs) {
		config_error(cp, key, "missing argument");
		return;
	}
	if (nargs > d->maxargs) {
		config_error(cp, key, "extra argument \"%s\"",
		    tok[1 + d->maxargs]);
		return;
	}
	seen = cp->ctx == CONFIG_GLOBAL ? cp->gseen : cp->bseen;
	if (!d->repeatable) {
		if (seen[i] != 0) {
			config_error(cp, key, "given twice (first on line %zu)",
			    seen[i]);
			return;
		}
		seen[i] = cp->line;
	}
	d->fn(cp, key, tok + 1, nargs);
}

/* The line of a global directive, 0 if it was not given. */
static size_t
config_gline(struct config_parser *cp, const char *key)
{
	size_t	i;

	for (i = 0; i < nitems(config_directives); i++) {
		if (config_directives[i].ctx == CONFIG_GLOBAL &&
		    strcmp(config_directives[i].key, key) == 0)
			return (cp->gseen[i]);
	}
	return (0);
}

/* Checks that need the whole file. */
static void
config_finish(struct config_parser *cp)
{
	struct config		*cfg = cp->cfg;
	struct config_name	*names;
	size_t			 i, lo, hi, mx, line;

	if (cp->ctx != CONFIG_GLOBAL) {
		config_error_at(cp, cp->block_line, cp->block_key,
		    "block not closed");
		config_close_block(cp);
	}

	for (i = 0; i < cfg->npools; i++) {
		if (cfg->pools[i]->naddrs == 0)
			config_error_at(cp, cp->pool_lines[i], "pool",
			    "pool \"%s\" has no address", cfg->pools[i]->name);
	}

	names = xcalloc(cfg->nendpoints + 1, sizeof *names);
	for (i = 0; i < cfg->nendpoints; i++) {
		names[i].name = cfg->endpoints[i]->path;
		names[i].line = cp->ep_lines[i];
		names[i].idx = i;
	}
	config_duplicates(cp, names, cfg->nendpoints, "endpoint");
	free(names);

	config_resolve_routes(cp);

	/* 0 is not a size config_size() takes: the block gave none. */
	for (i = 0; i < cfg->nendpoints; i++) {
		if (cfg->endpoints[i]->max_message_size == 0)
			cfg->endpoints[i]->max_message_size =
			    cfg->max_message_size;
	}

	lo = config_gline(cp, "send_queue_low");
	hi = config_gline(cp, "send_queue_high");
	mx = config_gline(cp, "send_queue_max");
	if (cfg->send_queue_low >= cfg->send_queue_high) {
		line = lo > hi ? lo : hi;
		config_error_at(cp, line, line == lo ? "send_queue_low" :
		    "send_queue_high", "send_queue_low (%zu) must be less "
		    "than send_queue_high (%zu)", cfg->send_queue_low,
		    cfg->send_queue_high);
	}
	if (cfg->send_queue_max < cfg->send_queue_high) {
		line = mx > hi ? mx : hi;
		config_error_at(cp, line, line == mx ? "send_queue_max" :
		    "send_queue_high", "send_queue_max (%zu) must be at least "
		    "send_queue_high (%zu)", cfg->send_queue_max,
		    cfg->send_queue_high);
	}
}

/*
 * Find duplicate pools, then give each endpoint its routes: sorted by
 * endpoint and key, the pending routes come out in the order route_select()
 * searches them.
 */
static void
config_resolve_routes(struct config_parser *cp)
{
	struct config		*cfg = cp->cfg;
	struct config_name	*names;
	struct config_pending	*p, *prev = NULL;
	struct endpoint		*ep;
	struct pool		*pool;
	size_t			 i, lo, hi, mid;
	int			 c;

	names = xcalloc(cfg->npools + 1, sizeof *names);
	for (i = 0; i < cfg->npools; i++) {
		names[i].name = cfg->pools[i]->name;
		names[i].line = cp->pool_lines[i];
		names[i].idx = i;
	}
	config_duplicates(cp, names, cfg->npools, "pool");

	if (cp->npend > 0)
		qsort(cp->pend, cp->npend, sizeof *cp->pend,
		    config_pending_cmp);
	for (i = 0; i < cp->npend; prev = p, i++) {
		p = &cp->pend[i];
		ep = cfg->endpoints[p->ep];
		if (prev != NULL && prev->ep == p->ep &&
		    strcmp(prev->key, p->key) == 0) {
			config_error_at(cp, p->line, "route", "duplicate route "
			    "\"%s\" (first on line %zu)", p->key, prev->line);
			continue;
		}
		pool = NULL;
		lo = 0;
		hi = cfg->npools;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			c = strcmp(p->pool, names[mid].name);
			if (c == 0) {
				pool = cfg->pools[names[mid].idx];
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (pool == NULL) {
			config_error_at(cp, p->line, "route",
			    "unknown pool \"%s\"", p->pool);
			continue;
		}
		if (strcmp(p->key, "$connect") == 0)
			ep->on_connect = pool;
		else if (strcmp(p->key, "$disconnect") == 0)
			ep->on_disconnect = pool;
		else if (strcmp(p->key, "$default") == 0)
			ep->on_default = pool;
		else {
			ep->routes = xreallocarray(ep->routes, ep->nroutes + 1,
			    sizeof *ep->routes);
			ep->routes[ep->nroutes].key = xstrdup(p->key);
			ep->routes[ep->nroutes].pool = pool;
			ep->nroutes++;
		}
	}
	free(names);
}

/* Sort names (by name, then line) and report each one given before. */
static void
config_duplicates(struct config_parser *cp, struct config_name *names,
    size_t n, const char *key)
{
	size_t	i;

	if (n > 0)
		qsort(names, n, sizeof *names, config_name_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(names[i].name, names[i - 1].name) == 0)
			config_error_at(cp, names[i].line, key,
			    "duplicate %s \"%s\" (first on line %zu)", key,
			    names[i].name, names[i - 1].line);
	}
}

static int
config_name_cmp(const void *a, const void *b)
{
	const struct config_name	*na = a, *nb = b;
	int				 c;

	if ((c = strcmp(na->name, nb->name)) != 0)
		return (c);
	if (na->line != nb->line)
		return (na->line < nb->line ? -1 : 1);
	return (0);
}

static int
config_pending_cmp(const void *a, const void *b)
{
	const struct config_pending	*pa = a, *pb = b;
	int				 c;

	if (pa->ep != pb->ep)
		return (pa->ep < pb->ep ? -1 : 1);
	if ((c = strcmp(pa->key, pb->key)) != 0)
		return (c);
	if (pa->line != pb->line)
		return (pa->line < pb->line ? -1 : 1);
	return (0);
}

static void
config_pool_free(struct pool *pool)
{
	size_t	i;

	for (i = 0; i < pool->naddrs; i++)
		free(pool->addrs[i].text);
	free(pool->addrs);
	for (i = 0; i < pool->nparams; i++) {
		free(pool->params[i].name);
		free(pool->params[i].value);
	}
	free(pool->params);
	free(pool->name);
	free(pool);
}

static void
config_endpoint_free(struct endpoint *ep)
{
	size_t	i;

	for (i = 0; i < ep->nselection; i++)
		free(ep->selection[i]);
	free(ep->selection);
	free(ep->selection_text);
	for (i = 0; i < ep->nroutes; i++)
		free(ep->routes[i].key);
	free(ep->routes);
	free(ep->path);
	free(ep);
}

static void
config_listen_free(struct listen_addr *la)
{
	free(la->text);
	free(la->host);
	free(la->unix_path);
	la->text = la->host = la->unix_path = NULL;
}

void
config_free(struct config *cfg)
{
	size_t	i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->npools; i++)
		config_pool_free(cfg->pools[i]);
	free(cfg->pools);
	for (i = 0; i < cfg->nendpoints; i++)
		config_endpoint_free(cfg->endpoints[i]);
	free(cfg->endpoints);
	for (i = 0; i < cfg->norigins; i++)
		free(cfg->origins[i]);
	free(cfg->origins);
	config_listen_free(&cfg->listen);
	config_listen_free(&cfg->api);
	free(cfg->instance);
	free(cfg->static_root);
	free(cfg->file);
	free(cfg);
}

struct pool *
config_find_pool(const struct config *cfg, const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->npools; i++) {
		if (strcmp(cfg->pools[i]->name, name) == 0)
			return (cfg->pools[i]);
	}
	return (NULL);
}

const struct endpoint *
config_find_endpoint(const struct config *cfg, const char *path, size_t len)
{
	const struct endpoint	*ep;
	size_t			 i;

	for (i = 0; i < cfg->nendpoints; i++) {
		ep = cfg->endpoints[i];
		if (strlen(ep->path) == len && memcmp(ep->path, path, len) == 0)
			return (ep);
	}
	return (NULL);
}

/* A number with an optional k, m or g suffix (powers of 1024). */
int
parse_size(const char *s, size_t *out)
{
	size_t	v = 0, mult = 1;

	if (*s < '0' || *s > '9')
		return (-1);
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (SIZE_MAX - (size_t)(*s - '0')) / 10)
			return (-1);
		v = v * 10 + (*s - '0');
	}
	switch (*s) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = (size_t)1 << 10;
		s++;
		break;
	case 'm':
	case 'M':
		mult = (size_t)1 << 20;
		s++;
		break;
	case 'g':
	case 'G':
		mult = (size_t)1 << 30;
		s++;
		break;
	default:
		return (-1);
	}
	if (*s != '\0' || v > SIZE_MAX / mult)
		return (-1);
	*out = v * mult;
	return (0);
}

/* A number with an optional ms, s, m or h suffix; a bare one is seconds. */
int
parse_duration_ms(const char *s, unsigned *out)
{
	unsigned long long	v = 0, mult;

	if (*s < '0' || *s > '9')
		return (-1);
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (*s - '0');
		if (v > UINT_MAX)
			return (-1);
	}
	if (strcmp(s, "") == 0 || strcmp(s, "s") == 0)
		mult = 1000;
	else if (strcmp(s, "ms") == 0)
		mult = 1;
	else if (strcmp(s, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(s, "h") == 0)
		mult = 60 * 60 * 1000;
	else
		return (-1);
	if (v > UINT_MAX / mult)
		return (-1);
	*out = v * mult;
	return (0);
}

static int
config_bool(struct config_parser *cp, const char *key, const char *s,
    int *out)
{
	if (strcasecmp(s, "on") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "true") == 0)
		*out = 1;
	else if (strcasecmp(s, "off") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "false") == 0)
		*out = 0;
	else {
		config_error(cp, key, "\"%s\" is not on or off", s);
		return (-1);
	}
	return (0);
}

static int
config_number(struct config_parser *cp, const char *key, const char *s,
    unsigned min, unsigned max, unsigned *out)
{
	unsigned long long	v = 0;
	const char		*p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > max)
			break;
	}
	if (p == s || *p != '\0' || v < min || v > max) {
		config_error(cp, key, "\"%s\" is not a number from %u to %u",
		    s, min, max);
		return (-1);
	}
	*out = v;
	return (0);
}

static int
config_size(struct config_parser *cp, const char *key, const char *s,
    size_t min, size_t *out)
{
	size_t	v;

	if (parse_size(s, &v) == -1) {
		config_error(cp, key, "\"%s\" is not a size (a number with an "
		    "optional k, m or g)", s);
		return (-1);
	}
	if (v < min || v > CONFIG_SIZE_MAX) {
		config_error(cp, key, "%s is out of range (%zu to 1g)", s,
		    min);
		return (-1);
	}
	*out = v;
	return (0);
}

static int
config_ms(struct config_parser *cp, const char *key, const char *s,
    unsigned *out)
{
	if (parse_duration_ms(s, out) == -1) {
		config_error(cp, key, "\"%s\" is not a duration (a number with "
		    "an optional ms, s, m or h)", s);
		return (-1);
	}
	return (0);
}

static int
config_seconds(struct config_parser *cp, const char *key, const char *s,
    unsigned *out)
{
	unsigned	ms;

	if (config_ms(cp, key, s, &ms) == -1)
		return (-1);
	if (ms % 1000 != 0) {
		config_error(cp, key, "%s is not a whole number of seconds", s);
		return (-1);
	}
	*out = ms / 1000;
	return (0);
}

/*
 * Split HOST:PORT, [IPV6]:PORT, *:PORT or PORT. *host is NULL for all
 * interfaces (the last two forms), which only a listener may use.
 */
static int
config_hostport(struct config_parser *cp, const char *key, const char *s,
    int need_host, char **host, int *port)
{
	const char	*p, *close, *colon;
	unsigned	 v;
	char		*h = NULL;

	*host = NULL;
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL || close[1] != ':' ||
		    close == s + 1) {
			config_error(cp, key, "bad address \"%s\"", s);
			return (-1);
		}
		h = xstrndup(s + 1, close - s - 1);
		p = close + 2;
	} else if ((colon = strrchr(s, ':')) == NULL)
		p = s;
	else {
		if (memchr(s, ':', colon - s) != NULL) {
			config_error(cp, key, "bad address \"%s\" (IPv6 "
			    "addresses go in brackets: [::1]:PORT)", s);
			return (-1);
		}
		if (colon == s) {
			config_error(cp, key, "bad address \"%s\"", s);
			return (-1);
		}
		if (colon - s != 1 || s[0] != '*')
			h = xstrndup(s, colon - s);
		p = colon + 1;
	}
	if (h == NULL && need_host) {
		config_error(cp, key, "\"%s\" needs a host (HOST:PORT or "
		    "unix:PATH)", s);
		return (-1);
	}
	v = 0;
	if (strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) ||
	    *p == '\0' || (v = strtoul(p, NULL, 10)) < 1 || v > 65535) {
		config_error(cp, key, "bad port in \"%s\" (1 to 65535)", s);
		free(h);
		return (-1);
	}
	*host = h;
	*port = v;
	return (0);
}

static int
config_resolve(struct config_parser *cp, const char *key, const char *host,
    int port, int passive, struct addrinfo **res)
{
	struct addrinfo	hints;
	char		serv[16];
	int		error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* No name lookups from the fuzzer. */
	if (strcmp(host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
#endif
	snprintf(serv, sizeof serv, "%d", port);
	if ((error = getaddrinfo(host, serv, &hints, res)) != 0) {
		config_error(cp, key, "cannot resolve \"%s\": %s", host,
		    gai_strerror(error));
		return (-1);
	}
	return (0);
}

static int
config_unix_path(struct config_parser *cp, const char *key, const char *path)
{
	struct sockaddr_un	sun;

	if (*path == '\0') {
		config_error(cp, key, "empty unix socket path");
		return (-1);
	}
	if (strlen(path) >= sizeof sun.sun_path) {
		config_error(cp, key, "unix socket path longer than %zu bytes",
		    sizeof sun.sun_path - 1);
		return (-1);
	}
	return (0);
}

static int
config_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return (1);
		return (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127);
	}
	return (0);
}

/* listen and api: a host and port, or unix:PATH. */
static int
config_listen_addr(struct config_parser *cp, const char *key, const char *s,
    int api, struct listen_addr *la)
{
	struct listen_addr	 n;
	struct addrinfo		*res, *ai;

	memset(&n, 0, sizeof n);
	n.unix_mode = CONFIG_UNIX_MODE;
	if (strncmp(s, "unix:", 5) == 0) {
		if (config_unix_path(cp, key, s + 5) == -1)
			return (-1);
		n.unix_path = xstrdup(s + 5);
	} else {
		if (config_hostport(cp, key, s, 0, &n.host, &n.port) == -1)
			return (-1);
		if (api && n.host == NULL) {
			config_error(cp, key, "\"%s\" is not a loopback "
			    "address", s);
			return (-1);
		}
		if (n.host != NULL) {
			if (config_resolve(cp, key, n.host, n.port, !api,
			    &res) == -1) {
				free(n.host);
				return (-1);
			}
			for (ai = res; api && ai != NULL; ai = ai->ai_next) {
				if (!config_loopback(ai->ai_addr))
					break;
			}
			freeaddrinfo(res);
			if (api && ai != NULL) {
				config_error(cp, key, "\"%s\" is not a "
				    "loopback address (127.0.0.0/8, ::1, "
				    "localhost)", s);
				free(n.host);
				return (-1);
			}
		}
	}
	n.text = xstrdup(s);
	config_listen_free(la);
	*la = n;
	return (0);
}

static void
cf_listen(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	config_listen_addr(cp, key, argv[0], 0, &cp->cfg->listen);
}

static void
cf_api(struct config_parser *cp, const char *key, char **argv, size_t argc)
{
	struct config	*cfg = cp->cfg;
	const char	*m;
	unsigned	 mode = 0;

	if (config_listen_addr(cp, key, argv[0], 1, &cfg->api) == -1)
		return;
	cfg->api_set = 1;
	if (argc < 2)
		return;
	if (cfg->api.unix_path == NULL) {
		config_error(cp, key, "a MODE is only for unix:PATH");
		return;
	}
	m = argv[1];
	if (*m == '\0' || strlen(m) > 4 || strspn(m, "01234567") != strlen(m) ||
	    (mode = strtoul(m, NULL, 8)) > 0777) {
		config_error(cp, key, "bad mode \"%s\" (octal, e.g. 0660)", m);
		return;
	}
	cfg->api.unix_mode = mode;
}

static void
cf_reuseport(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	config_bool(cp, key, argv[0], &cp->cfg->reuseport);
}

static void
cf_instance(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	const char	*s = argv[0];
	size_t		 n = strlen(s);

	if (n == 0 || n > CONFIG_INSTANCE_MAX || strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
	    != n) {
		config_error(cp, key, "bad instance name \"%s\" (1-%d of A-Z "
		    "a-z 0-9 _ -)", s, CONFIG_INSTANCE_MAX);
		return;
	}
	free(cp->cfg->instance);
	cp->cfg->instance = xstrdup(s);
}

static void
cf_log_level(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	if (log_level_parse(argv[0], &cp->cfg->log_level) == -1)
		config_error(cp, key, "\"%s\" is not error, warn, info or "
		    "debug", argv[0]);
}

static void
cf_event_loop(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	if (strcmp(argv[0], "libev") == 0)
		cp->cfg->event_loop = EVENT_LOOP_LIBEV;
	else if (strcmp(argv[0], "poll") == 0)
		cp->cfg->event_loop = EVENT_LOOP_POLL;
	else
		config_error(cp, key, "\"%s\" is not libev or poll", argv[0]);
}

static void
cf_global_size(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct config	*cfg = cp->cfg;
	size_t		*out;

	if (strcmp(key, "max_message_size") == 0)
		out = &cfg->max_message_size;
	else if (strcmp(key, "max_output_frame") == 0)
		out = &cfg->max_output_frame;
	else if (strcmp(key, "send_queue_high") == 0)
		out = &cfg->send_queue_high;
	else if (strcmp(key, "send_queue_low") == 0)
		out = &cfg->send_queue_low;
	else
		out = &cfg->send_queue_max;
	config_size(cp, key, argv[0], 1, out);
}

static void
cf_max_inflight(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	config_number(cp, key, argv[0], 1, CONFIG_COUNT_MAX,
	    &cp->cfg->max_inflight);
}

static void
cf_global_seconds(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct config	*cfg = cp->cfg;
	unsigned	*out;

	if (strcmp(key, "ping_interval") == 0)
		out = &cfg->ping_interval;
	else if (strcmp(key, "idle_timeout") == 0)
		out = &cfg->idle_timeout;
	else
		out = &cfg->shutdown_timeout;
	config_seconds(cp, key, argv[0], out);
}

/* scheme://host[:port], exactly as a browser sends it in Origin. */
static void
cf_origin(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct config	*cfg = cp->cfg;
	const char	*s = argv[0], *host;
	size_t		 i;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		host = NULL;
	for (i = 0; host != NULL && host[i] != '\0'; i++) {
		if ((unsigned char)host[i] <= ' ' ||
		    (unsigned char)host[i] >= 0x7f || host[i] == '/' ||
		    host[i] == '?' || host[i] == '#')
			break;
	}
	if (host == NULL || *host == '\0' || host[i] != '\0') {
		config_error(cp, key, "bad origin \"%s\" (scheme://host[:port]"
		    ", no path)", s);
		return;
	}
	cfg->origins = xreallocarray(cfg->origins, cfg->norigins + 1,
	    sizeof *cfg->origins);
	cfg->origins[cfg->norigins++] = xstrdup(s);
}

static void
cf_static_root(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	if (*argv[0] == '\0') {
		config_error(cp, key, "empty directory");
		return;
	}
	free(cp->cfg->static_root);
	cp->cfg->static_root = xstrdup(argv[0]);
}

static void
cf_address(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct pool		*pool = cp->pool;
	struct pool_addr	 a;
	struct sockaddr_un	 sun;
	struct addrinfo		*res, *ai;
	const char		*s = argv[0];
	char			*host;
	int			 port;

	memset(&a, 0, sizeof a);
	if (strncmp(s, "unix:", 5) == 0) {
		if (config_unix_path(cp, key, s + 5) == -1)
			return;
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, s + 5, strlen(s + 5) + 1);
		memcpy(&a.ss, &sun, sizeof sun);
		a.sslen = offsetof(struct sockaddr_un, sun_path) +
		    strlen(s + 5) + 1;
	} else {
		if (config_hostport(cp, key, s, 1, &host, &port) == -1)
			return;
		if (config_resolve(cp, key, host, port, 0, &res) == -1) {
			free(host);
			return;
		}
		free(host);
		/* Prefer IPv4: "localhost" may name an unconfigured ::1. */
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (ai->ai_family == AF_INET)
				break;
		}
		if (ai == NULL)
			ai = res;
		if (ai->ai_addrlen > sizeof a.ss) {
			freeaddrinfo(res);
			config_error(cp, key, "bad address \"%s\"", s);
			return;
		}
		memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
		a.sslen = ai->ai_addrlen;
		freeaddrinfo(res);
	}
	a.text = xstrdup(s);
	pool->addrs = xreallocarray(pool->addrs, pool->naddrs + 1,
	    sizeof *pool->addrs);
	pool->addrs[pool->naddrs++] = a;
}

static void
cf_pool_number(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	if (strcmp(key, "concurrency") == 0)
		config_number(cp, key, argv[0], 1, CONFIG_COUNT_MAX,
		    &cp->pool->concurrency);
	else
		config_number(cp, key, argv[0], 0, CONFIG_COUNT_MAX,
		    &cp->pool->queue);
}

static void
cf_pool_duration(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct pool	*pool = cp->pool;
	unsigned	*out, ms;

	if (strcmp(key, "queue_timeout") == 0)
		out = &pool->queue_timeout_ms;
	else if (strcmp(key, "connect_timeout") == 0)
		out = &pool->connect_timeout_ms;
	else if (strcmp(key, "first_byte_timeout") == 0)
		out = &pool->first_byte_timeout_ms;
	else
		out = &pool->idle_timeout_ms;
	if (config_ms(cp, key, argv[0], &ms) == -1)
		return;
	if (ms == 0) {
		config_error(cp, key, "must be more than 0");
		return;
	}
	*out = ms;
}

static void
cf_keepalive(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	config_bool(cp, key, argv[0], &cp->pool->keepalive);
}

/*
 * A static param. Names the router sets itself are refused, so that a
 * pool cannot shadow WS_IDENTITY or the request's own variables.
 */
static void
cf_param(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	static const char *const reserved[] = {
		"GATEWAY_INTERFACE", "SERVER_SOFTWARE", "SERVER_PROTOCOL",
		"SERVER_NAME", "SERVER_PORT", "REQUEST_METHOD", "SCRIPT_NAME",
		"PATH_INFO", "REQUEST_URI", "QUERY_STRING", "REMOTE_ADDR",
		"REMOTE_PORT", "CONTENT_LENGTH", "CONTENT_TYPE", "WS_EVENT",
		"WS_CONNECTION_ID", "WS_REQUEST_ID", "WS_ROUTE_KEY",
		"WS_ENDPOINT", "WS_CONNECTED_AT", "WS_MESSAGE_TYPE",
		"WS_IDENTITY", "WS_CONTEXT", "WS_CLOSE_CODE", "WS_CLOSE_REASON",
		"WS_API"
	};
	struct pool	*pool = cp->pool;
	const char	*name = argv[0];
	size_t		 n = strlen(name), i;

	if (n == 0 || n > 128 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
		config_error(cp, key, "bad param name \"%s\" (1-128 of A-Z a-z "
		    "0-9 _)", name);
		return;
	}
	for (i = 0; i < nitems(reserved); i++) {
		if (strcmp(name, reserved[i]) == 0)
			break;
	}
	if (i < nitems(reserved) || strncmp(name, "HTTP_", 5) == 0) {
		config_error(cp, key, "%s is set by the router", name);
		return;
	}
	pool->params = xreallocarray(pool->params, pool->nparams + 1,
	    sizeof *pool->params);
	pool->params[pool->nparams].name = xstrdup(name);
	pool->params[pool->nparams].value = xstrdup(argv[1]);
	pool->nparams++;
}

static void
cf_route_selection(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct endpoint	 *ep = cp->ep;
	const char	 *s = argv[0], *p, *dot;
	char		**seg = NULL;
	size_t		  nseg = 0, i;

	if (strncmp(s, "$request.body.", 14) == 0)
		p = s + 14;
	else if (*s == '$') {
		config_error(cp, key, "\"%s\": only $request.body.FIELD is "
		    "supported", s);
		return;
	} else
		p = s;
	for (;;) {
		dot = strchr(p, '.');
		if ((dot != NULL ? (size_t)(dot - p) : strlen(p)) == 0) {
			config_error(cp, key, "\"%s\" has an empty field name",
			    s);
			for (i = 0; i < nseg; i++)
				free(seg[i]);
			free(seg);
			return;
		}
		seg = xreallocarray(seg, nseg + 1, sizeof *seg);
		seg[nseg++] = dot != NULL ? xstrndup(p, dot - p) : xstrdup(p);
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	for (i = 0; i < ep->nselection; i++)
		free(ep->selection[i]);
	free(ep->selection);
	free(ep->selection_text);
	ep->selection = seg;
	ep->nselection = nseg;
	ep->selection_text = xstrdup(s);
}

static void
cf_route(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	struct config_pending	*p;
	const char		*rk = argv[0];
	size_t			 n = strlen(rk);

	if (n == 0 || n > ROUTE_KEY_MAX) {
		config_error(cp, key, "route key must be 1 to %d bytes",
		    ROUTE_KEY_MAX);
		return;
	}
	if (rk[0] == '$' && strcmp(rk, "$connect") != 0 &&
	    strcmp(rk, "$disconnect") != 0 && strcmp(rk, "$default") != 0) {
		config_error(cp, key, "unknown special key \"%s\" ($connect, "
		    "$disconnect or $default)", rk);
		return;
	}
	if (*argv[1] == '\0') {
		config_error(cp, key, "empty pool name");
		return;
	}
	if (cp->discard)
		return;
	cp->pend = xreallocarray(cp->pend, cp->npend + 1, sizeof *cp->pend);
	p = &cp->pend[cp->npend++];
	p->ep = cp->cfg->nendpoints - 1;
	p->key = xstrdup(rk);
	p->pool = xstrdup(argv[1]);
	p->line = cp->line;
}

static void
cf_ep_max_message_size(struct config_parser *cp, const char *key,
    char **argv, size_t argc)
{
	config_size(cp, key, argv[0], 1, &cp->ep->max_message_size);
}

static void
cf_binary(struct config_parser *cp, const char *key, char **argv,
    size_t argc)
{
	config_bool(cp, key, argv[0], &cp->ep->allow_binary);
}
