# handlers/chat: the AI chat handler (wsrouter-chat), its token tool, and
# the safety lexicon. Included from handlers/Makefile.am.
#
# libchat.a holds the parts that do no FastCGI I/O (config, JWT checks,
# the safety classifier, the provider stream parsers), so the unit tests
# and fuzzers link the handler's own code.
noinst_LIBRARIES = chat/libchat.a
chat_libchat_a_SOURCES = chat/chat.h chat/llmparse.h chat/config.c \
	chat/jwtcheck.c chat/safety.c chat/llmparse.c
chat_libchat_a_CPPFLAGS = -I$(top_srcdir)/lib $(JANSSON_CFLAGS) \
	$(JWT_CFLAGS) -DCHAT_DATADIR='"$(pkgdatadir)"'

bin_PROGRAMS = chat/wsrouter-chat chat/wsrouter-chat-token
chat_wsrouter_chat_SOURCES = chat/main.c chat/llm.c chat/db.c \
	chat/webhook.c
chat_wsrouter_chat_CPPFLAGS = $(WSH_CPPFLAGS) -I$(top_srcdir)/lib \
	$(CURL_CFLAGS) $(PQ_CFLAGS) $(JWT_CFLAGS)
chat_wsrouter_chat_LDADD = chat/libchat.a $(top_builddir)/lib/libcommon.a \
	$(WSH_LIBS) $(PQ_LIBS) $(JWT_LIBS)
chat_wsrouter_chat_token_SOURCES = chat/token.c
chat_wsrouter_chat_token_CPPFLAGS = -I$(top_srcdir)/lib $(JANSSON_CFLAGS) \
	$(JWT_CFLAGS)
chat_wsrouter_chat_token_LDADD = chat/libchat.a \
	$(top_builddir)/lib/libcommon.a $(JWT_LIBS) $(JANSSON_LIBS)

dist_pkgdata_DATA = chat/safety-lexicon.txt
