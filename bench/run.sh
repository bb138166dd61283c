#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench/run.sh: `make bench`.  Boots one Debian kernel under qemu (TCG) and
# runs every benchmark scenario three ways in that one boot -- no connlimit
# rule, the kernel's own xt_connlimit (+ nf_conncount), ours -- then writes
# docs/benchmarks.md and the plot from the results (bench/report.sh).
#
# Environment:
#   BENCH_KERNEL   kernel to boot: a major.minor ("6.1", default; "6.12") or
#                  a full release; the newest installed match is used
#   BENCH_DOC      the report (default docs/benchmarks.md for 6.1,
#                  docs/benchmarks-6.12.md for 6.12); the plot and the
#                  raw results are written next to it (<name>-cost.png,
#                  <name>-raw.txt)
#   BENCH_TIMEOUT  seconds for the whole boot (default 1800)
#   BENCH_MEM      guest memory in MB (default 3072)
#   BENCH_*        scenario parameters, passed to the guest (see the top of
#                  bench/guest.sh): BENCH_SCENARIOS, BENCH_VARIANTS,
#                  BENCH_BATCHES, BENCH_S1_LEVELS, BENCH_S1_BUDGET, ...
#   BENCH_PERF_K   a diagnostic: profile S2's batches at this K with perf
#                  (cpu-clock samples of the generator, softirqs included);
#                  the top symbols go to the results as "BENCH profile"
#                  lines.  BENCH_PERF_SYMS: symbols to show the callers of.
#                  The sampling costs time: no ratio of such a run counts.
#   V=1            stream the guest console to stderr
# Logs stay in build/bench/run-<kernel>/ (console.log, results.txt).
set -euo pipefail
{ # read whole before running: safe against edits of this file mid-run

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
t_start=$(date +%s)
want=${BENCH_KERNEL:-6.1}
case $want in
6.1) doc=${BENCH_DOC:-docs/benchmarks.md} ;;
*) doc=${BENCH_DOC:-docs/benchmarks-$want.md} ;;
esac
if [ -n "${BENCH_PERF_K:-}" ] && [ -z "${BENCH_DOC:-}" ]; then
	echo "bench: BENCH_PERF_K needs a BENCH_DOC of its own: a profiled run's ratios are not the benchmark's" >&2
	exit 2
fi
timeout=${BENCH_TIMEOUT:-1800}
mem=${BENCH_MEM:-3072}
cpus=2
kargs="slab_nomerge"

# --- the kernel: installed image and modules, and headers to build against
kver=
for f in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do
	v=${f#/boot/vmlinuz-}
	[ -d "/lib/modules/$v/kernel" ] || continue
	case $v in "$want" | "$want".* | "$want"-* | "$want"+*) kver=$v ;; esac
done
[ -n "$kver" ] || {
	echo "bench: no installed kernel matches '$want' (have: $(ls /boot/vmlinuz-* | sed 's|.*/vmlinuz-||' | paste -s -d ' '))" >&2
	exit 1
}
kdir=/usr/src/linux-headers-$kver
echo "bench: kernel $kver"

# --- dependencies: the test bed's, plus the plot's
# shellcheck disable=SC2046
tests/install-deps.sh $(grep -v '^#' bench/deps.txt)
[ -d "$kdir" ] || { echo "bench: no headers in $kdir" >&2; exit 1; }

out=$top/build/bench/run-$kver
mkdir -p "$out"

# --- build: our module for this kernel, the guest tool
make --no-print-directory -s module KDIR="$kdir" >"$out/build.log" 2>&1 || {
	cat "$out/build.log" >&2
	exit 1
}
ko=$top/build/$kver/kernel/xt_connlimit.ko
make --no-print-directory -s -C bench OUT="$top/build/bench" >>"$out/build.log" 2>&1 || {
	cat "$out/build.log" >&2
	exit 1
}
# our extension, for S6's named table (mkinitramfs puts it in the guest)
make --no-print-directory -s userspace >>"$out/build.log" 2>&1 || {
	cat "$out/build.log" >&2
	exit 1
}

# --- initramfs: the test bed's (kernel's own module set, so modprobe
# loads the in-tree xt_connlimit), plus a bench layer: clbench, our module
# outside the module tree (insmod by path), the guest script, parameters
tests/qemu/mkinitramfs.sh "$kver" intree "$out/base.img" >"$out/mkinitramfs.log" 2>&1 || {
	cat "$out/mkinitramfs.log" >&2
	exit 1
}
layer=$out/layer.root
rm -rf "$layer"
mkdir -p "$layer/usr/bin" "$layer/usr/lib/connlimit-bench" "$layer/tests/guest" "$layer/etc"
cp "$top/build/bench/clbench" "$layer/usr/bin/"
cp "$ko" "$layer/usr/lib/connlimit-bench/"
install -m 0755 bench/guest.sh "$layer/tests/guest/bench.sh"
if [ -n "${BENCH_PERF_K:-}" ]; then	# a profile needs perf in the guest
	cp -L /usr/bin/perf "$layer/usr/bin/perf"
	for lib in $(ldd /usr/bin/perf | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
		# by its /usr path: a real lib/ in the layer would hide the
		# base's lib -> usr/lib link (and the modules under it)
		dst=$layer/usr${lib#/usr}
		mkdir -p "${dst%/*}"
		cp -L "$lib" "$dst"
	done
fi
env | grep -E '^BENCH_(SCENARIOS|VARIANTS|BATCHES|S[0-9]_[A-Z]+|GAP|PERF_K|PERF_SYMS)=' |
	sed -E "s/^([^=]*)=(.*)$/\\1='\\2'/" >"$layer/etc/bench.conf" || true
(cd "$layer" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out/layer.cpio"
cat "$out/base.img" "$out/layer.cpio" >"$out/bench.img"
rm -rf "$layer" "$out/layer.cpio"

# --- boot; show progress from the result channel
args=(-s bench.sh -V intree -b legacy -t "$timeout" -m "$mem" -C "$cpus" -D -k "$kargs")
[ "${V:-0}" = 1 ] && args+=(-c)
echo "bench: booting (qemu TCG, -smp $cpus, -m $mem; this takes up to $((timeout / 60)) minutes)"
: >"$out/results.log"
tests/qemu/run-guest.sh "${args[@]}" "$kver" "$out/bench.img" "$out" &
qpid=$!
sleep 1
tail -n +1 -s 1 -F --pid=$qpid "$out/results.log" 2>/dev/null | tr -d '\r' |
	grep --line-buffered -E '^(ok|not ok) |^BENCH (time|done)|^BENCH s1 .*(stop|reached)' |
	sed -u 's/^BENCH /  /' || true &
tailpid=$!
set +e
wait $qpid
set -e
wait $tailpid 2>/dev/null || true
verdict=$(cat "$out/verdict" 2>/dev/null || echo "fail: no verdict")
echo "bench: guest verdict: $verdict ($(cat "$out/elapsed" 2>/dev/null || echo ?) s in qemu)"
grep -q '^BENCH done' "$out/results.txt" || echo "bench: the guest did not finish every scenario; reporting what it measured" >&2

# --- report
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "kver=$kver"
	echo "host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "host_cpus=$(nproc)"
	echo "qemu=$(qemu-system-x86_64 --version | head -n 1)"
	echo "qemu_args=-accel tcg,thread=multi -smp $cpus -m $mem -nic none (no KVM)"
	echo "kargs=$kargs, slub_debug off"
	echo "verdict=$verdict"
	echo "elapsed=$(cat "$out/elapsed" 2>/dev/null || echo ?)"
	echo "total=$(($(date +%s) - t_start))"
	echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- kernel bench || echo +changes)"
} >"$out/meta"
bench/report.sh "$out/results.log" "$out/meta" "$doc"
echo "bench: wrote $doc, ${doc%.md}-cost.png, ${doc%.md}-raw.txt in $(($(date +%s) - t_start)) s"
exit
}
