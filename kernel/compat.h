/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place kernel API differences live.  The CL_HAVE_* macros come from
 * probes of the target headers in kernel/Kbuild; code elsewhere uses only the
 * shims below.
 */
#ifndef CL_COMPAT_H
#define CL_COMPAT_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netfilter/nf_conntrack.h>

/*
 * Stop a self-requeueing delayed work for good.  6.10+ can disable it, so
 * even a later queue_delayed_work() is a no-op.  Older kernels only cancel:
 * there the owner must first set its own "stopping" flag, which the work
 * checks before requeueing itself, and must not queue it again.
 */
static inline void cl_stop_delayed_work(struct delayed_work *dwork)
{
#ifdef CL_HAVE_DISABLE_DELAYED_WORK_SYNC
	disable_delayed_work_sync(dwork);
#else
	cancel_delayed_work_sync(dwork);
#endif
}

/*
 * Has a full RCU grace period passed since cl_gp_snap() returned @snap, or
 * at least two jiffies since @added?  Before 5.12 there is no polled
 * grace-period API, and the jiffies (upstream connlimit's bound) stand in.
 */
#ifdef CL_HAVE_POLL_STATE_SYNCHRONIZE_RCU
static inline unsigned long cl_gp_snap(void)
{
	return get_state_synchronize_rcu();
}

static inline bool cl_gp_passed(unsigned long snap, u32 added)
{
	return poll_state_synchronize_rcu(snap);
}
#else
static inline unsigned long cl_gp_snap(void)
{
	return 0;
}

static inline bool cl_gp_passed(unsigned long snap, u32 added)
{
	return (u32)jiffies - added >= 2;
}
#endif

/*
 * The conntrack entries of @net.  5.13 moved the counter out of struct
 * netns_ct and added nf_conntrack_count(); before, net->ct.count is it.
 */
static inline u32 cl_conntrack_count(const struct net *net)
{
#ifdef CL_HAVE_NF_CONNTRACK_COUNT
	return nf_conntrack_count(net);
#else
	return atomic_read(&net->ct.count);
#endif
}

/* The data of a /proc entry: pde_data() from 5.17, PDE_DATA() before. */
static inline void *cl_pde_data(const struct inode *inode)
{
#ifdef CL_HAVE_PDE_DATA
	return pde_data(inode);
#else
	return PDE_DATA(inode);
#endif
}

#endif /* CL_COMPAT_H */
