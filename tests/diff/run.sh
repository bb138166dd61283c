#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh check|stress|seed N|fixed NAMES [KVER...]
#
# The differential suite (tests/diff/guest.sh) in the qemu test bed: one
# boot per kernel (default: every installed kernel with modules), with the
# "ours" image, which holds both modules; every scenario runs against the
# kernel's xt_connlimit and against ours and the outcomes are compared.
#   check    the fixed regression scenarios and eight seeds chosen to cover
#            every topology, NAT, zones, raw, udp, named counts (make check)
#   stress   seeds 1-60 (make stress); DIFF_SEEDS overrides the seeds
#   seed N   seed N alone (make diff SEED=N); N may be a list: 3,17,40
#   fixed NAMES  fixed scenarios alone (make diff DIFF_FIXED=raw-syn4,...)
# DIFF_FIXED: the fixed scenarios to run (all, none, or names; default all
# for check, none otherwise).  DIFF_SHRINK=1: shrink each scenario that
# differs (leave out rules and steps while it still differs; minutes each)
# and print the reproduction of what is left.  TAP lines as run-suite.sh prints them
# ("ok N - KVER ours diff: diff seed 3: ..."); exit 0 only if every
# kernel's guest passed.  Needs make modules-all userspace.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/diff
mode=${1:-}
shift || true
case $mode in
check) seeds=${DIFF_SEEDS:-1,3,5,6,13,18,27,35} fixed=${DIFF_FIXED:-all} tmo=1500 ;;
stress) seeds=${DIFF_SEEDS:-$(seq -s, 1 60)} fixed=${DIFF_FIXED:-none} tmo=7200 ;;
seed)
	[ $# -ge 1 ] && [[ $1 =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "usage: $0 seed N[,N...] [KVER...]" >&2; exit 2; }
	seeds=$1 fixed=${DIFF_FIXED:-none} tmo=1500
	shift
	;;
fixed)
	[ $# -ge 1 ] || { echo "usage: $0 fixed NAME[,NAME...] [KVER...]" >&2; exit 2; }
	seeds= fixed=$1 tmo=1500
	shift
	;;
*) echo "usage: $0 check|stress|seed N|fixed NAMES [KVER...]" >&2; exit 2 ;;
esac
kvers=("$@")
if [ ${#kvers[@]} -eq 0 ]; then
	# shellcheck source=../pkg/lib.sh
	. "$top/tests/pkg/lib.sh"
	mapfile -t kvers < <(pkg_kernels)
fi

args="-e DIFF_SEEDS=$seeds -e DIFF_FIXED=$fixed -e DIFF_SHRINK=${DIFF_SHRINK:-0}"
for f in addrs.sh gen.sh topo.sh play.sh compare.sh fixed.sh shrink.sh; do
	args+=" -a $here/$f"
done
rc=0
for k in "${kvers[@]}"; do
	TESTBED_SUITE=$here/guest.sh TESTBED_NAME=diff TESTBED_GUEST_ARGS="$args" \
	TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-$tmo} \
		"$top/tests/qemu/run-suite.sh" "$k" ours || rc=1
done
exit $rc
