#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-suite.sh KVER ours|intree
#
# The qemu e2e suite for one kernel and one module variant, in one boot:
# refreshes the initramfs (cached), boots the kernel under qemu TCG, and
# prints the guest's TAP lines with "KVER VARIANT " put in front of each
# description, e.g.
#   ok 3 - 6.1.0-56-amd64 intree legacy: limit above 2 per /128 (tcp)
# A guest that did not end cleanly (WARN, oops, hang, timeout, dirty kernel
# log, failed teardown) adds a "not ok" line naming why, followed by the
# relevant console excerpt.  Exit status 0 only if every case passed and the
# guest's verdict is "pass".
#
# Environment:
#   TESTBED_BACKENDS  backends to run (default "legacy nft")
#   TESTBED_ONLY      regex over case ids (e.g. 'nft/(above|udp)'), for
#                     development
#   TESTBED_TIMEOUT   seconds for the whole boot (default 900)
#   V=1               stream the guest console to stderr while it runs
#   TESTBED_MODULES   where the "ours" modules are (default build/, as
#                     make modules-all leaves them), e.g. the build
#                     directory of a worktree of the last commit
#   TESTBED_SUITE     another guest suite (run-guest.sh -s), e.g.
#                     tests/stress/guest.sh; TESTBED_NAME then names the
#                     run (label and log directory) and TESTBED_GUEST_ARGS
#                     adds run-guest.sh options (e.g. "-e STRESS_MODE=long")
# Logs stay in build/qemu/runs/KVER-VARIANT[-NAME]/ (console.log, results.txt).
# The body is one compound command, so bash parses all of it before running
# any: editing this file while a run is under way cannot derail that run.
{
set -euo pipefail

usage() { echo "usage: $0 KVER ours|intree" >&2; exit 2; }
[ $# -eq 2 ] || usage
kver=$1 variant=$2
case $variant in ours|intree) ;; *) usage ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
name=${TESTBED_NAME:-}
out=$top/build/qemu/runs/$kver-$variant${name:+-$name}
label="$kver $variant${name:+ $name}"
mkdir -p "$out"

# not ok lines for a suite that could not run at all
cannot_run() {
	echo "not ok 1 - $label: $1"
	exit 1
}

"$top/tests/qemu/kernel-path.sh" image "$kver" >/dev/null ||
	cannot_run "kernel $kver is neither installed nor unpacked (tests/qemu/kernel-path.sh)"
if [ "$variant" = ours ] && [ ! -f "${TESTBED_MODULES:-$top/build}/$kver/kernel/xt_connlimit.ko" ]; then
	cannot_run "${TESTBED_MODULES:-build}/$kver/kernel/xt_connlimit.ko not built (make modules-all)"
fi

t0=$(date +%s)
"$top/tests/qemu/mkinitramfs.sh" "$kver" "$variant" "$out/base.img" >"$out/mkinitramfs.log" 2>&1 || {
	sed 's/^/# /' "$out/mkinitramfs.log"
	cannot_run "initramfs could not be built"
}
echo "# $label: initramfs ready after $(( $(date +%s) - t0 ))s; booting"

# Re-print result lines as they arrive, prefixed.
prefix() {
	sed -u -E "s/^(ok|not ok) ([0-9]+) - /\\1 \\2 - $label /"
}

args=(-s "${TESTBED_SUITE:-e2e.sh}" -V "$variant" -b "${TESTBED_BACKENDS:-legacy nft}"
	-o "${TESTBED_ONLY:-}" -t "${TESTBED_TIMEOUT:-900}" -r)
# connlimit-reload and, when built, our module, to put in place as a
# package would (tests/guest/failsafe.sh)
args+=(-a "$top/scripts/connlimit-reload")
ours_ko=${TESTBED_MODULES:-$top/build}/$kver/kernel/xt_connlimit.ko
[ -f "$ours_ko" ] && args+=(-a "$ours_ko")
# shellcheck disable=SC2206  # options, split on purpose
args+=(${TESTBED_GUEST_ARGS:-})
[ "${V:-0}" = 1 ] && args+=(-c)
set +e
"$top/tests/qemu/run-guest.sh" "${args[@]}" "$kver" "$out/base.img" "$out" | prefix
set -e
verdict=$(cat "$out/verdict" 2>/dev/null || echo "fail: no verdict")
elapsed=$(cat "$out/elapsed" 2>/dev/null || echo "?")

results=$out/results.txt
n_ok=$(grep -cE '^ok ' "$results" || true)
n_skip=$(grep -cE '^ok .*# SKIP' "$results" || true)
n_fail=$(grep -cE '^not ok ' "$results" || true)
rc=0
if [ "$verdict" != pass ]; then
	rc=1
	echo "not ok $((n_ok + n_fail + 1)) - $label guest: $verdict"
	# the lines that tell why: a kernel splat, or the FAILs and the tail
	tr -d '\r' <"$out/console.log" >"$out/console.txt"
	if grep -qE 'cut here|BUG|Oops|Call Trace|Kernel panic|WARNING' "$out/console.txt"; then
		grep -n -m1 -E 'cut here|BUG|Oops|Call Trace|Kernel panic|WARNING' "$out/console.txt" |
			cut -d: -f1 | {
			read -r first
			sed -n "$((first > 5 ? first - 5 : 1)),$((first + 60))p" "$out/console.txt"
		} | sed 's/^/# console: /'
	else
		tail -n 40 "$out/console.txt" | sed 's/^/# console: /'
	fi
fi
if [ "$n_fail" -gt 0 ]; then
	rc=1
	tr -d '\r' <"$out/console.log" | grep -E '^(FAIL:|# --- case)' | grep -B1 '^FAIL:' |
		sed 's/^/# /'
fi
echo "# $label: $((n_ok - n_skip)) ok, $n_fail not ok, $n_skip skipped; guest $verdict; ${elapsed}s in qemu, $(( $(date +%s) - t0 ))s in all"
echo "# logs: $out/console.log"
exit $rc
exit
}
