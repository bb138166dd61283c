/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place kernel API differences live.  The CL_HAVE_* macros come from
 * probes of the target headers in kernel/Kbuild; code elsewhere uses only the
 * shims below.
 */
#ifndef CL_COMPAT_H
#define CL_COMPAT_H

#include <linux/workqueue.h>

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

#endif /* CL_COMPAT_H */
