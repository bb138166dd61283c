#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every suite, one summary line at the end.
#   style/run.sh      checkpatch, W=1 + sparse builds for each kernel
#   host/run.sh       the iptables extension against the host's netfilter
#   docs/run.sh       every example of README and the man page, taken from
#                     them: on the host in namespaces, and in one qemu boot
#                     with our module
#   fuzz/run.sh       libFuzzer over the extension's parse/print/save/xlate (60 s)
#   qemu/run-suite.sh the module in Debian's kernels under qemu: ours and,
#                     for the differential run, the kernel's own module
#   diff/run.sh       the differential generator: fixed and seeded scenarios,
#                     the kernel's own module against ours, in one boot
#   stress/run.sh     the stress suite's short form (flood, one-prefix flood
#                     compared with the in-kernel module, races, hostile
#                     data, teardown under load) and its fault form
#                     (allocation failures) on ours, each kernel
#   matrix/run.sh     every Debian kernel from 5.10 to 7.x (tests/matrix/
#                     releases.conf): built in its own release's chroot
#                     with W=1 + sparse, every flavour; the BOOT flavours
#                     booted with the e2e suite on ours and on the kernel's
#                     own (nft backend); per release the extension's host
#                     suite in its chroot (bullseye's iptables 1.8.7,
#                     trixie's 1.8.11; bookworm's 1.8.9 is host/run.sh's)
#                     and the packages built, installed with that release's
#                     dkms for each of its kernels, removed ("make matrix"
#                     boots every flavour, both backends)
#   cross/run.sh      routers: the module cross-built for Debian's arm64,
#                     armmp and armmp-lpae kernels, the extension and test
#                     tools for arm64 and armhf; per architecture (arm64,
#                     armmp) under qemu TCG the e2e suite on ours, both
#                     backends, and the stress short form ("make
#                     cross-check": the differential run and armmp-lpae too)
#   pkg/run.sh        the Debian packages, installed into a chroot of the
#                     host's release with the installed kernels, booted
# Each suite prints TAP-like lines ("ok N - ...", "not ok N - ...",
# "... # SKIP reason"); this script passes them through and counts them.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

# Installs what is missing when run as root; otherwise names it and fails.
tests/install-deps.sh || { echo "FAIL: missing Debian packages (see above)"; exit 1; }

# Two lanes run the jobs side by side (CHECK_LANES=1: one lane).  A TCG
# guest keeps about one of this machine's two cores busy (its suite is a
# shell script), so two boots at once take little longer than one; the
# suites poll with generous timeouts rather than timing anything.  Each
# lane takes the next job of one queue when it is free, the longest jobs
# first, so the lanes end close together.  Lane 1 prints as it goes; lane
# 2's output is kept and printed after it.  The suites of one kernel are one
# job, run one after the other (they share its initramfs cache).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results
: >"$results"
: >"$work/broken"

# run_suite <name> <command...>: pass the output through, count the cases.
run_suite() {
	local name=$1 rc start
	shift
	echo "# === $name: $*"
	start=$(date +%s)
	"$@" 2>&1 | tee -a "$results.$BASHPID"
	rc=${PIPESTATUS[0]}
	echo "# === $name: exit $rc after $(( $(date +%s) - start ))s"
	if [ "$rc" -ne 0 ]; then
		echo "$name" >>"$work/broken"
		echo "# $name exited $rc"
	fi
}

run_suite style tests/style/run.sh
make --no-print-directory modules-all userspace >/dev/null 2>&1 ||
	echo "not ok - module and extension build (see 'make modules-all userspace')" | tee -a "$results.$BASHPID"

kernels=()
for vmlinuz in /boot/vmlinuz-*; do
	kver=${vmlinuz#/boot/vmlinuz-}
	[ -d "/lib/modules/$kver" ] && kernels+=("$kver")
done

# kernel_suites KVER: the qemu suites of one installed kernel
kernel_suites() {
	local kver=$1 variant
	for variant in ours intree; do
		run_suite "qemu $kver $variant" tests/qemu/run-suite.sh "$kver" "$variant"
	done
	run_suite "diff $kver" tests/diff/run.sh check "$kver"
	run_suite "stress $kver" tests/stress/run.sh short "$kver"
	run_suite "stress-fault $kver" tests/stress/run.sh fault "$kver"
}

# The queue, longest first (warm times here): ARM (cross builds, then per
# architecture the e2e suite and the stress short form under TCG, about
# 17 min), the kernel matrix (one chroot per Debian release, each kernel
# built there, about 17 min beside ARM), each installed kernel's suites
# (about 12 min each), the README and man page examples, the Debian
# packages (build, install into a chroot, boot, remove), the fuzzer (60 s),
# the host suite.
jobs=(cross matrix)
for kver in "${kernels[@]}"; do
	jobs+=("kernel $kver")
done
jobs+=(docs pkg fuzz host)
echo 0 >"$work/next"

# next_job: print the next job of the queue; fail when it is empty.
next_job() {
	local i
	{
		flock 9
		read -r i <"$work/next"
		echo $((i + 1)) >"$work/next"
	} 9>"$work/queue.lock"
	[ "$i" -lt ${#jobs[@]} ] && echo "${jobs[i]}"
}

run_job() {
	case $1 in
	cross) run_suite cross tests/cross/run.sh check ;;
	matrix) run_suite matrix tests/matrix/run.sh check ;;
	"kernel "*) kernel_suites "${1#kernel }" ;;
	docs) run_suite docs tests/docs/run.sh ;;
	pkg) run_suite pkg tests/pkg/run.sh ;;
	fuzz) run_suite fuzz tests/fuzz/run.sh 60 ;;
	host) run_suite host tests/host/run.sh ;;
	esac
}

lane() {
	local job
	while job=$(next_job); do
		run_job "$job"
	done
}

t0=$(date +%s)
if [ "${CHECK_LANES:-2}" = 1 ]; then
	lane
else
	lane >"$work/lane2.out" 2>&1 &
	lane2_pid=$!
	lane
	echo "# lane 1 done after $(( $(date +%s) - t0 ))s; lane 2:"
	wait "$lane2_pid"
	cat "$work/lane2.out"
fi
echo "# all suites done after $(( $(date +%s) - t0 ))s"
cat "$results".* >"$results"
broken=$(wc -l <"$work/broken")

passed=$(grep -cE '^ok ' "$results")
skipped=$(grep -cE '^ok .*# SKIP' "$results")
passed=$((passed - skipped))
failed=$(grep -cE '^not ok' "$results")
# A suite that exited non-zero without a "not ok" line still failed.
if [ "$failed" -eq 0 ] && [ "$broken" -ne 0 ]; then
	failed=$broken
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
