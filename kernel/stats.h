/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live-object and failure counters, readable in debugfs as
 * xt_connlimit/objects so tests can assert everything was freed.
 * Per-CPU, so counting an entry never bounces a cache line between CPUs;
 * a CPU's own figure may go negative, the sum is what counts.
 */
#ifndef CL_STATS_H
#define CL_STATS_H

#include <linux/percpu.h>

struct cl_stats {
	long tables;		/* rule tables alive */
	long keys;		/* keys allocated, not yet freed */
	long conns;		/* entries allocated, not yet freed */
	long alloc_failures;	/* packets dropped for lack of memory */
};

DECLARE_PER_CPU(struct cl_stats, cl_stats);

#define cl_stats_inc(field)	this_cpu_inc(cl_stats.field)
#define cl_stats_dec(field)	this_cpu_dec(cl_stats.field)

void cl_stats_init(void);
void cl_stats_exit(void);

#endif /* CL_STATS_H */
