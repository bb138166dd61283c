/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Named tables shared by the rules of a network namespace (revision 2),
 * their /proc files, and the namespace's counters.
 */
#ifndef CL_NAMES_H
#define CL_NAMES_H

#include <linux/netfilter.h>
#include <linux/types.h>

struct net;
struct cl_name;
struct cl_table;
struct cl_netstats;
struct cl_counters;

int cl_names_init(void);
void cl_names_exit(void);

/* A NUL-padded name of XT_CONNLIMIT_NAME_LEN bytes a table may have. */
bool cl_name_valid(const char *name);

/*
 * Use the table @name of @net for a rule of @family counting by @mask and
 * direction @daddr, creating it if needed.  Refused (-EINVAL) if the table
 * counts that family another way.  Process context.
 */
struct cl_name *cl_name_get(struct net *net, const char *name, u8 family,
			    const union nf_inet_addr *mask, bool daddr);
struct cl_table *cl_name_table(const struct cl_name *cname);
/* The rule no longer uses it: freed after the grace period if unused. */
void cl_name_put(struct cl_name *cname);

/* The counters of @net, held for the life of a table counting into them. */
struct cl_netstats *cl_netstats_get(const struct net *net);
struct cl_counters __percpu *cl_netstats_pcpu(const struct cl_netstats *stats);
void cl_netstats_put(struct cl_netstats *stats);

#endif /* CL_NAMES_H */
