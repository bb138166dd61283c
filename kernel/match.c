// SPDX-License-Identifier: GPL-2.0
/*
 * xt_connlimit: match on the number of parallel connections per masked
 * source (or destination) address.  Drop-in for the in-kernel module:
 * revision 1 keeps the upstream ABI; the counting is engine.c's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/module.h>
#include <linux/skbuff.h>
#include <linux/netfilter/x_tables.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "xt_connlimit.h"
#include "engine.h"
#include "stats.h"

/* The revision-1 ABI, byte for byte (see include/xt_connlimit.h). */
static_assert(sizeof(struct xt_connlimit_info) == 32);
static_assert(offsetof(struct xt_connlimit_info, data) == 24);

static void connlimit_key(struct cl_key_id *key, const struct sk_buff *skb,
			  const struct xt_connlimit_info *info, u8 family,
			  const struct nf_conntrack_zone *zone)
{
	bool daddr = info->flags & XT_CONNLIMIT_DADDR;
	unsigned int i;

	memset(key, 0, sizeof(*key));
	if (family == NFPROTO_IPV6) {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);
		const struct in6_addr *addr = daddr ? &ip6h->daddr :
						      &ip6h->saddr;

		for (i = 0; i < ARRAY_SIZE(key->addr); i++)
			key->addr[i] = addr->s6_addr32[i] & info->mask.ip6[i];
	} else {
		const struct iphdr *iph = ip_hdr(skb);

		/* IPv4 uses the first word only: iptables may send all 16
		 * bytes set, or leave the rest as the user's data.
		 */
		key->addr[0] = (daddr ? iph->daddr : iph->saddr) &
			       info->mask.ip;
	}
	key->zone = zone->id;
	key->family = family;
}

static bool connlimit_mt(const struct sk_buff *skb,
			 struct xt_action_param *par)
{
	const struct xt_connlimit_info *info = par->matchinfo;
	const struct nf_conntrack_zone *zone = &nf_ct_zone_dflt;
	const struct nf_conntrack_tuple_hash *h;
	struct nf_conntrack_tuple tuple;
	struct nf_conn *ct, *found = NULL;
	enum ip_conntrack_info ctinfo;
	struct cl_key_id key;
	int count;

	ct = nf_ct_get(skb, &ctinfo);
	if (ct) {
		zone = nf_ct_zone(ct);
		/* A template (-j CT in raw) supplies only the zone. */
		if (nf_ct_is_template(ct))
			ct = NULL;
	}
	if (!ct) {
		/* Not tracked yet (raw table) or at all: find it by tuple. */
		if (!nf_ct_get_tuplepr(skb, skb_network_offset(skb),
				       xt_family(par), xt_net(par), &tuple))
			goto hotdrop;
		h = nf_conntrack_find_get(xt_net(par), zone, &tuple);
		if (h) {
			found = nf_ct_tuplehash_to_ctrack(h);
			ct = found;
		}
	}

	connlimit_key(&key, skb, info, xt_family(par), zone);
	count = cl_table_count(info->data, &key, ct, info->limit);
	if (found)
		nf_ct_put(found);
	if (count < 0) {
		cl_stats_inc(alloc_failures);
		pr_warn_ratelimited("cannot count the connection (%s), dropping packet\n",
				    count == -ENOMEM ? "out of memory" :
				    "hash table error");
		goto hotdrop;
	}
	return (count > info->limit) ^ !!(info->flags & XT_CONNLIMIT_INVERT);

hotdrop:
	par->hotdrop = true;
	return false;
}

static int connlimit_mt_check(const struct xt_mtchk_param *par)
{
	struct xt_connlimit_info *info = par->matchinfo;
	int ret;

	if (info->flags & ~XT_CONNLIMIT_FLAGS_V1) {
		pr_info_ratelimited("unknown flags 0x%x (known: 0x%x)\n",
				    info->flags, XT_CONNLIMIT_FLAGS_V1);
		return -EINVAL;
	}

	ret = nf_ct_netns_get(par->net, par->family);
	if (ret < 0) {
		pr_info_ratelimited("cannot load conntrack support for family %u\n",
				    par->family);
		return ret;
	}

	/* Only the kernel-only tail is written: -D compares the rest. */
	info->data = cl_table_create(par->net);
	if (!info->data) {
		nf_ct_netns_put(par->net, par->family);
		return -ENOMEM;
	}
	return 0;
}

static void connlimit_mt_destroy(const struct xt_mtdtor_param *par)
{
	const struct xt_connlimit_info *info = par->matchinfo;

	cl_table_destroy(info->data);
	nf_ct_netns_put(par->net, par->family);
}

static struct xt_match connlimit_mt_reg[] __read_mostly = {
	{
		.name       = "connlimit",
		.revision   = 1,
		.family     = NFPROTO_IPV4,
		.checkentry = connlimit_mt_check,
		.match      = connlimit_mt,
		.matchsize  = sizeof(struct xt_connlimit_info),
		.usersize   = offsetof(struct xt_connlimit_info, data),
		.destroy    = connlimit_mt_destroy,
		.me         = THIS_MODULE,
	},
#if IS_ENABLED(CONFIG_IP6_NF_IPTABLES)
	{
		.name       = "connlimit",
		.revision   = 1,
		.family     = NFPROTO_IPV6,
		.checkentry = connlimit_mt_check,
		.match      = connlimit_mt,
		.matchsize  = sizeof(struct xt_connlimit_info),
		.usersize   = offsetof(struct xt_connlimit_info, data),
		.destroy    = connlimit_mt_destroy,
		.me         = THIS_MODULE,
	},
#endif
};

static int __init connlimit_mt_init(void)
{
	int ret;

	ret = cl_engine_init();
	if (ret)
		return ret;
	cl_stats_init();
	ret = xt_register_matches(connlimit_mt_reg,
				  ARRAY_SIZE(connlimit_mt_reg));
	if (ret) {
		cl_stats_exit();
		cl_engine_exit();
	}
	return ret;
}

static void __exit connlimit_mt_exit(void)
{
	xt_unregister_matches(connlimit_mt_reg, ARRAY_SIZE(connlimit_mt_reg));
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
