/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The connlimit counting engine: one table per rule (or per name), counting
 * the live conntrack entries seen under each key (masked address + zone +
 * family).
 */
#ifndef CL_ENGINE_H
#define CL_ENGINE_H

#include <linux/time64.h>
#include <linux/types.h>

struct net;
struct nf_conn;
struct nf_conntrack_tuple;
struct nf_conntrack_zone;
struct cl_table;
struct cl_counters;

/* What connections are grouped by.  Hashed whole (IPv6): zero the padding. */
struct cl_key_id {
	__be32 addr[4];		/* masked address; IPv4 uses addr[0] only */
	u16 zone;		/* conntrack zone id */
	u8 family;		/* NFPROTO_IPV4 or NFPROTO_IPV6 */
	u8 pad;
};

int cl_engine_init(void);
void cl_engine_exit(void);

/*
 * A table for the rules of one namespace: one rule's, or those sharing a
 * name.  @netc: the namespace's counters, which must outlive the table.
 * @peaks: keep each key's peak count (for listing).
 */
struct cl_table *cl_table_create(struct net *net,
				 struct cl_counters __percpu *netc, bool peaks);
void cl_table_destroy(struct cl_table *table);

/* What a packet brings to its count. */
struct cl_pkt {
	/*
	 * Its conntrack, referenced by the caller for the duration of the
	 * call, or NULL (not tracked yet: raw table).
	 */
	struct nf_conn *ct;
	/* Without @ct: the packet's tuple, by which it is remembered. */
	const struct nf_conntrack_tuple *tuple;
	const struct nf_conntrack_zone *zone;	/* @ct's, or the packet's */
	/*
	 * Counted as the other end of @ct's connection: the packet travels
	 * in the REPLY direction and its key is not the original
	 * direction's (the caller compares them; when both ends fall under
	 * one key the connection is counted once, as upstream does).
	 */
	bool reply;
};

/*
 * cl_table_count - count @pkt's connection under @key and return the
 * key's count, the packet's own connection included.
 * @limit: the rule's limit; entries are checked only when the count is
 *         above it (see engine.c for the bounds).
 *
 * Returns the count (>= 1) or a negative errno when memory for a new entry
 * could not be had.
 */
int cl_table_count(struct cl_table *table, const struct cl_key_id *key,
		   const struct cl_pkt *pkt, u32 limit);

/* Count a packet dropped because cl_table_count() failed. */
void cl_table_count_failure(struct cl_table *table);

/* What a listing shows of a key. */
struct cl_key_report {
	struct cl_key_id id;
	u32 conns;	/* connections it holds now (exact) */
	u32 peak;	/* highest count admitted since creation or clear */
	u32 over;	/* packets that found it above a rule's limit */
};

/*
 * cl_table_report - report every key of @table to @fn, with exact counts.
 * @clear: restart each key's peak from its count and its over-limit
 *         counter from 0, and the table's record (cl_table_record()) from
 *         the keys' counts.
 */
int cl_table_report(struct cl_table *table, bool clear,
		    int (*fn)(const struct cl_key_report *report, void *arg),
		    void *arg);

/*
 * A table's record: the highest peak a key of it reached since the table
 * was created or cleared (kept after the key goes), which key, and when.
 * Tables that keep peaks only.
 */
struct cl_record {
	struct cl_key_id id;
	u32 peak;		/* 0: no key reached a count yet */
	time64_t real;		/* when: wall clock, seconds since the epoch */
	time64_t boot;		/* when: CLOCK_BOOTTIME seconds */
};

void cl_table_record(struct cl_table *table, struct cl_record *record);

#endif /* CL_ENGINE_H */
