# tests/unit: one TAP program per module of pure functions and parsers.
UNIT_LDADD = $(top_builddir)/router/libparse.a $(top_builddir)/lib/libcommon.a

check_PROGRAMS += unit/test_common unit/test_fcgi unit/test_cgi \
	unit/test_route unit/test_config unit/test_timerq
TESTS += unit/test_common unit/test_fcgi unit/test_cgi unit/test_route \
	unit/test_config unit/test_timerq

unit_test_common_SOURCES = unit/test_common.c unit/tap.h
unit_test_common_LDADD = $(UNIT_LDADD)
unit_test_fcgi_SOURCES = unit/test_fcgi.c unit/tap.h
unit_test_fcgi_LDADD = $(UNIT_LDADD)
unit_test_cgi_SOURCES = unit/test_cgi.c unit/tap.h
unit_test_cgi_LDADD = $(UNIT_LDADD)
unit_test_route_SOURCES = unit/test_route.c unit/tap.h
unit_test_route_LDADD = $(UNIT_LDADD)
unit_test_config_SOURCES = unit/test_config.c unit/tap.h
unit_test_config_LDADD = $(UNIT_LDADD)
unit_test_timerq_SOURCES = unit/test_timerq.c unit/tap.h
unit_test_timerq_CFLAGS = $(AM_CFLAGS) $(LWS_CFLAGS)
unit_test_timerq_LDADD = $(UNIT_LDADD) $(LWS_LIBS)

# The chat handler's pure parts (handlers/chat/libchat.a).
CHAT_UNIT_LDADD = $(top_builddir)/handlers/chat/libchat.a \
	$(top_builddir)/lib/libcommon.a $(JWT_LIBS) $(JANSSON_LIBS)
CHAT_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/handlers/chat \
	$(JANSSON_CFLAGS) $(JWT_CFLAGS)
check_PROGRAMS += unit/test_jwt unit/test_safety unit/test_llmparse
TESTS += unit/test_jwt unit/test_safety unit/test_llmparse
unit_test_jwt_SOURCES = unit/test_jwt.c unit/tap.h
unit_test_jwt_CPPFLAGS = $(CHAT_UNIT_CPPFLAGS)
unit_test_jwt_LDADD = $(CHAT_UNIT_LDADD) $(CRYPTO_LIBS)
unit_test_safety_SOURCES = unit/test_safety.c unit/tap.h
unit_test_safety_CPPFLAGS = $(CHAT_UNIT_CPPFLAGS)
unit_test_safety_LDADD = $(CHAT_UNIT_LDADD)
unit_test_llmparse_SOURCES = unit/test_llmparse.c unit/tap.h
unit_test_llmparse_CPPFLAGS = $(CHAT_UNIT_CPPFLAGS)
unit_test_llmparse_LDADD = $(CHAT_UNIT_LDADD)
EXTRA_DIST += unit/safety-phrases.tsv
