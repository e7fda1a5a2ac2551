# tests/fuzz: libFuzzer targets for the router's parsers. With
# --enable-fuzzing they are built straight from the parser and lib sources
# (pure C, no libwebsockets) with $(FUZZ_CC); run-fuzzers.sh runs each for
# a bounded time and skips itself when they were not built.
FUZZ_NAMES = fcgi cgi route config
FUZZ_TARGETS = fuzz/fuzz_fcgi fuzz/fuzz_cgi fuzz/fuzz_route fuzz/fuzz_config
# The chat handler's safety lexicon and classifier.
FUZZ_NAMES += safety
FUZZ_TARGETS += fuzz/fuzz_safety
# The chat handler's model stream parsers.
FUZZ_NAMES += llmparse
FUZZ_TARGETS += fuzz/fuzz_llmparse
FUZZ_LIB_SRCS = $(top_srcdir)/lib/xmalloc.c $(top_srcdir)/lib/log.c \
	$(top_srcdir)/lib/dbuf.c $(top_srcdir)/lib/util.c \
	$(top_srcdir)/lib/file.c
FUZZ_HDRS = $(top_srcdir)/lib/common.h $(top_srcdir)/router/wsrouter.h \
	$(top_builddir)/config.h
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined \
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DHAVE_CONFIG_H \
	-I$(top_builddir) -I$(top_srcdir)/lib -I$(top_srcdir)/router

TESTS += fuzz/run-fuzzers.sh
EXTRA_DIST += fuzz/run-fuzzers.sh fuzz/fuzz_fcgi.c fuzz/fuzz_cgi.c \
	fuzz/fuzz_route.c fuzz/fuzz_config.c fuzz/fcgi.dict fuzz/cgi.dict \
	fuzz/route.dict fuzz/config.dict fuzz/corpus
EXTRA_DIST += fuzz/fuzz_safety.c fuzz/safety.dict
EXTRA_DIST += fuzz/fuzz_llmparse.c fuzz/llmparse.dict

if ENABLE_FUZZING
check_SCRIPTS += $(FUZZ_TARGETS)
CLEANFILES += $(FUZZ_TARGETS)

fuzz/fuzz_fcgi: $(srcdir)/fuzz/fuzz_fcgi.c $(top_srcdir)/router/fcgi.c \
	    $(FUZZ_LIB_SRCS) $(FUZZ_HDRS)
	@$(MKDIR_P) fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ \
	    $(srcdir)/fuzz/fuzz_fcgi.c $(top_srcdir)/router/fcgi.c \
	    $(FUZZ_LIB_SRCS)

fuzz/fuzz_cgi: $(srcdir)/fuzz/fuzz_cgi.c $(top_srcdir)/router/cgi.c \
	    $(FUZZ_LIB_SRCS) $(FUZZ_HDRS)
	@$(MKDIR_P) fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ \
	    $(srcdir)/fuzz/fuzz_cgi.c $(top_srcdir)/router/cgi.c \
	    $(FUZZ_LIB_SRCS)

fuzz/fuzz_route: $(srcdir)/fuzz/fuzz_route.c $(top_srcdir)/router/route.c \
	    $(FUZZ_LIB_SRCS) $(FUZZ_HDRS)
	@$(MKDIR_P) fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ \
	    $(srcdir)/fuzz/fuzz_route.c $(top_srcdir)/router/route.c \
	    $(FUZZ_LIB_SRCS)

fuzz/fuzz_config: $(srcdir)/fuzz/fuzz_config.c \
	    $(top_srcdir)/router/config.c $(FUZZ_LIB_SRCS) $(FUZZ_HDRS)
	@$(MKDIR_P) fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ \
	    $(srcdir)/fuzz/fuzz_config.c $(top_srcdir)/router/config.c \
	    $(FUZZ_LIB_SRCS)

FUZZ_SAFETY_LEXICON = $(abs_top_srcdir)/handlers/chat/safety-lexicon.txt
fuzz/fuzz_safety: $(srcdir)/fuzz/fuzz_safety.c \
	    $(top_srcdir)/handlers/chat/safety.c \
	    $(top_srcdir)/handlers/chat/chat.h $(FUZZ_LIB_SRCS) $(FUZZ_HDRS)
	@$(MKDIR_P) fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) \
	    -I$(top_srcdir)/handlers/chat $(JANSSON_CFLAGS) \
	    -DFUZZ_SAFETY_LEXICON='"$(FUZZ_SAFETY_LEXICON)"' \
	    -o $@ $(srcdir)/fuzz/fuzz_safety.c \
	    $(top_srcdir)/handlers/chat/safety.c $(FUZZ_LIB_SRCS)

fuzz/fuzz_llmparse: $(srcdir)/fuzz/fuzz_llmparse.c \
	    $(top_srcdir)/handlers/chat/llmparse.c \
	    $(top_srcdir)/handlers/chat/llmparse.h $(FUZZ_LIB_SRCS) $(FUZZ_HDRS)
	@$(MKDIR_P) fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CFLAGS) \
	    -I$(top_srcdir)/handlers/chat $(JANSSON_CFLAGS) \
	    -o $@ $(srcdir)/fuzz/fuzz_llmparse.c \
	    $(top_srcdir)/handlers/chat/llmparse.c $(FUZZ_LIB_SRCS) \
	    $(JANSSON_LIBS)
endif
