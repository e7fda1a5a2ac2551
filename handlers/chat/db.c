/* db.c: placeholder until it is written. */
#include "config.h"
int chat_placeholder_db;
