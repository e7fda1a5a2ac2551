/*
 * tap.h: a tiny TAP producer for the unit tests. Each check prints
 * "ok N - desc" or "not ok N - desc"; tap_done() prints the plan and gives
 * the exit status. While tap_todo is set, checks are TODO with that reason:
 * one that fails is not a failure of the run.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int	 tap_count;
static int	 tap_failures;
static const char *tap_todo;

static inline void
tap_vdiag(const char *fmt, va_list ap)
{
	char	buf[4096], *p, *nl;

	vsnprintf(buf, sizeof buf, fmt, ap);
	for (p = buf; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		if (*p != '\0' || nl != NULL)
			printf("# %s\n", p);
	}
}

static inline void __attribute__((format(printf, 1, 2)))
tap_diag(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tap_vdiag(fmt, ap);
	va_end(ap);
}

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (tap_todo != NULL)
		printf(" # TODO %s", tap_todo);
	printf("\n");
	if (!cond) {
		if (tap_todo == NULL)
			tap_failures++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return (cond);
}

#define ok(cond, ...)	tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* A string literal and its length, NULs inside counted: two arguments. */
#define BIN(s)		(s), sizeof(s) - 1

/* Compare integers and say both values when they differ. */
#define is_int(got, want, ...) do {					\
	long long	 tap_g = (long long)(got);			\
	long long	 tap_w = (long long)(want);			\
	if (!tap_ok(tap_g == tap_w, __FILE__, __LINE__, __VA_ARGS__))	\
		tap_diag("  got %lld, want %lld", tap_g, tap_w);	\
} while (0)

/* Compare C strings (NULL allowed). */
#define is_str(got, want, ...) do {					\
	const char	*tap_g = (got);					\
	const char	*tap_w = (want);				\
	int		 tap_c = (tap_g == NULL || tap_w == NULL) ?	\
	    tap_g == tap_w : strcmp(tap_g, tap_w) == 0;			\
	if (!tap_ok(tap_c, __FILE__, __LINE__, __VA_ARGS__))		\
		tap_diag("  got:\n%s\n  want:\n%s",			\
		    tap_g ? tap_g : "(null)", tap_w ? tap_w : "(null)");\
} while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return (tap_failures != 0);
}

#endif
