/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Named tables shared by the rules of a network namespace (revision 2),
 * their /proc files, and the namespace's counters.
 */
#ifndef CL_NAMES_H
#define CL_NAMES_H

#include <linux/list.h>
#include <linux/netfilter.h>
#include <linux/types.h>

struct net;
struct cl_part;
struct cl_table;
struct cl_netstats;

int cl_names_init(void);
void cl_names_exit(void);

/* A NUL-padded name of XT_CONNLIMIT_NAME_LEN bytes a table may have. */
bool cl_name_valid(const char *name);

/*
 * Use the table @name of @net for a rule of @family counting by @mask and
 * direction @daddr, creating it if needed: the name's part for that
 * family, mask and direction (a name has one for each way its rules
 * count).  Process context.
 */
struct cl_part *cl_name_get(struct net *net, const char *name, u8 family,
			    const union nf_inet_addr *mask, bool daddr);
/*
 * Where the part's table is: read it with READ_ONCE(), under RCU (the
 * namespace's exit replaces it).
 */
struct cl_table **cl_part_table(struct cl_part *part);
/* The rule no longer uses it: freed after the grace period if unused. */
void cl_name_put(struct cl_part *part);

/*
 * A rule's own table, known to its namespace (whose exit replaces @table,
 * see cl_part_table()).
 */
struct cl_own_table {
	struct list_head list;		/* on the namespace's list */
	struct cl_table *table;
	struct cl_netstats *stats;	/* held for @table */
};

int cl_own_table_create(struct net *net, struct cl_own_table *own);
void cl_own_table_destroy(struct net *net, struct cl_own_table *own);

#endif /* CL_NAMES_H */
