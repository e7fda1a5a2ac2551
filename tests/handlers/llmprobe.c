/*
 * llmprobe.c: run the chat handler's llm_stream against a model server and
 * report what came back, as one JSON object a call on standard output.
 * The settings come from flags, filled into a struct chat_config by hand.
 *
 * usage: llmprobe -u URL [-p openai|ollama] [-m model] [-k key]
 *            [-t temperature] [-n max-tokens] [-C connect-ms]
 *            [-F first-token-ms] [-S stall-ms] [-s system-prompt]
 *            [-c cancel-after-ms] [-P cancel-after-pieces]
 *            [-x stop-after-pieces] [-j threads] [-D] [-v] [message ...]
 * The key may also come from CHAT_LLM_API_KEY. Each message argument is
 * "role:text"; without any, one user message "Hello" is sent.
 *
 * Cancelling works as in the handler: llm_stream polls one end of a socket
 * pair, and the probe closes the other end (-c after a time, -P after some
 * pieces), as the router does with the FastCGI socket; with -D a byte
 * waits unread on the cancel fd first, so that only a hang-up counts. -x
 * makes the piece callback return -1 instead.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "chat.h"

/* One call of llm_stream, run on its own thread. */
struct probe_call {
	const struct chat_config *cfg;
	const struct chat_msg	*msgs;
	size_t			 nmsgs;
	long			 cancel_ms;
	int			 cancel_pieces;
	int			 stop_pieces;
	int			 pending_byte;

	int			 sv[2];		/* [0] is the cancel fd */
	int			 closed;
	int64_t			 cancel_ns;	/* when the peer was closed */
	struct dbuf		 text;
	int			 chunks;
	int			 bad_chunks;	/* not whole UTF-8, or a NUL */
	uint64_t		 start_usec;
	uint64_t		 first_usec;
	int64_t			 return_ns;
	struct llm_result	 res;
	int			 rv;
	pthread_t		 thread;
	pthread_t		 timer;
	int			 has_timer;
};

static int64_t	 now_ns(void);
static void	 usage(void) __attribute__((__noreturn__));
static void	 probe_close_peer(struct probe_call *);
static int	 probe_piece(void *, const char *, size_t);
static void	*probe_timer(void *);
static void	*probe_run(void *);
static void	 probe_report(struct probe_call *);

static pthread_mutex_t	 probe_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static void
usage(void)
{
	fprintf(stderr, "usage: llmprobe -u URL [-p openai|ollama] [-m model] "
	    "[-k key] [-t temperature]\n"
	    "\t[-n max-tokens] [-C connect-ms] [-F first-token-ms] "
	    "[-S stall-ms]\n"
	    "\t[-s system-prompt] [-c cancel-after-ms] "
	    "[-P cancel-after-pieces]\n"
	    "\t[-x stop-after-pieces] [-j threads] [-D] [-v] "
	    "[role:text ...]\n");
	exit(2);
}

/* Hang up as the router does: the cancel fd's peer goes away. */
static void
probe_close_peer(struct probe_call *pc)
{
	pthread_mutex_lock(&probe_lock);
	if (!pc->closed) {
		pc->closed = 1;
		pc->cancel_ns = now_ns();
		close(pc->sv[1]);
	}
	pthread_mutex_unlock(&probe_lock);
}

static int
probe_piece(void *arg, const char *s, size_t len)
{
	struct probe_call	*pc = arg;

	if (pc->chunks == 0)
		pc->first_usec = mono_usec();
	pc->chunks++;
	if (len == 0 || !utf8_valid(s, len) || memchr(s, '\0', len) != NULL)
		pc->bad_chunks++;
	if (dbuf_add(&pc->text, s, len) == -1)
		pc->bad_chunks++;
	if (pc->cancel_pieces > 0 && pc->chunks == pc->cancel_pieces)
		probe_close_peer(pc);
	if (pc->stop_pieces > 0 && pc->chunks >= pc->stop_pieces)
		return (-1);
	return (0);
}

static void *
probe_timer(void *arg)
{
	struct probe_call	*pc = arg;
	struct timespec		 ts;

	ts.tv_sec = pc->cancel_ms / 1000;
	ts.tv_nsec = (pc->cancel_ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	probe_close_peer(pc);
	return (NULL);
}

static void *
probe_run(void *arg)
{
	struct probe_call	*pc = arg;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pc->sv) == -1)
		fatal("socketpair");
	if (pc->pending_byte && write(pc->sv[1], "x", 1) != 1)
		fatal("write");
	if (pc->cancel_ms > 0) {
		if (pthread_create(&pc->timer, NULL, probe_timer, pc) != 0)
			fatalx("pthread_create failed");
		pc->has_timer = 1;
	}
	pc->start_usec = mono_usec();
	pc->rv = llm_stream(pc->cfg, pc->msgs, pc->nmsgs, pc->sv[0],
	    probe_piece, pc, &pc->res);
	pc->return_ns = now_ns();
	if (pc->has_timer)
		pthread_join(pc->timer, NULL);
	close(pc->sv[0]);
	pthread_mutex_lock(&probe_lock);
	if (!pc->closed) {
		pc->closed = 1;
		close(pc->sv[1]);
	}
	pthread_mutex_unlock(&probe_lock);
	return (NULL);
}

static void
probe_report(struct probe_call *pc)
{
	json_t	*o;
	char	*s;

	o = json_object();
	json_object_set_new(o, "rv", json_integer(pc->rv));
	json_object_set_new(o, "status",
	    json_string(llm_status_name(pc->res.status)));
	json_object_set_new(o, "error", json_string(pc->res.error));
	json_object_set_new(o, "http_status",
	    json_integer(pc->res.http_status));
	json_object_set_new(o, "pieces", json_integer(pc->res.pieces));
	json_object_set_new(o, "tokens", json_integer(pc->res.tokens));
	json_object_set_new(o, "chunks", json_integer(pc->chunks));
	json_object_set_new(o, "bad_chunks", json_integer(pc->bad_chunks));
	/* Valid UTF-8 when every chunk was; else jansson says null. */
	json_object_set_new(o, "text", json_stringn((const char *)
	    pc->text.data != NULL ? (const char *)pc->text.data : "",
	    pc->text.len));
	json_object_set_new(o, "text_bytes", json_integer(pc->text.len));
	json_object_set_new(o, "first_chunk_ms", pc->chunks == 0 ?
	    json_null() : json_integer((pc->first_usec - pc->start_usec) /
	    1000));
	json_object_set_new(o, "cancel_ns", pc->cancel_ns == 0 ? json_null() :
	    json_integer(pc->cancel_ns));
	json_object_set_new(o, "return_ns", json_integer(pc->return_ns));
	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("json_dumps failed");
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

int
main(int argc, char **argv)
{
	struct chat_config	 cfg;
	struct chat_msg		*msgs;
	struct probe_call	*calls;
	const char		*colon, *key;
	long			 cancel_ms = 0;
	int			 ch, i, nthreads = 1, cancel_pieces = 0;
	int			 stop_pieces = 0, nmsgs, pending_byte = 0;
	char			*system_prompt = NULL, **roles;

	log_init("llmprobe", LOG_LEVEL_WARN, 0);
	memset(&cfg, 0, sizeof cfg);
	cfg.provider = LLM_OPENAI;
	cfg.llm_model = xstrdup("fake");
	cfg.temperature = 0.7;
	cfg.max_tokens = 1024;
	cfg.connect_timeout_ms = 5000;
	cfg.first_token_timeout_ms = 60000;
	cfg.stall_timeout_ms = 30000;
	if ((key = getenv("CHAT_LLM_API_KEY")) != NULL && *key != '\0')
		cfg.llm_api_key = xstrdup(key);

	while ((ch = getopt(argc, argv, "C:c:DF:j:k:m:n:P:p:S:s:t:u:vx:")) !=
	    -1) {
		switch (ch) {
		case 'C':
			cfg.connect_timeout_ms = strtol(optarg, NULL, 10);
			break;
		case 'c':
			cancel_ms = strtol(optarg, NULL, 10);
			break;
		case 'D':
			pending_byte = 1;
			break;
		case 'F':
			cfg.first_token_timeout_ms = strtol(optarg, NULL, 10);
			break;
		case 'j':
			nthreads = atoi(optarg);
			if (nthreads < 1 || nthreads > 256)
				usage();
			break;
		case 'k':
			free(cfg.llm_api_key);
			cfg.llm_api_key = xstrdup(optarg);
			break;
		case 'm':
			free(cfg.llm_model);
			cfg.llm_model = xstrdup(optarg);
			break;
		case 'n':
			cfg.max_tokens = atoi(optarg);
			break;
		case 'P':
			cancel_pieces = atoi(optarg);
			break;
		case 'p':
			if (strcmp(optarg, "openai") == 0)
				cfg.provider = LLM_OPENAI;
			else if (strcmp(optarg, "ollama") == 0)
				cfg.provider = LLM_OLLAMA;
			else
				usage();
			break;
		case 'S':
			cfg.stall_timeout_ms = strtol(optarg, NULL, 10);
			break;
		case 's':
			system_prompt = optarg;
			break;
		case 't':
			cfg.temperature = strtod(optarg, NULL);
			break;
		case 'u':
			cfg.llm_base_url = xstrdup(optarg);
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'x':
			stop_pieces = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (cfg.llm_base_url == NULL)
		usage();

	msgs = xcalloc(argc + 2, sizeof *msgs);
	roles = xcalloc(argc + 2, sizeof *roles);
	nmsgs = 0;
	if (system_prompt != NULL) {
		msgs[nmsgs].role = roles[nmsgs] = xstrdup("system");
		msgs[nmsgs].text = xstrdup(system_prompt);
		msgs[nmsgs].len = strlen(system_prompt);
		nmsgs++;
	}
	for (i = 0; i < argc; i++) {
		if ((colon = strchr(argv[i], ':')) == NULL)
			usage();
		msgs[nmsgs].role = roles[nmsgs] =
		    xstrndup(argv[i], colon - argv[i]);
		msgs[nmsgs].text = xstrdup(colon + 1);
		msgs[nmsgs].len = strlen(colon + 1);
		nmsgs++;
	}
	if (argc == 0) {
		msgs[nmsgs].role = roles[nmsgs] = xstrdup("user");
		msgs[nmsgs].text = xstrdup("Hello");
		msgs[nmsgs].len = 5;
		nmsgs++;
	}

	calls = xcalloc(nthreads, sizeof *calls);
	for (i = 0; i < nthreads; i++) {
		calls[i].cfg = &cfg;
		calls[i].msgs = msgs;
		calls[i].nmsgs = nmsgs;
		calls[i].cancel_ms = cancel_ms;
		calls[i].cancel_pieces = cancel_pieces;
		calls[i].stop_pieces = stop_pieces;
		calls[i].pending_byte = pending_byte;
		dbuf_init(&calls[i].text, 8 * 1024 * 1024);
		if (pthread_create(&calls[i].thread, NULL, probe_run,
		    &calls[i]) != 0)
			fatalx("pthread_create failed");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(calls[i].thread, NULL);
		probe_report(&calls[i]);
		dbuf_free(&calls[i].text);
	}
	free(calls);
	for (i = 0; i < nmsgs; i++) {
		free(roles[i]);
		free(msgs[i].text);
	}
	free(roles);
	free(msgs);
	free(cfg.llm_base_url);
	free(cfg.llm_model);
	free(cfg.llm_api_key);
	return (0);
}
