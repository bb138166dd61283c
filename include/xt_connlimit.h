/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Match data shared by the xt_connlimit kernel module and the
 * libxt_connlimit iptables extension.
 *
 * Revision 1 is byte-for-byte the upstream ABI (uapi
 * linux/netfilter/xt_connlimit.h): 32 bytes on 32- and 64-bit builds, the
 * kernel-only pointer last and 8-byte aligned, so the stock extension drives
 * this module and this extension drives the in-kernel one.  Userspace
 * compares rules over the bytes before @data only (usersize/userspacesize).
 */
#ifndef XT_CONNLIMIT_PROJECT_H
#define XT_CONNLIMIT_PROJECT_H

#include <linux/types.h>
#include <linux/netfilter.h>

/* Match if the count is <= limit ("upto") instead of > limit ("above"). */
#define XT_CONNLIMIT_INVERT	(1U << 0)
/* Count by masked destination address instead of masked source address. */
#define XT_CONNLIMIT_DADDR	(1U << 1)
/* Every flag revision 1 knows; the kernel refuses any other bit. */
#define XT_CONNLIMIT_FLAGS_V1	(XT_CONNLIMIT_INVERT | XT_CONNLIMIT_DADDR)

struct cl_table;

struct xt_connlimit_info {
	/* Network byte order.  IPv4 rules use only the first 32-bit word. */
	union nf_inet_addr mask;
	__u32 limit;
	__u32 flags;

	/* Kernel-only: the rule's counting state; never copied to userspace. */
	struct cl_table *data __attribute__((aligned(8)));
};

#endif /* XT_CONNLIMIT_PROJECT_H */
