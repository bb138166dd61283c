/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the stress tools (clstress, xtcraft): each tool is one
 * static binary, so these are static functions in a header.  @prog names
 * the tool in messages.
 */
#ifndef CL_TOOLS_H
#define CL_TOOLS_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char *prog;

static inline void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "%s: ", prog);
	perror(what);
	exit(2);
}

/* Join the network namespace @name (under /run/netns unless a path). */
static inline void enter_netns(const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s%s",
		 strchr(name, '/') ? "" : "/run/netns/", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "%s: netns %s: %s\n", prog, path, strerror(errno));
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

#endif /* CL_TOOLS_H */
