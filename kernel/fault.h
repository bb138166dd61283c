/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Allocation failures on demand, for tests only.  Debian's kernels have no
 * fault injection, so a module built with CL_FAULT_EVERY=N (make
 * module-fault, version suffix "+fault-every-N") fails every Nth
 * allocation of the packet path.  Release builds compile this to nothing.
 * Included by engine.c alone.
 */
#ifndef CL_FAULT_H
#define CL_FAULT_H

#include <linux/types.h>

#ifdef CL_FAULT_EVERY
#include <linux/atomic.h>

static_assert(CL_FAULT_EVERY > 0);

static atomic_t cl_fault_count = ATOMIC_INIT(0);

static inline bool cl_fault(void)
{
	return atomic_inc_return(&cl_fault_count) % CL_FAULT_EVERY == 0;
}
#else
static inline bool cl_fault(void)
{
	return false;
}
#endif

#endif /* CL_FAULT_H */
