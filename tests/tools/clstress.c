// SPDX-License-Identifier: GPL-2.0
/*
 * clstress - load for the connlimit stress suite (make stress), run inside
 * the test guest.  Static; every mode ends by itself (bounded in count or
 * time) and sends only to the addresses it is given.
 *
 *   clstress [-n NETNS] flood -s BASE -b BITS -k KEYS -c COUNT -d DST -p PORT
 *			      [-P CPU] [-r RATE]
 *	COUNT raw TCP SYNs (IPv4 or IPv6, after BASE's family) to DST:PORT.
 *	Source i is BASE + mix(i mod KEYS), mix a bijection of the low BITS
 *	bits (BITS <= 24, KEYS <= 2^BITS): KEYS distinct addresses in a
 *	scrambled order, each one's source port moving on every time it
 *	comes round, so every SYN is a new connection.  -r: at most RATE
 *	SYNs a second (background load), else as fast as it can.  Prints
 *	"flood sent=N err=E distinct=D ms=T" (D counted with a bitmap).
 *
 *   clstress race -S SRVNS -C CLINS -d DST -p PORT -s SRC[,SRC...]
 *		   -l LIMIT [-t THREADS] [-a ATTEMPTS] [-r ROUNDS]
 *	Exactness under races.  One process: a server thread listening on
 *	DST:PORT in SRVNS, THREADS client threads in CLINS, each pinned to a
 *	CPU in turn.  Each round the threads are released together and each
 *	starts ATTEMPTS non-blocking connects from the SRC addresses in turn;
 *	once every attempt is established, refused or timed out (5 s) and the
 *	server has accepted what the clients saw established, all are reset
 *	and the server must see them go.  The server records the most
 *	connections it held at once in each round.  Prints one "over ..."
 *	line for each round that held more than LIMIT, then
 *	"race rounds=R attempts=A est=E ref=F tmo=T err=X max_est=M
 *	 max_live=L saturated=S over=O" and exits 1 if O > 0.
 *
 *   clstress [-n NETNS] serve -a ADDR... -p PORT
 *	Accepts and holds TCP connections (SO_LINGER 0: a kill resets them
 *	all), echoes what it reads (so connt's "ping" works), closes each
 *	when the peer does.  Prints "ready".  Runs until killed.
 *
 *   clstress [-n NETNS] churn -s SRC -d DST -p PORT [-c CONC] [-T SECONDS]
 *	Keeps CONC connections in flight for SECONDS (default 30): each is
 *	held for a few to a few hundred ms once established, then closed
 *	(every other one with an RST), and a new one opened.  Errors are
 *	counted, never fatal (the rules and namespaces change under it).
 *	Prints "churn opened=N est=E ref=R tmo=T err=X".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

const char *prog = "clstress";

#define MAX_ADDRS	16
#define MAX_THREADS	16
#define MAX_ATTEMPTS	256
#define MAX_CONC	1024
#define BATCH		64
#define CONNECT_MS	5000

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: clstress [-n NETNS] flood -s BASE -b BITS -k KEYS -c COUNT -d DST -p PORT [-P CPU] [-r RATE]\n"
		"       clstress race -S SRVNS -C CLINS -d DST -p PORT -s SRC[,SRC...] -l LIMIT\n"
		"                [-t THREADS] [-a ATTEMPTS] [-r ROUNDS]\n"
		"       clstress [-n NETNS] serve -a ADDR... -p PORT\n"
		"       clstress [-n NETNS] churn -s SRC -d DST -p PORT [-c CONC] [-T SECONDS]\n");
	exit(2);
}

static long num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "clstress: bad number: %s\n", s);
		exit(2);
	}
	return v;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void set_linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* A non-blocking connect from @src (any port) to @dst; -1 on error. */
static int start_connect(const struct sockaddr_storage *src, socklen_t slen,
			 const struct sockaddr_storage *dst, socklen_t dlen)
{
	int fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)src, slen) < 0 ||
	    (connect(fd, (const struct sockaddr *)dst, dlen) < 0 &&
	     errno != EINPROGRESS)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Say once what an unexpected error was; they are counted, not fatal. */
static void note_err(const char *where, int e)
{
	static int said;

	if (!said++)
		fprintf(stderr, "clstress: %s: %s (further errors only counted)\n",
			where, strerror(e));
}

/* Outcome of a finished connect: 0 established, else the socket error. */
static int connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* ------------------------------------------------------------------ */
/* flood */

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

/* A bijection of the low @bits bits: the same KEYS inputs, scrambled. */
static uint32_t mix(uint32_t x, int bits)
{
	uint32_t m = bits >= 32 ? 0xffffffffu : (1u << bits) - 1;

	x = (x * 0x9e3779b1u) & m;
	x ^= x >> (bits / 2 + 1);
	x = (x * 0x85ebca6bu) & m;
	x ^= x >> (bits / 3 + 1);
	return x & m;
}

struct pkt {
	uint8_t b[60];
	int len;
};

/* TCP SYN header at @t, checksum over the pseudo header @ph. */
static void build_tcp(uint8_t *t, uint16_t sport, uint16_t dport,
		      uint32_t seq, const uint8_t *ph, size_t phlen)
{
	uint32_t sum;
	uint16_t c;

	memset(t, 0, 20);
	t[0] = sport >> 8;
	t[1] = sport & 0xff;
	t[2] = dport >> 8;
	t[3] = dport & 0xff;
	t[4] = seq >> 24;
	t[5] = seq >> 16;
	t[6] = seq >> 8;
	t[7] = seq & 0xff;
	t[12] = 5 << 4;		/* data offset */
	t[13] = 0x02;		/* SYN */
	t[14] = 0xff;		/* window 65535 */
	t[15] = 0xff;
	sum = csum_add(0, ph, phlen);
	sum = csum_add(sum, t, 20);
	c = csum_fold(sum);
	t[16] = c >> 8;
	t[17] = c & 0xff;
}

static void build_syn4(struct pkt *p, const uint8_t *src, const uint8_t *dst,
		       uint16_t sport, uint16_t dport, uint32_t seq)
{
	uint8_t ph[12];
	uint8_t *ip = p->b;

	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[3] = 40;		/* total length; the kernel fills id and check */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	memcpy(ph, src, 4);
	memcpy(ph + 4, dst, 4);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP;
	ph[10] = 0;
	ph[11] = 20;
	build_tcp(ip + 20, sport, dport, seq, ph, sizeof(ph));
	p->len = 40;
}

static void build_syn6(struct pkt *p, const uint8_t *src, const uint8_t *dst,
		       uint16_t sport, uint16_t dport, uint32_t seq)
{
	uint8_t ph[40];
	uint8_t *ip = p->b;

	memset(ip, 0, 40);
	ip[0] = 0x60;
	ip[5] = 20;		/* payload length */
	ip[6] = IPPROTO_TCP;
	ip[7] = 64;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	memset(ph, 0, sizeof(ph));
	memcpy(ph, src, 16);
	memcpy(ph + 16, dst, 16);
	ph[35] = 20;
	ph[39] = IPPROTO_TCP;
	build_tcp(ip + 40, sport, dport, seq, ph, sizeof(ph));
	p->len = 60;
}

static int flood_main(int argc, char **argv)
{
	const char *base = NULL, *dst = NULL;
	long bits = 16, keys = 0, count = 0, i, sent = 0, errs = 0, distinct = 0;
	long rate = 0;
	int port = 0, cpu = -1, opt, fd, v6, n, j;
	struct sockaddr_storage sbase, sdst;
	struct pkt pkts[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint8_t *seen, srcaddr[16], *addrp, *daddr;
	uint32_t seed, low;
	uint64_t t0;

	while ((opt = getopt(argc, argv, "s:b:k:c:d:p:P:r:")) != -1) {
		switch (opt) {
		case 's': base = optarg; break;
		case 'b': bits = num(optarg, 1, 24); break;
		case 'k': keys = num(optarg, 1, 1L << 24); break;
		case 'c': count = num(optarg, 1, 100000000); break;
		case 'd': dst = optarg; break;
		case 'p': port = (int)num(optarg, 1, 65535); break;
		case 'P': cpu = (int)num(optarg, 0, 1023); break;
		case 'r': rate = num(optarg, 1, 10000000); break;
		default: usage();
		}
	}
	if (!base || !dst || !keys || !count || !port || keys > (1L << bits))
		usage();
	parse_addr(&sbase, base, 0);
	parse_addr(&sdst, dst, 0);
	if (sbase.ss_family != sdst.ss_family)
		usage();
	v6 = sbase.ss_family == AF_INET6;
	if (cpu >= 0)
		pin_cpu(cpu);

	fd = socket(sbase.ss_family, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("socket(SOCK_RAW)");
	if (v6) {
		memcpy(srcaddr, &((struct sockaddr_in6 *)&sbase)->sin6_addr, 16);
		daddr = (uint8_t *)&((struct sockaddr_in6 *)&sdst)->sin6_addr;
		addrp = srcaddr + 12;
	} else {
		memcpy(srcaddr, &((struct sockaddr_in *)&sbase)->sin_addr, 4);
		daddr = (uint8_t *)&((struct sockaddr_in *)&sdst)->sin_addr;
		addrp = srcaddr;
	}
	memcpy(&low, addrp, 4);
	low = ntohl(low);
	seen = calloc((1UL << bits) / 8 + 1, 1);
	if (!seen)
		die("calloc");
	seed = (uint32_t)getpid() * 2654435761u;

	memset(msgs, 0, sizeof(msgs));
	for (j = 0; j < BATCH; j++) {
		iov[j].iov_base = pkts[j].b;
		msgs[j].msg_hdr.msg_iov = &iov[j];
		msgs[j].msg_hdr.msg_iovlen = 1;
		msgs[j].msg_hdr.msg_name = &sdst;
		msgs[j].msg_hdr.msg_namelen = v6 ? sizeof(struct sockaddr_in6) :
						   sizeof(struct sockaddr_in);
	}

	t0 = now_ms();
	for (i = 0; i < count; i += n) {
		if (rate) {
			long ahead = (long)(i * 1000 / rate) - (long)(now_ms() - t0);

			if (ahead > 0)
				usleep((useconds_t)ahead * 1000);
		}
		n = count - i < BATCH ? (int)(count - i) : BATCH;
		for (j = 0; j < n; j++) {
			long k = i + j, round = k / keys;
			uint32_t off = mix((uint32_t)(k % keys), (int)bits);
			uint32_t a = htonl(low + off);
			uint16_t sport = 1024 + (uint16_t)((round * 4099 + off) % 64000);

			if (!(seen[off / 8] & (1 << (off % 8)))) {
				seen[off / 8] |= (uint8_t)(1 << (off % 8));
				distinct++;
			}
			memcpy(addrp, &a, 4);
			seed = seed * 1103515245u + 12345u;
			if (v6)
				build_syn6(&pkts[j], srcaddr, daddr, sport,
					   (uint16_t)port, seed);
			else
				build_syn4(&pkts[j], srcaddr, daddr, sport,
					   (uint16_t)port, seed);
			iov[j].iov_len = (size_t)pkts[j].len;
		}
		for (j = 0; j < n;) {
			int r = sendmmsg(fd, msgs + j, (unsigned int)(n - j), 0);

			if (r < 0) {
				/* one datagram refused (e.g. ENOBUFS): count it, go on */
				errs++;
				j++;
				continue;
			}
			sent += r;
			j += r;
		}
	}
	printf("flood sent=%ld err=%ld distinct=%ld ms=%llu\n", sent, errs,
	       distinct, (unsigned long long)(now_ms() - t0));
	return 0;
}

/* ------------------------------------------------------------------ */
/* the server: serve, and race's server thread */

struct server {
	int ep;
	int nlisten;
	pthread_mutex_t lock;
	long live;		/* connections held now */
	long accepted;		/* since the counter was last reset */
	long max_live;		/* since the counter was last reset */
};

static void server_listen(struct server *s, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(&ss, addr, port);
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1, fd;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die(addr);
	if (listen(fd, 4096) < 0)
		die("listen");
	ev.data.u64 = (uint64_t)fd << 1 | 1;	/* low bit: a listener */
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
	s->nlisten++;
}

static void *server_loop(void *arg)
{
	struct server *s = arg;
	struct epoll_event evs[256], ev;
	char buf[256];
	int n, i, fd;

	for (;;) {
		n = epoll_wait(s->ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			fd = (int)(evs[i].data.u64 >> 1);
			if (evs[i].data.u64 & 1) {
				int c;

				while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					set_linger0(c);
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.u64 = (uint64_t)c << 1;
					if (epoll_ctl(s->ep, EPOLL_CTL_ADD, c, &ev) < 0) {
						close(c);
						continue;
					}
					pthread_mutex_lock(&s->lock);
					s->live++;
					s->accepted++;
					if (s->live > s->max_live)
						s->max_live = s->live;
					pthread_mutex_unlock(&s->lock);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r > 0 && write(fd, buf, (size_t)r) >= 0)
				continue;
			if (r < 0 && errno == EAGAIN)
				continue;
			close(fd);
			pthread_mutex_lock(&s->lock);
			s->live--;
			pthread_mutex_unlock(&s->lock);
		}
	}
	return NULL;
}

static void server_init(struct server *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->ep = epoll_create1(0);
	if (s->ep < 0)
		die("epoll_create1");
}

static int serve_main(int argc, char **argv)
{
	const char *addrs[MAX_ADDRS];
	int na = 0, port = 0, opt, i;
	struct server s;

	while ((opt = getopt(argc, argv, "a:p:")) != -1) {
		if (opt == 'a' && na < MAX_ADDRS)
			addrs[na++] = optarg;
		else if (opt == 'p')
			port = (int)num(optarg, 1, 65535);
		else
			usage();
	}
	if (!na || !port)
		usage();
	server_init(&s);
	for (i = 0; i < na; i++)
		server_listen(&s, addrs[i], port);
	printf("ready\n");
	fflush(stdout);
	server_loop(&s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* race */

struct race {
	struct server srv;
	struct sockaddr_storage src[MAX_ADDRS], dst;
	socklen_t srclen[MAX_ADDRS], dstlen;
	int nsrc, nthreads, attempts;
	pthread_barrier_t go, done, reset;
	volatile int stop;
};

struct racer {
	struct race *r;
	pthread_t tid;
	int idx;
	int fds[MAX_ATTEMPTS];
	long est, ref, tmo, err;	/* this round */
};

/* One round of one thread: start every attempt, then wait for them all. */
static void racer_round(struct racer *t)
{
	struct race *r = t->r;
	struct pollfd pfd[MAX_ATTEMPTS];
	int slot[MAX_ATTEMPTS];
	int i, n = 0, left;
	uint64_t t0 = now_ms();

	t->est = t->ref = t->tmo = t->err = 0;
	for (i = 0; i < r->attempts; i++) {
		int s = (t->idx + i) % r->nsrc;

		t->fds[i] = start_connect(&r->src[s], r->srclen[s], &r->dst,
					  r->dstlen);
		if (t->fds[i] < 0) {
			if (errno == ECONNREFUSED) {
				t->ref++;
			} else {
				note_err("connect", errno);
				t->err++;
			}
		}
	}
	for (;;) {
		n = 0;
		for (i = 0; i < r->attempts; i++) {
			if (t->fds[i] < 0 || t->fds[i] >= (1 << 30))
				continue;
			pfd[n].fd = t->fds[i];
			pfd[n].events = POLLOUT;
			slot[n++] = i;
		}
		left = (int)(CONNECT_MS - (long)(now_ms() - t0));
		if (!n)
			break;
		if (left <= 0) {
			for (i = 0; i < n; i++) {
				close(pfd[i].fd);
				t->fds[slot[i]] = -1;
				t->tmo++;
			}
			break;
		}
		if (poll(pfd, (nfds_t)n, left) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < n; i++) {
			int e;

			if (!pfd[i].revents)
				continue;
			e = connect_result(pfd[i].fd);
			if (!e) {
				t->est++;
				/* mark as done but held */
				t->fds[slot[i]] = pfd[i].fd | (1 << 30);
				continue;
			}
			close(pfd[i].fd);
			t->fds[slot[i]] = -1;
			if (e == ECONNREFUSED) {
				t->ref++;
			} else {
				note_err("connect", e);
				t->err++;
			}
		}
	}
}

static void racer_reset(struct racer *t)
{
	int i;

	for (i = 0; i < t->r->attempts; i++) {
		if (t->fds[i] < 0)
			continue;
		t->fds[i] &= ~(1 << 30);
		set_linger0(t->fds[i]);
		close(t->fds[i]);
		t->fds[i] = -1;
	}
}

static void *racer_thread(void *arg)
{
	struct racer *t = arg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	pin_cpu((int)(t->idx % (ncpu > 0 ? ncpu : 1)));
	for (;;) {
		pthread_barrier_wait(&t->r->go);
		if (t->r->stop)
			break;
		racer_round(t);
		pthread_barrier_wait(&t->r->done);
		pthread_barrier_wait(&t->r->reset);
		racer_reset(t);
		pthread_barrier_wait(&t->r->done);
	}
	return NULL;
}

/* Poll @what under the server lock until it holds or @ms pass. */
static int server_wait(struct server *s, long want_accepted, long want_live,
		       int ms)
{
	uint64_t t0 = now_ms();
	int ok;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		ok = (want_accepted < 0 || s->accepted >= want_accepted) &&
		     (want_live < 0 || s->live == want_live);
		pthread_mutex_unlock(&s->lock);
		if (ok)
			return 1;
		if ((long)(now_ms() - t0) > ms)
			return 0;
		usleep(2000);
	}
}

static int race_main(int argc, char **argv)
{
	static struct race r;
	static struct racer th[MAX_THREADS];
	const char *srvns = NULL, *clins = NULL, *dst = NULL;
	char *srcs = NULL, *tok, *save;
	long rounds = 100, limit = -1, round, i;
	long tot_est = 0, tot_ref = 0, tot_tmo = 0, tot_err = 0;
	long max_est = 0, max_live = 0, saturated = 0, over = 0, stuck = 0;
	int port = 0, opt;
	pthread_t stid;

	r.nthreads = 4;
	r.attempts = 8;
	while ((opt = getopt(argc, argv, "S:C:d:p:s:l:t:a:r:")) != -1) {
		switch (opt) {
		case 'S': srvns = optarg; break;
		case 'C': clins = optarg; break;
		case 'd': dst = optarg; break;
		case 'p': port = (int)num(optarg, 1, 65535); break;
		case 's': srcs = optarg; break;
		case 'l': limit = num(optarg, 0, 100000); break;
		case 't': r.nthreads = (int)num(optarg, 1, MAX_THREADS); break;
		case 'a': r.attempts = (int)num(optarg, 1, MAX_ATTEMPTS); break;
		case 'r': rounds = num(optarg, 1, 1000000); break;
		default: usage();
		}
	}
	if (!srvns || !clins || !dst || !port || !srcs || limit < 0)
		usage();
	for (tok = strtok_r(srcs, ",", &save); tok && r.nsrc < MAX_ADDRS;
	     tok = strtok_r(NULL, ",", &save)) {
		r.srclen[r.nsrc] = parse_addr(&r.src[r.nsrc], tok, 0);
		r.nsrc++;
	}
	r.dstlen = parse_addr(&r.dst, dst, port);

	server_init(&r.srv);
	enter_netns(srvns);
	server_listen(&r.srv, dst, port);
	if (pthread_create(&stid, NULL, server_loop, &r.srv))
		die("pthread_create");
	enter_netns(clins);
	pthread_barrier_init(&r.go, NULL, (unsigned int)r.nthreads + 1);
	pthread_barrier_init(&r.done, NULL, (unsigned int)r.nthreads + 1);
	pthread_barrier_init(&r.reset, NULL, (unsigned int)r.nthreads + 1);
	for (i = 0; i < r.nthreads; i++) {
		th[i].r = &r;
		th[i].idx = (int)i;
		if (pthread_create(&th[i].tid, NULL, racer_thread, &th[i]))
			die("pthread_create");
	}

	for (round = 0; round < rounds; round++) {
		long est = 0, ref = 0, tmo = 0, err = 0, live;

		pthread_mutex_lock(&r.srv.lock);
		r.srv.accepted = 0;
		r.srv.max_live = r.srv.live;
		pthread_mutex_unlock(&r.srv.lock);

		pthread_barrier_wait(&r.go);
		pthread_barrier_wait(&r.done);
		for (i = 0; i < r.nthreads; i++) {
			est += th[i].est;
			ref += th[i].ref;
			tmo += th[i].tmo;
			err += th[i].err;
		}
		/* what the clients saw established, the server must have */
		if (!server_wait(&r.srv, est, -1, 5000))
			stuck++;
		pthread_mutex_lock(&r.srv.lock);
		live = r.srv.max_live;
		pthread_mutex_unlock(&r.srv.lock);

		if (est > limit || live > limit) {
			over++;
			printf("over round=%ld est=%ld max_live=%ld ref=%ld tmo=%ld err=%ld limit=%ld\n",
			       round, est, live, ref, tmo, err, limit);
			fflush(stdout);
		}
		if (est == limit)
			saturated++;
		if (est > max_est)
			max_est = est;
		if (live > max_live)
			max_live = live;
		tot_est += est;
		tot_ref += ref;
		tot_tmo += tmo;
		tot_err += err;

		pthread_barrier_wait(&r.reset);
		pthread_barrier_wait(&r.done);
		if (!server_wait(&r.srv, -1, 0, 5000))
			stuck++;
	}
	r.stop = 1;
	pthread_barrier_wait(&r.go);
	for (i = 0; i < r.nthreads; i++)
		pthread_join(th[i].tid, NULL);

	printf("race rounds=%ld attempts=%ld est=%ld ref=%ld tmo=%ld err=%ld max_est=%ld max_live=%ld saturated=%ld over=%ld stuck=%ld\n",
	       rounds, rounds * r.nthreads * r.attempts, tot_est, tot_ref,
	       tot_tmo, tot_err, max_est, max_live, saturated, over, stuck);
	fflush(stdout);
	return over ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* churn */

struct cslot {
	int fd;
	int up;			/* established */
	uint64_t until;		/* deadline: connect timeout, or hold end */
};

static int churn_main(int argc, char **argv)
{
	static struct cslot cs[MAX_CONC];
	static struct pollfd pfd[MAX_CONC];
	static int map[MAX_CONC];
	const char *src = NULL, *dst = NULL;
	long secs = 30, opened = 0, est = 0, ref = 0, tmo = 0, err = 0;
	int port = 0, conc = 16, opt, i, n;
	struct sockaddr_storage ss, ds;
	socklen_t slen, dlen;
	uint64_t end, now;
	uint32_t rnd = (uint32_t)getpid();

	while ((opt = getopt(argc, argv, "s:d:p:c:T:")) != -1) {
		switch (opt) {
		case 's': src = optarg; break;
		case 'd': dst = optarg; break;
		case 'p': port = (int)num(optarg, 1, 65535); break;
		case 'c': conc = (int)num(optarg, 1, MAX_CONC); break;
		case 'T': secs = num(optarg, 1, 3600); break;
		default: usage();
		}
	}
	if (!src || !dst || !port)
		usage();
	slen = parse_addr(&ss, src, 0);
	dlen = parse_addr(&ds, dst, port);
	for (i = 0; i < conc; i++)
		cs[i].fd = -1;
	end = now_ms() + (uint64_t)secs * 1000;

	while ((now = now_ms()) < end) {
		n = 0;
		for (i = 0; i < conc; i++) {
			struct cslot *c = &cs[i];

			if (c->fd >= 0 && now >= c->until) {
				if (!c->up)
					tmo++;
				if (!c->up || (opened + i) % 2)
					set_linger0(c->fd);
				close(c->fd);
				c->fd = -1;
			}
			if (c->fd < 0) {
				opened++;
				c->fd = start_connect(&ss, slen, &ds, dlen);
				c->up = 0;
				c->until = now + CONNECT_MS;
				if (c->fd < 0) {
					if (errno == ECONNREFUSED)
						ref++;
					else
						err++;
					continue;
				}
			}
			if (!c->up) {
				pfd[n].fd = c->fd;
				pfd[n].events = POLLOUT;
				map[n++] = i;
			}
		}
		if (poll(pfd, (nfds_t)n, 20) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < n; i++) {
			struct cslot *c = &cs[map[i]];
			int e;

			if (!pfd[i].revents)
				continue;
			e = connect_result(c->fd);
			if (!e) {
				est++;
				c->up = 1;
				rnd = rnd * 1103515245u + 12345u;
				c->until = now_ms() + 5 + (rnd >> 16) % 300;
				continue;
			}
			close(c->fd);
			c->fd = -1;
			if (e == ECONNREFUSED)
				ref++;
			else
				err++;
		}
	}
	for (i = 0; i < conc; i++) {
		if (cs[i].fd >= 0) {
			set_linger0(cs[i].fd);
			close(cs[i].fd);
		}
	}
	printf("churn opened=%ld est=%ld ref=%ld tmo=%ld err=%ld\n", opened,
	       est, ref, tmo, err);
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl = { 65536, 65536 };

	signal(SIGPIPE, SIG_IGN);
	setrlimit(RLIMIT_NOFILE, &rl);
	setvbuf(stdout, NULL, _IOLBF, 0);
	netns_option(&argc, &argv);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "flood") == 0)
		return flood_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "race") == 0)
		return race_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "churn") == 0)
		return churn_main(argc - 1, argv + 1);
	usage();
}
