// SPDX-License-Identifier: GPL-2.0
/*
 * xt_connlimit: match on the number of parallel connections per masked
 * source (or destination) address.  Drop-in for the in-kernel module:
 * revision 1 keeps the upstream ABI; revision 2 adds named tables
 * (names.c); the counting is engine.c's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/module.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/netfilter/x_tables.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "xt_connlimit.h"
#include "engine.h"
#include "names.h"
#include "stats.h"

/*
 * A rule's kernel-only state, behind the match data's @data pointer: where
 * the table it counts in is, its own or a named one's part.
 */
struct cl_rule {
	struct cl_table **table;	/* &own.table, or the part's */
	struct cl_part *part;		/* NULL: the table is the rule's own */
	struct cl_own_table own;
};

/* What both revisions' match data say, in the same first 24 bytes. */
struct cl_params {
	union nf_inet_addr mask;
	u32 limit;
	u32 flags;
};

static void connlimit_key(struct cl_key_id *key, const struct sk_buff *skb,
			  const struct cl_params *p, u8 family,
			  const struct nf_conntrack_zone *zone)
{
	bool daddr = p->flags & XT_CONNLIMIT_DADDR;
	unsigned int i;

	memset(key, 0, sizeof(*key));
	if (family == NFPROTO_IPV6) {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);
		const struct in6_addr *addr = daddr ? &ip6h->daddr :
						      &ip6h->saddr;

		for (i = 0; i < ARRAY_SIZE(key->addr); i++)
			key->addr[i] = addr->s6_addr32[i] & p->mask.ip6[i];
	} else {
		const struct iphdr *iph = ip_hdr(skb);

		/* IPv4 uses the first word only: iptables may send all 16
		 * bytes set, or leave the rest as the user's data.
		 */
		key->addr[0] = (daddr ? iph->daddr : iph->saddr) &
			       p->mask.ip;
	}
	key->zone = zone->id;
	key->family = family;
}

/* Does @key hold @addr, masked as the rule masks? */
static bool connlimit_key_has(const struct cl_key_id *key,
			      const union nf_inet_addr *addr,
			      const struct cl_params *p, u8 family)
{
	unsigned int i;

	if (family != NFPROTO_IPV6)
		return key->addr[0] == (addr->ip & p->mask.ip);
	for (i = 0; i < ARRAY_SIZE(key->addr); i++)
		if (key->addr[i] != (addr->ip6[i] & p->mask.ip6[i]))
			return false;
	return true;
}

/*
 * A REPLY-direction packet carries the other end's address, and so is
 * counted under that end's key -- unless the original direction's packets
 * fall under the same key (loopback, both ends in one prefix, mask 0):
 * then it is the same connection of the same key, counted once, as
 * upstream counts every packet of a conntrack by its original tuple.
 * The original direction's packets carry the original source at every
 * xtables hook (SNAT comes after them), and the original destination or,
 * past DNAT, the reply source.
 */
static bool connlimit_other_end(const struct nf_conn *ct,
				const struct cl_key_id *key,
				const struct cl_params *p, u8 family)
{
	const struct nf_conntrack_tuple *orig =
		&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple *repl =
		&ct->tuplehash[IP_CT_DIR_REPLY].tuple;

	if (p->flags & XT_CONNLIMIT_DADDR)
		return !connlimit_key_has(key, &orig->dst.u3, p, family) &&
		       !connlimit_key_has(key, &repl->src.u3, p, family);
	return !connlimit_key_has(key, &orig->src.u3, p, family);
}

static bool connlimit_mt_common(const struct sk_buff *skb,
				struct xt_action_param *par,
				const struct cl_params *p,
				const struct cl_rule *rule)
{
	const struct nf_conntrack_tuple_hash *h;
	struct nf_conntrack_tuple tuple;
	struct cl_pkt pkt = { .zone = &nf_ct_zone_dflt };
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct, *found = NULL;
	struct cl_table *table;
	struct cl_key_id key;
	bool reply = false;
	int count;

	ct = nf_ct_get(skb, &ctinfo);
	if (ct) {
		pkt.zone = nf_ct_zone(ct);
		/* A template (-j CT in raw) supplies only the zone. */
		if (nf_ct_is_template(ct))
			ct = NULL;
		else
			reply = CTINFO2DIR(ctinfo) == IP_CT_DIR_REPLY;
	}
	if (!ct) {
		/* Not tracked yet (raw table) or at all: find it by tuple. */
		if (!nf_ct_get_tuplepr(skb, skb_network_offset(skb),
				       xt_family(par), xt_net(par), &tuple))
			goto hotdrop;
		h = nf_conntrack_find_get(xt_net(par), pkt.zone, &tuple);
		if (h) {
			found = nf_ct_tuplehash_to_ctrack(h);
			ct = found;
			reply = NF_CT_DIRECTION(h) == IP_CT_DIR_REPLY;
		} else {
			/* remembered by its tuple, as upstream does */
			pkt.tuple = &tuple;
		}
	}

	connlimit_key(&key, skb, p, xt_family(par), pkt.zone);
	pkt.ct = ct;
	pkt.reply = reply && connlimit_other_end(ct, &key, p, xt_family(par));
	/* The namespace's exit may replace it (see names.c). */
	table = READ_ONCE(*rule->table);
	count = cl_table_count(table, &key, &pkt, p->limit);
	if (found)
		nf_ct_put(found);
	if (count < 0) {
		cl_table_count_failure(table);
		pr_warn_ratelimited("cannot count the connection (%s), dropping packet\n",
				    count == -ENOMEM ? "out of memory" :
				    "hash table error");
		goto hotdrop;
	}
	return (count > p->limit) ^ !!(p->flags & XT_CONNLIMIT_INVERT);

hotdrop:
	par->hotdrop = true;
	return false;
}

static bool connlimit_mt_v1(const struct sk_buff *skb,
			    struct xt_action_param *par)
{
	const struct xt_connlimit_info *info = par->matchinfo;

	return connlimit_mt_common(skb, par, (const struct cl_params *)info,
				   info->data);
}

static bool connlimit_mt_v2(const struct sk_buff *skb,
			    struct xt_action_param *par)
{
	const struct xt_connlimit_info_v2 *info = par->matchinfo;

	return connlimit_mt_common(skb, par, (const struct cl_params *)info,
				   info->data);
}

/*
 * Set up a rule counting in its own table, or in the table @name.  Only
 * the kernel-only @data is ever written: -D compares the rest.
 */
static int connlimit_check_common(const struct xt_mtchk_param *par,
				  const struct cl_params *p, const char *name,
				  struct cl_rule **data)
{
	struct cl_rule *rule;
	int ret;

	rule = kzalloc(sizeof(*rule), GFP_KERNEL);
	if (!rule)
		return -ENOMEM;
	ret = nf_ct_netns_get(par->net, par->family);
	if (ret < 0) {
		pr_info_ratelimited("cannot load conntrack support for family %u\n",
				    par->family);
		goto free_rule;
	}
	if (name) {
		rule->part = cl_name_get(par->net, name, par->family, &p->mask,
					 p->flags & XT_CONNLIMIT_DADDR);
		if (IS_ERR(rule->part)) {
			ret = PTR_ERR(rule->part);
			goto put_netns;
		}
		rule->table = cl_part_table(rule->part);
	} else {
		ret = cl_own_table_create(par->net, &rule->own);
		if (ret)
			goto put_netns;
		rule->table = &rule->own.table;
	}
	*data = rule;
	return 0;

put_netns:
	nf_ct_netns_put(par->net, par->family);
free_rule:
	kfree(rule);
	return ret;
}

static int connlimit_flags_check(u32 flags, u32 known)
{
	if (flags & ~known) {
		pr_info_ratelimited("unknown flags 0x%x (known: 0x%x)\n",
				    flags, known);
		return -EINVAL;
	}
	return 0;
}

static int connlimit_mt_check_v1(const struct xt_mtchk_param *par)
{
	struct xt_connlimit_info *info = par->matchinfo;
	int ret;

	ret = connlimit_flags_check(info->flags, XT_CONNLIMIT_FLAGS_V1);
	if (ret)
		return ret;
	return connlimit_check_common(par, (const struct cl_params *)info,
				      NULL, &info->data);
}

static int connlimit_mt_check_v2(const struct xt_mtchk_param *par)
{
	struct xt_connlimit_info_v2 *info = par->matchinfo;
	unsigned int i;
	int ret;

	ret = connlimit_flags_check(info->flags, XT_CONNLIMIT_FLAGS_V2);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(info->reserved); i++) {
		if (info->reserved[i]) {
			pr_info_ratelimited("reserved bytes must be zero\n");
			return -EINVAL;
		}
	}
	/* Unnamed: every byte zero, as the header says; named: valid. */
	if (info->name[0] ? !cl_name_valid(info->name) :
	    !!memchr_inv(info->name, 0, sizeof(info->name))) {
		pr_info_ratelimited("invalid table name: 1 to %u printable characters, NUL-terminated and padded, no space or '/', not \".\" or \"..\"\n",
				    XT_CONNLIMIT_NAME_LEN - 1);
		return -EINVAL;
	}
	return connlimit_check_common(par, (const struct cl_params *)info,
				      info->name[0] ? info->name : NULL,
				      &info->data);
}

static void connlimit_destroy_common(const struct xt_mtdtor_param *par,
				     struct cl_rule *rule)
{
	if (rule->part)
		cl_name_put(rule->part);
	else
		cl_own_table_destroy(par->net, &rule->own);
	nf_ct_netns_put(par->net, par->family);
	kfree(rule);
}

static void connlimit_mt_destroy_v1(const struct xt_mtdtor_param *par)
{
	const struct xt_connlimit_info *info = par->matchinfo;

	connlimit_destroy_common(par, info->data);
}

static void connlimit_mt_destroy_v2(const struct xt_mtdtor_param *par)
{
	const struct xt_connlimit_info_v2 *info = par->matchinfo;

	connlimit_destroy_common(par, info->data);
}

#define CONNLIMIT_MT(fam, rev, type)					\
	{								\
		.name       = "connlimit",				\
		.revision   = rev,					\
		.family     = fam,					\
		.checkentry = connlimit_mt_check_v##rev,		\
		.match      = connlimit_mt_v##rev,			\
		.matchsize  = sizeof(struct type),			\
		.usersize   = offsetof(struct type, data),		\
		.destroy    = connlimit_mt_destroy_v##rev,		\
		.me         = THIS_MODULE,				\
	}

static struct xt_match connlimit_mt_reg[] __read_mostly = {
	CONNLIMIT_MT(NFPROTO_IPV4, 1, xt_connlimit_info),
	CONNLIMIT_MT(NFPROTO_IPV4, 2, xt_connlimit_info_v2),
#if IS_ENABLED(CONFIG_IP6_NF_IPTABLES)
	CONNLIMIT_MT(NFPROTO_IPV6, 1, xt_connlimit_info),
	CONNLIMIT_MT(NFPROTO_IPV6, 2, xt_connlimit_info_v2),
#endif
};

static int __init connlimit_mt_init(void)
{
	int ret;

	ret = cl_engine_init();
	if (ret)
		return ret;
	cl_stats_init();
	ret = cl_names_init();
	if (ret)
		goto stats_exit;
	ret = xt_register_matches(connlimit_mt_reg,
				  ARRAY_SIZE(connlimit_mt_reg));
	if (ret)
		goto names_exit;
	return 0;

names_exit:
	cl_names_exit();
stats_exit:
	cl_stats_exit();
	cl_engine_exit();
	return ret;
}

static void __exit connlimit_mt_exit(void)
{
	xt_unregister_matches(connlimit_mt_reg, ARRAY_SIZE(connlimit_mt_reg));
	/* Frees the tables of names still in their grace period. */
	cl_names_exit();
	cl_stats_exit();
	cl_engine_exit();
}

module_init(connlimit_mt_init);
module_exit(connlimit_mt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Xtables: number of connections per address, own engine");
MODULE_VERSION(XT_CONNLIMIT_VERSION);
MODULE_ALIAS("ipt_connlimit");
MODULE_ALIAS("ip6t_connlimit");
