# tests/db: the chat handler's database layer against a real PostgreSQL.
# db.sh starts a throwaway cluster (scripts/pg-tmp), checks the migration
# command (sql/wsrouter-migrate) and pg-tmp itself, then runs test_db, a
# TAP program with handlers/chat/db.c compiled in (db/chatdb.c).
#
# One file:	make check TESTS=db/db.sh
# Knobs:	WSR_KEEP_TMP=1 keeps the cluster's folder and its log;
#		TEST_DB_DEBUG=1 turns on db.c's debug log.
check_PROGRAMS += db/test_db
db_test_db_SOURCES = db/test_db.c db/chatdb.c unit/tap.h
db_test_db_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/handlers/chat \
	$(JANSSON_CFLAGS) $(PQ_CFLAGS)
db_test_db_LDADD = $(top_builddir)/lib/libcommon.a $(PQ_LIBS) \
	$(PTHREAD_LIBS)

TESTS += db/db.sh
EXTRA_DIST += db/db.sh
