#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh RELEASE KVER [LOG]
#
# Builds our module for kernel KVER inside RELEASE's chroot, against the
# headers fetch.sh unpacked there, with the compiler those headers name, as
# tests/style/run.sh does on the host: W=1, sparse (C=2) and -Werror.  Any
# compiler or sparse diagnostic fails.  Kbuild of 7.x runs sparse only if
# scripts/checker-valid.sh (which Debian's linux-kbuild does not ship) finds
# it parses __typeof_unqual__: here the same test picks the release's sparse
# or, if that one is too old, the newest Debian one (newsparse.sh), and
# sparse is then forced on (KBUILD_CHECKSRC).  The module is copied to
# build/matrix/modules/KVER/kernel/xt_connlimit.ko (TESTBED_MODULES for
# tests/qemu/run-suite.sh).  The whole build output goes to LOG (default:
# stderr).  Exit 0 only for a clean build.  MATRIX_KBUILD_ARGS adds make
# arguments (tests/cross/: "ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -ge 2 ] || { echo "usage: $0 RELEASE KVER [LOG]" >&2; exit 2; }
release=$1 kver=$2 log=${3:-/dev/stderr}
root=$(matrix_root "$release")
kdir=/usr/src/linux-headers-$kver
src=/var/tmp/connlimit-src
out=$MATRIX_MODULES/$kver/kernel

[ -d "$root$kdir" ] || { echo "build: no $kdir in the $release chroot (fetch.sh)" >&2; exit 1; }

# The sparse to use, as make arguments.
sparse_args="C=2"
common=$(sed -n 's/^include //p' "$root$kdir/Makefile" | head -n 1)
if grep -q checker-valid.sh "$root$common" 2>/dev/null; then
	printf 'static inline int u(const int *q)\n{\n\t__typeof_unqual__(*q) v = *q;\n\treturn v;\n}\n' \
		>"$root/var/tmp/cl-checker.c"
	# its output first: grep -q leaving early would make a pipe fail
	checked=$(chroot "$root" sparse /var/tmp/cl-checker.c 2>&1 || true)
	if grep -q error <<<"$checked"; then
		sparse_args="C=2 KBUILD_CHECKSRC=2 CHECK=$("$here/newsparse.sh" "$release")"
	else
		sparse_args="C=2 KBUILD_CHECKSRC=2"
	fi
	rm -f "$root/var/tmp/cl-checker.c"
fi

exec 7>"$root.lock"
flock 7
rm -rf "${root:?}$src"
mkdir -p "$root$src"
tar -C "$MATRIX_TOP" -cf - Makefile Kbuild VERSION include kernel | tar -xf - -C "$root$src"
chroot_mount "$root"
trap 'chroot_umount "$root"' EXIT
set +e
in_chroot "$root" make -C "$src" --no-print-directory module KDIR="$kdir" \
	BUILD="$src/build" KBUILD_ARGS="${MATRIX_KBUILD_ARGS:+$MATRIX_KBUILD_ARGS }W=1 $sparse_args KCFLAGS=-Werror" \
	>"$log" 2>&1
rc=$?
set -e
chroot_umount "$root"
trap - EXIT
# sparse reports as "file:line:col: warning|error:" without failing.
# modpost's "WARNING:" (an undefined symbol) fails too.
if [ $rc -eq 0 ] && grep -E ': (warning|error):|WARNING:' "$log" >/dev/null 2>&1; then
	rc=1
fi
ko=$root$src/build/$kver/kernel/xt_connlimit.ko
if [ $rc -eq 0 ] && [ -f "$ko" ]; then
	mkdir -p "$out"
	cp "$ko" "$out/xt_connlimit.ko"
else
	rm -f "$out/xt_connlimit.ko"
	rc=1
fi
exit $rc
