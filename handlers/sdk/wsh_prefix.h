/*
 * wsh_prefix.h: renames the internal library's symbols inside libwsh.a, so
 * that a handler linking the SDK can still define its own fatal(),
 * log_info() or xmalloc(). Every SDK object, the internal library's
 * sources compiled into libwsh.a included, is built with -include of this
 * file; only the wsh_ names stay public. It also brings in config.h (the
 * system extensions: vasprintf, POLLRDHUP) ahead of every system header.
 */
#ifndef WSH_PREFIX_H
#define WSH_PREFIX_H

#include "config.h"

#define xmalloc			wsh__xmalloc
#define xcalloc			wsh__xcalloc
#define xrealloc		wsh__xrealloc
#define xreallocarray		wsh__xreallocarray
#define xstrdup			wsh__xstrdup
#define xstrndup		wsh__xstrndup
#define xmemdup			wsh__xmemdup
#define xasprintf		wsh__xasprintf
#define xvasprintf		wsh__xvasprintf

#define log_init		wsh__log_init
#define log_set_level		wsh__log_set_level
#define log_get_level		wsh__log_get_level
#define log_level_parse		wsh__log_level_parse
#define log_level_name		wsh__log_level_name
#define log_warn		wsh__log_warn
#define log_warnx		wsh__log_warnx
#define log_info		wsh__log_info
#define log_debug		wsh__log_debug
#define fatal			wsh__fatal
#define fatalx			wsh__fatalx

#define dbuf_init		wsh__dbuf_init
#define dbuf_free		wsh__dbuf_free
#define dbuf_reset		wsh__dbuf_reset
#define dbuf_add		wsh__dbuf_add
#define dbuf_addc		wsh__dbuf_addc
#define dbuf_adds		wsh__dbuf_adds
#define dbuf_printf		wsh__dbuf_printf
#define dbuf_consume		wsh__dbuf_consume
#define dbuf_str		wsh__dbuf_str
#define dbuf_space		wsh__dbuf_space

#define mono_usec		wsh__mono_usec
#define iso8601_utc		wsh__iso8601_utc
#define wall_usec		wsh__wall_usec
#define utf8_decode		wsh__utf8_decode
#define utf8_encode		wsh__utf8_encode
#define utf8_valid		wsh__utf8_valid
#define utf8_complete_prefix	wsh__utf8_complete_prefix
#define json_escape		wsh__json_escape

#endif
