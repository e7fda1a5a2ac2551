/*
 * wsh_api.c: a client of the router's management API on libcurl: push a
 * frame to a connection, read its info, close it, publish to a channel.
 * The base is http://host:port or unix:/path, as in WS_API.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "wsh_int.h"

struct wsh_api {
	CURL		*api_curl;
	char		*api_spec;	/* as given */
	char		*api_base;	/* http://host:port, no / */
	char		*api_unix;	/* or a unix socket path */
	long		 api_timeout_ms;
	char		 api_error[CURL_ERROR_SIZE];
};

static pthread_once_t	 wsh_api_once = PTHREAD_ONCE_INIT;

static void	 wsh_api_global(void);
static size_t	 wsh_api_discard(char *, size_t, size_t, void *);
static size_t	 wsh_api_collect(char *, size_t, size_t, void *);
static int	 wsh_api_request(struct wsh_api *, const char *, const char *,
		    const char *, const char *, const char *, const void *,
		    size_t, struct dbuf *);

static void
wsh_api_global(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Called before threads start; curl_global_init is not thread-safe. */
void
wsh_api_global_init(void)
{
	pthread_once(&wsh_api_once, wsh_api_global);
}

/* A new client for base, or WS_API from the environment when NULL. */
struct wsh_api *
wsh_api_new(const char *base)
{
	struct wsh_api	*api;
	size_t		 len;

	if (base == NULL && (base = getenv("WS_API")) == NULL)
		return (NULL);
	if (*base == '\0')
		return (NULL);
	wsh_api_global_init();
	api = xcalloc(1, sizeof *api);
	if ((api->api_curl = curl_easy_init()) == NULL) {
		free(api);
		return (NULL);
	}
	api->api_spec = xstrdup(base);
	if (strncmp(base, "unix:", 5) == 0) {
		api->api_unix = xstrdup(base + 5);
		api->api_base = xstrdup("http://localhost");
	} else if (strncmp(base, "http://", 7) == 0)
		api->api_base = xstrdup(base);
	else
		xasprintf(&api->api_base, "http://%s", base);
	len = strlen(api->api_base);
	while (len > 7 && api->api_base[len - 1] == '/')
		api->api_base[--len] = '\0';
	api->api_timeout_ms = 10000;
	return (api);
}

/*
 * The client for the event's WS_API, kept by the worker thread across
 * invocations so that its connection is reused. Borrowed: do not free.
 */
struct wsh_api *
wsh_api_from_event(struct wsh_event *ev)
{
	struct wsh_worker	*w = ev->ev_worker;
	const char		*base = wsh_param(ev, "WS_API");

	if (base == NULL || *base == '\0')
		return (NULL);
	if (w == NULL) {
		/* CGI mode: one client for the one event. */
		if (ev->ev_api == NULL)
			ev->ev_api = wsh_api_new(base);
		return (ev->ev_api);
	}
	if (w->w_api != NULL && strcmp(w->w_api->api_spec, base) != 0) {
		wsh_api_free(w->w_api);
		w->w_api = NULL;
	}
	if (w->w_api == NULL)
		w->w_api = wsh_api_new(base);
	return (w->w_api);
}

void
wsh_api_free(struct wsh_api *api)
{
	if (api == NULL)
		return;
	curl_easy_cleanup(api->api_curl);
	free(api->api_spec);
	free(api->api_base);
	free(api->api_unix);
	free(api);
}

void
wsh_api_set_timeout(struct wsh_api *api, long ms)
{
	api->api_timeout_ms = ms > 0 ? ms : 10000;
}

/* The last transport error, or "". */
const char *
wsh_api_error(const struct wsh_api *api)
{
	return (api->api_error);
}

static size_t
wsh_api_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (size * n);
}

static size_t
wsh_api_collect(char *p, size_t size, size_t n, void *arg)
{
	struct dbuf	*b = arg;

	if (dbuf_add(b, p, size * n) == -1)
		return (0);	/* past the cap: abort the transfer */
	return (size * n);
}

/*
 * method base/prefix/escaped(name)query with an optional body. Returns the
 * HTTP status, or -1 when the router could not be reached.
 */
static int
wsh_api_request(struct wsh_api *api, const char *method, const char *prefix,
    const char *name, const char *query, const char *ctype, const void *body,
    size_t len, struct dbuf *out)
{
	struct curl_slist	*hdrs = NULL;
	CURL			*c = api->api_curl;
	char			*esc = NULL, *url = NULL, *ct = NULL;
	long			 status = -1;
	CURLcode		 rc;

	api->api_error[0] = '\0';
	if (name == NULL || *name == '\0') {
		snprintf(api->api_error, sizeof api->api_error,
		    "empty id or channel");
		return (-1);
	}
	if ((esc = curl_easy_escape(c, name, (int)strlen(name))) == NULL)
		return (-1);
	xasprintf(&url, "%s%s%s%s", api->api_base, prefix, esc,
	    query != NULL ? query : "");
	curl_free(esc);

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, api->api_error);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, api->api_timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    api->api_timeout_ms < 2000 ? api->api_timeout_ms : 2000L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
	if (api->api_unix != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, api->api_unix);
	if (out != NULL) {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wsh_api_collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	} else
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wsh_api_discard);

	hdrs = curl_slist_append(hdrs, "Expect:");
	if (strcmp(method, "POST") == 0) {
		xasprintf(&ct, "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, len > 0 ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	} else if (strcmp(method, "DELETE") == 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	if ((rc = curl_easy_perform(c)) != CURLE_OK) {
		if (api->api_error[0] == '\0')
			snprintf(api->api_error, sizeof api->api_error, "%s",
			    curl_easy_strerror(rc));
		log_debug("%s: %s %s: %s", __func__, method, url,
		    api->api_error);
		status = -1;
	} else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	/* The header list is freed below: curl must not keep it. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(ct);
	free(url);
	return ((int)status);
}

int
wsh_api_push_text(struct wsh_api *api, const char *id, const char *text,
    size_t len)
{
	return (wsh_api_request(api, "POST", "/@connections/", id, NULL,
	    "text/plain; charset=utf-8", text, len, NULL));
}

int
wsh_api_push_binary(struct wsh_api *api, const char *id, const void *buf,
    size_t len)
{
	return (wsh_api_request(api, "POST", "/@connections/", id, NULL,
	    "application/octet-stream", buf, len, NULL));
}

/* GET the connection's info; *body (if not NULL) is the response, freed
 * by the caller. */
int
wsh_api_info(struct wsh_api *api, const char *id, char **body)
{
	struct dbuf	b;
	int		status;

	dbuf_init(&b, WSH_API_BODY_MAX);
	status = wsh_api_request(api, "GET", "/@connections/", id, NULL, NULL,
	    NULL, 0, &b);
	if (body != NULL)
		*body = status == -1 ? NULL : xstrdup(dbuf_str(&b));
	dbuf_free(&b);
	return (status);
}

/* DELETE the connection, with a close code when code is not 0. */
int
wsh_api_close(struct wsh_api *api, const char *id, int code)
{
	char	query[32];

	query[0] = '\0';
	if (code != 0)
		snprintf(query, sizeof query, "?code=%d", code);
	return (wsh_api_request(api, "DELETE", "/@connections/", id, query,
	    NULL, NULL, 0, NULL));
}

int
wsh_api_publish_text(struct wsh_api *api, const char *channel,
    const char *text, size_t len)
{
	return (wsh_api_request(api, "POST", "/@channels/", channel, NULL,
	    "text/plain; charset=utf-8", text, len, NULL));
}

int
wsh_api_publish_binary(struct wsh_api *api, const char *channel,
    const void *buf, size_t len)
{
	return (wsh_api_request(api, "POST", "/@channels/", channel, NULL,
	    "application/octet-stream", buf, len, NULL));
}
