// SPDX-License-Identifier: GPL-2.0
/*
 * clbench - the load generator of `make bench`, run inside the guest.
 *
 * connt (tests/tools) is the functional test tool: a few thousand
 * connections, one poll() over all of them.  The benchmark needs tens of
 * thousands held at once and a server whose cost does not grow with their
 * number (else the server, not the rule, would set the slope), plus a raw
 * SYN generator for the many-keys and refused-SYN scenarios.
 *
 *   -n NETNS    run in that network namespace (a name under /run/netns,
 *               or a path)
 *   -N NETNS2   conn and syn: a second "lane" in NETNS2 (the no-rule
 *               baseline beside the rule under test).  The two lanes are
 *               used in turn, one connection or SYN at a time, in random
 *               order (lane_shuffle()), each timed alone, reported side by side
 *               (est1=, ns1=, ...): a host that slows down for a moment slows
 *               both lanes alike, so their ratio holds on a busy machine.
 *
 *   clbench [-n NETNS] serve -a ADDR... -p PORT...
 *	TCP only.  Accepts and holds connections (epoll, so a wake-up costs
 *	the same with 50 or 50,000 held), closes one when the peer closes or
 *	resets it.  Every socket has SO_LINGER 0: killing the server sends
 *	resets, leaves no orphans behind to keep the namespace alive.
 *	Prints "ready" once every listener is bound.
 *
 *   clbench [-n NETNS] conn -s SRC [-S NSRC] -d DST -p PORT... [-t MS]
 *	Opens TCP connections from NSRC consecutive source addresses
 *	starting at SRC (round robin) to DST on each PORT (round robin),
 *	one after the other, and holds them.  Source ports are chosen here:
 *	each (source, port) pair counts through its own slice of 1024-65535,
 *	so opening a connection never searches for a free port and no two
 *	sockets share one.  One command per line on
 *	stdin, one answer line each:
 *	  open N   -> "open est=E ref=R tmo=T err=X ns=NS"  (NS: the sum of
 *		      each connection's time, from socket() to established)
 *	  reset N  reset the N newest held connections    -> "reset n=N"
 *	  held     -> "held N"
 *	  quit     (or end of input; or "abort") reset everything and exit
 *
 *   clbench [-n NETNS] syn -s SRC -k NKEYS -d DST -p PORT [-P PORT1]
 *		[-b SPORT] [-c CPU]
 *	Raw IPv4 TCP SYNs from NKEYS consecutive source addresses starting
 *	at SRC (the "keys"); each key counts its own source port up from
 *	SPORT (default 20000), so every SYN is a new connection.  The second
 *	lane's SYNs go to PORT1 (default PORT); -P without -N puts the
 *	second lane in the first one's namespace, where a rule matching
 *	--dport PORT sees only the first lane's SYNs.  -c pins the process
 *	to one CPU.  Commands:
 *	  keys A B   one SYN from each key A .. B-1
 *	  send N K   N SYNs, keys 0 .. K-1 in turn (a cursor carries over)
 *	  -> "sent n=N err=E ns=NS med=M big=B calm=C ... steps=S t0=T0 t1=T1"
 *	     (NS: the sum of the SYNs' sendto() calls, each of which carries
 *	     its SYN through the stack; the rest: see syn_report())
 *	  quit     (or "abort")
 *
 * Times are CLOCK_MONOTONIC nanoseconds measured around the work only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tests/tools/tools.h"

const char *prog = "clbench";

#define MAX_LIST	64		/* addresses or ports on a command line */
#define MAX_FDS		200000		/* connections one process may hold */
#define PORT_FIRST	1024

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: clbench [-n NETNS] serve -a ADDR... -p PORT...\n"
		"       clbench [-n NETNS] [-N NETNS2] conn -s SRC [-S NSRC] -d DST -p PORT... [-t MS]\n"
		"       clbench [-n NETNS] [-N NETNS2] syn -s SRC -k NKEYS -d DST -p PORT [-P PORT1] [-b SPORT] [-c CPU]\n");
	exit(2);
}

static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "clbench: bad number: %s\n", s);
		exit(2);
	}
	return v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* As many descriptors as we may hold; else as many as we may have. */
static void raise_nofile(void)
{
	struct rlimit rl = { MAX_FDS + 256, MAX_FDS + 256 };

	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 ||
	    getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * A numeric address, IPv4 or IPv6, with "plus @n": the last 32 bits are
 * counted up, so "-s 198.18.4.0 -S 300" runs on to 198.18.5.43.
 */
static socklen_t make_addr(struct sockaddr_storage *ss, const char *addr,
			   uint32_t plus, int port)
{
	socklen_t len = parse_addr(ss, addr, port);
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	uint32_t w;

	if (ss->ss_family == AF_INET) {
		sin->sin_addr.s_addr = htonl(ntohl(sin->sin_addr.s_addr) + plus);
	} else {
		memcpy(&w, &sin6->sin6_addr.s6_addr[12], 4);
		w = htonl(ntohl(w) + plus);
		memcpy(&sin6->sin6_addr.s6_addr[12], &w, 4);
	}
	return len;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Close with an RST and no lingering state: the socket is gone at once. */
static void set_abortive(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* ------------------------------------------------------------------ */
/* serve */

static int serve_main(int argc, char **argv)
{
	const char *addrs[MAX_LIST];
	int ports[MAX_LIST];
	int na = 0, np = 0, opt, i, j, ep, one = 1;
	struct epoll_event ev, evs[256];
	struct sockaddr_storage ss;
	socklen_t len;

	while ((opt = getopt(argc, argv, "a:p:")) != -1) {
		if (opt == 'a' && na < MAX_LIST)
			addrs[na++] = optarg;
		else if (opt == 'p' && np < MAX_LIST)
			ports[np++] = (int)parse_num(optarg, 1, 65535);
		else
			usage();
	}
	if (!na || !np || optind != argc)
		usage();

	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (i = 0; i < na; i++) {
		for (j = 0; j < np; j++) {
			int fd;

			len = make_addr(&ss, addrs[i], 0, ports[j]);
			fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (fd < 0)
				die("socket");
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (ss.ss_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
					   sizeof(one));
			if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
				fprintf(stderr, "clbench serve: bind %s port %d: %s\n",
					addrs[i], ports[j], strerror(errno));
				exit(2);
			}
			if (listen(fd, 4096) < 0)
				die("listen");
			/* data.u64: fd, bit 32 set for a listener */
			ev.events = EPOLLIN;
			ev.data.u64 = (uint64_t)fd | (1ull << 32);
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
				die("epoll_ctl");
		}
	}
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int fd = (int)(evs[i].data.u64 & 0xffffffffu);
			char buf[512];
			ssize_t r;

			if (evs[i].data.u64 >> 32) {
				int c;

				while ((c = accept4(fd, NULL, NULL,
						    SOCK_NONBLOCK)) >= 0) {
					set_abortive(c);
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.u64 = (uint64_t)c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
						close(c);
				}
				continue;
			}
			r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0)
				continue;	/* data is not echoed: drain it */
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			close(fd);	/* peer closed or reset */
		}
	}
}

/* ------------------------------------------------------------------ */
/* conn */

/*
 * A lane: one network namespace the connections (or SYNs) go out from.
 * With -N there are two, used in turn one connection (or SYN) at a time,
 * each timed alone: whatever slows the machine down for a while slows both
 * lanes alike, so their ratio stays true.
 */
#define MAX_LANES	2

static int lane_netns[MAX_LANES];
static int nlanes = 1;

static void lane_enter(int l)
{
	if (nlanes > 1 && setns(lane_netns[l], CLONE_NEWNET) < 0)
		die("setns");
}

/*
 * The lane that goes @j-th in the next step: the order of each step is
 * drawn at random (xorshift64, fixed seed: runs repeat).  Strict
 * alternation was tried first and, in A/A runs (no rule in either lane),
 * put one lane 4-6% behind the other for whole load levels, the same lane
 * in every batch of a level: some periodic cost fell into step with it.
 * Random order spreads any such cost over both lanes.
 */
static int lane_first;

static void lane_shuffle(void)
{
	static uint64_t x = 0x9e3779b97f4a7c15ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	lane_first = nlanes > 1 ? (int)(x >> 63) : 0;
}

static int lane_at(int j)
{
	return lane_first ? nlanes - 1 - j : j;
}

struct conn_lane {
	int held[MAX_FDS];	/* oldest first */
	int nheld;
	unsigned long rr;	/* round-robin cursor over the pairs */
	uint16_t *next_port;	/* per (source, port) pair: next offset */
	long count[4];
	uint64_t ns;
};

struct conn_cfg {
	const char *src;
	int nsrc;
	const char *dst;
	int ports[MAX_LIST];
	int nports;
	int timeout_ms;
	unsigned int span;	/* source ports of each pair */
	struct conn_lane *lane[MAX_LANES];
};


static enum outcome open_one(struct conn_cfg *c, struct conn_lane *ln)
{
	unsigned long pair = ln->rr++ % ((unsigned long)c->nsrc * c->nports);
	int si = (int)(pair / c->nports), pi = (int)(pair % c->nports);
	struct sockaddr_storage src, dst;
	socklen_t slen, dlen, elen = sizeof(int);
	struct pollfd p;
	int fd, err = 0;
	unsigned int tries;

	slen = make_addr(&src, c->src, si, 0);
	dlen = make_addr(&dst, c->dst, 0, c->ports[pi]);
	if (src.ss_family != dst.ss_family) {
		fprintf(stderr, "clbench conn: SRC and DST families differ\n");
		exit(2);
	}
	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		perror("clbench conn: socket");
		return ERR;
	}
	set_abortive(fd);
	for (tries = 0;; tries++) {
		uint16_t *np = &ln->next_port[pair];

		set_port(&src, PORT_FIRST + pair * c->span + *np);
		*np = (uint16_t)((*np + 1) % c->span);
		if (bind(fd, (struct sockaddr *)&src, slen) == 0)
			break;
		if (errno != EADDRINUSE || tries > c->span) {
			perror("clbench conn: bind");
			close(fd);
			return ERR;
		}
	}
	if (connect(fd, (struct sockaddr *)&dst, dlen) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
	} else {
		p.fd = fd;
		p.events = POLLOUT;
		for (;;) {
			int n = poll(&p, 1, c->timeout_ms);

			if (n > 0)
				break;
			if (n == 0) {
				close(fd);
				return TMO;
			}
			if (errno != EINTR)
				die("poll");
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
	if (!err) {
		ln->held[ln->nheld++] = fd;
		return EST;
	}
	close(fd);
	return connect_outcome(err);
}

/* Open @n connections in each lane, in turn; time each one alone. */
static void cmd_open(struct conn_cfg *c, long n)
{
	long k;
	int j, l;

	for (l = 0; l < nlanes; l++) {
		memset(c->lane[l]->count, 0, sizeof(c->lane[l]->count));
		c->lane[l]->ns = 0;
	}
	for (k = 0; k < n; k++) {
		lane_shuffle();
		for (j = 0; j < nlanes; j++) {
			struct conn_lane *ln;
			uint64_t t0;

			l = lane_at(j);
			ln = c->lane[l];
			if (ln->nheld == MAX_FDS) {
				ln->count[ERR]++;
				continue;
			}
			lane_enter(l);
			t0 = now_ns();
			ln->count[open_one(c, ln)]++;
			ln->ns += now_ns() - t0;
		}
	}
	for (l = 0; l < nlanes; l++) {
		const char *sfx = l ? "1" : "";
		struct conn_lane *ln = c->lane[l];

		printf("%sest%s=%ld ref%s=%ld tmo%s=%ld err%s=%ld ns%s=%llu",
		       l ? " " : "open ", sfx, ln->count[EST], sfx,
		       ln->count[REF], sfx, ln->count[TMO], sfx,
		       ln->count[ERR], sfx, (unsigned long long)ln->ns);
	}
	printf("\n");
}

/* Reset the @n newest held connections of each lane (SO_LINGER 0). */
static long reset_newest(struct conn_cfg *c, long n)
{
	long i, done = 0;
	int l;

	for (l = 0; l < nlanes; l++) {
		struct conn_lane *ln = c->lane[l];

		for (i = 0; i < n && ln->nheld; i++)
			close(ln->held[--ln->nheld]);
		done = i;
	}
	return done;
}

static int conn_main(int argc, char **argv)
{
	struct conn_cfg c = { .nsrc = 1, .timeout_ms = 5000 };
	char line[256];
	long n;
	int opt, l;

	while ((opt = getopt(argc, argv, "s:S:d:p:t:")) != -1) {
		switch (opt) {
		case 's': c.src = optarg; break;
		case 'S': c.nsrc = (int)parse_num(optarg, 1, 65536); break;
		case 'd': c.dst = optarg; break;
		case 'p':
			if (c.nports == MAX_LIST)
				usage();
			c.ports[c.nports++] = (int)parse_num(optarg, 1, 65535);
			break;
		case 't': c.timeout_ms = (int)parse_num(optarg, 1, 600000); break;
		default: usage();
		}
	}
	if (!c.src || !c.dst || !c.nports || optind != argc)
		usage();
	/* Each pair its own slice of the ports: no two sockets share one. */
	c.span = (65536 - PORT_FIRST) / ((unsigned int)c.nsrc * c.nports);
	if (c.span < 16) {
		fprintf(stderr, "clbench conn: too many sources x ports\n");
		exit(2);
	}
	for (l = 0; l < nlanes; l++) {
		c.lane[l] = calloc(1, sizeof(*c.lane[l]));
		if (!c.lane[l])
			die("calloc");
		c.lane[l]->next_port = calloc((size_t)c.nsrc * c.nports,
					      sizeof(uint16_t));
		if (!c.lane[l]->next_port)
			die("calloc");
	}

	while (fgets(line, sizeof(line), stdin)) {
		char arg[64] = "";

		if (sscanf(line, "open %63s", arg) == 1) {
			cmd_open(&c, parse_num(arg, 0, MAX_FDS));
		} else if (sscanf(line, "reset %63s", arg) == 1) {
			n = reset_newest(&c, parse_num(arg, 0, MAX_FDS));
			printf("reset n=%ld\n", n);
		} else if (strncmp(line, "held", 4) == 0) {
			printf("held %d\n", c.lane[0]->nheld);
		} else if (strncmp(line, "quit", 4) == 0 ||
			   strncmp(line, "abort", 5) == 0) {
			break;
		} else {
			printf("error unknown command\n");
		}
		fflush(stdout);
	}
	reset_newest(&c, MAX_FDS);
	return 0;
}

/* ------------------------------------------------------------------ */
/* syn */

struct syn_pkt {
	unsigned char ip[20];
	unsigned char tcp[20];
};

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/*
 * Fill a SYN from @saddr:@sport to @daddr:@dport (host order).  The kernel
 * completes the IP header (checksum, id) for IPPROTO_RAW sockets; the TCP
 * checksum over the pseudo header is ours.
 */
static void build_syn(struct syn_pkt *k, uint32_t saddr, uint32_t daddr,
		      uint16_t sport, uint16_t dport, uint32_t seq)
{
	unsigned char pseudo[12];
	uint32_t sum;

	memset(k, 0, sizeof(*k));
	k->ip[0] = 0x45;			/* IPv4, 5 words */
	put16(&k->ip[2], sizeof(*k));		/* total length */
	k->ip[6] = 0x40;			/* DF */
	k->ip[8] = 64;				/* TTL */
	k->ip[9] = IPPROTO_TCP;
	put32(&k->ip[12], saddr);
	put32(&k->ip[16], daddr);

	put16(&k->tcp[0], sport);
	put16(&k->tcp[2], dport);
	put32(&k->tcp[4], seq);
	k->tcp[12] = 5 << 4;			/* data offset: 5 words */
	k->tcp[13] = 0x02;			/* SYN */
	put16(&k->tcp[14], 64240);		/* window */

	memcpy(pseudo, &k->ip[12], 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	put16(&pseudo[10], sizeof(k->tcp));
	sum = sum16(pseudo, sizeof(pseudo), 0);
	sum = sum16(k->tcp, sizeof(k->tcp), sum);
	put16(&k->tcp[16], fold(sum));
}

struct syn_lane {
	int fd;			/* raw socket in the lane's namespace */
	uint16_t dport;		/* the lane's destination port */
	uint16_t *next_sport;	/* per key: SYNs sent so far */
	long n, err;
	uint64_t ns;
	uint32_t *step_ns;	/* this run's SYNs, one per step */
};

struct syn_cfg {
	uint32_t src, dst;	/* host order */
	uint16_t sport_base;
	long nkeys;
	long cursor;		/* round robin of "send" */
	uint32_t seq;
	long steps;		/* room in each lane's step_ns */
	struct syn_lane lane[MAX_LANES];
};

/* One SYN from @key in lane @l, timed alone. */
static void send_syn(struct syn_cfg *s, int l, long key)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct syn_lane *ln = &s->lane[l];
	struct syn_pkt k;
	uint16_t sport = s->sport_base + ln->next_sport[key]++;
	uint64_t t0;
	ssize_t r;

	/* 65535 - base ports per key: the same tuple never comes twice. */
	if (sport < s->sport_base) {
		ln->next_sport[key] = 1;
		sport = s->sport_base;
	}
	s->seq = s->seq * 1103515245u + 12345u;
	build_syn(&k, s->src + (uint32_t)key, s->dst, sport, ln->dport, s->seq);
	to.sin_addr.s_addr = htonl(s->dst);
	t0 = now_ns();
	r = sendto(ln->fd, &k, sizeof(k), 0, (struct sockaddr *)&to, sizeof(to));
	t0 = now_ns() - t0;
	ln->ns += t0;
	ln->step_ns[ln->n] = t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)t0;
	ln->n++;
	ln->err += r != sizeof(k);
}

/* The SYNs of one step of a run, from @key: one per lane, in turn. */
static void send_step(struct syn_cfg *s, long key)
{
	int j;

	lane_shuffle();
	for (j = 0; j < nlanes; j++)
		send_syn(s, lane_at(j), key);
}

static void syn_start(struct syn_cfg *s, long steps)
{
	int l;

	for (l = 0; l < nlanes; l++) {
		struct syn_lane *ln = &s->lane[l];

		if (steps > s->steps) {
			ln->step_ns = realloc(ln->step_ns,
					      (size_t)steps * sizeof(uint32_t));
			if (!ln->step_ns)
				die("realloc");
		}
		ln->n = ln->err = 0;
		ln->ns = 0;
	}
	if (steps > s->steps)
		s->steps = steps;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The median of @n values (sorts them). */
static uint32_t median_u32(uint32_t *v, long n)
{
	if (!n)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_u32);
	return v[(n - 1) / 2];
}

/*
 * A step is "disturbed" when one of its SYNs took more than CALM_FACTOR
 * times the lower of the lanes' median SYN times.  Under TCG about 1% of
 * SYNs take 10 to 200 times the median (the host or the guest's timer
 * took the vCPU), in either lane alike, and they make up 10-20% of a
 * batch's time: whichever lane they fall on gets a few percent slower.
 * The calm figures leave such steps out of both lanes at once.
 */
#define CALM_FACTOR	8

/*
 * The answer to a run: per lane (the second lane's words end in "1") the
 * SYNs sent (n), failed sends (err), the sum of all their times (ns), the
 * median time (med), the SYNs above the disturbed threshold (big) and the
 * sum over calm steps (calm); then the calm steps (steps) and the run's
 * wall-clock ends (t0, t1: for senders running side by side).
 */
static void syn_report(struct syn_cfg *s, uint64_t t0, uint64_t t1)
{
	uint32_t med[MAX_LANES], *tmp, limit = UINT32_MAX;
	uint64_t calm[MAX_LANES] = { 0 };
	long i, n = s->lane[0].n, steps = 0, big[MAX_LANES] = { 0 };
	bool disturbed;
	int l;

	tmp = malloc((size_t)(n ? n : 1) * sizeof(*tmp));
	if (!tmp)
		die("malloc");
	for (l = 0; l < nlanes; l++) {
		memcpy(tmp, s->lane[l].step_ns, (size_t)n * sizeof(*tmp));
		med[l] = median_u32(tmp, n);
		if (med[l] < limit)
			limit = med[l];
	}
	free(tmp);
	limit = limit > UINT32_MAX / CALM_FACTOR ? UINT32_MAX :
		limit * CALM_FACTOR;
	for (i = 0; i < n; i++) {
		disturbed = false;
		for (l = 0; l < nlanes; l++) {
			if (s->lane[l].step_ns[i] > limit) {
				big[l]++;
				disturbed = true;
			}
		}
		if (disturbed)
			continue;
		steps++;
		for (l = 0; l < nlanes; l++)
			calm[l] += s->lane[l].step_ns[i];
	}
	printf("sent");
	for (l = 0; l < nlanes; l++) {
		const char *sfx = l ? "1" : "";

		printf(" n%s=%ld err%s=%ld ns%s=%llu med%s=%u big%s=%ld calm%s=%llu",
		       sfx, s->lane[l].n, sfx, s->lane[l].err,
		       sfx, (unsigned long long)s->lane[l].ns, sfx, med[l],
		       sfx, big[l], sfx, (unsigned long long)calm[l]);
	}
	printf(" steps=%ld t0=%llu t1=%llu\n", steps, (unsigned long long)t0,
	       (unsigned long long)t1);
}

static int syn_main(int argc, char **argv)
{
	struct syn_cfg s = { .sport_base = 20000, .seq = 1 };
	const char *src = NULL, *dst = NULL;
	struct in_addr a;
	char line[256];
	int opt, l, cpu = -1, sndbuf = 4 << 20;
	uint16_t dport = 0, dport1 = 0;
	bool shared = false;

	while ((opt = getopt(argc, argv, "s:k:d:p:P:b:c:")) != -1) {
		switch (opt) {
		case 's': src = optarg; break;
		case 'k': s.nkeys = parse_num(optarg, 1, 1 << 22); break;
		case 'd': dst = optarg; break;
		case 'p': dport = (uint16_t)parse_num(optarg, 1, 65535); break;
		case 'P': dport1 = (uint16_t)parse_num(optarg, 1, 65535); break;
		case 'b': s.sport_base = (uint16_t)parse_num(optarg, 1, 65000); break;
		case 'c': cpu = (int)parse_num(optarg, 0, 1023); break;
		default: usage();
		}
	}
	if (!src || !dst || !s.nkeys || !dport || optind != argc)
		usage();
	if (dport1 && nlanes == 1) {
		/* -P without -N: the second lane shares the namespace */
		shared = true;
		nlanes = 2;
	}
	s.lane[0].dport = dport;
	s.lane[1].dport = dport1 ? dport1 : dport;
	if (inet_pton(AF_INET, src, &a) != 1)
		usage();
	s.src = ntohl(a.s_addr);
	if (inet_pton(AF_INET, dst, &a) != 1)
		usage();
	s.dst = ntohl(a.s_addr);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			die("sched_setaffinity");
	}
	for (l = 0; l < nlanes; l++) {
		struct syn_lane *ln = &s.lane[l];

		ln->next_sport = calloc((size_t)s.nkeys, sizeof(uint16_t));
		if (!ln->next_sport)
			die("calloc");
		if (l && shared) {
			ln->fd = s.lane[0].fd;	/* one namespace, one socket */
			continue;
		}
		lane_enter(l);
		ln->fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
		if (ln->fd < 0)
			die("socket(SOCK_RAW)");
		setsockopt(ln->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
			   sizeof(sndbuf));
	}

	while (fgets(line, sizeof(line), stdin)) {
		long x, y, i;
		uint64_t t0, t1;

		if (sscanf(line, "keys %ld %ld", &x, &y) == 2) {
			if (x < 0 || y > s.nkeys || x > y) {
				printf("error keys out of range\n");
			} else {
				syn_start(&s, y - x);
				t0 = now_ns();
				for (i = x; i < y; i++)
					send_step(&s, i);
				t1 = now_ns();
				syn_report(&s, t0, t1);
			}
		} else if (sscanf(line, "send %ld %ld", &x, &y) == 2) {
			if (x < 0 || y < 1 || y > s.nkeys) {
				printf("error send out of range\n");
			} else {
				syn_start(&s, x);
				t0 = now_ns();
				for (i = 0; i < x; i++)
					send_step(&s, s.cursor++ % y);
				t1 = now_ns();
				syn_report(&s, t0, t1);
			}
		} else if (strncmp(line, "quit", 4) == 0 ||
			   strncmp(line, "abort", 5) == 0) {
			break;
		} else {
			printf("error unknown command\n");
		}
		fflush(stdout);
	}
	return 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	lane_netns[0] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (argc >= 3 && strcmp(argv[1], "-n") == 0) {
		close(lane_netns[0]);
		lane_netns[0] = netns_fd(argv[2]);
		if (setns(lane_netns[0], CLONE_NEWNET) < 0)
			die("setns");
		argc -= 2;
		argv += 2;
	}
	if (argc >= 3 && strcmp(argv[1], "-N") == 0) {
		lane_netns[1] = netns_fd(argv[2]);
		nlanes = 2;
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "conn") == 0)
		return conn_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "syn") == 0)
		return syn_main(argc - 1, argv + 1);
	usage();
}
