/*
 * listenshare.c: the reuseport setting. libwebsockets 4.1.6, as Debian
 * builds it, takes LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE but never sets
 * SO_REUSEPORT, so a second router on the port failed with EADDRINUSE. We
 * interpose bind(2), as maskcheck.c does recv(2): while the WebSocket
 * listener is being created with reuseport on, a TCP socket gets
 * SO_REUSEPORT before it is bound. The management API never shares its
 * port: a push must reach the router that holds the connection.
 */
#include "config.h"

#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsrouter.h"

static int	listen_share;

void
listenshare_set(int on)
{
	listen_share = on;
}

/* lws binds its listening sockets with bind(); this takes its place. */
int
bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	int		type, one = 1;
	socklen_t	tlen = sizeof type;

	if (listen_share && sa != NULL && (sa->sa_family == AF_INET ||
	    sa->sa_family == AF_INET6) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	    type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
		log_warn("%s: SO_REUSEPORT", __func__);
	return ((int)syscall(SYS_bind, fd, sa, len));
}
