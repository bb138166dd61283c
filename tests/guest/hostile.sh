# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Hostile rule data, sourced by e2e.sh (after lib.sh).  The crafted
# "connlimit" extension (tests/fixtures/crafted, in the guest at
# $CRAFTED_DIR) lets the real iptables binaries send any flags, mask and
# limit -- and, in a second build, a wrong size -- to the kernel through both
# paths: legacy setsockopt and nft_compat netlink.  Each case checks the
# outcome and that nothing was half-installed.
#
# Deliberate difference from the in-tree module (INTREE_DIFFERS in e2e.sh):
# ours refuses unknown flag bits with -EINVAL and a message; upstream's
# checkentry never looks at the flags and accepts them.

CRAFTED_DIR=${CRAFTED_DIR:-/opt/crafted}

# crafted FAMILY NS BUILD ARGS...: ip(6)tables with a crafted extension.
crafted() {
	local fam=$1 ns=$2 build=$3 sysdir
	shift 3
	sysdir=$(dirname "$(ls /usr/lib/*/xtables/libxt_standard.so)")
	XTABLES_LIBDIR=$CRAFTED_DIR/$build:$sysdir xt "$fam" "$ns" "$@"
}

# connlimit_rules FAMILY NS: how many of the namespace's rules use connlimit.
connlimit_rules() {
	crafted "$1" "$2" crafted -S | grep -c -- '-m connlimit' || true
}

kmsg_mark() { dmesg | wc -l >"$T/kmsg-mark"; }
kmsg_since_mark() { dmesg | tail -n +"$(($(cat "$T/kmsg-mark") + 1))"; }

# expect_refused FAMILY NS BUILD WHAT ARGS...: refused, and nothing installed.
expect_refused() {
	local fam=$1 ns=$2 build=$3 what=$4
	shift 4
	if crafted "$fam" "$ns" "$build" -A INPUT -m connlimit "$@" 2>"$T/err"; then
		fail "$what: the kernel accepted it"
	fi
	log "$what: $(head -n 1 "$T/err")"
	[ "$(connlimit_rules "$fam" "$ns")" = 0 ] ||
		fail "$what: a connlimit rule is installed after the refusal"
}

ALL_ONES=ffffffff,ffffffff,ffffffff,ffffffff

# unknown flag bits are refused with a message (the in-tree module accepts
# them: named in e2e.sh's INTREE_DIFFERS)
case_hostile_flags() {
	local fam ns bit
	mkns ns
	modprobe xt_connlimit
	for fam in 4 6; do
		for bit in 0x4 0x80000000; do
			kmsg_mark
			expect_refused "$fam" "$ns" crafted "flags $bit (v$fam)" --raw-flags "$bit" \
				--raw-limit 1 --raw-mask "$ALL_ONES"
			kmsg_since_mark | grep -q "xt_connlimit: unknown flags $bit" ||
				fail "flags $bit (v$fam): no 'xt_connlimit: unknown flags $bit' in the kernel log: $(kmsg_since_mark)"
		done
	done
}

# any mask is accepted as upstream accepts it and never rewritten: it reads
# back as sent, and -D with the same bytes finds the rule
case_hostile_masks() {
	local fam ns mask
	mkns ns
	modprobe xt_connlimit
	for fam in 4 6; do
		for mask in ffff00ff,0,0,0 ffffff00,deadbeef,1,2 0,0,0,0 "$ALL_ONES" \
			ffffffff,0,ffffffff,0; do
			crafted "$fam" "$ns" crafted -A INPUT -m connlimit --raw-flags 0x2 \
				--raw-limit 7 --raw-mask "$mask" || fail "mask $mask (v$fam) refused"
			crafted "$fam" "$ns" crafted -S INPUT | grep -q -- "--raw-mask $mask" ||
				fail "mask $mask (v$fam) not read back as sent: $(crafted "$fam" "$ns" crafted -S INPUT)"
			crafted "$fam" "$ns" crafted -D INPUT -m connlimit --raw-flags 0x2 \
				--raw-limit 7 --raw-mask "$mask" ||
				fail "mask $mask (v$fam): -D with the same data did not find the rule"
		done
		[ "$(connlimit_rules "$fam" "$ns")" = 0 ] || fail "rules left after -D (v$fam)"
	done
}

# a match size the kernel does not expect is refused by x_tables itself
case_hostile_size() {
	local fam ns
	mkns ns
	modprobe xt_connlimit
	for fam in 4 6; do
		kmsg_mark
		expect_refused "$fam" "$ns" crafted-size "size 40 (v$fam)" --raw-flags 0 \
			--raw-limit 1 --raw-mask "$ALL_ONES"
		if [ "$BACKEND" = legacy ]; then
			kmsg_since_mark | grep -q 'connlimit.1 match: invalid size' ||
				fail "no 'invalid size' message from x_tables (v$fam): $(kmsg_since_mark)"
		fi
	done
}
