#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh short|long|fault [KVER...]
#
# The stress suite (tests/stress/guest.sh) in the qemu test bed, one boot
# per kernel (default: every installed kernel with modules), our module,
# 2 vCPUs, slub_debug=FZPU.  "short" is the form inside make check (a few
# minutes a kernel), "long" is make stress.  TAP lines as run-suite.sh
# prints them ("ok N - KVER ours stress-short: ..."); exit 0 only if every
# kernel's guest passed.  "fault" boots the test-only build that fails
# every 3rd packet-path allocation (make module-fault, built here).
# Needs build/<kver>/kernel/xt_connlimit.ko (make modules-all), or under
# $TESTBED_MODULES/<kver>/ when that is set (short, long).
# TESTBED_TIMEOUT overrides the boot's timeout (short 900 s, long 1800 s): an
# ARM guest under TCG (tests/cross) needs longer.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-}
modules=${TESTBED_MODULES:-$top/build}
case $mode in
short) tmo=${TESTBED_TIMEOUT:-900} ;;
long) tmo=${TESTBED_TIMEOUT:-1800} ;;
fault) tmo=600 modules=$top/build/fault ;;
*) echo "usage: $0 short|long|fault [KVER...]" >&2; exit 2 ;;
esac
shift
kvers=("$@")
if [ ${#kvers[@]} -eq 0 ]; then
	for v in /boot/vmlinuz-*; do
		k=${v#/boot/vmlinuz-}
		if [ -d "/lib/modules/$k" ]; then kvers+=("$k"); fi
	done
fi

rc=0
for k in "${kvers[@]}"; do
	if [ "$mode" = fault ]; then
		make -s -C "$top" module-fault KVER="$k" FAULT_EVERY=3 >/dev/null ||
			{ echo "not ok 1 - $k stress-fault: make module-fault failed"; rc=1; continue; }
	fi
	TESTBED_MODULES=$modules TESTBED_SUITE=$top/tests/stress/guest.sh TESTBED_NAME=stress-$mode \
	TESTBED_GUEST_ARGS="-e STRESS_MODE=$mode -C 2" TESTBED_TIMEOUT=$tmo \
		"$top/tests/qemu/run-suite.sh" "$k" ours || rc=1
done
exit $rc
