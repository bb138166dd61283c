#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-guest.sh [options] KVER INITRD OUTDIR
#
# Boots kernel KVER (installed or unpacked: kernel-path.sh) with INITRD (from mkinitramfs.sh) plus a per-run
# layer (/init, tests/guest/*, /etc/testbed.conf) under qemu TCG and waits
# for it to power off.  The machine follows the kernel's architecture
# (tests/qemu/arch.sh): a PC for amd64, the virt board for arm64 and armmp.
# Files written to OUTDIR:
#   console.log   the guest console (kernel log at warning level and up,
#                 the suite's own narration)
#   results.log   the result channel (second serial port; a virtio console
#                 on ARM): TAP lines and the sentinel
#   verdict       "pass", or "fail: <why>"
# Exit status: 0 only if the guest wrote "TESTBED-PASS <nonce>" with this
# run's nonce -- which the guest does only after the suite passed and its
# kernel-log scan was clean.  A WARN (panic_on_warn), an oops, a hang or the
# timeout can only end as a failure.
#
# Options:
#   -s SUITE       guest script in tests/guest/ (default e2e.sh), or the
#                  path of a script elsewhere (it joins them in the guest)
#   -e KEY=VALUE   one more line for the guest's /etc/testbed.conf (the
#                  suite sources it); repeatable
#   -a FILE        one more file for the guest's /tests/guest/ (a file the
#                  suite sources); repeatable
#   -V VARIANT     ours|intree: the module variant the guest must find
#   -b BACKENDS    "legacy nft" (default)
#   -o CASES       run only the cases whose id matches this regex
#   -t SECONDS     overall timeout (default 900)
#   -c             console to stderr, live (otherwise only into console.log)
#   -r             print result-channel lines live to stdout as they come
#                  (only the TAP lines; -R: every line but the sentinel)
#   -m MB          guest memory (default 2048)
#   -C N           vCPUs (default 2)
#   -k ARGS        extra kernel command line arguments
#   -D             no slab debugging (slub_debug off): for measurements
# The body is one compound command, so bash parses all of it before running
# any: editing this file while a run is under way cannot derail that run.
{
set -euo pipefail

suite=e2e.sh variant=intree backends="legacy nft" only="" tmo=900
live_console=0 live_results=0
mem=2048 cpus=2 extra_args="" slab_debug=slub_debug=FZPU conf_extra=() add_files=()
while getopts "a:s:e:V:b:o:t:crRm:C:k:D" opt; do
	case $opt in
	s) suite=$OPTARG ;;
	e) conf_extra+=("$OPTARG") ;;
	a) add_files+=("$OPTARG") ;;
	V) variant=$OPTARG ;;
	b) backends=$OPTARG ;;
	o) only=$OPTARG ;;
	t) tmo=$OPTARG ;;
	c) live_console=1 ;;
	r) live_results=1 ;;
	R) live_results=all ;;
	m) mem=$OPTARG ;;
	C) cpus=$OPTARG ;;
	k) extra_args=$OPTARG ;;
	D) slab_debug="" ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || { echo "usage: $0 [-s SUITE] [-e KEY=VALUE] [-a FILE] [-V VARIANT] [-b BACKENDS] [-o CASES] [-t S] [-c] [-r] [-m MB] [-C N] [-k ARGS] [-D] KVER INITRD OUTDIR" >&2; exit 2; }
kver=$1 initrd=$2 outdir=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/qemu/arch.sh
. "$top/tests/qemu/arch.sh"
testbed_arch "$kver"
vmlinuz=$("$top/tests/qemu/kernel-path.sh" image "$kver") ||
	{ echo "run-guest: no image of kernel $kver" >&2; exit 1; }
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')

# --- the per-run layer
run=$outdir/run.root
rm -rf "$run"
mkdir -p "$run/tests/guest" "$run/etc" "$run/dev"
install -m 0755 "$top/tests/qemu/guest-init" "$run/init"
cp "$top"/tests/guest/*.sh "$run/tests/guest/"
if [ ${#add_files[@]} -gt 0 ]; then
	cp "${add_files[@]}" "$run/tests/guest/"
fi
case $suite in
*/*)
	cp "$suite" "$run/tests/guest/"
	suite=$(basename "$suite")
	;;
esac
mknod -m 600 "$run/dev/console" c 5 1
cat >"$run/etc/testbed.conf" <<EOF
TESTBED_NONCE=$nonce
TESTBED_SUITE=$suite
TESTBED_VARIANT=$variant
TESTBED_BACKENDS="$backends"
TESTBED_ONLY="$only"
TESTBED_TRACE="${TESTBED_TRACE:-}"
TESTBED_RESULT_DEV=$TB_RESULT_DEV
TESTBED_RESULT_MODULES="$TB_RESULT_MODULES"
EOF
if [ ${#conf_extra[@]} -gt 0 ]; then
	printf '%s\n' "${conf_extra[@]}" >>"$run/etc/testbed.conf"
fi
(cd "$run" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$outdir/run.cpio"
cat "$initrd" "$outdir/run.cpio" >"$outdir/initrd.img"
rm -rf "$run" "$outdir/run.cpio"

# --- boot
# shellcheck disable=SC2206  # $slab_debug and $extra_args: split on purpose
cmdline=(
	console=$TB_CONSOLE loglevel=5
	panic_on_warn=1 panic=-1 oops=panic
	$slab_debug
	rcupdate.rcu_cpu_stall_timeout=300
	mitigations=off
	$extra_args
)
# boot_once: boot the guest, wait for it to end, set $verdict.
boot_once() {
	rm -f "$outdir/console.log" "$outdir/results.log" "$outdir/verdict"
	: >"$outdir/results.log"
	: >"$outdir/console.log"

	# shellcheck disable=SC2046  # the result channel's options, split on purpose
	qemu=(
		"${TB_QEMU[@]}" -accel tcg,thread=multi -smp "$cpus" -m "$mem"
		-nographic -monitor none -no-reboot -nic none
		-serial "file:$outdir/console.log" $(testbed_result_qemu "$outdir/results.log")
		-kernel "$vmlinuz" -initrd "$outdir/initrd.img"
		-append "${cmdline[*]}"
	)

	start=$(date +%s.%N)
	timeout --kill-after=10 "$tmo" "${qemu[@]}" </dev/null >"$outdir/qemu.out" 2>&1 &
	qpid=$!
	if [ "$live_console" = 1 ]; then
		tail -n +1 -s 0.2 -F --pid=$qpid "$outdir/console.log" 2>/dev/null >&2 &
		tailc=$!
	fi
	if [ "$live_results" != 0 ]; then
		if [ "$live_results" = all ]; then
			show='^TESTBED-(PASS|FAIL) ' keep=-v
		else
			show='^(ok|not ok) ' keep=
		fi
		tail -n +1 -s 0.2 -F --pid=$qpid "$outdir/results.log" 2>/dev/null |
			tr -d '\r' | grep --line-buffered $keep -E "$show" || true &
		tailr=$!
	fi
	set +e
	wait $qpid
	qrc=$?
	set -e
	[ -n "${tailc:-}" ] && wait "$tailc" 2>/dev/null
	[ -n "${tailr:-}" ] && wait "$tailr" 2>/dev/null
	elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	echo "$elapsed" >"$outdir/elapsed"

	# --- verdict
	tr -d '\r' <"$outdir/results.log" >"$outdir/results.txt"
	sentinel=$(grep -E "^TESTBED-(PASS|FAIL) $nonce" "$outdir/results.txt" | tail -n 1 || true)
	if [ "$sentinel" = "TESTBED-PASS $nonce" ]; then
		verdict=pass
	elif [ -n "$sentinel" ]; then
		verdict="fail: ${sentinel#TESTBED-FAIL $nonce }"
	elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
		verdict="fail: timeout after ${tmo}s (hang?)"
	elif grep -q 'Kernel panic' "$outdir/console.log"; then
		verdict="fail: $(grep -m1 -o 'Kernel panic.*' "$outdir/console.log" | tr -d '\r')"
	else
		verdict="fail: guest ended without a verdict (qemu exit $qrc)"
	fi
}

# A kernel that crashes before /init has written a line (no "testbed:" on
# the console: our module is not loaded yet) is booted once more.  Seen
# with 7.3 under TCG: an int3 oops in sched_clock_cpu() while the kernel
# unpacked the initramfs, as a static key was flipped (text patching racing
# a timer interrupt): the kernel's own start, before anything of ours ran.
rm -f "$outdir/console-crashed-boot.log"
boot_once
if [ "${verdict#fail: Kernel panic}" != "$verdict" ] &&
	! grep -q '^testbed: ' <(tr -d '\r' <"$outdir/console.log"); then
	cp "$outdir/console.log" "$outdir/console-crashed-boot.log"
	echo "# run-guest: the kernel crashed before /init ran (${verdict#fail: }; console-crashed-boot.log): booting again"
	boot_once
fi
echo "$verdict" >"$outdir/verdict"
[ "$verdict" = pass ]
exit
}
