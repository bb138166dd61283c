/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The connlimit counting engine: one table per rule, counting the live
 * conntrack entries seen under each key (masked address + zone + family).
 */
#ifndef CL_ENGINE_H
#define CL_ENGINE_H

#include <linux/types.h>

struct net;
struct nf_conn;
struct cl_table;

/* What connections are grouped by.  Compared with memcmp: zero the padding. */
struct cl_key_id {
	__be32 addr[4];		/* masked address; IPv4 uses addr[0] only */
	u16 zone;		/* conntrack zone id */
	u8 family;		/* NFPROTO_IPV4 or NFPROTO_IPV6 */
	u8 pad;
};

int cl_engine_init(void);
void cl_engine_exit(void);

struct cl_table *cl_table_create(struct net *net);
void cl_table_destroy(struct cl_table *table);

/*
 * cl_table_count - count @ct under @key and return the key's count.
 * @ct:    the packet's conntrack, referenced by the caller for the duration
 *         of the call; NULL for a packet without one, which is counted as
 *         one more connection but not remembered.
 * @limit: the rule's limit; a count above it for an already counted
 *         connection is recounted exactly (at most once per jiffy), so a
 *         live connection is never refused because of a stale count.
 *
 * Returns the count (>= 1, the packet's own connection included) or a
 * negative errno when memory for a new entry could not be had.
 */
int cl_table_count(struct cl_table *table, const struct cl_key_id *key,
		   struct nf_conn *ct, u32 limit);

#endif /* CL_ENGINE_H */
