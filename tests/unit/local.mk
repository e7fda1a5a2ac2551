# tests/unit: one TAP program per module of pure functions and parsers.
UNIT_LDADD = $(top_builddir)/router/libparse.a $(top_builddir)/lib/libcommon.a

check_PROGRAMS += unit/test_fcgi unit/test_cgi
TESTS += unit/test_fcgi unit/test_cgi

unit_test_fcgi_SOURCES = unit/test_fcgi.c unit/tap.h
unit_test_fcgi_LDADD = $(UNIT_LDADD)
unit_test_cgi_SOURCES = unit/test_cgi.c unit/tap.h
unit_test_cgi_LDADD = $(UNIT_LDADD)
