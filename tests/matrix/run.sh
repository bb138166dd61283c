#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh check|full
#
# The kernel matrix (releases.conf): every kernel Debian users run, each
# built in a chroot of its own release and booted under qemu.
#
#   check  (make check) per release: its chroot (mkroot.sh), the extension
#          built against its libxtables; per kernel and flavour: headers
#          unpacked (fetch.sh), the module built W=1 + sparse + -Werror with
#          the release's gcc (build.sh); per BOOT flavour: the kernel image
#          unpacked and the e2e suite run in one boot on our module and in
#          another on the kernel's own (the differential run), with the nft
#          backend, unless the kernel is installed on this machine
#          (tests/run-all.sh boots those anyway)
#   full   (make matrix) as check, and every flavour of every kernel booted
#          with the e2e suite on our module and on the kernel's own, and
#          the extension's host suite in each release's chroot
#          (tests/matrix/host-suite.sh)
#
# TAP-like lines as the other suites print; "# matrix timing:" lines say
# how long each kernel took.  Exit 1 if anything failed.
#
# Environment: MATRIX_BACKENDS, passed on to the boots as TESTBED_BACKENDS
# (default: "nft", Debian's default iptables, for check, to keep "make
# check" within its time; "legacy nft" for full); CONNLIMIT_MATRIX_CACHE
# (see lib.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"
cd "$MATRIX_TOP" || exit 1

mode=${1:-check}
case $mode in
check) backends=${MATRIX_BACKENDS:-nft} ;;
full) backends=${MATRIX_BACKENDS:-legacy nft} ;;
*) echo "usage: $0 check|full" >&2; exit 2 ;;
esac
logs=$MATRIX_TOP/build/matrix/logs
mkdir -p "$logs"
n=0 failed=0
t_all=$(date +%s)

pass() { n=$((n + 1)); echo "ok $n - matrix: $1"; }
fail() { n=$((n + 1)) failed=1; echo "FAIL: $2"; echo "not ok $n - matrix: $1"; }
skip() { n=$((n + 1)); echo "ok $n - matrix: $1 # SKIP $2"; }
show() { tail -n "${2:-30}" "$1" | sed 's/^/#   /'; }

if [ "$(id -u)" -ne 0 ]; then
	skip "kernel matrix" "needs root (debootstrap, chroot, mounts)"
	exit 0
fi

# --- the release chroots
declare -A have_root
for release in $(matrix_releases); do
	t=$(date +%s)
	if tests/matrix/mkroot.sh "$release" >/dev/null 2>"$logs/mkroot-$release.log"; then
		have_root[$release]=1
		pass "$release chroot ready ($(matrix_since "$t"))"
	else
		show "$logs/mkroot-$release.log"
		fail "$release chroot ready" "debootstrap or apt in the $release chroot failed"
	fi
done

# --- the kernels: "RELEASE FROM BOOT FLAVOUR KVER" per kernel and flavour
kernels=$logs/kernels.txt
: >"$kernels"
majors=" "
while read -r release from boot flavours <&3; do
	[ -n "${have_root[$release]:-}" ] || continue
	only_new=0
	case $from in *'?') only_new=1 from=${from%'?'} ;; esac
	lines=()
	for fl in $flavours; do
		if kver=$(tests/matrix/resolve.sh "$release" "$from" "$fl" 2>"$logs/resolve.log"); then
			lines+=("$release $from $boot $fl $kver")
		else
			show "$logs/resolve.log"
			fail "$release $from: newest $fl kernel" "not found in the $release chroot"
		fi
	done
	[ ${#lines[@]} -gt 0 ] || continue
	major=$(echo "${lines[0]}" | awk '{ split($5, v, "."); print v[1] }')
	if [ "$only_new" = 1 ] && [[ $majors == *" $major "* ]]; then
		skip "$from's kernel ($(echo "${lines[0]}" | awk '{ print $5 }'))" \
			"its major version $major is already in the matrix"
		continue
	fi
	majors+="$major "
	printf '%s\n' "${lines[@]}" >>"$kernels"
done 3< <(matrix_lines)
sed 's/^/# matrix kernel: /' "$kernels"

# --- the extension against each release's libxtables
for release in $(matrix_releases); do
	[ -n "${have_root[$release]:-}" ] || continue
	grep -q "^$release " "$kernels" || continue
	if v=$(tests/matrix/build-ext.sh "$release" "$logs/ext-$release.log"); then
		pass "$release: extension builds against iptables $v, strict warnings as errors"
	else
		show "$logs/ext-$release.log"
		fail "$release: extension builds against its iptables" "see $logs/ext-$release.log"
	fi
done

# --- headers and the module build, per kernel and flavour
while read -r release from boot fl kver <&3; do
	t=$(date +%s)
	log=$logs/build-$kver.log
	if ! tests/matrix/fetch.sh "$release" "$kver" headers 2>"$log"; then
		show "$log"
		fail "$release $kver: headers unpacked" "see $log"
		continue
	fi
	cc=$(awk '/^#define CONFIG_CC_VERSION_TEXT/ { sub(/^[^"]*"/, ""); sub(/ \(.*/, ""); print }' \
		"$(matrix_root "$release")/usr/src/linux-headers-$kver/include/generated/autoconf.h" 2>/dev/null)
	if tests/matrix/build.sh "$release" "$kver" "$log"; then
		pass "$release $kver: module builds with W=1, sparse and -Werror, no diagnostics (${cc:-gcc}, $(matrix_since "$t"))"
	else
		show "$log" 40
		fail "$release $kver: module builds with W=1, sparse and -Werror, no diagnostics" "see $log"
		continue
	fi
	if ! grep -q '^  CHECK ' "$log"; then
		skip "$release $kver: sparse over the module" \
			"$(grep -m1 -o 'C=2 specified, but.*' "$log" || echo 'kbuild ran no sparse')"
	fi
done 3<"$kernels"

# --- the extension's host suite in each release's chroot (the host's own
# release: tests/host/run.sh), and the packages built, installed (DKMS
# building for every kernel of the release) and removed there
host_release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
for release in $(matrix_releases); do
	[ -n "${have_root[$release]:-}" ] || continue
	grep -q "^$release " "$kernels" || continue
	t=$(date +%s)
	if [ "$mode" = check ] && [ "$release" = "$host_release" ]; then
		skip "$release: the extension's host suite" "the host's own release: tests/host/run.sh"
	else
		tests/matrix/host-suite.sh "$release" >"$logs/host-$release.log" 2>&1
		rc=$?
		grep -E '^(not ok|FAIL:)' "$logs/host-$release.log"
		summary=$(grep -m1 '^# host tests:' "$logs/host-$release.log")
		if [ $rc -eq 0 ]; then
			pass "$release: the extension's host suite in the $release chroot (${summary#\# host tests: })"
		else
			fail "$release: the extension's host suite in the $release chroot" \
				"${summary:-no summary}; see $logs/host-$release.log"
		fi
		echo "# matrix timing: $release host suite: $(matrix_since "$t")"
	fi
	# shellcheck disable=SC2046  # kernel releases, one word each
	tests/matrix/pkg.sh "$release" $(awk -v r="$release" '$1 == r { print $5 }' "$kernels") \
		>"$logs/pkg-$release.log" 2>&1
	rc=$?
	grep -E '^(not ok|FAIL:|# matrix timing)' "$logs/pkg-$release.log"
	if [ $rc -eq 0 ]; then
		pass "$release: packages built, installed (DKMS for its $(grep -c "^$release " "$kernels") kernels), removed ($(grep -c '^ok' "$logs/pkg-$release.log") checks)"
	else
		fail "$release: packages built, installed, removed" "see $logs/pkg-$release.log"
	fi
done

# --- boots
boot_one() { # RELEASE KVER VARIANT
	local release=$1 kver=$2 variant=$3 t rc
	t=$(date +%s)
	if [ "$variant" = ours ] && [ ! -f "$MATRIX_MODULES/$kver/kernel/xt_connlimit.ko" ]; then
		fail "$kver $variant: e2e" "the module did not build"
		return
	fi
	if ! tests/matrix/fetch.sh "$release" "$kver" image 2>"$logs/image-$kver.log"; then
		show "$logs/image-$kver.log"
		fail "$kver: kernel image unpacked" "see $logs/image-$kver.log"
		return
	fi
	TESTBED_MODULES=$MATRIX_MODULES TESTBED_BACKENDS=$backends \
		tests/qemu/run-suite.sh "$kver" "$variant"
	rc=$?
	echo "# matrix timing: $release $kver $variant e2e: $(matrix_since "$t") (exit $rc)"
	[ $rc -eq 0 ] || failed=1
}

while read -r release from boot fl kver <&3; do
	case $mode:" ${boot//,/ } " in
	check:*" $fl "*) ;;
	full:*) ;;
	*) continue ;;
	esac
	if [ -f "/boot/vmlinuz-$kver" ]; then
		skip "$kver: e2e in qemu" "installed on this machine: booted by tests/run-all.sh"
		continue
	fi
	boot_one "$release" "$kver" ours
	# the differential run: the same cases on the kernel's own module
	mods=$(tests/qemu/kernel-path.sh modules "$kver" 2>/dev/null)
	if [ -z "$mods" ] || compgen -G "$mods/kernel/net/netfilter/xt_connlimit.ko*" >/dev/null; then
		boot_one "$release" "$kver" intree
	else
		skip "$kver intree: e2e" "the kernel has no xt_connlimit module of its own"
	fi
done 3<"$kernels"

echo "# matrix timing: all $(matrix_since "$t_all")"
exit $failed
