# tests/unit: one TAP program per module of pure functions and parsers.
UNIT_LDADD = $(top_builddir)/router/libparse.a $(top_builddir)/lib/libcommon.a

check_PROGRAMS += unit/test_common unit/test_fcgi unit/test_cgi \
	unit/test_route unit/test_config
TESTS += unit/test_common unit/test_fcgi unit/test_cgi unit/test_route \
	unit/test_config

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
