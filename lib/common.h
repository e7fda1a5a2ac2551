/*
 * common.h: the small internal library shared by the router, the handler
 * SDK, the tests and the benchmark: allocation that never fails, logging
 * with levels, and a byte buffer whose cap is fixed when it is created.
 */
#ifndef WSR_COMMON_H
#define WSR_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define printflike(a, b) __attribute__((format(printf, a, b)))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* xmalloc.c: these log and exit on failure, they never return NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
void	*xmemdup(const void *, size_t);
int	 xasprintf(char **, const char *, ...) printflike(2, 3);
int	 xvasprintf(char **, const char *, va_list) printflike(2, 0);

/* log.c */
enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};
void	 log_init(const char *, enum log_level, int);
void	 log_set_level(enum log_level);
enum log_level log_get_level(void);
int	 log_level_parse(const char *, enum log_level *);
const char *log_level_name(enum log_level);
void	 log_warn(const char *, ...) printflike(1, 2);
void	 log_warnx(const char *, ...) printflike(1, 2);
void	 log_info(const char *, ...) printflike(1, 2);
void	 log_debug(const char *, ...) printflike(1, 2);
__dead void fatal(const char *, ...) printflike(1, 2);
__dead void fatalx(const char *, ...) printflike(1, 2);
#define log_debug_enabled() (log_get_level() >= LOG_LEVEL_DEBUG)

/*
 * dbuf.c: a growable byte buffer with a hard cap. Appends past the cap fail
 * with -1 and leave the buffer unchanged. The buffer always keeps one spare
 * byte so that dbuf_str() can NUL-terminate.
 */
struct dbuf {
	unsigned char	*data;
	size_t		 len;
	size_t		 alloc;
	size_t		 cap;
};
void	 dbuf_init(struct dbuf *, size_t);
void	 dbuf_free(struct dbuf *);
void	 dbuf_reset(struct dbuf *);
int	 dbuf_add(struct dbuf *, const void *, size_t);
int	 dbuf_addc(struct dbuf *, unsigned char);
int	 dbuf_adds(struct dbuf *, const char *);
int	 dbuf_printf(struct dbuf *, const char *, ...) printflike(2, 3);
void	 dbuf_consume(struct dbuf *, size_t);
const char *dbuf_str(struct dbuf *);
size_t	 dbuf_space(const struct dbuf *);

/* file.c */
#define FILE_READ_OK	0
#define FILE_READ_OPEN	(-1)	/* errno says why */
#define FILE_READ_IO	(-2)	/* errno says why */
#define FILE_READ_BIG	(-3)
int	 file_read(const char *, size_t, unsigned char **, size_t *);

/* util.c */
uint64_t mono_usec(void);
char	*iso8601_utc(int64_t, char *, size_t);
int64_t	 wall_usec(void);
int	 utf8_decode(const unsigned char *, size_t, int, unsigned int *,
	    size_t *);
size_t	 utf8_encode(unsigned int, unsigned char *);
int	 utf8_valid(const void *, size_t);
size_t	 utf8_complete_prefix(const void *, size_t);
int	 json_escape(struct dbuf *, const void *, size_t);

#endif
