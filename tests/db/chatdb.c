/* chatdb.c: the chat handler's db.c, compiled into test_db as it is. */
#include "db.c"
