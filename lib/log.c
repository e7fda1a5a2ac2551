/*
 * log.c: leveled logging to stderr (or syslog), one line per event, with a
 * timestamp and the level. Callers start messages with __func__. Secrets
 * (tokens, keys, query strings that carry them) are never passed here.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char	*log_name = "wsrouter";
static enum log_level	 log_level = LOG_LEVEL_INFO;
static int		 log_syslog;

static void	 log_vwrite(enum log_level, int, const char *, va_list);

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *name, enum log_level level, int use_syslog)
{
	log_name = name;
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return (log_level);
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	i;

	for (i = 0; i < nitems(log_names); i++) {
		if (strcasecmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return (0);
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return (0);
	}
	return (-1);
}

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= nitems(log_names))
		return ("?");
	return (log_names[level]);
}

static void
log_vwrite(enum log_level level, int err, const char *fmt, va_list ap)
{
	static const int	 prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	char			 msg[2048], ts[32];
	struct timespec		 now;
	struct tm		 tm;
	int			 n;

	if (level > log_level)
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		return;
	if (err != 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(err));
	if (log_syslog) {
		syslog(prio[level], "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s[%ld] %s: %s\n", ts,
	    now.tv_nsec / 1000000, log_name, (long)getpid(),
	    log_names[level], msg);
}

#define LOG_BODY(level, err) do {		\
	va_list	ap;				\
	int	saved = errno;			\
	va_start(ap, fmt);			\
	log_vwrite(level, err, fmt, ap);	\
	va_end(ap);				\
	errno = saved;				\
} while (0)

void
log_warn(const char *fmt, ...)
{
	int	err = errno;

	LOG_BODY(LOG_LEVEL_WARN, err);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	int	err = errno;

	LOG_BODY(LOG_LEVEL_ERROR, err);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, 0);
	exit(1);
}
