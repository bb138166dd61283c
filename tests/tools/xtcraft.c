// SPDX-License-Identifier: GPL-2.0
/*
 * xtcraft - hostile connlimit match data straight to the kernel, for the
 * stress suite (tests/stress/guest.sh).  No iptables in between: the rule is
 * built here and sent
 *   legacy: setsockopt IPT_SO_SET_REPLACE / IP6T_SO_SET_REPLACE, an
 *           ipt_replace (ip6t_replace) blob of the whole "filter" table: the
 *           table as it was plus one rule in INPUT holding an
 *           ipt_entry_match "connlimit" of the case's revision and bytes;
 *   nft:    one nfnetlink batch with NFT_MSG_NEWRULE, a "match" expression
 *           (NFTA_MATCH_NAME/REV/INFO) in a chain of a table this tool made.
 *
 *   xtcraft [-n NETNS] run PATH FAMILY GROUP
 *	PATH legacy|nft, FAMILY 4|6 (nft also: inet, arp, netdev, bridge for
 *	GROUP family), GROUP rev1|rev2|family.  Runs every case of the group
 *	and prints one line each:
 *	  case ID: ok|FAIL <what> errno=E msg="kernel line"
 *	then "summary cases=N failed=F".  Exit 1 if any case failed.
 *   xtcraft [-n NETNS] revision FAMILY REV
 *	Asks x_tables (IPT_SO_GET_REVISION_MATCH) whether "connlimit" has
 *	revision REV: prints "revision REV present", "revision REV absent
 *	(errno)", exit 0, or 3 when absent.
 *   xtcraft [-n NETNS] dump 4|6
 *	Every connlimit match of the filter table as IPT_SO_GET_ENTRIES
 *	(IP6T_) returns it, one line each in rule order:
 *	  connlimit rev=R size=S data=HEX
 *	S the match size with its xt_entry_match header, HEX the bytes after
 *	that header (the kernel zeroes what lies past the match's usersize).
 *	For tests/guest/e2e.sh's layout case: the bytes as the kernel holds
 *	them, whatever iptables put there.
 *   xtcraft [-n NETNS] write FILE TEXT|-
 *	One write(2) of TEXT to FILE (opened O_WRONLY), or with "-" of 6
 *	bytes from a page that cannot be read (PROT_NONE): a /proc file's
 *	handler must answer EFAULT.  Prints "write n=N" or "write err=ENAME";
 *	exit 0 either way, 1 if FILE cannot be opened.
 *
 * A case expects either acceptance (the rule goes in, is read back with the
 * same user bytes where the path allows it, and is removed again) or a
 * refusal with one of a few errnos.  After a refusal the table must be as
 * it was (legacy: the same entries, byte for byte but the counters; nft:
 * no rule in the chain).  Messages: /dev/kmsg is read around each case;
 * a case whose refusal must come from our checkentry needs an
 * "xt_connlimit: " line, a legacy size case an "x_tables: " line.  These
 * messages are rate limited (10 per 5 s per call site): a case that saw
 * none is tried once more after the window has passed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include "xt_connlimit.h"
#include "tools.h"

const char *prog = "xtcraft";

#define TABLE_MAX	(1 << 20)
#define NFT_TABLE	"xtcraft"
#define NFT_CHAIN	"c"


static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: xtcraft [-n NETNS] run legacy|nft FAMILY rev1|rev2|family\n"
		"       xtcraft [-n NETNS] revision 4|6 REV\n"
		"       xtcraft [-n NETNS] dump 4|6\n"
		"       xtcraft [-n NETNS] write FILE TEXT|-\n");
	exit(2);
}

/* ------------------------------------------------------------------ */
/* the cases */

enum expect { ACCEPT, REFUSE };
enum msg { MSG_NONE, MSG_OURS, MSG_XT };

struct rule {
	uint8_t rev;
	char mname[XT_EXTENSION_MAXNAMELEN];	/* may lack its NUL */
	uint8_t data[256];
	size_t len;			/* bytes of match data sent */
	int overrun;			/* legacy: match_size past the target */
};

struct tcase {
	const char *id;
	const char *group;
	void (*build)(struct rule *r, int fam, long arg);
	long arg;
	enum expect expect;
	int errnos[3];			/* acceptable refusals, 0-terminated */
	enum msg msg;
	int legacy_only;
};

static void set_mask(union nf_inet_addr *m, int fam)
{
	memset(m, 0, sizeof(*m));
	if (fam == 6)
		memset(m->all, 0xff, sizeof(m->all));
	else
		m->ip = 0xffffffff;
}

static void v1_base(struct rule *r, int fam)
{
	struct xt_connlimit_info *i = (void *)r->data;

	memset(r, 0, sizeof(*r));
	r->rev = 1;
	strcpy(r->mname, "connlimit");
	set_mask(&i->mask, fam);
	i->limit = 2;
	r->len = sizeof(*i);
}

static void v2_base(struct rule *r, int fam)
{
	struct xt_connlimit_info_v2 *i = (void *)r->data;

	memset(r, 0, sizeof(*r));
	r->rev = 2;
	strcpy(r->mname, "connlimit");
	set_mask(&i->mask, fam);
	i->limit = 2;
	strcpy(i->name, "web");
	r->len = sizeof(*i);
}

static void b_v1(struct rule *r, int fam, long arg)
{
	(void)arg;
	v1_base(r, fam);
}

static void b_v1_flags(struct rule *r, int fam, long arg)
{
	v1_base(r, fam);
	((struct xt_connlimit_info *)r->data)->flags = (uint32_t)arg;
}

/* arg: the first mask word (the rest as given below) */
static void b_v1_mask(struct rule *r, int fam, long arg)
{
	struct xt_connlimit_info *i = (void *)r->data;

	v1_base(r, fam);
	i->mask.all[0] = htonl((uint32_t)arg);
	i->mask.all[1] = htonl(0xdeadbeef);
	i->mask.all[2] = htonl(1);
	i->mask.all[3] = 0;
}

static void b_v1_size(struct rule *r, int fam, long arg)
{
	v1_base(r, fam);
	r->len = (size_t)arg;
}

static void b_v1_mname(struct rule *r, int fam, long arg)
{
	(void)arg;
	v1_base(r, fam);
	memset(r->mname, 'x', sizeof(r->mname));
	memcpy(r->mname, "connlimit", 9);
}

static void b_v1_overrun(struct rule *r, int fam, long arg)
{
	(void)arg;
	v1_base(r, fam);
	r->overrun = 1;
}

static void b_v2(struct rule *r, int fam, long arg)
{
	(void)arg;
	v2_base(r, fam);
}

static void b_v2_unnamed(struct rule *r, int fam, long arg)
{
	(void)arg;
	v2_base(r, fam);
	memset(((struct xt_connlimit_info_v2 *)r->data)->name, 0,
	       XT_CONNLIMIT_NAME_LEN);
}

static void b_v2_flags(struct rule *r, int fam, long arg)
{
	v2_base(r, fam);
	((struct xt_connlimit_info_v2 *)r->data)->flags = (uint32_t)arg;
}

/* arg: byte index << 8 | value */
static void b_v2_reserved(struct rule *r, int fam, long arg)
{
	v2_base(r, fam);
	((struct xt_connlimit_info_v2 *)r->data)->reserved[arg >> 8] =
		(uint8_t)(arg & 0xff);
}

static const char *const bad_names[] = {
	".", "..", "a/b", "/", "a\x01" "b", "\x7f", "caf\xc3\xa9", "tab\there",
	"a b",
};

static void b_v2_name(struct rule *r, int fam, long arg)
{
	v2_base(r, fam);
	strcpy(((struct xt_connlimit_info_v2 *)r->data)->name, bad_names[arg]);
}

/* arg printable characters (32: no room for the NUL) */
static void b_v2_name_len(struct rule *r, int fam, long arg)
{
	v2_base(r, fam);
	memset(((struct xt_connlimit_info_v2 *)r->data)->name, 0,
	       XT_CONNLIMIT_NAME_LEN);
	memset(((struct xt_connlimit_info_v2 *)r->data)->name, 'n', (size_t)arg);
}

/* arg 0: "web\0x..." (not NUL-padded); 1: "\0abc" (empty, then bytes) */
static void b_v2_name_pad(struct rule *r, int fam, long arg)
{
	char *n;

	v2_base(r, fam);
	n = ((struct xt_connlimit_info_v2 *)r->data)->name;
	if (arg)
		memcpy(n, "\0abc", 4);
	else
		n[5] = 'x';
}

static void b_v2_size(struct rule *r, int fam, long arg)
{
	v2_base(r, fam);
	r->len = (size_t)arg;
}

#define REF_EINVAL	REFUSE, { EINVAL }
#define REF_ENOENT	REFUSE, { ENOENT }
#define REF_NAME	REFUSE, { EINVAL, ENOENT, ERANGE }

static const struct tcase cases[] = {
	{ "v1-valid", "rev1", b_v1, 0, ACCEPT, { 0 }, MSG_NONE, 0 },
	{ "v1-flags-0x4", "rev1", b_v1_flags, 0x4, REF_EINVAL, MSG_OURS, 0 },
	{ "v1-flags-0x80000000", "rev1", b_v1_flags, 0x80000000L, REF_EINVAL, MSG_OURS, 0 },
	{ "v1-flags-0xffffffff", "rev1", b_v1_flags, 0xffffffffL, REF_EINVAL, MSG_OURS, 0 },
	{ "v1-mask-ffff00ff", "rev1", b_v1_mask, 0xffff00ffL, ACCEPT, { 0 }, MSG_NONE, 0 },
	{ "v1-mask-0", "rev1", b_v1_mask, 0, ACCEPT, { 0 }, MSG_NONE, 0 },
	{ "v1-size-0", "rev1", b_v1_size, 0, REF_EINVAL, MSG_XT, 0 },
	{ "v1-size-24", "rev1", b_v1_size, 24, REF_EINVAL, MSG_XT, 0 },
	{ "v1-size-40", "rev1", b_v1_size, 40, REF_EINVAL, MSG_XT, 0 },
	{ "v1-size-72", "rev1", b_v1_size, 72, REF_EINVAL, MSG_XT, 0 },
	{ "v1-match-name-unterminated", "rev1", b_v1_mname, 0, REF_NAME, MSG_NONE, 0 },
	{ "v1-match-overruns-entry", "rev1", b_v1_overrun, 0, REF_EINVAL, MSG_NONE, 1 },

	{ "v2-valid-named", "rev2", b_v2, 0, ACCEPT, { 0 }, MSG_NONE, 0 },
	{ "v2-valid-unnamed", "rev2", b_v2_unnamed, 0, ACCEPT, { 0 }, MSG_NONE, 0 },
	{ "v2-valid-31-chars", "rev2", b_v2_name_len, 31, ACCEPT, { 0 }, MSG_NONE, 0 },
	{ "v2-flags-0x4", "rev2", b_v2_flags, 0x4, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-flags-0x80000000", "rev2", b_v2_flags, 0x80000000L, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-reserved0-01", "rev2", b_v2_reserved, 0x001, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-reserved7-80", "rev2", b_v2_reserved, 0x780, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-dot", "rev2", b_v2_name, 0, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-dotdot", "rev2", b_v2_name, 1, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-slash-inside", "rev2", b_v2_name, 2, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-slash", "rev2", b_v2_name, 3, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-ctrl-01", "rev2", b_v2_name, 4, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-del-7f", "rev2", b_v2_name, 5, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-non-ascii", "rev2", b_v2_name, 6, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-tab", "rev2", b_v2_name, 7, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-space", "rev2", b_v2_name, 8, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-32-no-nul", "rev2", b_v2_name_len, 32, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-not-nul-padded", "rev2", b_v2_name_pad, 0, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-name-empty-then-bytes", "rev2", b_v2_name_pad, 1, REF_EINVAL, MSG_OURS, 0 },
	{ "v2-size-32", "rev2", b_v2_size, 32, REF_EINVAL, MSG_XT, 0 },
	{ "v2-size-64", "rev2", b_v2_size, 64, REF_EINVAL, MSG_XT, 0 },
	{ "v2-size-80", "rev2", b_v2_size, 80, REF_EINVAL, MSG_XT, 0 },

	/* nft only: tables of families x_tables has no connlimit for */
	{ "family-v1", "family", b_v1, 0, REF_ENOENT, MSG_NONE, 0 },
	{ "family-v2", "family", b_v2, 0, REF_ENOENT, MSG_NONE, 0 },
};

/* ------------------------------------------------------------------ */
/* kernel messages */

static int kmsg_fd = -1;

static void kmsg_mark(void)
{
	if (kmsg_fd < 0)
		kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
}

/* The first new kernel line containing @what (text only), or "". */
static void kmsg_find(const char *what, char *out, size_t outlen)
{
	char buf[8192], *text;
	ssize_t n;

	out[0] = '\0';
	if (kmsg_fd < 0)
		return;
	while ((n = read(kmsg_fd, buf, sizeof(buf) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		buf[n] = '\0';
		text = strchr(buf, ';');
		if (!text)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0';
		if (!out[0] && strstr(text, what))
			snprintf(out, outlen, "%s", text);
	}
}

/* ------------------------------------------------------------------ */
/* legacy: ip(6)_tables setsockopt */

struct xtab {
	int fam;
	int fd;
	unsigned int valid_hooks, num_entries, size;
	unsigned int hook_entry[NF_INET_NUMHOOKS], underflow[NF_INET_NUMHOOKS];
	uint8_t *entries;		/* as GET_ENTRIES returned them */
};

static size_t entry_hdr(int fam)
{
	return fam == 6 ? sizeof(struct ip6t_entry) : sizeof(struct ipt_entry);
}

/* target_offset, next_offset and counters sit at the same place in both */
static void entry_offsets(int fam, uint8_t *e, uint16_t **toff, uint16_t **noff,
			  struct xt_counters **cnt)
{
	if (fam == 6) {
		struct ip6t_entry *e6 = (void *)e;

		*toff = &e6->target_offset;
		*noff = &e6->next_offset;
		*cnt = &e6->counters;
	} else {
		struct ipt_entry *e4 = (void *)e;

		*toff = &e4->target_offset;
		*noff = &e4->next_offset;
		*cnt = &e4->counters;
	}
}

static int xtab_read(struct xtab *t)
{
	struct ipt_getinfo info;
	struct ipt_get_entries *ge;
	socklen_t len = sizeof(info);
	int lvl = t->fam == 6 ? IPPROTO_IPV6 : IPPROTO_IP;

	memset(&info, 0, sizeof(info));
	strcpy(info.name, "filter");
	/* ip6t_getinfo has the same layout as ipt_getinfo */
	if (getsockopt(t->fd, lvl, t->fam == 6 ? IP6T_SO_GET_INFO : IPT_SO_GET_INFO,
		       &info, &len) < 0)
		return -1;
	t->valid_hooks = info.valid_hooks;
	t->num_entries = info.num_entries;
	t->size = info.size;
	memcpy(t->hook_entry, info.hook_entry, sizeof(t->hook_entry));
	memcpy(t->underflow, info.underflow, sizeof(t->underflow));
	len = (socklen_t)(sizeof(*ge) + info.size);
	ge = calloc(1, len);
	if (!ge)
		die("calloc");
	strcpy(ge->name, "filter");
	ge->size = info.size;
	if (getsockopt(t->fd, lvl, t->fam == 6 ? IP6T_SO_GET_ENTRIES : IPT_SO_GET_ENTRIES,
		       ge, &len) < 0) {
		free(ge);
		return -1;
	}
	free(t->entries);
	t->entries = malloc(info.size);
	if (!t->entries)
		die("malloc");
	memcpy(t->entries, ge->entrytable, info.size);
	free(ge);
	return 0;
}

/* Entries with their counters zeroed, for comparing two reads. */
static void zero_counters(int fam, uint8_t *buf, unsigned int size)
{
	unsigned int off = 0;
	uint16_t *toff, *noff;
	struct xt_counters *cnt;

	while (off < size) {
		entry_offsets(fam, buf + off, &toff, &noff, &cnt);
		memset(cnt, 0, sizeof(*cnt));
		if (!*noff)
			break;
		off += *noff;
	}
}

static int xtab_same(const struct xtab *a, const struct xtab *b)
{
	uint8_t *x, *y;
	int same;

	if (a->size != b->size || a->num_entries != b->num_entries ||
	    memcmp(a->hook_entry, b->hook_entry, sizeof(a->hook_entry)) ||
	    memcmp(a->underflow, b->underflow, sizeof(a->underflow)))
		return 0;
	x = malloc(a->size);
	y = malloc(a->size);
	if (!x || !y)
		die("malloc");
	memcpy(x, a->entries, a->size);
	memcpy(y, b->entries, b->size);
	zero_counters(a->fam, x, a->size);
	zero_counters(a->fam, y, a->size);
	same = !memcmp(x, y, a->size);
	free(x);
	free(y);
	return same;
}

/*
 * Replace the table with @t's entries and, when @r is given, @r's rule
 * first in INPUT; @num_counters: how many entries the table has now.
 * Returns 0 or an errno.
 */
static int xtab_replace(const struct xtab *t, const struct rule *r,
			unsigned int num_counters)
{
	size_t hdr = entry_hdr(t->fam), tgt = XT_ALIGN(sizeof(struct xt_standard_target));
	size_t mlen = 0, rlen = 0, total;
	struct ipt_replace *rep;
	uint8_t *e;
	unsigned int h, in_off = t->hook_entry[NF_INET_LOCAL_IN];
	int lvl = t->fam == 6 ? IPPROTO_IPV6 : IPPROTO_IP, ret = 0;

	if (r) {
		mlen = XT_ALIGN(sizeof(struct xt_entry_match) + r->len);
		rlen = hdr + mlen + tgt;
	}
	/* ip6t_replace has ipt_replace's layout up to the entries */
	total = sizeof(*rep) + t->size + rlen;
	rep = calloc(1, total);
	if (!rep)
		die("calloc");
	strcpy(rep->name, "filter");
	rep->valid_hooks = t->valid_hooks;
	rep->num_entries = t->num_entries + (r ? 1 : 0);
	rep->size = (unsigned int)(t->size + rlen);
	rep->num_counters = num_counters;
	rep->counters = calloc(num_counters, sizeof(struct xt_counters));
	for (h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (!(t->valid_hooks & (1u << h)))
			continue;
		rep->hook_entry[h] = t->hook_entry[h] +
			(r && t->hook_entry[h] > in_off ? (unsigned int)rlen : 0);
		rep->underflow[h] = t->underflow[h] +
			(r && t->underflow[h] >= in_off ? (unsigned int)rlen : 0);
	}
	e = (uint8_t *)rep->entries;
	memcpy(e, t->entries, in_off);
	if (r) {
		uint8_t *n = e + in_off;
		struct xt_entry_match *m = (void *)(n + hdr);
		struct xt_standard_target *st = (void *)(n + hdr + mlen);
		uint16_t *toff, *noff;
		struct xt_counters *cnt;

		entry_offsets(t->fam, n, &toff, &noff, &cnt);
		*toff = (uint16_t)(hdr + mlen);
		*noff = (uint16_t)rlen;
		m->u.user.match_size = (uint16_t)(sizeof(*m) + r->len +
						  (r->overrun ? 64 : 0));
		memcpy(m->u.user.name, r->mname, sizeof(m->u.user.name));
		m->u.user.revision = r->rev;
		memcpy(m->data, r->data, r->len);
		st->target.u.user.target_size = (uint16_t)tgt;
		st->verdict = -NF_ACCEPT - 1;
	}
	memcpy(e + in_off + rlen, t->entries + in_off, t->size - in_off);
	if (setsockopt(t->fd, lvl, t->fam == 6 ? IP6T_SO_SET_REPLACE : IPT_SO_SET_REPLACE,
		       rep, (socklen_t)total) < 0)
		ret = errno;
	free(rep->counters);
	free(rep);
	return ret;
}

/* The user bytes of the first INPUT rule's first match equal @r's. */
static int xtab_has_rule(const struct xtab *t, const struct rule *r, size_t usersize)
{
	uint8_t *e = t->entries + t->hook_entry[NF_INET_LOCAL_IN];
	struct xt_entry_match *m = (void *)(e + entry_hdr(t->fam));
	uint16_t *toff, *noff;
	struct xt_counters *cnt;

	entry_offsets(t->fam, e, &toff, &noff, &cnt);
	if (*toff == entry_hdr(t->fam))
		return 0;
	return !strcmp(m->u.user.name, "connlimit") && m->u.user.revision == r->rev &&
	       !memcmp(m->data, r->data, usersize);
}

/* ------------------------------------------------------------------ */
/* nft: raw nfnetlink */

struct nl {
	int fd;
	uint32_t seq;
	uint8_t buf[8192];
	size_t len;
};

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags,
			       uint8_t family, uint16_t res_id)
{
	struct nlmsghdr *h = (void *)(nl->buf + nl->len);
	struct nfgenmsg *g;

	memset(h, 0, NLMSG_SPACE(sizeof(*g)));
	h->nlmsg_len = NLMSG_LENGTH(sizeof(*g));
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++nl->seq;
	g = NLMSG_DATA(h);
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
	return h;
}

static void nl_end(struct nl *nl, struct nlmsghdr *h)
{
	nl->len += NLMSG_ALIGN(h->nlmsg_len);
}

static struct nlattr *nla_put(struct nlmsghdr *h, uint16_t type,
			      const void *data, size_t len)
{
	struct nlattr *a = (void *)((uint8_t *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	memset((uint8_t *)a + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
	return a;
}

static void nla_str(struct nlmsghdr *h, uint16_t type, const char *s)
{
	nla_put(h, type, s, strlen(s) + 1);
}

static struct nlattr *nest_start(struct nlmsghdr *h, uint16_t type)
{
	return nla_put(h, type | NLA_F_NESTED, NULL, 0);
}

static void nest_end(struct nlmsghdr *h, struct nlattr *a)
{
	a->nla_len = (uint16_t)((uint8_t *)h + h->nlmsg_len - (uint8_t *)a);
}

static uint16_t nft_type(int msg)
{
	return (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | msg);
}

static void batch_begin(struct nl *nl)
{
	struct nlmsghdr *h;

	nl->len = 0;
	h = nl_msg(nl, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
	nl_end(nl, h);
}

/* Send the batch; the errno of the first failed message, or 0. */
static int batch_send(struct nl *nl)
{
	struct nlmsghdr *h = nl_msg(nl, NFNL_MSG_BATCH_END, 0, AF_UNSPEC,
				    NFNL_SUBSYS_NFTABLES);
	uint32_t last = nl->seq - 1;	/* the last message with an ack */
	uint8_t rbuf[16384];
	int err = 0, done = 0;

	nl_end(nl, h);
	if (send(nl->fd, nl->buf, nl->len, 0) < 0)
		die("send(netlink)");
	while (!done) {
		struct pollfd p = { .fd = nl->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return err ? err : ETIMEDOUT;
		n = recv(nl->fd, rbuf, sizeof(rbuf), 0);
		if (n < 0)
			die("recv(netlink)");
		for (h = (void *)rbuf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (e->error && !err)
				err = -e->error;
			if (h->nlmsg_seq == last)
				done = 1;
		}
	}
	return err;
}

static void nft_table_msg(struct nl *nl, int msg, uint8_t fam, uint16_t flags)
{
	struct nlmsghdr *h = nl_msg(nl, nft_type(msg), NLM_F_ACK | flags, fam, 0);

	nla_str(h, NFTA_TABLE_NAME, NFT_TABLE);
	nl_end(nl, h);
}

static int nft_setup(struct nl *nl, uint8_t fam)
{
	struct nlmsghdr *h;

	batch_begin(nl);
	nft_table_msg(nl, NFT_MSG_NEWTABLE, fam, NLM_F_CREATE);
	h = nl_msg(nl, nft_type(NFT_MSG_NEWCHAIN), NLM_F_ACK | NLM_F_CREATE, fam, 0);
	nla_str(h, NFTA_CHAIN_TABLE, NFT_TABLE);
	nla_str(h, NFTA_CHAIN_NAME, NFT_CHAIN);
	nl_end(nl, h);
	return batch_send(nl);
}

static int nft_teardown(struct nl *nl, uint8_t fam)
{
	batch_begin(nl);
	nft_table_msg(nl, NFT_MSG_DELTABLE, fam, 0);
	return batch_send(nl);
}

static int nft_add_rule(struct nl *nl, uint8_t fam, const struct rule *r)
{
	struct nlmsghdr *h;
	struct nlattr *exprs, *elem, *data;
	uint32_t rev = htonl(r->rev);

	batch_begin(nl);
	h = nl_msg(nl, nft_type(NFT_MSG_NEWRULE),
		   NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, fam, 0);
	nla_str(h, NFTA_RULE_TABLE, NFT_TABLE);
	nla_str(h, NFTA_RULE_CHAIN, NFT_CHAIN);
	exprs = nest_start(h, NFTA_RULE_EXPRESSIONS);
	elem = nest_start(h, NFTA_LIST_ELEM);
	nla_str(h, NFTA_EXPR_NAME, "match");
	data = nest_start(h, NFTA_EXPR_DATA);
	/* the name as it is, NUL or not */
	nla_put(h, NFTA_MATCH_NAME, r->mname,
		strnlen(r->mname, sizeof(r->mname)) < sizeof(r->mname) ?
		strlen(r->mname) + 1 : sizeof(r->mname));
	nla_put(h, NFTA_MATCH_REV, &rev, sizeof(rev));
	nla_put(h, NFTA_MATCH_INFO, r->data, r->len);
	nest_end(h, data);
	nest_end(h, elem);
	nest_end(h, exprs);
	nl_end(nl, h);
	return batch_send(nl);
}

/* How many rules the chain holds (dump), or -1 with errno. */
static int nft_count_rules(struct nl *nl, uint8_t fam)
{
	struct nlmsghdr *h;
	uint8_t rbuf[32768];
	int count = 0;

	nl->len = 0;
	h = nl_msg(nl, nft_type(NFT_MSG_GETRULE), NLM_F_DUMP, fam, 0);
	nla_str(h, NFTA_RULE_TABLE, NFT_TABLE);
	nla_str(h, NFTA_RULE_CHAIN, NFT_CHAIN);
	nl_end(nl, h);
	if (send(nl->fd, nl->buf, nl->len, 0) < 0)
		die("send(netlink)");
	for (;;) {
		ssize_t n = recv(nl->fd, rbuf, sizeof(rbuf), 0);

		if (n < 0)
			die("recv(netlink)");
		for (h = (void *)rbuf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return count;
			if (h->nlmsg_type == NLMSG_ERROR) {
				errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
				return -1;
			}
			if (h->nlmsg_type == nft_type(NFT_MSG_NEWRULE))
				count++;
		}
	}
}

/* Delete every rule of the chain (after an acceptance). */
static int nft_flush_chain(struct nl *nl, uint8_t fam)
{
	struct nlmsghdr *h;

	batch_begin(nl);
	h = nl_msg(nl, nft_type(NFT_MSG_DELRULE), NLM_F_ACK, fam, 0);
	nla_str(h, NFTA_RULE_TABLE, NFT_TABLE);
	nla_str(h, NFTA_RULE_CHAIN, NFT_CHAIN);
	nl_end(nl, h);
	return batch_send(nl);
}

/* ------------------------------------------------------------------ */
/* running a case */

struct ctx {
	int legacy;
	int fam;		/* 4 or 6: the data's address family */
	uint8_t nfproto;	/* nft: the table's family */
	struct xtab tab;	/* legacy: the table before */
	struct nl nl;
};

static const char *ename(int e)
{
	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case ERANGE: return "ERANGE";
	case EPROTO: return "EPROTO";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case ENOMEM: return "ENOMEM";
	case ELOOP: return "ELOOP";
	case EBUSY: return "EBUSY";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EFAULT: return "EFAULT";
	default: return strerror(e);
	}
}

/* Try the rule; returns the errno (0: accepted).  *@what gets why a case
 * failed beyond its errno (table changed, rule not as sent). */
static int attempt(struct ctx *c, const struct rule *r, const struct tcase *tc,
		   char *what, size_t wlen)
{
	int err, n;

	what[0] = '\0';
	if (c->legacy) {
		struct xtab after = { .fam = c->fam, .fd = c->tab.fd };

		err = xtab_replace(&c->tab, r, c->tab.num_entries);
		if (xtab_read(&after) < 0) {
			snprintf(what, wlen, "cannot read the table back: %s", strerror(errno));
			return err;
		}
		if (err) {
			if (!xtab_same(&c->tab, &after))
				snprintf(what, wlen, "the table changed although the rule was refused");
		} else {
			size_t usersize = r->rev == 2 ?
				offsetof(struct xt_connlimit_info_v2, data) :
				offsetof(struct xt_connlimit_info, data);

			if (after.num_entries != c->tab.num_entries + 1 ||
			    !xtab_has_rule(&after, r, usersize))
				snprintf(what, wlen, "accepted, but the rule read back is not the one sent");
			/* put the table back as it was */
			n = xtab_replace(&c->tab, NULL, after.num_entries);
			if (n)
				snprintf(what, wlen, "cannot restore the table: %s", ename(n));
		}
		free(after.entries);
		return err;
	}
	err = nft_add_rule(&c->nl, c->nfproto, r);
	n = nft_count_rules(&c->nl, c->nfproto);
	if (n < 0) {
		snprintf(what, wlen, "cannot list the chain: %s", ename(errno));
	} else if (err && n != 0) {
		snprintf(what, wlen, "%d rule(s) in the chain although the rule was refused", n);
	} else if (!err && n != 1) {
		snprintf(what, wlen, "accepted, but the chain holds %d rules", n);
	}
	if (!err && nft_flush_chain(&c->nl, c->nfproto))
		snprintf(what, wlen, "cannot delete the accepted rule");
	(void)tc;
	return err;
}

static int errno_ok(const struct tcase *tc, int err)
{
	int i;

	for (i = 0; i < 3 && tc->errnos[i]; i++)
		if (tc->errnos[i] == err)
			return 1;
	return 0;
}

static int run_case(struct ctx *c, const struct tcase *tc)
{
	struct rule r;
	char what[200], msg[300] = "", want[32] = "";
	int err, tries, bad = 0;

	tc->build(&r, c->fam, tc->arg);
	if (tc->msg == MSG_OURS)
		strcpy(want, "xt_connlimit: ");
	else if (tc->msg == MSG_XT && c->legacy)
		strcpy(want, "x_tables: ");

	for (tries = 0; tries < 2; tries++) {
		if (tries)	/* a rate-limited message: wait out the window */
			sleep(6);
		kmsg_mark();
		err = attempt(c, &r, tc, what, sizeof(what));
		kmsg_find(want[0] ? want : "xt_connlimit: ", msg, sizeof(msg));
		if (!want[0] || msg[0] || err == 0 || what[0])
			break;
	}
	printf("case %s: ", tc->id);
	if (tc->expect == ACCEPT && err) {
		bad = 1;
		printf("FAIL refused (%s), expected acceptance", ename(err));
	} else if (tc->expect == REFUSE && !err) {
		bad = 1;
		printf("FAIL the kernel accepted it (the rule was installed)");
	} else if (tc->expect == REFUSE && !errno_ok(tc, err)) {
		bad = 1;
		printf("FAIL refused with %s, expected %s%s%s", ename(err),
		       ename(tc->errnos[0]), tc->errnos[1] ? " or " : "",
		       tc->errnos[1] ? ename(tc->errnos[1]) : "");
	} else if (what[0]) {
		bad = 1;
		printf("FAIL %s", what);
	} else if (want[0] && err && !msg[0]) {
		bad = 1;
		printf("FAIL refused (%s) but no '%s' line in the kernel log", ename(err), want);
	} else {
		printf("ok %s", err ? "refused" : "accepted");
	}
	if (bad && what[0] && tc->expect == REFUSE && !err)
		printf("; %s", what);
	printf(" errno=%s msg=\"%s\"\n", ename(err), msg);
	fflush(stdout);
	return bad;
}

static uint8_t nfproto_of(const char *f)
{
	if (!strcmp(f, "4"))
		return NFPROTO_IPV4;
	if (!strcmp(f, "6"))
		return NFPROTO_IPV6;
	if (!strcmp(f, "inet"))
		return 1;	/* NFPROTO_INET */
	if (!strcmp(f, "arp"))
		return NFPROTO_ARP;
	if (!strcmp(f, "netdev"))
		return 5;	/* NFPROTO_NETDEV */
	if (!strcmp(f, "bridge"))
		return NFPROTO_BRIDGE;
	usage();
}

static int run_main(int argc, char **argv)
{
	struct ctx c;
	const char *group;
	size_t i;
	int failed = 0, n = 0, err;

	if (argc != 4)
		usage();
	memset(&c, 0, sizeof(c));
	c.legacy = !strcmp(argv[1], "legacy");
	if (!c.legacy && strcmp(argv[1], "nft"))
		usage();
	c.nfproto = nfproto_of(argv[2]);
	c.fam = c.nfproto == NFPROTO_IPV6 ? 6 : 4;
	group = argv[3];
	if (c.legacy && c.nfproto != NFPROTO_IPV4 && c.nfproto != NFPROTO_IPV6)
		usage();

	if (c.legacy) {
		c.tab.fam = c.fam;
		c.tab.fd = socket(c.fam == 6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
		if (c.tab.fd < 0)
			die("socket(SOCK_RAW)");
		if (xtab_read(&c.tab) < 0)
			die("reading the filter table");
	} else {
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

		c.nl.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
		if (c.nl.fd < 0 || bind(c.nl.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("netlink");
		c.nl.seq = (uint32_t)time(NULL);
		err = nft_setup(&c.nl, c.nfproto);
		if (err) {
			fprintf(stderr, "xtcraft: cannot make table %s (family %s): %s\n",
				NFT_TABLE, argv[2], ename(err));
			return 2;
		}
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].group, group) ||
		    (cases[i].legacy_only && !c.legacy))
			continue;
		n++;
		failed += run_case(&c, &cases[i]);
	}
	if (!c.legacy) {
		err = nft_teardown(&c.nl, c.nfproto);
		if (err) {
			printf("teardown: FAIL cannot delete table %s: %s\n", NFT_TABLE, ename(err));
			failed++;
		}
	}
	printf("summary cases=%d failed=%d\n", n, failed);
	return failed ? 1 : 0;
}

static int revision_main(int argc, char **argv)
{
	struct xt_get_revision rev;
	socklen_t len = sizeof(rev);
	int fam, fd, r;

	if (argc != 3)
		usage();
	fam = strcmp(argv[1], "6") ? 4 : 6;
	fd = socket(fam == 6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("socket(SOCK_RAW)");
	memset(&rev, 0, sizeof(rev));
	strcpy(rev.name, "connlimit");
	rev.revision = (uint8_t)atoi(argv[2]);
	r = getsockopt(fd, fam == 6 ? IPPROTO_IPV6 : IPPROTO_IP,
		       fam == 6 ? IP6T_SO_GET_REVISION_MATCH : IPT_SO_GET_REVISION_MATCH,
		       &rev, &len);
	if (r < 0) {
		printf("revision %s absent (%s)\n", argv[2], ename(errno));
		return 3;
	}
	printf("revision %s present\n", argv[2]);
	return 0;
}

static int dump_main(int argc, char **argv)
{
	struct xtab t;
	const struct xt_entry_match *m;
	struct xt_counters *cnt;
	uint16_t *toff, *noff;
	unsigned int off = 0, moff, i;
	uint8_t *e;

	if (argc != 2 || (strcmp(argv[1], "4") && strcmp(argv[1], "6")))
		usage();
	memset(&t, 0, sizeof(t));
	t.fam = strcmp(argv[1], "6") ? 4 : 6;
	t.fd = socket(t.fam == 6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (t.fd < 0)
		die("socket(SOCK_RAW)");
	if (xtab_read(&t) < 0)
		die("reading the filter table");
	while (off < t.size) {
		e = t.entries + off;
		entry_offsets(t.fam, e, &toff, &noff, &cnt);
		if (*noff < entry_hdr(t.fam) || *toff > *noff || off + *noff > t.size)
			die("a malformed entry from the kernel");
		for (moff = entry_hdr(t.fam); moff < *toff; moff += m->u.match_size) {
			m = (const void *)(e + moff);
			if (m->u.match_size < sizeof(*m) || moff + m->u.match_size > *toff)
				die("a malformed match from the kernel");
			if (strcmp(m->u.user.name, "connlimit"))
				continue;
			printf("connlimit rev=%u size=%u data=", m->u.user.revision,
			       m->u.match_size);
			for (i = sizeof(*m); i < m->u.match_size; i++)
				printf("%02x", ((const uint8_t *)m)[i]);
			putchar('\n');
		}
		off += *noff;
	}
	return 0;
}

static int write_main(int argc, char **argv)
{
	const char *buf = argv[2];
	size_t len = strlen(argv[2]);
	ssize_t n;
	int fd;

	if (argc != 3)
		usage();
	if (!strcmp(argv[2], "-")) {
		buf = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			die("mmap");
		len = 6;
	}
	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		printf("open err=%s\n", ename(errno));
		return 1;
	}
	n = write(fd, buf, len);
	if (n < 0)
		printf("write err=%s\n", ename(errno));
	else
		printf("write n=%zd\n", n);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	netns_option(&argc, &argv);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "run"))
		return run_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "revision"))
		return revision_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dump"))
		return dump_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "write"))
		return write_main(argc - 1, argv + 1);
	usage();
}
