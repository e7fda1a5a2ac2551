# tests/handlers: the handler the integration tests drive, a small FastCGI
# client, and the SDK's own test against real processes (spawn-fcgi,
# cgi-fcgi, php-fpm).
check_PROGRAMS += handlers/testhandler handlers/fcgiprobe
handlers_testhandler_SOURCES = handlers/testhandler.c
handlers_testhandler_CPPFLAGS = -I$(top_srcdir)/handlers/include \
	$(JANSSON_CFLAGS)
handlers_testhandler_LDADD = $(top_builddir)/handlers/sdk/libwsh.a \
	$(FCGI_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
handlers_fcgiprobe_SOURCES = handlers/fcgiprobe.c
handlers_fcgiprobe_CPPFLAGS =

TESTS += handlers/sdk.sh
EXTRA_DIST += handlers/sdk.sh handlers/apistub.py

# llmprobe: the chat handler's llm_stream (handlers/chat/llm.c) run against
# a model server, for integration/llm.py.
check_PROGRAMS += handlers/llmprobe
handlers_llmprobe_SOURCES = handlers/llmprobe.c ../handlers/chat/llm.c
handlers_llmprobe_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/handlers/chat \
	$(JANSSON_CFLAGS) $(CURL_CFLAGS)
handlers_llmprobe_LDADD = $(top_builddir)/handlers/chat/libchat.a \
	$(top_builddir)/lib/libcommon.a $(CURL_LIBS) $(JANSSON_LIBS) \
	$(PTHREAD_LIBS)
