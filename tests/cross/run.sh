#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh build|check|full [ARCH...]
#
# Routers: the module and the extension cross-built for ARM with Debian's
# own cross compilers and booted there under qemu TCG.  ARCH is the
# kernel's name, arm64 (Debian's arm64 kernel) or arm (32-bit armhf, the
# armmp and armmp-lpae kernels); default both.  Everything comes from
# Debian trixie, whose newest kernel of each flavour is taken:
#
#   build  (make cross) the cross chroot (tests/cross/lib.sh); per flavour
#          the headers unpacked and the module built W=1 + sparse +
#          -Werror with the cross compiler the kernel was built with
#          (tests/matrix/build.sh); the extension against that
#          architecture's libxtables, and the guest's test tools, static
#          (build-user.sh)
#   check  (make check) build, and per architecture (arm64, armmp) the
#          whole e2e suite on our module, both backends, and the stress
#          suite's short form on ours, in the architecture's own Debian
#          userspace (mksysroot.sh); CROSS_CHECK_ONLY (a TESTBED_ONLY
#          regex) limits the e2e cases, for a quick look
#   full   (make cross-check) check's boots, and the e2e suite on the
#          kernel's own module (the differential run); armmp-lpae booted
#          with the e2e suite on ours
#
# TAP-like lines; "# cross timing:" lines say how long each step took.
# Exit 1 if anything failed.  CROSS_BACKENDS overrides the backends booted
# ("legacy nft").
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cross/lib.sh
. "$here/lib.sh"
cd "$CROSS_TOP" || exit 1

mode=${1:-}
case $mode in
build | check | full) shift ;;
*) echo "usage: $0 build|check|full [arm64|arm...]" >&2; exit 2 ;;
esac
arches=("$@")
[ ${#arches[@]} -gt 0 ] || read -r -a arches <<<"$CROSS_ARCHES"
for a in "${arches[@]}"; do
	cross_arch "$a" || { echo "$0: unknown architecture $a (arm64, arm)" >&2; exit 2; }
done
backends=${CROSS_BACKENDS:-legacy nft}
only=${CROSS_CHECK_ONLY:-}
logs=$CROSS_TOP/build/cross/logs
mkdir -p "$logs"
n=0 failed=0
t_all=$(date +%s)

pass() { n=$((n + 1)); echo "ok $n - cross: $1"; }
fail() { n=$((n + 1)) failed=1; echo "FAIL: $2"; echo "not ok $n - cross: $1"; }
skip() { n=$((n + 1)); echo "ok $n - cross: $1 # SKIP $2"; }
show() { tail -n "${2:-30}" "$1" | sed 's/^/#   /'; }

if [ "$(id -u)" -ne 0 ]; then
	skip "ARM cross builds and boots" "needs root (debootstrap, chroot, mounts)"
	exit 0
fi

t=$(date +%s)
if tests/matrix/mkroot.sh "$CROSS_RELEASE" >/dev/null 2>"$logs/mkroot.log"; then
	pass "$CROSS_RELEASE cross chroot ready ($(matrix_since "$t"))"
else
	show "$logs/mkroot.log"
	fail "$CROSS_RELEASE cross chroot ready" "debootstrap or apt in the cross chroot failed"
	exit 1
fi

# boot KVER VARIANT [NAME]: one suite in qemu; NAME "stress" for the
# stress suite's short form, else the e2e suite.
boot() {
	local kver=$1 variant=$2 name=${3:-e2e} t rc
	t=$(date +%s)
	if [ "$name" = stress ]; then
		TESTBED_MODULES=$MATRIX_MODULES TESTBED_TIMEOUT=1800 tests/stress/run.sh short "$kver"
	else
		TESTBED_MODULES=$MATRIX_MODULES TESTBED_BACKENDS=$backends TESTBED_TIMEOUT=1800 \
			TESTBED_ONLY=$only tests/qemu/run-suite.sh "$kver" "$variant"
	fi
	rc=$?
	echo "# cross timing: $kver $variant $name: $(matrix_since "$t") (exit $rc)"
	[ $rc -eq 0 ] || failed=1
}

for a in "${arches[@]}"; do
	cross_arch "$a"
	# --- the module, per flavour
	declare -A kvers=()
	for fl in $CROSS_FLAVOURS; do
		t=$(date +%s)
		if ! kver=$(MATRIX_ARCH=$TB_ARCH tests/matrix/resolve.sh "$CROSS_RELEASE" "$CROSS_RELEASE" "$fl" \
			2>"$logs/resolve.log"); then
			show "$logs/resolve.log"
			fail "$CROSS_RELEASE $fl: newest kernel" "not found in the cross chroot"
			continue
		fi
		log=$logs/build-$kver.log
		if ! MATRIX_ARCH=$TB_ARCH tests/matrix/fetch.sh "$CROSS_RELEASE" "$kver" headers 2>"$log"; then
			show "$log"
			fail "$kver: headers unpacked" "see $log"
			continue
		fi
		cc=$(awk '/^#define CONFIG_CC_VERSION_TEXT/ { sub(/^[^"]*"/, ""); sub(/ \(.*/, ""); print }' \
			"$(matrix_root "$CROSS_RELEASE")/usr/src/linux-headers-$kver/include/generated/autoconf.h")
		if MATRIX_KBUILD_ARGS="ARCH=$TB_KARCH CROSS_COMPILE=$CROSS_COMPILE" \
			tests/matrix/build.sh "$CROSS_RELEASE" "$kver" "$log"; then
			pass "$kver: module cross-builds with W=1, sparse and -Werror, no diagnostics (${cc:-?}, $(matrix_since "$t"))"
			kvers[$fl]=$kver
		else
			show "$log" 40
			fail "$kver: module cross-builds with W=1, sparse and -Werror, no diagnostics" "see $log"
		fi
		if ! grep -q '^  CHECK ' "$log"; then
			skip "$kver: sparse over the module" "kbuild ran no sparse"
		fi
	done

	# --- the extension and the guest's tools
	t=$(date +%s)
	log=$logs/user-$TB_ARCH.log
	# shellcheck disable=SC2094  # both append
	if v=$(tests/cross/build-user.sh "$a" "$log" 2>>"$log"); then
		pass "$TB_ARCH: extension cross-builds against iptables $v, strict warnings as errors; test tools static ($(matrix_since "$t"))"
	else
		show "$log"
		fail "$TB_ARCH: extension and test tools cross-build" "see $log"
		continue
	fi
	[ "$mode" = build ] && continue

	# --- boots
	t=$(date +%s)
	if tests/cross/mksysroot.sh "$a" 2>"$logs/sysroot-$TB_ARCH.log"; then
		pass "$TB_ARCH: Debian $CROSS_RELEASE binaries for the guest unpacked ($(matrix_since "$t"))"
	else
		show "$logs/sysroot-$TB_ARCH.log"
		fail "$TB_ARCH: Debian binaries for the guest" "see $logs/sysroot-$TB_ARCH.log"
		continue
	fi
	for fl in $CROSS_FLAVOURS; do
		kver=${kvers[$fl]:-}
		[ -n "$kver" ] || continue
		[ "$fl" = "$CROSS_BOOT" ] || [ "$mode" = full ] || continue
		if ! MATRIX_ARCH=$TB_ARCH tests/matrix/fetch.sh "$CROSS_RELEASE" "$kver" image \
			2>"$logs/image-$kver.log"; then
			show "$logs/image-$kver.log"
			fail "$kver: kernel image unpacked" "see $logs/image-$kver.log"
			continue
		fi
		boot "$kver" ours
		[ "$fl" = "$CROSS_BOOT" ] || continue
		boot "$kver" ours stress
		[ "$mode" = full ] && boot "$kver" intree
	done
	unset kvers
done

echo "# cross timing: all $(matrix_since "$t_all")"
exit $failed
