#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hostile rule data: the crafted "connlimit" extension (tests/fixtures/
# crafted) lets the real iptables binaries send any flags, mask and limit
# (and, in a second build, a wrong size) to the kernel through both paths:
# legacy setsockopt and nft_compat netlink.  Each case checks the outcome
# and that nothing was half-installed.
#
# Deliberate difference from the in-tree module, named in the case: ours
# refuses unknown flag bits with -EINVAL and a message; upstream's
# checkentry never looks at the flags and accepts them.
#
# Environment: TESTBED_VARIANT (ours|intree), TESTBED_BACKENDS,
# CRAFTED_DIR (holds crafted/ and crafted-size/), RESULT_FD.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VARIANT=${TESTBED_VARIANT:-intree}
BACKENDS=${TESTBED_BACKENDS:-legacy nft}
CRAFTED_DIR=${CRAFTED_DIR:-/opt/crafted}
SYSTEM_XTLIBDIR=${SYSTEM_XTLIBDIR:-$(dirname "$(find / -xdev -name libxt_standard.so -print -quit 2>/dev/null)")}

# crafted FAMILY NS VARIANT_DIR ARGS...: iptables with the crafted extension.
crafted() {
	local fam=$1 ns=$2 dir=$3
	shift 3
	XTABLES_LIBDIR=$CRAFTED_DIR/$dir:$SYSTEM_XTLIBDIR xt "$fam" "$ns" "$@"
}

# connlimit_rules FAMILY NS: how many rules of the namespace use connlimit.
connlimit_rules() {
	XTABLES_LIBDIR=$CRAFTED_DIR/crafted:$SYSTEM_XTLIBDIR xt "$1" "$2" -S |
		grep -c -- '-m connlimit' || true
}

# kmsg_mark / kmsg_since_mark: the kernel log lines written since the mark.
kmsg_mark() { dmesg | wc -l >"$T/kmsg-mark"; }
kmsg_since_mark() { dmesg | tail -n +"$(($(cat "$T/kmsg-mark") + 1))"; }

# refused FAMILY NS DIR WHAT ARGS...: the rule must be refused and absent.
expect_refused() {
	local fam=$1 ns=$2 dir=$3 what=$4
	shift 4
	if crafted "$fam" "$ns" "$dir" -A INPUT -m connlimit "$@" 2>"$T/err"; then
		fail "$what: the kernel accepted it"
	fi
	log "$what: $(head -n 1 "$T/err")"
	[ "$(connlimit_rules "$fam" "$ns")" = 0 ] ||
		fail "$what: a connlimit rule is installed after the refusal"
}

# unknown flag bits
case_flags() {
	local fam=$1 ns bit msgs
	mkns ns hostile
	modprobe xt_connlimit
	for bit in 0x4 0x80000000; do
		kmsg_mark
		if [ "$VARIANT" = ours ]; then
			expect_refused "$fam" "$ns" crafted "flags $bit" --raw-flags "$bit" --raw-limit 1 \
				--raw-mask ffffffff,ffffffff,ffffffff,ffffffff
			msgs=$(kmsg_since_mark)
			grep -q "xt_connlimit: unknown flags $bit" <<<"$msgs" ||
				fail "flags $bit: no 'xt_connlimit: unknown flags $bit' in the kernel log: $msgs"
		else
			note "in-tree accepts unknown flags (upstream never checks them); ours refuses"
			crafted "$fam" "$ns" crafted -A INPUT -m connlimit --raw-flags "$bit" \
				--raw-limit 1 --raw-mask ffffffff,ffffffff,ffffffff,ffffffff ||
				fail "in-tree refused flags $bit: upstream behaviour changed?"
			xt "$fam" "$ns" -F INPUT
		fi
	done
}

# masks are accepted as upstream accepts them, and never rewritten: -D with
# the same bytes finds the rule
case_masks() {
	local fam=$1 ns mask
	mkns ns hostile
	modprobe xt_connlimit
	for mask in ffff00ff,0,0,0 ffffff00,deadbeef,1,2 0,0,0,0 \
		ffffffff,ffffffff,ffffffff,ffffffff ffffffff,0,ffffffff,0; do
		crafted "$fam" "$ns" crafted -A INPUT -m connlimit --raw-flags 0x2 \
			--raw-limit 7 --raw-mask "$mask" ||
			fail "mask $mask refused"
		crafted "$fam" "$ns" crafted -S INPUT | grep -q -- "--raw-mask $mask" ||
			fail "mask $mask not read back as sent: $(crafted "$fam" "$ns" crafted -S INPUT)"
		crafted "$fam" "$ns" crafted -D INPUT -m connlimit --raw-flags 0x2 \
			--raw-limit 7 --raw-mask "$mask" ||
			fail "mask $mask: -D with the same data did not find the rule"
	done
	[ "$(connlimit_rules "$fam" "$ns")" = 0 ] || fail "rules left after -D"
}

# a match size the kernel does not expect is refused by x_tables itself
case_size() {
	local fam=$1 ns
	mkns ns hostile
	modprobe xt_connlimit
	kmsg_mark
	expect_refused "$fam" "$ns" crafted-size "size 40" --raw-flags 0 --raw-limit 1 \
		--raw-mask ffffffff,ffffffff,ffffffff,ffffffff
	if [ "$BACKEND" = legacy ]; then
		kmsg_since_mark | grep -q 'connlimit.1 match: invalid size' ||
			fail "no 'invalid size' message from x_tables: $(kmsg_since_mark)"
	fi
}

log "variant $VARIANT, backends $BACKENDS, kernel $(uname -r)"
[ -e "$CRAFTED_DIR/crafted/libxt_connlimit.so" ] ||
	log "no crafted extension in $CRAFTED_DIR: cases will fail"

for BACKEND in $BACKENDS; do
	export BACKEND
	for fam in 4 6; do
		run_case "$BACKEND/hostile-flags$fam" \
			"$BACKEND: unknown flag bits refused with a message, nothing installed (v$fam)" \
			case_flags "$fam"
		run_case "$BACKEND/hostile-masks$fam" \
			"$BACKEND: any mask accepted, never rewritten, -D finds it (v$fam)" \
			case_masks "$fam"
		run_case "$BACKEND/hostile-size$fam" \
			"$BACKEND: wrong match size refused by x_tables (v$fam)" \
			case_size "$fam"
	done
done

log "$case_no cases, $n_fail failed"
[ "$n_fail" -eq 0 ]
