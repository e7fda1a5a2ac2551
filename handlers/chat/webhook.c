/* webhook.c: tell a person about a high-risk message, with retries. */
/*
 * One JSON POST to CHAT_SAFETY_WEBHOOK (docs/safety.md gives the body).
 * A 2xx answer is success. Connection errors, timeouts, 429 and 5xx are
 * tried again, up to webhook_retries more times, after 200 ms, 400 ms,
 * 800 ms and so on (at most 10 s); any other answer gives up at once.
 * Failures are logged without the body or the URL, which may carry a
 * token. The caller's thread blocks for the whole exchange.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common.h"
#include "chat.h"

#define WEBHOOK_BACKOFF_MS	200	/* the first retry's; doubled */
#define WEBHOOK_BACKOFF_MAX_MS	10000
#define WEBHOOK_RETRIES_MAX	10

enum webhook_outcome {
	WEBHOOK_DONE,
	WEBHOOK_RETRY,
	WEBHOOK_GIVE_UP
};

static size_t	webhook_discard(char *, size_t, size_t, void *);
static int	webhook_transient(CURLcode);
static enum webhook_outcome webhook_attempt(CURL *, char *, size_t);
static void	webhook_sleep(long);

/* The answer's body is not needed: read and drop it. */
static size_t
webhook_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	return (size * nmemb);
}

/* Is this transfer error worth another try? */
static int
webhook_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (1);
	default:
		return (0);
	}
}

/* One POST; what went wrong, if anything, goes to why. */
static enum webhook_outcome
webhook_attempt(CURL *c, char *why, size_t whylen)
{
	CURLcode	rc;
	long		status = 0;

	if ((rc = curl_easy_perform(c)) != CURLE_OK) {
		snprintf(why, whylen, "%s", curl_easy_strerror(rc));
		return (webhook_transient(rc) ? WEBHOOK_RETRY :
		    WEBHOOK_GIVE_UP);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status <= 299)
		return (WEBHOOK_DONE);
	snprintf(why, whylen, "HTTP status %ld", status);
	if (status == 429 || (status >= 500 && status <= 599))
		return (WEBHOOK_RETRY);
	return (WEBHOOK_GIVE_UP);
}

static void
webhook_sleep(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
webhook_notify(const struct chat_config *cfg, const char *body)
{
	CURL			*c = NULL;
	struct curl_slist	*hdrs = NULL, *more;
	char			 why[CURL_ERROR_SIZE + 64];
	enum webhook_outcome	 out = WEBHOOK_GIVE_UP;
	long			 backoff = WEBHOOK_BACKOFF_MS;
	int			 attempt, attempts, rv = -1;

	if (cfg->webhook_url == NULL || *cfg->webhook_url == '\0')
		return (0);
	attempts = 1 + (cfg->webhook_retries < 0 ? 0 :
	    cfg->webhook_retries > WEBHOOK_RETRIES_MAX ? WEBHOOK_RETRIES_MAX :
	    cfg->webhook_retries);

	if ((c = curl_easy_init()) == NULL) {
		log_warnx("%s: curl_easy_init failed", __func__);
		goto fail;
	}
	if ((hdrs = curl_slist_append(NULL,
	    "Content-Type: application/json")) == NULL ||
	    (more = curl_slist_append(hdrs, "Expect:")) == NULL) {
		log_warnx("%s: curl_slist_append failed", __func__);
		goto fail;
	}
	hdrs = more;
	curl_easy_setopt(c, CURLOPT_URL, cfg->webhook_url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "wsrouter-chat/" VERSION);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->webhook_timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cfg->webhook_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, webhook_discard);

	for (attempt = 1; attempt <= attempts; attempt++) {
		if (attempt > 1) {
			webhook_sleep(backoff);
			backoff = backoff * 2 > WEBHOOK_BACKOFF_MAX_MS ?
			    WEBHOOK_BACKOFF_MAX_MS : backoff * 2;
		}
		out = webhook_attempt(c, why, sizeof why);
		if (out == WEBHOOK_DONE) {
			if (attempt > 1)
				log_info("%s: delivered on attempt %d",
				    __func__, attempt);
			rv = 0;
			break;
		}
		log_warnx("%s: attempt %d of %d: %s%s", __func__, attempt,
		    attempts, why, out == WEBHOOK_GIVE_UP ? ", giving up" :
		    attempt == attempts ? ", no retries left" : "");
		if (out == WEBHOOK_GIVE_UP)
			break;
	}

fail:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	return (rv);
}
