// SPDX-License-Identifier: GPL-2.0
/*
 * connt - a tiny TCP/UDP traffic tool for the connlimit test bed.
 *
 *   connt [-n NETNS] server|client ...
 *	-n enters the network namespace NETNS first (a name under
 *	/run/netns, or a path), like "ip netns exec" minus its cost.
 *
 *   connt server -a ADDR [-a ADDR...] -p PORT [-p PORT...]
 *	Listens on every ADDR x PORT for TCP and UDP.  TCP connections are
 *	accepted and held; bytes received are echoed; a connection is closed
 *	when the peer closes it.  UDP datagrams are echoed from the address
 *	they were sent to.  Prints "ready" once every socket is bound.
 *
 *   connt client -s SRC -d DST -p PORT [-u] [-t TIMEOUT_MS]
 *	Reads one command per line on stdin and answers one line per
 *	command on stdout (flushed), holding its connections in between:
 *	  open N    open N TCP connections (or, with -u, N UDP exchanges on
 *		    N new sockets) from SRC to DST:PORT, one after the other
 *		    -> "open est=E ref=R tmo=T err=X"
 *	  ping      send one byte on every held connection, wait for the echo
 *		    -> "ping ok=O fail=F"
 *	  close N   close the N oldest held connections (FIN)  -> "close n=N"
 *	  reset N   the same with an RST (SO_LINGER 0)           -> "reset n=N"
 *	  held      -> "held N"
 *	  quit      (or end of input) close everything (FIN) and exit
 *	  abort     reset everything (RST) and exit: nothing lingers in
 *		    FIN_WAIT, so the namespaces can go at once
 *
 * est = the handshake completed (TCP) or the reply arrived (UDP);
 * ref = ECONNREFUSED (TCP RST or ICMP unreachable); tmo = no answer within
 * the timeout; err = any other error (printed on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define MAX_LISTEN	64
#define MAX_FDS		8192

const char *prog = "connt";

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: connt [-n NETNS] server -a ADDR... -p PORT...\n"
		"       connt [-n NETNS] client -s SRC -d DST -p PORT [-u] [-t MS]\n");
	exit(2);
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "connt: bad number: %s\n", s);
		exit(2);
	}
	return (int)v;
}

static void raise_nofile(void)
{
	struct rlimit rl = { MAX_FDS + 64, MAX_FDS + 64 };

	setrlimit(RLIMIT_NOFILE, &rl);	/* best effort */
}

/* Milliseconds left until @deadline (CLOCK_MONOTONIC), never negative. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static void deadline_in(struct timespec *d, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += (long)(ms % 1000) * 1000000;
	if (d->tv_nsec >= 1000000000) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000;
	}
}

/* ------------------------------------------------------------------ */
/* server */

struct slot {
	int fd;
	int kind;	/* 0 = TCP listener, 1 = UDP, 2 = TCP connection */
};

static struct pollfd pfds[MAX_FDS];
static struct slot slots[MAX_FDS];
static int nslots;

static void add_slot(int fd, int kind)
{
	if (nslots == MAX_FDS) {
		close(fd);
		fprintf(stderr, "connt server: too many sockets\n");
		return;
	}
	slots[nslots].fd = fd;
	slots[nslots].kind = kind;
	pfds[nslots].fd = fd;
	pfds[nslots].events = POLLIN;
	pfds[nslots].revents = 0;
	nslots++;
}

static void del_slot(int i)
{
	close(slots[i].fd);
	nslots--;
	slots[i] = slots[nslots];
	pfds[i] = pfds[nslots];
}

static int bound_socket(const char *addr, int port, int type)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(&ss, addr, port);
	int one = 1;
	int fd = socket(ss.ss_family, type, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		fprintf(stderr, "connt server: bind %s port %d: %s\n",
			addr, port, strerror(errno));
		exit(2);
	}
	if (type == SOCK_STREAM && listen(fd, 1024) < 0)
		die("listen");
	return fd;
}

static void server_event(int i)
{
	char buf[2048];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	ssize_t n;
	int fd;

	switch (slots[i].kind) {
	case 0:
		fd = accept4(slots[i].fd, NULL, NULL, SOCK_NONBLOCK);
		if (fd >= 0)
			add_slot(fd, 2);
		break;
	case 1:
		n = recvfrom(slots[i].fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&peer, &plen);
		if (n >= 0)
			sendto(slots[i].fd, buf, n, MSG_DONTWAIT,
			       (struct sockaddr *)&peer, plen);
		break;
	case 2:
		n = recv(slots[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			send(slots[i].fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			del_slot(i);	/* peer closed or reset: close too */
		break;
	}
}

static int server_main(int argc, char **argv)
{
	const char *addrs[MAX_LISTEN];
	int ports[MAX_LISTEN];
	int na = 0, np = 0, opt, i, j;

	while ((opt = getopt(argc, argv, "a:p:")) != -1) {
		if (opt == 'a' && na < MAX_LISTEN)
			addrs[na++] = optarg;
		else if (opt == 'p' && np < MAX_LISTEN)
			ports[np++] = parse_int(optarg, 1, 65535);
		else
			usage();
	}
	if (!na || !np || optind != argc)
		usage();

	for (i = 0; i < na; i++)
		for (j = 0; j < np; j++) {
			add_slot(bound_socket(addrs[i], ports[j], SOCK_STREAM), 0);
			add_slot(bound_socket(addrs[i], ports[j], SOCK_DGRAM), 1);
		}
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		int n = poll(pfds, nslots, -1);

		if (n < 0 && errno != EINTR)
			die("poll");
		/* Walk backwards: del_slot() moves the last slot into i. */
		for (i = nslots - 1; i >= 0 && n > 0; i--) {
			if (!pfds[i].revents)
				continue;
			n--;
			pfds[i].revents = 0;
			server_event(i);
		}
	}
}

/* ------------------------------------------------------------------ */
/* client */

static int held[MAX_FDS];	/* oldest first */
static int nheld;

struct client {
	struct sockaddr_storage src, dst;
	socklen_t srclen, dstlen;
	int udp;
	int timeout_ms;
};

/* Wait until @fd is ready for @events or the timeout ends; 0 on timeout. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct timespec deadline;
	struct pollfd p = { .fd = fd, .events = events };

	deadline_in(&deadline, timeout_ms);
	for (;;) {
		int n = poll(&p, 1, ms_left(&deadline));

		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			die("poll");
	}
}

static enum outcome open_one(const struct client *c)
{
	int type = c->udp ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(c->dst.ss_family, type | SOCK_NONBLOCK, 0);
	int err = 0;
	socklen_t elen = sizeof(err);
	char b = 'x';

	if (fd < 0) {
		perror("connt client: socket");
		return ERR;
	}
	if (bind(fd, (const struct sockaddr *)&c->src, c->srclen) < 0) {
		perror("connt client: bind");
		goto fail;
	}
	if (connect(fd, (const struct sockaddr *)&c->dst, c->dstlen) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		goto outcome;
	}
	if (c->udp) {
		if (send(fd, &b, 1, 0) < 0) {
			err = errno;
			goto outcome;
		}
		if (!wait_fd(fd, POLLIN, c->timeout_ms))
			goto timeout;
		if (recv(fd, &b, 1, MSG_DONTWAIT) < 0)
			err = errno;
	} else {
		if (!wait_fd(fd, POLLOUT, c->timeout_ms))
			goto timeout;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
outcome:
	if (!err) {
		held[nheld++] = fd;
		return EST;
	}
	close(fd);
	return connect_outcome(err);
timeout:
	close(fd);
	return TMO;
fail:
	close(fd);
	return ERR;
}

static void cmd_open(const struct client *c, int n)
{
	int count[4] = { 0 };

	while (n-- > 0) {
		if (nheld == MAX_FDS) {
			count[ERR]++;
			continue;
		}
		count[open_one(c)]++;
	}
	printf("open est=%d ref=%d tmo=%d err=%d\n",
	       count[EST], count[REF], count[TMO], count[ERR]);
}

static void cmd_ping(const struct client *c)
{
	int ok = 0, fail = 0, i;
	char b;

	for (i = 0; i < nheld; i++) {
		b = 'p';
		if (send(held[i], &b, 1, MSG_NOSIGNAL) == 1 &&
		    wait_fd(held[i], POLLIN, c->timeout_ms) &&
		    recv(held[i], &b, 1, MSG_DONTWAIT) == 1 && b == 'p')
			ok++;
		else
			fail++;
	}
	printf("ping ok=%d fail=%d\n", ok, fail);
}

/* Close the @n oldest held connections; returns how many were closed. */
static int close_held(int n, int rst)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int i;

	if (n > nheld)
		n = nheld;
	for (i = 0; i < n; i++) {
		if (rst)
			setsockopt(held[i], SOL_SOCKET, SO_LINGER, &lg,
				   sizeof(lg));
		close(held[i]);
	}
	memmove(held, held + n, (nheld - n) * sizeof(held[0]));
	nheld -= n;
	return n;
}

static int client_main(int argc, char **argv)
{
	struct client c = { .timeout_ms = 5000 };
	const char *src = NULL, *dst = NULL;
	char line[256], arg[64];
	int port = 0, opt;

	while ((opt = getopt(argc, argv, "s:d:p:ut:")) != -1) {
		switch (opt) {
		case 's': src = optarg; break;
		case 'd': dst = optarg; break;
		case 'p': port = parse_int(optarg, 1, 65535); break;
		case 'u': c.udp = 1; break;
		case 't': c.timeout_ms = parse_int(optarg, 1, 600000); break;
		default: usage();
		}
	}
	if (!src || !dst || !port || optind != argc)
		usage();
	c.srclen = parse_addr(&c.src, src, 0);
	c.dstlen = parse_addr(&c.dst, dst, port);
	if (c.src.ss_family != c.dst.ss_family) {
		fprintf(stderr, "connt client: SRC and DST families differ\n");
		exit(2);
	}

	while (fgets(line, sizeof(line), stdin)) {
		arg[0] = '\0';
		if (sscanf(line, "open %63s", arg) == 1)
			cmd_open(&c, parse_int(arg, 0, MAX_FDS));
		else if (sscanf(line, "close %63s", arg) == 1)
			printf("close n=%d\n",
			       close_held(parse_int(arg, 0, MAX_FDS), 0));
		else if (sscanf(line, "reset %63s", arg) == 1)
			printf("reset n=%d\n",
			       close_held(parse_int(arg, 0, MAX_FDS), 1));
		else if (strncmp(line, "ping", 4) == 0)
			cmd_ping(&c);
		else if (strncmp(line, "held", 4) == 0)
			printf("held %d\n", nheld);
		else if (strncmp(line, "quit", 4) == 0)
			break;
		else if (strncmp(line, "abort", 5) == 0) {
			close_held(nheld, 1);
			return 0;
		}
		else
			printf("error unknown command\n");
		fflush(stdout);
	}
	close_held(nheld, 0);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	netns_option(&argc, &argv);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "server") == 0)
		return server_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "client") == 0)
		return client_main(argc - 1, argv + 1);
	usage();
}
