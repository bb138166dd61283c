/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live-object and failure counters, readable in debugfs as
 * xt_connlimit/objects so tests can assert everything was freed.
 */
#ifndef CL_STATS_H
#define CL_STATS_H

#include <linux/atomic.h>

struct cl_stats {
	atomic_long_t tables;		/* rule tables alive */
	atomic_long_t keys;		/* keys allocated, not yet freed */
	atomic_long_t conns;		/* entries allocated, not yet freed */
	atomic_long_t alloc_failures;	/* packets dropped for lack of memory */
};

extern struct cl_stats cl_stats;

void cl_stats_init(void);
void cl_stats_exit(void);

#endif /* CL_STATS_H */
