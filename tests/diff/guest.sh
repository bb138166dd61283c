#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The differential suite, run inside the test guest by tests/diff/run.sh:
# each scenario (the fixed ones of fixed.sh, then one per seed of gen.sh)
# runs against the kernel's own xt_connlimit and then against ours, in the
# same boot, and the two transcripts are compared step by step
# (compare.sh).  The image is the "ours" one: ours is the module modprobe
# finds (updates/), the kernel's own is insmod-ed from kernel/net/netfilter.
# Between the two runs the namespaces go, and with them the rules, and the
# module is removed.  One TAP line per scenario.
#
# /etc/testbed.conf: DIFF_SEEDS (comma separated), DIFF_FIXED ("all",
# "none", or comma separated names of fixed.sh), DIFF_SHRINK (1: shrink a
# scenario that differs, shrink.sh).
set -u

dir=$(dirname "$0")
# shellcheck source=../guest/lib.sh
. "$dir/lib.sh"
# shellcheck source=/dev/null
[ -f /etc/testbed.conf ] && . /etc/testbed.conf
# shellcheck source=gen.sh
. "$dir/gen.sh"
# shellcheck source=topo.sh
. "$dir/topo.sh"
# shellcheck source=play.sh
. "$dir/play.sh"
# shellcheck source=compare.sh
. "$dir/compare.sh"
# shellcheck source=fixed.sh
. "$dir/fixed.sh"
# shellcheck source=shrink.sh
. "$dir/shrink.sh"

DIFF_SEEDS=${DIFF_SEEDS-1}
DIFF_FIXED=${DIFF_FIXED:-all}
DIFF_SHRINK=${DIFF_SHRINK:-0}
INTREE_KO=$(ls "/lib/modules/$(uname -r)/kernel/net/netfilter/"xt_connlimit.ko* 2>/dev/null | head -n 1)

# module_load ours|intree: that xt_connlimit, and no other, is loaded.
module_load() {
	# an earlier case that failed may have left it: give it time to go
	[ "$(module_is)" = none ] || module_unload
	[ "$(module_is)" = none ] || fail "xt_connlimit already loaded ($(module_is)) before loading $1"
	if [ "$1" = ours ]; then
		modprobe xt_connlimit
	else
		# shellcheck disable=SC2046  # its dependencies, one word each
		modprobe -a $(modinfo -F depends "$INTREE_KO" | tr , ' ')
		insmod "$INTREE_KO"
	fi
	[ "$(module_is)" = "$1" ] || fail "loading $1: $(module_is) is loaded"
}

refcnt_zero() { [ "$(module_refcnt)" -eq 0 ]; }

module_unload() {
	busywait 60000 refcnt_zero ||
		fail "xt_connlimit refcnt $(module_refcnt) after the scenario's namespaces went"
	busywait 10000 rmmod xt_connlimit 2>/dev/null || fail "rmmod xt_connlimit refused"
}

# play_on VARIANT FILE: load VARIANT, play FILE into $T/tr-VARIANT in a
# subshell of its own (its namespaces go when it ends), unload.
play_on() {
	local rc
	module_load "$1"
	set +e
	(
		set -eE
		CASE_SUBSHELL=$BASH_SUBSHELL
		trap 'flush_rules; cleanup_case' EXIT
		play_scenario "$2" "$1" "$T/tr-$1"
	)
	rc=$?
	set -e
	module_unload
	[ "$rc" -eq 0 ] || fail "the scenario did not run through on $1 (see above)"
}

# case_diff FILE: both modules, then the comparison; with DIFF_SHRINK=1
# a difference is shrunk and that scenario reproduced too.
case_diff() {
	local k
	log "scenario:"
	sed 's/^/#   /' "$1"
	play_on intree "$1"
	play_on ours "$1"
	compare_runs "$1" "$T/tr-intree" "$T/tr-ours" && return 0
	[ "$DIFF_SHRINK" = 1 ] || return 1
	read -r k _ <<<"$(first_difference "$1" "$T/tr-intree" "$T/tr-ours")"
	shrink_scenario "$1" "$k" "$T/shrunk"
	log "shrunk scenario:"
	sed 's/^/#   /' "$T/shrunk"
	read -r k _ <<<"$(first_difference "$T/shrunk" "$T/tr-intree" "$T/tr-ours")"
	[ -n "$k" ] || { echo "FAIL: the shrunk scenario no longer differs (timing?)" >&2; return 1; }
	echo "FAIL: repro| # shrunk (DIFF_SHRINK=1): the difference remains with only these rules and steps" >&2
	print_repro "$T/shrunk" "$k" "$T/tr-intree" "$T/tr-ours"
	return 1
}

# describe FILE: topology, family, protocol, backend, rules, steps.
describe() {
	scenario_parse "$1"
	echo "$S_TOPO ipv$S_FAM $S_PROTO $BACKEND, $(grep -c -- '-m connlimit' "$1") connlimit rules, ${#S_STEPS[@]} steps"
}

case_modules() {
	local f
	f=$(modinfo -n xt_connlimit)
	case $f in */updates/*) ;; *) fail "modprobe would load $f, not ours from updates/" ;; esac
	[ -n "$INTREE_KO" ] || fail "no kernel/net/netfilter/xt_connlimit.ko* in /lib/modules/$(uname -r)"
	[ "$(module_is)" = none ] || fail "xt_connlimit loaded at start"
	note "ours ${f#/lib/modules/*/}, in-tree ${INTREE_KO#/lib/modules/*/}"
}

case_teardown() {
	local left
	left=$(ip netns list | cut -d' ' -f1 | paste -s -d ' ')
	[ -z "$left" ] || fail "namespaces left behind: $left"
	[ "$(module_is)" = none ] || fail "xt_connlimit still loaded"
	if [ -d /sys/module/nf_conncount ]; then
		busywait 10000 rmmod nf_conncount 2>/dev/null || fail "rmmod nf_conncount refused"
	fi
}

log "differential run, kernel $(uname -r), seeds $DIFF_SEEDS, fixed $DIFF_FIXED"
run_case "!modules" "diff: both modules in the image" case_modules
fixed=$DIFF_FIXED
[ "$fixed" = all ] && fixed=$FIXED_NAMES
[ "$fixed" = none ] && fixed=
for name in ${fixed//,/ }; do
	fixed_scenario "$name" >"$T/fixed-$name" || { echo "FAIL: no fixed scenario $name" >&2; continue; }
	run_case "fixed/$name" "diff fixed $name: $(describe "$T/fixed-$name")" case_diff "$T/fixed-$name"
done
for seed in ${DIFF_SEEDS//,/ }; do
	gen_scenario "$seed" >"$T/seed-$seed"
	run_case "seed/$seed" "diff seed $seed: $(describe "$T/seed-$seed")" case_diff "$T/seed-$seed"
done
run_case "!teardown" "diff: teardown, nothing left" case_teardown
log "$case_no cases, $n_fail failed"
[ "$n_fail" -eq 0 ]
