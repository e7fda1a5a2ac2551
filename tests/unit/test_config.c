/* test_config.c: the configuration parser, its defaults and its errors. */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsrouter.h"
#include "tap.h"

struct error_case {
	const char	*desc;
	const char	*text;
	size_t		 len;		/* 0: strlen(text) */
	const char	*errors;	/* every line, exactly */
};

static struct config *parse(const char *, size_t, struct dbuf *);
static void	test_full(void);
static void	test_defaults(void);
static void	test_errors(void);
static void	test_listen(void);
static void	test_api(void);
static void	test_addresses(void);
static void	test_selection(void);
static void	test_sizes(void);
static void	test_find(void);
static void	test_load(void);

static struct config *
parse(const char *text, size_t len, struct dbuf *errors)
{
	struct config	*cfg;
	int		 rv;

	rv = config_parse("t.conf", text, len, &cfg, errors);
	if ((rv == 0) != (cfg != NULL))
		tap_diag("config_parse returned %d with cfg %p", rv,
		    (void *)cfg);
	return (cfg);
}

static const char full_conf[] =
    "# every key, with quotes and comments\n"
    "listen 0.0.0.0:8443\n"
    "reuseport on\n"
    "api unix:/run/wsrouter/api.sock 0600\n"
    "instance rt-1\n"
    "event_loop poll\n"
    "log_level debug\n"
    "max_message_size 64k\n"
    "max_output_frame 2m\n"
    "max_inflight 8\n"
    "ping_interval 45s\n"
    "idle_timeout 5m\n"
    "send_queue_high 512k\n"
    "send_queue_low 128k\n"
    "send_queue_max 32m\n"
    "shutdown_timeout 1m\n"
    "origin https://chat.example.com\n"
    "origin \"http://localhost:3000\"   # quoted, then a comment\n"
    "static_root \"/srv/www root\"\r\n"
    "\n"
    "endpoint /ws {\n"
    "\troute_selection $request.body.action\n"
    "\troute $connect auth\n"
    "\troute sendmessage chat\n"
    "\troute $disconnect auth\n"
    "\troute $default chat\n"
    "\troute alpha auth\n"
    "\tmax_message_size 1m\n"
    "\tbinary off\n"
    "}\n"
    "\n"
    "pool auth {\n"
    "    address unix:/run/wsrouter/auth.sock\n"
    "    concurrency 16\n"
    "    queue 0\n"
    "    queue_timeout 500ms\n"
    "    connect_timeout 2s\n"
    "    first_byte_timeout 1m\n"
    "    idle_timeout 2h\n"
    "    keepalive yes\n"
    "    param SCRIPT_FILENAME \"/srv/handlers/auth.php\"\n"
    "    param EMPTY \"\"\n"
    "    param QUOTED \"a \\\"b\\\" \\\\c#d\"\n"
    "}\n"
    "pool chat {\n"
    "    address 127.0.0.1:9000\n"
    "    address [::1]:9001\n"
    "    address localhost:9002\n"
    "}\n"
    "endpoint /ai {\n"
    "    route_selection msg.kind\n"
    "    route $default chat\n"
    "}";

static void
test_full(void)
{
	struct dbuf			 errors;
	struct config			*cfg;
	struct pool			*auth, *chat;
	const struct endpoint		*ws, *ai;
	const struct sockaddr_un	*sun;
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	dbuf_init(&errors, 1 << 16);
	cfg = parse(full_conf, strlen(full_conf), &errors);
	if (!ok(cfg != NULL && errors.len == 0, "full configuration parses")) {
		tap_diag("%s", dbuf_str(&errors));
		dbuf_free(&errors);
		return;
	}
	is_str(cfg->file, "t.conf", "file name kept");
	ok(strcmp(cfg->listen.text, "0.0.0.0:8443") == 0 &&
	    strcmp(cfg->listen.host, "0.0.0.0") == 0 &&
	    cfg->listen.port == 8443 && cfg->listen.unix_path == NULL,
	    "listen");
	is_int(cfg->reuseport, 1, "reuseport");
	is_int(cfg->event_loop, EVENT_LOOP_POLL, "event_loop poll");
	ok(cfg->api_set && strcmp(cfg->api.unix_path,
	    "/run/wsrouter/api.sock") == 0 && cfg->api.unix_mode == 0600 &&
	    cfg->api.host == NULL, "api unix socket with mode");
	is_str(cfg->instance, "rt-1", "instance");
	is_int(cfg->log_level, LOG_LEVEL_DEBUG, "log_level");
	is_int(cfg->max_message_size, 64 * 1024, "max_message_size");
	is_int(cfg->max_output_frame, 2 * 1024 * 1024, "max_output_frame");
	is_int(cfg->max_inflight, 8, "max_inflight");
	is_int(cfg->ping_interval, 45, "ping_interval");
	is_int(cfg->idle_timeout, 300, "idle_timeout");
	is_int(cfg->send_queue_high, 512 * 1024, "send_queue_high");
	is_int(cfg->send_queue_low, 128 * 1024, "send_queue_low");
	is_int(cfg->send_queue_max, 32 * 1024 * 1024, "send_queue_max");
	is_int(cfg->shutdown_timeout, 60, "shutdown_timeout");
	ok(cfg->norigins == 2 &&
	    strcmp(cfg->origins[0], "https://chat.example.com") == 0 &&
	    strcmp(cfg->origins[1], "http://localhost:3000") == 0,
	    "origins, the quoted one too");
	is_str(cfg->static_root, "/srv/www root", "static_root with a space");

	is_int(cfg->npools, 2, "two pools");
	auth = config_find_pool(cfg, "auth");
	chat = config_find_pool(cfg, "chat");
	ok(auth != NULL && chat != NULL, "pools found by name");
	if (auth == NULL || chat == NULL)
		goto out;
	ok(auth->naddrs == 1 && strcmp(auth->addrs[0].text,
	    "unix:/run/wsrouter/auth.sock") == 0, "auth address text");
	sun = (const struct sockaddr_un *)&auth->addrs[0].ss;
	ok(sun->sun_family == AF_UNIX && strcmp(sun->sun_path,
	    "/run/wsrouter/auth.sock") == 0 && auth->addrs[0].sslen ==
	    offsetof(struct sockaddr_un, sun_path) + 24,
	    "auth address sockaddr_un");
	is_int(auth->concurrency, 16, "concurrency");
	is_int(auth->queue, 0, "queue 0");
	is_int(auth->queue_timeout_ms, 500, "queue_timeout");
	is_int(auth->connect_timeout_ms, 2000, "connect_timeout");
	is_int(auth->first_byte_timeout_ms, 60000, "first_byte_timeout");
	is_int(auth->idle_timeout_ms, 7200000, "pool idle_timeout");
	is_int(auth->keepalive, 1, "keepalive");
	ok(auth->nparams == 3 &&
	    strcmp(auth->params[0].name, "SCRIPT_FILENAME") == 0 &&
	    strcmp(auth->params[0].value, "/srv/handlers/auth.php") == 0 &&
	    strcmp(auth->params[1].name, "EMPTY") == 0 &&
	    strcmp(auth->params[1].value, "") == 0 &&
	    strcmp(auth->params[2].value, "a \"b\" \\c#d") == 0,
	    "params, with an empty and an escaped value");

	ok(chat->naddrs == 3, "chat has three addresses");
	sin = (const struct sockaddr_in *)&chat->addrs[0].ss;
	ok(sin->sin_family == AF_INET && ntohs(sin->sin_port) == 9000 &&
	    ntohl(sin->sin_addr.s_addr) == 0x7f000001 &&
	    chat->addrs[0].sslen == sizeof *sin, "127.0.0.1:9000");
	sin6 = (const struct sockaddr_in6 *)&chat->addrs[1].ss;
	ok(sin6->sin6_family == AF_INET6 && ntohs(sin6->sin6_port) == 9001 &&
	    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) &&
	    strcmp(chat->addrs[1].text, "[::1]:9001") == 0, "[::1]:9001");
	sin = (const struct sockaddr_in *)&chat->addrs[2].ss;
	ok(sin->sin_family == AF_INET && ntohs(sin->sin_port) == 9002 &&
	    ntohl(sin->sin_addr.s_addr) == 0x7f000001,
	    "localhost:9002 resolves to 127.0.0.1");
	is_int(chat->concurrency, 64, "pool defaults where not given");

	is_int(cfg->nendpoints, 2, "two endpoints");
	ws = config_find_endpoint(cfg, "/ws", 3);
	ai = config_find_endpoint(cfg, "/ai", 3);
	ok(ws != NULL && ai != NULL, "endpoints found by path");
	if (ws == NULL || ai == NULL)
		goto out;
	ok(ws->nselection == 1 && strcmp(ws->selection[0], "action") == 0 &&
	    strcmp(ws->selection_text, "$request.body.action") == 0,
	    "$request.body. is stripped from route_selection");
	ok(ws->on_connect == auth && ws->on_disconnect == auth &&
	    ws->on_default == chat, "special routes");
	ok(ws->nroutes == 2 && strcmp(ws->routes[0].key, "alpha") == 0 &&
	    ws->routes[0].pool == auth &&
	    strcmp(ws->routes[1].key, "sendmessage") == 0 &&
	    ws->routes[1].pool == chat,
	    "ordinary routes sorted by key, resolved to pools defined later");
	is_int(ws->max_message_size, 1024 * 1024, "endpoint max_message_size");
	is_int(ws->allow_binary, 0, "binary off");
	ok(ai->nselection == 2 && strcmp(ai->selection[0], "msg") == 0 &&
	    strcmp(ai->selection[1], "kind") == 0, "dotted route_selection");
	is_int(ai->max_message_size, 64 * 1024,
	    "endpoint max_message_size inherits the global value");
	ok(ai->on_connect == NULL && ai->on_disconnect == NULL &&
	    ai->nroutes == 0 && ai->on_default == chat, "/ai routes");
out:
	config_free(cfg);
	dbuf_free(&errors);
}

static void
test_defaults(void)
{
	static const char	 text[] = "endpoint /e {\n}\n"
				     "pool p {\n address unix:/p\n}\n"
				     "max_message_size 1k\n";
	struct dbuf		 errors;
	struct config		*cfg;
	const struct endpoint	*ep;
	struct pool		*p;

	dbuf_init(&errors, 1 << 16);
	cfg = parse("", 0, &errors);
	ok(cfg != NULL && errors.len == 0, "an empty file is valid");
	if (cfg == NULL)
		return;
	ok(strcmp(cfg->listen.text, "127.0.0.1:8080") == 0 &&
	    strcmp(cfg->listen.host, "127.0.0.1") == 0 &&
	    cfg->listen.port == 8080 && cfg->listen.unix_path == NULL,
	    "default listen 127.0.0.1:8080");
	ok(!cfg->api_set && cfg->api.text == NULL, "no api by default");
	is_int(cfg->event_loop, EVENT_LOOP_LIBEV, "event_loop libev by default");
	ok(cfg->reuseport == 0 && cfg->instance == NULL &&
	    cfg->log_level == LOG_LEVEL_INFO &&
	    cfg->max_message_size == 128 * 1024 &&
	    cfg->max_output_frame == 1024 * 1024 &&
	    cfg->max_inflight == 16 && cfg->ping_interval == 30 &&
	    cfg->idle_timeout == 600 && cfg->send_queue_high == 256 * 1024 &&
	    cfg->send_queue_low == 64 * 1024 &&
	    cfg->send_queue_max == 16 * 1024 * 1024 &&
	    cfg->shutdown_timeout == 30 && cfg->norigins == 0 &&
	    cfg->static_root == NULL && cfg->npools == 0 &&
	    cfg->nendpoints == 0, "global defaults");
	config_free(cfg);

	cfg = parse(text, strlen(text), &errors);
	ok(cfg != NULL, "minimal pool and endpoint");
	if (cfg == NULL) {
		tap_diag("%s", dbuf_str(&errors));
		return;
	}
	p = cfg->pools[0];
	ok(p->concurrency == 64 && p->queue == 1024 &&
	    p->queue_timeout_ms == 10000 && p->connect_timeout_ms == 3000 &&
	    p->first_byte_timeout_ms == 60000 && p->idle_timeout_ms == 60000 &&
	    p->keepalive == 0 && p->nparams == 0, "pool defaults");
	ep = cfg->endpoints[0];
	ok(ep->nselection == 1 && strcmp(ep->selection[0], "type") == 0 &&
	    strcmp(ep->selection_text, "type") == 0 && ep->allow_binary == 1 &&
	    ep->nroutes == 0 && ep->on_default == NULL &&
	    ep->max_message_size == 1024,
	    "endpoint defaults; max_message_size from a later global line");
	config_free(cfg);
	dbuf_free(&errors);
}

static const struct error_case error_cases[] = {
	/* Syntax. */
	{ "unknown key", "listen 1\nbogus 1\n", 0,
	    "t.conf:2: bogus: unknown key\n" },
	{ "missing argument", "\n\nlisten\n", 0,
	    "t.conf:3: listen: missing argument\n" },
	{ "extra argument", "listen 1 2\n", 0,
	    "t.conf:1: listen: extra argument \"2\"\n" },
	{ "extra argument in a pool",
	    "pool a {\n address unix:/a unix:/b\n}\n", 0,
	    "t.conf:1: pool: pool \"a\" has no address\n"
	    "t.conf:2: address: extra argument \"unix:/b\"\n" },
	{ "a directive given twice", "listen 1\n# c\nlisten 2\n", 0,
	    "t.conf:3: listen: given twice (first on line 1)\n" },
	{ "a pool directive given twice",
	    "pool a {\n address unix:/a\n queue 1\n queue 2\n}\n", 0,
	    "t.conf:4: queue: given twice (first on line 3)\n" },
	{ "too many arguments",
	    "origin a b c d e f g h i j k l m n o p q r\n", 0,
	    "t.conf:1: origin: too many arguments\n" },
	{ "unterminated quote", "origin \"https://a.example\n", 0,
	    "t.conf:1: origin: unterminated quoted argument\n" },
	{ "bad escape", "static_root \"a\\nb\"\n", 0,
	    "t.conf:1: static_root: bad escape in quotes (only \\\" and "
	    "\\\\)\n" },
	{ "quote inside an argument", "static_root ab\"c\"\n", 0,
	    "t.conf:1: static_root: quote inside an argument\n" },
	{ "no space after a quoted argument", "static_root \"a\"b\n", 0,
	    "t.conf:1: static_root: no space after a quoted argument\n" },
	{ "quoted key that is not one", "\"listen\" 1\n\"bogus\"\n", 0,
	    "t.conf:2: bogus: unknown key\n" },
	{ "control character", "listen 1\x01\n", 0,
	    "t.conf:1: syntax: control character in line\n" },
	{ "NUL byte", BIN("listen 1\0\nbogus\n"),
	    "t.conf:1: syntax: control character in line\n"
	    "t.conf:2: bogus: unknown key\n" },

	/* Blocks. */
	{ "stray }", "listen 1\n}\n", 0, "t.conf:2: }: no block to close\n" },
	{ "} with more", "pool a {\n address unix:/a\n} x\n}\n", 0,
	    "t.conf:3: }: '}' must stand alone\n" },
	{ "{ not at the end", "pool a { address unix:/a\n", 0,
	    "t.conf:1: pool: '{' must end the line\n" },
	{ "quoted { is an argument", "pool a \"{\"\n", 0,
	    "t.conf:1: pool: unknown key\n" },
	{ "not a block", "listen 1 {\n}\n", 0,
	    "t.conf:1: listen: not a block (only pool and endpoint)\n"
	    "t.conf:2: }: no block to close\n" },
	{ "blocks do not nest",
	    "pool a {\n address unix:/a\nendpoint /ws {\n}\n", 0,
	    "t.conf:3: endpoint: blocks do not nest (the pool block of line 1"
	    " is not closed)\n" },
	{ "block not closed", "listen 1\npool a {\n address unix:/a\n", 0,
	    "t.conf:2: pool: block not closed\n" },
	{ "pool without a name", "pool {\n address unix:/a\n}\n", 0,
	    "t.conf:1: pool: missing argument\n" },
	{ "pool with two names", "pool a b {\n address unix:/a\n}\n", 0,
	    "t.conf:1: pool: extra argument \"b\"\n" },
	{ "bad pool name", "pool a/b {\n address unix:/a\n}\n", 0,
	    "t.conf:1: pool: bad pool name \"a/b\" (1-64 of A-Z a-z 0-9 _ . "
	    "-)\n" },
	{ "bad endpoint path", "endpoint ws {\n}\nendpoint /a?b {\n}\n", 0,
	    "t.conf:1: endpoint: bad path \"ws\" (it starts with / and has no"
	    " blanks, ? or #)\n"
	    "t.conf:3: endpoint: bad path \"/a?b\" (it starts with / and has "
	    "no blanks, ? or #)\n" },
	{ "errors inside a discarded block are still found",
	    "pool {\n address unix:/a\n bogus\n}\nendpoint {\n route $x a\n}\n",
	    0, "t.conf:1: pool: missing argument\n"
	    "t.conf:3: bogus: unknown key\n"
	    "t.conf:5: endpoint: missing argument\n"
	    "t.conf:6: route: unknown special key \"$x\" ($connect, "
	    "$disconnect or $default)\n" },
	{ "pool with no address", "\npool a {\n queue 1\n}\n", 0,
	    "t.conf:2: pool: pool \"a\" has no address\n" },
	{ "duplicate pool",
	    "pool a {\n address unix:/a\n}\npool a {\n address unix:/b\n}\n", 0,
	    "t.conf:4: pool: duplicate pool \"a\" (first on line 1)\n" },
	{ "duplicate endpoint", "endpoint /ws {\n}\n\nendpoint /ws {\n}\n", 0,
	    "t.conf:4: endpoint: duplicate endpoint \"/ws\" (first on line "
	    "1)\n" },

	/* Context. */
	{ "pool key at the top level", "address unix:/a\n", 0,
	    "t.conf:1: address: not allowed at the top level (only inside a "
	    "pool block)\n" },
	{ "global key in a pool", "pool a {\n address unix:/a\n listen 1\n}\n",
	    0, "t.conf:3: listen: not allowed inside a pool block (only at the "
	    "top level)\n" },
	{ "route in a pool", "pool a {\n address unix:/a\n route x a\n}\n", 0,
	    "t.conf:3: route: not allowed inside a pool block (only inside an "
	    "endpoint block)\n" },

	/* Routes. */
	{ "route to an unknown pool",
	    "endpoint /ws {\n route $default nope\n route x nope2\n}\n", 0,
	    "t.conf:2: route: unknown pool \"nope\"\n"
	    "t.conf:3: route: unknown pool \"nope2\"\n" },
	{ "duplicate route",
	    "pool a {\n address unix:/a\n}\nendpoint /ws {\n route x a\n"
	    " route $default a\n route x a\n route $default a\n}\n", 0,
	    "t.conf:7: route: duplicate route \"x\" (first on line 5)\n"
	    "t.conf:8: route: duplicate route \"$default\" (first on line 6)\n"
	    },
	{ "same key in two endpoints is fine",
	    "pool a {\n address unix:/a\n}\nendpoint /a {\n route x a\n}\n"
	    "endpoint /b {\n route x a\n}\n", 0, "" },
	{ "unknown special key", "endpoint /ws {\n route $connected a\n}\n", 0,
	    "t.conf:2: route: unknown special key \"$connected\" ($connect, "
	    "$disconnect or $default)\n" },
	{ "route key too long", "endpoint /ws {\n route "
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    " a\n}\n", 0,
	    "t.conf:2: route: route key must be 1 to 128 bytes\n" },
	{ "empty route key", "endpoint /ws {\n route \"\" a\n}\n", 0,
	    "t.conf:2: route: route key must be 1 to 128 bytes\n" },
	{ "route_selection with another $ expression",
	    "endpoint /ws {\n route_selection $request.header.x\n}\n", 0,
	    "t.conf:2: route_selection: \"$request.header.x\": only "
	    "$request.body.FIELD is supported\n" },
	{ "route_selection with an empty segment",
	    "endpoint /ws {\n route_selection a..b\n}\nendpoint /x {\n"
	    " route_selection $request.body.\n}\n", 0,
	    "t.conf:2: route_selection: \"a..b\" has an empty field name\n"
	    "t.conf:5: route_selection: \"$request.body.\" has an empty field "
	    "name\n" },

	/* Values. */
	{ "bad size", "max_message_size 12x\n", 0,
	    "t.conf:1: max_message_size: \"12x\" is not a size (a number with "
	    "an optional k, m or g)\n" },
	{ "size 0", "max_output_frame 0\n", 0,
	    "t.conf:1: max_output_frame: 0 is out of range (1 to 1g)\n" },
	{ "size over 1g", "max_output_frame 2g\n", 0,
	    "t.conf:1: max_output_frame: 2g is out of range (1 to 1g)\n" },
	{ "size overflow", "send_queue_max 99999999999999999999k\n", 0,
	    "t.conf:1: send_queue_max: \"99999999999999999999k\" is not a size"
	    " (a number with an optional k, m or g)\n" },
	{ "negative size", "endpoint /ws {\n max_message_size -1\n}\n", 0,
	    "t.conf:2: max_message_size: \"-1\" is not a size (a number with "
	    "an optional k, m or g)\n" },
	{ "bad duration", "ping_interval 5d\n", 0,
	    "t.conf:1: ping_interval: \"5d\" is not a duration (a number with "
	    "an optional ms, s, m or h)\n" },
	{ "seconds only", "shutdown_timeout 1500ms\n", 0,
	    "t.conf:1: shutdown_timeout: 1500ms is not a whole number of "
	    "seconds\n" },
	{ "pool timeout 0", "pool a {\n address unix:/a\n connect_timeout 0\n"
	    "}\n", 0, "t.conf:3: connect_timeout: must be more than 0\n" },
	{ "bad bool", "reuseport maybe\n", 0,
	    "t.conf:1: reuseport: \"maybe\" is not on or off\n" },
	{ "bad number", "max_inflight 0\nmax_inflight x\n", 0,
	    "t.conf:1: max_inflight: \"0\" is not a number from 1 to "
	    "1000000\nt.conf:2: max_inflight: given twice (first on line 1)\n"
	    },
	{ "negative concurrency", "pool a {\n address unix:/a\n"
	    " concurrency -1\n}\n", 0,
	    "t.conf:3: concurrency: \"-1\" is not a number from 1 to 1000000\n"
	    },
	{ "bad instance", "instance rt.1\n", 0,
	    "t.conf:1: instance: bad instance name \"rt.1\" (1-16 of A-Z a-z "
	    "0-9 _ -)\n" },
	{ "instance too long", "instance abcdefghijklmnopq\n", 0,
	    "t.conf:1: instance: bad instance name \"abcdefghijklmnopq\" (1-16"
	    " of A-Z a-z 0-9 _ -)\n" },
	{ "bad event loop", "event_loop epoll\n", 0,
	    "t.conf:1: event_loop: \"epoll\" is not libev or poll\n" },
	{ "bad log level", "log_level verbose\n", 0,
	    "t.conf:1: log_level: \"verbose\" is not error, warn, info or "
	    "debug\n" },
	{ "bad origin", "origin chat.example.com\norigin https://a.example/\n"
	    "origin https://\n", 0,
	    "t.conf:1: origin: bad origin \"chat.example.com\" (scheme://host"
	    "[:port], no path)\n"
	    "t.conf:2: origin: bad origin \"https://a.example/\" (scheme://"
	    "host[:port], no path)\n"
	    "t.conf:3: origin: bad origin \"https://\" (scheme://host[:port], "
	    "no path)\n" },
	{ "empty static_root", "static_root \"\"\n", 0,
	    "t.conf:1: static_root: empty directory\n" },
	{ "reserved param", "pool a {\n address unix:/a\n param WS_IDENTITY x"
	    "\n param HTTP_HOST x\n param REMOTE_ADDR x\n}\n", 0,
	    "t.conf:3: param: WS_IDENTITY is set by the router\n"
	    "t.conf:4: param: HTTP_HOST is set by the router\n"
	    "t.conf:5: param: REMOTE_ADDR is set by the router\n" },
	{ "bad param name", "pool a {\n address unix:/a\n param A-B x\n}\n", 0,
	    "t.conf:3: param: bad param name \"A-B\" (1-128 of A-Z a-z 0-9 _)"
	    "\n" },
	{ "param without a value", "pool a {\n address unix:/a\n param A\n}\n",
	    0, "t.conf:3: param: missing argument\n" },

	/* Addresses. */
	{ "port 0", "listen 127.0.0.1:0\n", 0,
	    "t.conf:1: listen: bad port in \"127.0.0.1:0\" (1 to 65535)\n" },
	{ "port 65536", "listen 65536\n", 0,
	    "t.conf:1: listen: bad port in \"65536\" (1 to 65535)\n" },
	{ "port with a sign", "listen +80\n", 0,
	    "t.conf:1: listen: bad port in \"+80\" (1 to 65535)\n" },
	{ "empty port", "listen 127.0.0.1:\n", 0,
	    "t.conf:1: listen: bad port in \"127.0.0.1:\" (1 to 65535)\n" },
	{ "IPv6 without brackets", "listen ::1:80\n", 0,
	    "t.conf:1: listen: bad address \"::1:80\" (IPv6 addresses go in "
	    "brackets: [::1]:PORT)\n" },
	{ "empty host", "listen :80\n", 0,
	    "t.conf:1: listen: bad address \":80\"\n" },
	{ "bracket without port", "listen [::1]\n", 0,
	    "t.conf:1: listen: bad address \"[::1]\"\n" },
	{ "empty brackets", "listen []:80\n", 0,
	    "t.conf:1: listen: bad address \"[]:80\"\n" },
	{ "pool address without a host",
	    "pool a {\n address 9000\n address *:9000\n}\n", 0,
	    "t.conf:1: pool: pool \"a\" has no address\n"
	    "t.conf:2: address: \"9000\" needs a host (HOST:PORT or unix:PATH)"
	    "\nt.conf:3: address: \"*:9000\" needs a host (HOST:PORT or "
	    "unix:PATH)\n" },
	{ "unix path too long", "listen unix:/"
	    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	    "\n", 0,
	    "t.conf:1: listen: unix socket path longer than 107 bytes\n" },
	{ "empty unix path", "pool a {\n address unix:\n}\n", 0,
	    "t.conf:1: pool: pool \"a\" has no address\n"
	    "t.conf:2: address: empty unix socket path\n" },

	/* Cross checks. */
	{ "send_queue_low not below high", "send_queue_low 256k\n", 0,
	    "t.conf:1: send_queue_low: send_queue_low (262144) must be less "
	    "than send_queue_high (262144)\n" },
	{ "send_queue_high set later", "send_queue_low 100k\n"
	    "send_queue_high 100k\n", 0,
	    "t.conf:2: send_queue_high: send_queue_low (102400) must be less "
	    "than send_queue_high (102400)\n" },
	{ "send_queue_max below high", "send_queue_max 100k\n", 0,
	    "t.conf:1: send_queue_max: send_queue_max (102400) must be at "
	    "least send_queue_high (262144)\n" },
	{ "send_queue_max equal to high is fine", "send_queue_max 256k\n", 0,
	    "" },

	/* All errors, in line order. */
	{ "every error is reported",
	    "endpoint /ws {\n route x nowhere\n}\nbogus\nlisten\n"
	    "pool p {\n}\nmax_inflight -3\n", 0,
	    "t.conf:2: route: unknown pool \"nowhere\"\n"
	    "t.conf:4: bogus: unknown key\n"
	    "t.conf:5: listen: missing argument\n"
	    "t.conf:6: pool: pool \"p\" has no address\n"
	    "t.conf:8: max_inflight: \"-3\" is not a number from 1 to 1000000"
	    "\n" },
};

static void
test_errors(void)
{
	const struct error_case	*c;
	struct dbuf		 errors;
	struct config		*cfg;
	size_t			 i, len;

	for (i = 0; i < nitems(error_cases); i++) {
		c = &error_cases[i];
		dbuf_init(&errors, 1 << 16);
		len = c->len ? c->len : strlen(c->text);
		cfg = parse(c->text, len, &errors);
		if (*c->errors == '\0') {
			ok(cfg != NULL && errors.len == 0, "%s", c->desc);
			if (cfg == NULL)
				tap_diag("%s", dbuf_str(&errors));
		} else {
			is_str(dbuf_str(&errors), c->errors, "%s", c->desc);
			ok(cfg == NULL, "%s: no config", c->desc);
		}
		config_free(cfg);
		dbuf_free(&errors);
	}
}

static void
test_listen(void)
{
	static const struct {
		const char	*arg;
		const char	*host;
		int		 port;
		const char	*unix_path;
	} cases[] = {
		{ "8080", NULL, 8080, NULL },
		{ "*:9090", NULL, 9090, NULL },
		{ "[::1]:8081", "::1", 8081, NULL },
		{ "[::]:8082", "::", 8082, NULL },
		{ "localhost:8083", "localhost", 8083, NULL },
		{ "127.0.0.2:1", "127.0.0.2", 1, NULL },
		{ "unix:/run/ws.sock", NULL, 0, "/run/ws.sock" },
	};
	struct dbuf	 errors;
	struct config	*cfg;
	char		*text;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		dbuf_init(&errors, 1 << 16);
		xasprintf(&text, "listen %s\n", cases[i].arg);
		cfg = parse(text, strlen(text), &errors);
		ok(cfg != NULL && strcmp(cfg->listen.text, cases[i].arg) == 0 &&
		    (cases[i].host == NULL ? cfg->listen.host == NULL :
		    cfg->listen.host != NULL &&
		    strcmp(cfg->listen.host, cases[i].host) == 0) &&
		    cfg->listen.port == cases[i].port &&
		    (cases[i].unix_path == NULL ?
		    cfg->listen.unix_path == NULL :
		    cfg->listen.unix_path != NULL &&
		    strcmp(cfg->listen.unix_path, cases[i].unix_path) == 0),
		    "listen %s", cases[i].arg);
		if (cfg == NULL)
			tap_diag("%s", dbuf_str(&errors));
		config_free(cfg);
		free(text);
		dbuf_free(&errors);
	}
}

static void
test_api(void)
{
	static const struct {
		const char	*args;
		int		 good;
		unsigned	 mode;
	} cases[] = {
		{ "127.0.0.1:9001", 1, 0660 },
		{ "127.1.2.3:9001", 1, 0660 },
		{ "localhost:9001", 1, 0660 },
		{ "[::1]:9001", 1, 0660 },
		{ "[::ffff:127.0.0.1]:9001", 1, 0660 },
		{ "unix:/run/wsrouter/api.sock", 1, 0660 },
		{ "unix:/run/wsrouter/api.sock 0600", 1, 0600 },
		{ "unix:/run/wsrouter/api.sock 777", 1, 0777 },
		{ "10.1.2.3:9001", 0, 0 },
		{ "0.0.0.0:9001", 0, 0 },
		{ "[::]:9001", 0, 0 },
		{ "[::ffff:10.0.0.1]:9001", 0, 0 },
		{ "*:9001", 0, 0 },
		{ "9001", 0, 0 },
		{ "128.0.0.1:9001", 0, 0 },
		{ "127.0.0.1:9001 0600", 0, 0 },
		{ "unix:/a 0999", 0, 0 },
		{ "unix:/a 01777", 0, 0 },
		{ "unix:/a rw", 0, 0 },
		{ "unix:/a 0600 x", 0, 0 },
	};
	struct dbuf	 errors;
	struct config	*cfg;
	char		*text;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		dbuf_init(&errors, 1 << 16);
		xasprintf(&text, "api %s\n", cases[i].args);
		cfg = parse(text, strlen(text), &errors);
		if (cases[i].good) {
			ok(cfg != NULL && cfg->api_set &&
			    cfg->api.unix_mode == cases[i].mode,
			    "api %s is accepted", cases[i].args);
			if (cfg == NULL)
				tap_diag("%s", dbuf_str(&errors));
		} else
			ok(cfg == NULL && strncmp(dbuf_str(&errors),
			    "t.conf:1: api: ", 15) == 0,
			    "api %s is refused", cases[i].args);
		config_free(cfg);
		free(text);
		dbuf_free(&errors);
	}
}

static void
test_addresses(void)
{
	static const char	 text[] = "pool p {\n"
				     " address unix:/run/a.sock\n"
				     " address [::1]:7000\n"
				     " address 127.0.0.1:7001\n"
				     "}\n";
	struct dbuf		 errors;
	struct config		*cfg;
	struct pool		*p;
	char			*longp;
	const struct sockaddr_un *sun;

	dbuf_init(&errors, 1 << 16);
	cfg = parse(text, strlen(text), &errors);
	p = cfg != NULL ? cfg->pools[0] : NULL;
	ok(p != NULL && p->naddrs == 3 &&
	    p->addrs[0].ss.ss_family == AF_UNIX &&
	    p->addrs[1].ss.ss_family == AF_INET6 &&
	    p->addrs[2].ss.ss_family == AF_INET,
	    "addresses in order, each of its family");
	config_free(cfg);

	/* The longest unix path that fits sun_path, and one more. */
	xasprintf(&longp, "pool p {\n address unix:/%0*d\n}\n",
	    (int)sizeof sun->sun_path - 2, 0);
	cfg = parse(longp, strlen(longp), &errors);
	ok(cfg != NULL && strlen(((const struct sockaddr_un *)
	    &cfg->pools[0]->addrs[0].ss)->sun_path) ==
	    sizeof sun->sun_path - 1, "unix path of %zu bytes fits",
	    sizeof sun->sun_path - 1);
	config_free(cfg);
	free(longp);
	dbuf_reset(&errors);
	xasprintf(&longp, "pool p {\n address unix:/%0*d\n}\n",
	    (int)sizeof sun->sun_path - 1, 0);
	cfg = parse(longp, strlen(longp), &errors);
	ok(cfg == NULL && strstr(dbuf_str(&errors), "t.conf:2: address: unix "
	    "socket path longer than 107 bytes") != NULL,
	    "unix path of %zu bytes does not", sizeof sun->sun_path);
	free(longp);
	dbuf_free(&errors);
}

static void
test_selection(void)
{
	static const struct {
		const char	*arg;
		size_t		 n;
		const char	*segs[3];
	} cases[] = {
		{ "type", 1, { "type" } },
		{ "$request.body.action", 1, { "action" } },
		{ "$request.body.a.b", 2, { "a", "b" } },
		{ "a.b.c", 3, { "a", "b", "c" } },
		{ "\"we ird\"", 1, { "we ird" } },
	};
	struct dbuf	 errors;
	struct config	*cfg;
	char		*text;
	size_t		 i, j;
	int		 good;

	for (i = 0; i < nitems(cases); i++) {
		dbuf_init(&errors, 1 << 16);
		xasprintf(&text, "endpoint /ws {\n route_selection %s\n}\n",
		    cases[i].arg);
		cfg = parse(text, strlen(text), &errors);
		good = cfg != NULL &&
		    cfg->endpoints[0]->nselection == cases[i].n;
		for (j = 0; good && j < cases[i].n; j++)
			good = strcmp(cfg->endpoints[0]->selection[j],
			    cases[i].segs[j]) == 0;
		ok(good, "route_selection %s: %zu segments", cases[i].arg,
		    cases[i].n);
		config_free(cfg);
		free(text);
		dbuf_free(&errors);
	}
}

static void
test_sizes(void)
{
	static const struct {
		const char	*s;
		int		 rv;
		size_t		 v;
	} sizes[] = {
		{ "0", 0, 0 }, { "131072", 0, 131072 }, { "128k", 0, 131072 },
		{ "1m", 0, 1048576 }, { "1M", 0, 1048576 },
		{ "2g", 0, (size_t)2 << 30 }, { "007", 0, 7 },
		{ "", -1, 0 }, { "k", -1, 0 }, { "1.5m", -1, 0 },
		{ "-1", -1, 0 }, { "+1", -1, 0 }, { " 1", -1, 0 },
		{ "1 ", -1, 0 }, { "1kb", -1, 0 }, { "1t", -1, 0 },
		{ "18446744073709551615", 0, SIZE_MAX },
		{ "18446744073709551616", -1, 0 },
		{ "17179869184g", -1, 0 },
	};
	static const struct {
		const char	*s;
		int		 rv;
		unsigned	 v;
	} durations[] = {
		{ "3", 0, 3000 }, { "0", 0, 0 }, { "500ms", 0, 500 },
		{ "2s", 0, 2000 }, { "2m", 0, 120000 }, { "1h", 0, 3600000 },
		{ "4294967295ms", 0, 4294967295U },
		{ "4294967s", 0, 4294967000U },
		{ "4294968s", -1, 0 }, { "4294967296ms", -1, 0 },
		{ "1193h", 0, 4294800000U }, { "1194h", -1, 0 },
		{ "", -1, 0 }, { "s", -1, 0 }, { "1d", -1, 0 },
		{ "1.5s", -1, 0 },
		{ "-1", -1, 0 }, { "1 s", -1, 0 }, { "1S", -1, 0 },
		{ "1mss", -1, 0 }, { "99999999999999999999", -1, 0 },
	};
	size_t		i, sv;
	unsigned	dv;
	int		rv;

	for (i = 0; i < nitems(sizes); i++) {
		sv = 12345;
		rv = parse_size(sizes[i].s, &sv);
		ok(rv == sizes[i].rv && (rv == -1 || sv == sizes[i].v),
		    "parse_size \"%s\"", sizes[i].s);
	}
	for (i = 0; i < nitems(durations); i++) {
		dv = 12345;
		rv = parse_duration_ms(durations[i].s, &dv);
		ok(rv == durations[i].rv && (rv == -1 || dv == durations[i].v),
		    "parse_duration_ms \"%s\"", durations[i].s);
	}
}

static void
test_find(void)
{
	static const char	 text[] = "pool a {\n address unix:/a\n}\n"
				     "pool ab {\n address unix:/b\n}\n"
				     "endpoint /ws {\n}\nendpoint /ws2 {\n}\n";
	struct dbuf		 errors;
	struct config		*cfg;

	dbuf_init(&errors, 1 << 16);
	cfg = parse(text, strlen(text), &errors);
	if (!ok(cfg != NULL, "config for lookups")) {
		dbuf_free(&errors);
		return;
	}
	ok(config_find_pool(cfg, "a") == cfg->pools[0] &&
	    config_find_pool(cfg, "ab") == cfg->pools[1] &&
	    config_find_pool(cfg, "b") == NULL &&
	    config_find_pool(cfg, "") == NULL, "config_find_pool");
	ok(config_find_endpoint(cfg, "/ws", 3) == cfg->endpoints[0] &&
	    config_find_endpoint(cfg, "/ws2", 4) == cfg->endpoints[1] &&
	    config_find_endpoint(cfg, "/ws?x=1", 3) == cfg->endpoints[0] &&
	    config_find_endpoint(cfg, "/w", 2) == NULL &&
	    config_find_endpoint(cfg, "/ws/", 4) == NULL &&
	    config_find_endpoint(cfg, "/WS", 3) == NULL &&
	    config_find_endpoint(cfg, "", 0) == NULL,
	    "config_find_endpoint matches the exact path");
	config_free(cfg);
	dbuf_free(&errors);
}

static void
test_load(void)
{
	struct dbuf	 errors;
	struct config	*cfg;
	const char	*tmp;
	char		*path, *big, *want;
	size_t		 cap = 1024 * 1024, i;
	FILE		*f;
	int		 fd;

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	xasprintf(&path, "%s/test_config.XXXXXX", tmp);
	if ((fd = mkstemp(path)) == -1) {
		ok(0, "mkstemp: %s", strerror(errno));
		free(path);
		return;
	}
	f = fdopen(fd, "w");
	fputs(full_conf, f);
	fclose(f);

	dbuf_init(&errors, 1 << 16);
	ok(config_load(path, &cfg, &errors) == 0 && cfg != NULL &&
	    strcmp(cfg->file, path) == 0 && cfg->npools == 2,
	    "config_load reads a file");
	config_free(cfg);

	/* A file of exactly the cap is read; one byte more is not. */
	big = xmalloc(cap + 2);
	memset(big, ' ', cap + 1);
	for (i = 79; i < cap + 1; i += 80)
		big[i] = '\n';
	big[cap] = '\n';
	f = fopen(path, "w");
	fwrite(big, 1, cap, f);
	fclose(f);
	ok(config_load(path, &cfg, &errors) == 0 && cfg != NULL,
	    "a file of 1 MiB is read");
	config_free(cfg);
	f = fopen(path, "w");
	fwrite(big, 1, cap + 1, f);
	fclose(f);
	xasprintf(&want, "%s: larger than 1048576 bytes\n", path);
	ok(config_load(path, &cfg, &errors) == -1 && cfg == NULL &&
	    strcmp(dbuf_str(&errors), want) == 0,
	    "a file over 1 MiB is refused");
	free(want);
	free(big);

	/* Errors name the file. */
	f = fopen(path, "w");
	fputs("listen 1\nbogus\n", f);
	fclose(f);
	dbuf_reset(&errors);
	xasprintf(&want, "%s:2: bogus: unknown key\n", path);
	ok(config_load(path, &cfg, &errors) == -1 && cfg == NULL &&
	    strcmp(dbuf_str(&errors), want) == 0, "errors name the file");
	free(want);

	unlink(path);
	dbuf_reset(&errors);
	xasprintf(&want, "%s: %s\n", path, strerror(ENOENT));
	ok(config_load(path, &cfg, &errors) == -1 && cfg == NULL &&
	    strcmp(dbuf_str(&errors), want) == 0, "a missing file");
	free(want);
	free(path);
	dbuf_free(&errors);
}

int
main(void)
{
	test_full();
	test_defaults();
	test_errors();
	test_listen();
	test_api();
	test_addresses();
	test_selection();
	test_sizes();
	test_find();
	test_load();
	return (tap_done());
}
