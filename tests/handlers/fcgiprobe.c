/*
 * fcgiprobe.c: a minimal FastCGI client for the SDK's tests. It sends one
 * request and copies the STDOUT stream to standard output, and can log
 * when each STDOUT record arrived (to see frames flushed one by one) or
 * hang up after some records (to cancel a streaming handler).
 *
 * usage: fcgiprobe [-c records] [-T timing-file] [-w seconds]
 *            [-i input-file] [-e NAME=VALUE ...] unix:/path
 * Exit status: 0 after END_REQUEST (or after -c records), 1 on error,
 * 2 when the handler closed the connection without END_REQUEST.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_RESPONDER		1
#define PROBE_MAX_PARAMS	64
#define PROBE_MAX_INPUT		(64 * 1024 * 1024)

struct probe_buf {
	unsigned char	*data;
	size_t		 len;
	size_t		 alloc;
};

static void	 probe_usage(void);
static uint64_t	 probe_usec(void);
static void	 probe_add(struct probe_buf *, const void *, size_t);
static void	 probe_record(struct probe_buf *, int, const void *, size_t);
static void	 probe_param(struct probe_buf *, const char *, const char *);
static int	 probe_connect(const char *);
static int	 probe_read_full(int, void *, size_t);
static int	 probe_write_full(int, const void *, size_t);

static void
probe_usage(void)
{
	fprintf(stderr, "usage: fcgiprobe [-c records] [-T timing-file] "
	    "[-w seconds] [-i input-file] [-e NAME=VALUE ...] unix:/path\n");
	exit(1);
}

static uint64_t
probe_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

static void
probe_add(struct probe_buf *b, const void *p, size_t len)
{
	if (b->len + len > b->alloc) {
		b->alloc = (b->len + len) * 2 + 64;
		if ((b->data = realloc(b->data, b->alloc)) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

static void
probe_record(struct probe_buf *b, int type, const void *p, size_t len)
{
	unsigned char	h[8];

	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = 0;
	h[3] = 1;			/* request id 1 */
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;			/* no padding */
	h[7] = 0;
	probe_add(b, h, sizeof h);
	probe_add(b, p, len);
}

static void
probe_param(struct probe_buf *b, const char *name, const char *value)
{
	size_t		lens[2] = { strlen(name), strlen(value) };
	unsigned char	h[4];
	int		i;

	for (i = 0; i < 2; i++) {
		if (lens[i] < 128) {
			h[0] = (unsigned char)lens[i];
			probe_add(b, h, 1);
		} else {
			h[0] = (unsigned char)(0x80 | (lens[i] >> 24));
			h[1] = (unsigned char)(lens[i] >> 16);
			h[2] = (unsigned char)(lens[i] >> 8);
			h[3] = (unsigned char)lens[i];
			probe_add(b, h, 4);
		}
	}
	probe_add(b, name, lens[0]);
	probe_add(b, value, lens[1]);
}

static int
probe_connect(const char *addr)
{
	struct sockaddr_un	sun;
	int			fd;

	if (strncmp(addr, "unix:", 5) == 0)
		addr += 5;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(addr) >= sizeof sun.sun_path)
		return (-1);
	strcpy(sun.sun_path, addr);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* 1 when len bytes were read, 0 at EOF before any, -1 on error. */
static int
probe_read_full(int fd, void *p, size_t len)
{
	size_t	got = 0;
	ssize_t	n;

	while (got < len) {
		n = read(fd, (char *)p + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		if (n == 0)
			return (got == 0 ? 0 : -1);
		got += (size_t)n;
	}
	return (1);
}

static int
probe_write_full(int fd, const void *p, size_t len)
{
	size_t	done = 0;
	ssize_t	n;

	while (done < len) {
		n = write(fd, (const char *)p + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		done += (size_t)n;
	}
	return (0);
}

int
main(int argc, char **argv)
{
	static struct probe_buf	 req, params, input;
	const char		*envs[PROBE_MAX_PARAMS], *eq;
	char			*name, clen[32], buf[65536 + 256];
	unsigned char		 h[8], begin[8] = { 0, FCGI_RESPONDER, 0 };
	FILE			*timing = NULL;
	uint64_t		 start;
	size_t			 i, off, n, len;
	ssize_t			 r;
	long			 close_after = -1, records = 0;
	int			 ch, fd, nenv = 0, wait_s = 10, in;

	while ((ch = getopt(argc, argv, "c:e:i:T:w:")) != -1) {
		switch (ch) {
		case 'c':
			close_after = strtol(optarg, NULL, 10);
			break;
		case 'e':
			if (nenv == PROBE_MAX_PARAMS ||
			    strchr(optarg, '=') == NULL)
				probe_usage();
			envs[nenv++] = optarg;
			break;
		case 'i':
			if ((in = open(optarg, O_RDONLY)) == -1) {
				perror(optarg);
				return (1);
			}
			while ((r = read(in, buf, sizeof buf)) > 0) {
				if (input.len + (size_t)r > PROBE_MAX_INPUT)
					return (1);
				probe_add(&input, buf, (size_t)r);
			}
			close(in);
			break;
		case 'T':
			if ((timing = fopen(optarg, "w")) == NULL) {
				perror(optarg);
				return (1);
			}
			break;
		case 'w':
			wait_s = atoi(optarg);
			break;
		default:
			probe_usage();
		}
	}
	if (optind + 1 != argc)
		probe_usage();
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned int)wait_s);	/* every run is bounded in time */

	if ((fd = probe_connect(argv[optind])) == -1) {
		perror(argv[optind]);
		return (1);
	}
	probe_record(&req, FCGI_BEGIN_REQUEST, begin, sizeof begin);
	snprintf(clen, sizeof clen, "%zu", input.len);
	probe_param(&params, "REQUEST_METHOD", "POST");
	probe_param(&params, "CONTENT_LENGTH", clen);
	probe_param(&params, "GATEWAY_INTERFACE", "CGI/1.1");
	for (i = 0; i < (size_t)nenv; i++) {
		eq = strchr(envs[i], '=');
		if ((name = strndup(envs[i], (size_t)(eq - envs[i]))) == NULL)
			return (1);
		probe_param(&params, name, eq + 1);
		free(name);
	}
	for (off = 0; off < params.len; off += n) {
		n = params.len - off > 65535 ? 65535 : params.len - off;
		probe_record(&req, FCGI_PARAMS, params.data + off, n);
	}
	probe_record(&req, FCGI_PARAMS, "", 0);
	for (off = 0; off < input.len; off += n) {
		n = input.len - off > 65535 ? 65535 : input.len - off;
		probe_record(&req, FCGI_STDIN, input.data + off, n);
	}
	probe_record(&req, FCGI_STDIN, "", 0);
	start = probe_usec();
	if (probe_write_full(fd, req.data, req.len) == -1) {
		perror("write");
		return (1);
	}

	for (;;) {
		switch (probe_read_full(fd, h, sizeof h)) {
		case 0:
			fprintf(stderr, "fcgiprobe: closed without "
			    "END_REQUEST\n");
			return (2);
		case -1:
			perror("read");
			return (1);
		}
		len = (size_t)h[4] << 8 | h[5];
		if (len + h[6] > 0 &&
		    probe_read_full(fd, buf, len + h[6]) != 1) {
			perror("read");
			return (1);
		}
		if (h[1] == FCGI_STDOUT && len > 0) {
			fwrite(buf, 1, len, stdout);
			fflush(stdout);
			if (timing != NULL) {
				fprintf(timing, "%llu %zu\n",
				    (unsigned long long)(probe_usec() - start) /
				    1000, len);
				fflush(timing);
			}
			if (close_after > 0 && ++records >= close_after) {
				close(fd);
				return (0);
			}
		} else if (h[1] == FCGI_STDERR && len > 0)
			fwrite(buf, 1, len, stderr);
		else if (h[1] == FCGI_END_REQUEST)
			break;
	}
	close(fd);
	free(req.data);
	free(params.data);
	free(input.data);
	if (timing != NULL)
		fclose(timing);
	return (0);
}
