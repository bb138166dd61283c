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

struct cl_rule;

struct xt_connlimit_info {
	/* Network byte order.  IPv4 rules use only the first 32-bit word. */
	union nf_inet_addr mask;
	__u32 limit;
	__u32 flags;

	/* Kernel-only: the rule's counting state; never copied to userspace. */
	struct cl_rule *data __attribute__((aligned(8)));
};

/*
 * Revision 2: revision 1 plus a table name.  Rules with the same name in
 * one network namespace share one table of keys and counts, listed in
 * /proc/net/xt_connlimit/NAME; an empty name gives the rule a private,
 * unlisted table, as in revision 1.
 *
 * Fixed-size fields only and no implicit padding, so the layout is the same
 * on 32- and 64-bit (72 bytes, @data at 64).  Userspace owns every byte
 * before @data; the kernel never writes them and refuses a rule whose
 * reserved bytes are not zero, whose flags are not in XT_CONNLIMIT_FLAGS_V2,
 * or whose name is not a valid table name:
 *   1 to XT_CONNLIMIT_NAME_LEN - 1 printable ASCII characters other than
 *   space (0x21 to 0x7e), NUL-terminated and NUL-padded, no '/', not "."
 *   or "..".
 */
#define XT_CONNLIMIT_FLAGS_V2	XT_CONNLIMIT_FLAGS_V1
#define XT_CONNLIMIT_NAME_LEN	32

struct xt_connlimit_info_v2 {
	union nf_inet_addr mask;	/* as in revision 1 */
	__u32 limit;
	__u32 flags;
	char name[XT_CONNLIMIT_NAME_LEN];	/* "" for an unnamed table */
	__u8 reserved[8];		/* zero */

	/* Kernel-only, as in revision 1. */
	struct cl_rule *data __attribute__((aligned(8)));
};

/*
 * The layouts, byte for byte, checked wherever this header is compiled: the
 * module and the extension, 64- and 32-bit (amd64, arm64, armhf), so a
 * 32-bit iptables and a 32-bit kernel agree with a 64-bit pair.
 * tests/guest/e2e.sh ("layout") reads the bytes back from the kernel.
 */
_Static_assert(sizeof(struct xt_connlimit_info) == 32, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info, limit) == 16, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info, flags) == 20, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info, data) == 24, "layout");
_Static_assert(sizeof(struct xt_connlimit_info_v2) == 72, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info_v2, limit) == 16, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info_v2, flags) == 20, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info_v2, name) == 24, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info_v2, reserved) == 56, "layout");
_Static_assert(__builtin_offsetof(struct xt_connlimit_info_v2, data) == 64, "layout");

#endif /* XT_CONNLIMIT_PROJECT_H */
