/* file.c: read a whole file into memory, up to a cap set by the caller. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

/*
 * Read the file at path, at most max bytes, into a new buffer with a NUL
 * after the *len bytes read (the file itself may hold NULs). The buffer
 * is read into directly, so a key leaves no copies behind. Returns
 * FILE_READ_OK, or FILE_READ_OPEN or FILE_READ_IO with errno set, or
 * FILE_READ_BIG when the file is longer than max.
 */
int
file_read(const char *path, size_t max, unsigned char **out, size_t *len)
{
	unsigned char	*buf;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (FILE_READ_OPEN);
	buf = xmalloc(max + 1);
	for (;;) {
		r = read(fd, buf + n, max + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			saved = errno;
			close(fd);
			free(buf);
			errno = saved;
			return (FILE_READ_IO);
		}
		if (r == 0)
			break;
		n += r;
		if (n > max) {
			close(fd);
			free(buf);
			return (FILE_READ_BIG);
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return (FILE_READ_OK);
}
