/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the test tools (connt, clstress, xtcraft) and the
 * benchmark's clbench: each tool is one static binary, so these are static
 * functions in a header.  @prog
 * names the tool in messages.
 */
#ifndef CL_TOOLS_H
#define CL_TOOLS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern const char *prog;

static inline void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "%s: ", prog);
	perror(what);
	exit(2);
}

/* Fill @ss from a numeric IPv4 or IPv6 address and a port; its length. */
static inline socklen_t parse_addr(struct sockaddr_storage *ss,
				   const char *addr, int port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	fprintf(stderr, "%s: not a numeric address: %s\n", prog, addr);
	exit(2);
}

/* The network namespace @name (under /run/netns unless a path), opened. */
static inline int netns_fd(const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s%s",
		 strchr(name, '/') ? "" : "/run/netns/", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: netns %s: %s\n", prog, path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* Join the network namespace @name. */
static inline void enter_netns(const char *name)
{
	int fd = netns_fd(name);

	if (setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "%s: netns %s: %s\n", prog, name, strerror(errno));
		exit(2);
	}
	close(fd);
}

/* "-n NETNS" first on the command line: enter it, drop the two words. */
static inline void netns_option(int *argc, char ***argv)
{
	if (*argc >= 3 && strcmp((*argv)[1], "-n") == 0) {
		enter_netns((*argv)[2]);
		*argc -= 2;
		*argv += 2;
	}
}

/* What a TCP or UDP connection attempt came to. */
enum outcome { EST, REF, TMO, ERR };

/*
 * The outcome of an attempt that ended with error @err (0: established):
 * refused is a TCP RST or an ICMP unreachable; anything unexpected is
 * named on stderr.
 */
static inline enum outcome connect_outcome(int err)
{
	if (!err)
		return EST;
	if (err == ECONNREFUSED || err == ECONNRESET)
		return REF;
	if (err == ETIMEDOUT)
		return TMO;
	fprintf(stderr, "%s: connect: %s\n", prog, strerror(err));
	return ERR;
}

#endif /* CL_TOOLS_H */
