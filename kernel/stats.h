/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Object and work counters.  Every figure is kept twice, per CPU so that
 * counting never bounces a cache line between CPUs: module-wide (debugfs
 * xt_connlimit/objects, so tests can assert everything was freed) and per
 * network namespace (/proc/net/stat/xt_connlimit, for monitoring).  A CPU's
 * own figure may go negative; the sum is what counts.
 */
#ifndef CL_STATS_H
#define CL_STATS_H

#include <linux/percpu.h>
#include <linux/stddef.h>

struct seq_file;

struct cl_counters {
	long tables;		/* rule tables alive (named: once per name) */
	long named;		/* named tables alive */
	long keys;		/* keys allocated, not yet freed */
	long conns;		/* entries (in key slots or allocated) alive */
	long alloc_failures;	/* packets dropped: no memory for an entry */
	long checks;		/* entries checked against their conntrack */
	long freed;		/* entries found dead and freed */
	long pends;		/* records of pending connections alive */
};

DECLARE_PER_CPU(struct cl_counters, cl_stats);

/* Add @n to the long at @offset in both counter sets. */
static inline void cl_count_add_at(struct cl_counters __percpu *netc,
				   size_t offset, long n)
{
	this_cpu_add(*(long __percpu *)((char __percpu *)&cl_stats + offset),
		     n);
	this_cpu_add(*(long __percpu *)((char __percpu *)netc + offset), n);
}

/* Count in the module-wide figures and in those of @netc's namespace. */
#define cl_count_add(netc, field, n) \
	cl_count_add_at(netc, offsetof(struct cl_counters, field), n)
#define cl_count_inc(netc, field)	cl_count_add(netc, field, 1)
#define cl_count_dec(netc, field)	cl_count_add(netc, field, -1)

/* Sum of the per-CPU figures. */
void cl_counters_sum(const struct cl_counters __percpu *pcpu,
		     struct cl_counters *sum);
void cl_counters_show(struct seq_file *m, const struct cl_counters *sum,
		      const char *tables);

void cl_stats_init(void);
void cl_stats_exit(void);

#endif /* CL_STATS_H */
