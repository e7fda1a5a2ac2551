/* config.c: the chat handler's settings, read from CHAT_* variables. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "chat.h"

#ifndef CHAT_DATADIR
#define CHAT_DATADIR		"/usr/local/share/wsrouter"
#endif

#define CONFIG_FILE_MAX		(64 * 1024)	/* keys and prompts */

#define DEFAULT_SYSTEM_PROMPT						\
	"You are a warm, supportive assistant in a wellbeing chat. "	\
	"Listen carefully, reflect what the person says, and answer "	\
	"briefly and kindly. You are not a therapist and do not give "	\
	"medical advice."
#define DEFAULT_SAFETY_PROMPT						\
	"The person may be at risk of harm. Respond with empathy and "	\
	"without judgement, take what they say seriously, encourage "	\
	"them to contact a crisis line such as 988 (call or text) or "	\
	"emergency services now, and ask whether they are safe right "	\
	"now. Do not give any information that could be used for "	\
	"self-harm."
#define DEFAULT_CRISIS_MESSAGE						\
	"If you are in immediate danger, call your local emergency "	\
	"number now. You can call or text 988 (Suicide and Crisis "	\
	"Lifeline) or text HOME to 741741 (Crisis Text Line), any time."

static int	 cfg_err(char *, size_t, const char *, ...)
		    printflike(3, 4);
static const char *env(const char *);
static int	 env_str(const char *, const char *, char **);
static int	 env_long(const char *, long, long, long, long *, char *,
		    size_t);
static int	 env_ms(const char *, long, long *, char *, size_t);
static int	 read_file(const char *, const char *, unsigned char **,
		    size_t *, char *, size_t);
static int	 env_text(const char *, const char *, const char *, char **,
		    char *, size_t);

static int
cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* A variable's value, or NULL when unset or empty. */
static const char *
env(const char *name)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0' ? v : NULL);
}

static int
env_str(const char *name, const char *def, char **out)
{
	const char	*v = env(name);

	free(*out);
	*out = v != NULL ? xstrdup(v) : def != NULL ? xstrdup(def) : NULL;
	return (0);
}

static int
env_long(const char *name, long def, long min, long max, long *out,
    char *err, size_t errlen)
{
	const char	*v = env(name);
	char		*end;
	long		 n;

	if (v == NULL) {
		*out = def;
		return (0);
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return (cfg_err(err, errlen, "%s: \"%s\" is not a number from "
		    "%ld to %ld", name, v, min, max));
	*out = n;
	return (0);
}

/* A duration: a number with an optional unit ms, s or m (default ms). */
static int
env_ms(const char *name, long def, long *out, char *err, size_t errlen)
{
	const char	*v = env(name);
	char		*end;
	long		 n, mul = 1;

	if (v == NULL) {
		*out = def;
		return (0);
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno == 0 && end != v) {
		if (strcmp(end, "s") == 0)
			mul = 1000;
		else if (strcmp(end, "m") == 0)
			mul = 60000;
		else if (*end != '\0' && strcmp(end, "ms") != 0)
			mul = 0;
	}
	if (errno != 0 || end == v || mul == 0 || n < 1 ||
	    n > 24L * 3600 * 1000 / mul)
		return (cfg_err(err, errlen, "%s: \"%s\" is not a duration "
		    "(such as 500ms, 30s or 2m)", name, v));
	*out = n * mul;
	return (0);
}

static int
read_file(const char *name, const char *path, unsigned char **out,
    size_t *lenp, char *err, size_t errlen)
{
	switch (file_read(path, CONFIG_FILE_MAX, out, lenp)) {
	case FILE_READ_OK:
		return (0);
	case FILE_READ_OPEN:
		return (cfg_err(err, errlen, "%s: %s: %s", name, path,
		    strerror(errno)));
	case FILE_READ_BIG:
		return (cfg_err(err, errlen, "%s: %s: longer than %d bytes",
		    name, path, CONFIG_FILE_MAX));
	default:
		return (cfg_err(err, errlen, "%s: %s: read error", name,
		    path));
	}
}

/* A text setting given inline (NAME) or as a file (NAME_FILE). */
static int
env_text(const char *name, const char *file_name, const char *def,
    char **out, char *err, size_t errlen)
{
	const char	*path = env(file_name);
	unsigned char	*data;
	size_t		 len;

	if (path == NULL)
		return (env_str(name, def, out));
	if (read_file(file_name, path, &data, &len, err, errlen) == -1)
		return (-1);
	if (memchr(data, '\0', len) != NULL || !utf8_valid(data, len)) {
		free(data);
		return (cfg_err(err, errlen, "%s: %s is not UTF-8 text",
		    file_name, path));
	}
	free(*out);
	*out = (char *)data;
	return (0);
}

int
chat_config_load(struct chat_config *cfg, char *err, size_t errlen)
{
	struct jwt_policy	 pol;
	const char		*v, *path;
	char			*s = NULL;
	long			 n;
	char			*end;

	memset(cfg, 0, sizeof *cfg);

	/* Auth. */
	v = env("CHAT_JWT_ALG");
	if (v == NULL || strcmp(v, "HS256") == 0)
		cfg->jwt_alg = JWT_PIN_HS256;
	else if (strcmp(v, "RS256") == 0)
		cfg->jwt_alg = JWT_PIN_RS256;
	else
		return (cfg_err(err, errlen, "CHAT_JWT_ALG: \"%s\" is not "
		    "HS256 or RS256", v));
	if ((path = env("CHAT_JWT_KEY_FILE")) != NULL) {
		if (read_file("CHAT_JWT_KEY_FILE", path, &cfg->jwt_key,
		    &cfg->jwt_key_len, err, errlen) == -1)
			return (-1);
	} else if ((v = env("CHAT_JWT_SECRET")) != NULL) {
		cfg->jwt_key = (unsigned char *)xstrdup(v);
		cfg->jwt_key_len = strlen(v);
	} else
		return (cfg_err(err, errlen, "no JWT key: set CHAT_JWT_SECRET "
		    "(HS256) or CHAT_JWT_KEY_FILE"));
	env_str("CHAT_JWT_ISSUER", NULL, &cfg->jwt_issuer);
	env_str("CHAT_JWT_AUDIENCE", NULL, &cfg->jwt_audience);
	if (env_long("CHAT_JWT_LEEWAY", 30, 0, 600, &cfg->jwt_leeway, err,
	    errlen) == -1)
		return (-1);
	memset(&pol, 0, sizeof pol);
	pol.alg = cfg->jwt_alg;
	pol.key = cfg->jwt_key;
	pol.key_len = cfg->jwt_key_len;
	if (jwt_policy_check(&pol, err, errlen) == -1)
		return (-1);
	if (env_long("CHAT_MAX_CONNECTIONS", 5, 0, 100000, &n, err,
	    errlen) == -1)
		return (-1);
	cfg->max_conns_per_user = (int)n;

	/* PostgreSQL. */
	if ((v = env("CHAT_DATABASE_URL")) == NULL &&
	    (v = env("DATABASE_URL")) == NULL)
		return (cfg_err(err, errlen, "CHAT_DATABASE_URL is not set"));
	cfg->database_url = xstrdup(v);
	if (env_ms("CHAT_DB_TIMEOUT", 5000, &cfg->db_timeout_ms, err,
	    errlen) == -1)
		return (-1);

	/* The model. */
	v = env("CHAT_LLM_PROVIDER");
	if (v == NULL || strcmp(v, "openai") == 0)
		cfg->provider = LLM_OPENAI;
	else if (strcmp(v, "ollama") == 0)
		cfg->provider = LLM_OLLAMA;
	else
		return (cfg_err(err, errlen, "CHAT_LLM_PROVIDER: \"%s\" is "
		    "not openai or ollama", v));
	if ((v = env("CHAT_LLM_URL")) == NULL)
		return (cfg_err(err, errlen, "CHAT_LLM_URL is not set (for "
		    "example http://127.0.0.1:11434 for Ollama)"));
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return (cfg_err(err, errlen, "CHAT_LLM_URL: not an http or "
		    "https URL"));
	cfg->llm_base_url = xstrdup(v);
	env_str("CHAT_LLM_MODEL", cfg->provider == LLM_OLLAMA ? "llama3.2" :
	    "gpt-4o-mini", &cfg->llm_model);
	env_str("CHAT_LLM_API_KEY", NULL, &cfg->llm_api_key);
	cfg->temperature = 0.7;
	if ((v = env("CHAT_LLM_TEMPERATURE")) != NULL) {
		errno = 0;
		cfg->temperature = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0' ||
		    cfg->temperature < 0 || cfg->temperature > 2)
			return (cfg_err(err, errlen, "CHAT_LLM_TEMPERATURE: "
			    "\"%s\" is not a number from 0 to 2", v));
	}
	if (env_long("CHAT_LLM_MAX_TOKENS", 1024, 0, 1000000, &n, err,
	    errlen) == -1)
		return (-1);
	cfg->max_tokens = (int)n;
	if (env_text("CHAT_SYSTEM_PROMPT", "CHAT_SYSTEM_PROMPT_FILE",
	    DEFAULT_SYSTEM_PROMPT, &cfg->system_prompt, err, errlen) == -1 ||
	    env_text("CHAT_SAFETY_PROMPT", "CHAT_SAFETY_PROMPT_FILE",
	    DEFAULT_SAFETY_PROMPT, &cfg->safety_prompt, err, errlen) == -1)
		return (-1);
	if (env_ms("CHAT_LLM_CONNECT_TIMEOUT", 5000,
	    &cfg->connect_timeout_ms, err, errlen) == -1 ||
	    env_ms("CHAT_LLM_FIRST_TOKEN_TIMEOUT", 60000,
	    &cfg->first_token_timeout_ms, err, errlen) == -1 ||
	    env_ms("CHAT_LLM_STALL_TIMEOUT", 30000, &cfg->stall_timeout_ms,
	    err, errlen) == -1)
		return (-1);
	if (env_long("CHAT_HISTORY_BYTES", 16384, 0, 1024 * 1024, &n, err,
	    errlen) == -1)
		return (-1);
	cfg->history_bytes = (size_t)n;
	if (env_long("CHAT_HISTORY_MESSAGES", 40, 1, 1000, &n, err,
	    errlen) == -1)
		return (-1);
	cfg->history_messages = (int)n;
	if (env_long("CHAT_MAX_MESSAGE_BYTES", 8192, 1, 1024 * 1024, &n, err,
	    errlen) == -1)
		return (-1);
	cfg->max_message_bytes = (size_t)n;

	/* Safety. */
	xasprintf(&s, "%s/safety-lexicon.txt", CHAT_DATADIR);
	env_str("CHAT_SAFETY_LEXICON", s, &cfg->lexicon_path);
	free(s);
	env_str("CHAT_SAFETY_WEBHOOK", NULL, &cfg->webhook_url);
	if (env_long("CHAT_SAFETY_WEBHOOK_RETRIES", 3, 0, 10, &n, err,
	    errlen) == -1)
		return (-1);
	cfg->webhook_retries = (int)n;
	if (env_ms("CHAT_SAFETY_WEBHOOK_TIMEOUT", 3000,
	    &cfg->webhook_timeout_ms, err, errlen) == -1)
		return (-1);
	env_str("CHAT_CRISIS_HOTLINE", "988", &cfg->crisis_hotline);
	env_str("CHAT_CRISIS_TEXT", "741741", &cfg->crisis_text);
	env_str("CHAT_CRISIS_MESSAGE", DEFAULT_CRISIS_MESSAGE,
	    &cfg->crisis_message);
	return (0);
}

void
chat_config_free(struct chat_config *cfg)
{
	if (cfg->jwt_key != NULL) {
		explicit_bzero(cfg->jwt_key, cfg->jwt_key_len);
		free(cfg->jwt_key);
	}
	free(cfg->jwt_issuer);
	free(cfg->jwt_audience);
	free(cfg->database_url);
	free(cfg->llm_base_url);
	free(cfg->llm_model);
	if (cfg->llm_api_key != NULL) {
		explicit_bzero(cfg->llm_api_key, strlen(cfg->llm_api_key));
		free(cfg->llm_api_key);
	}
	free(cfg->system_prompt);
	free(cfg->safety_prompt);
	free(cfg->lexicon_path);
	free(cfg->webhook_url);
	free(cfg->crisis_hotline);
	free(cfg->crisis_text);
	free(cfg->crisis_message);
	memset(cfg, 0, sizeof *cfg);
}
