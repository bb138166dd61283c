#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-user.sh ARCH [LOG]
#
# Cross-builds the userspace an ARCH (arm64, arm) guest needs, in the cross
# chroot with Debian's cross compiler, into build/cross/DEBARCH/ (tests/
# qemu/arch.sh's TB_CROSS, where mkinitramfs.sh takes them from):
#   libxt_connlimit.so  the extension, against that architecture's
#                       libxtables, strict warnings as errors
#                       (tests/matrix/build-ext.sh; cl-harness beside it)
#   tools/              connt, clstress, xtcraft (tests/tools), static
#   crafted/            the hostile-data fixture (tests/fixtures/crafted)
# Prints the libxtables version built against.  Build output goes to LOG.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cross/lib.sh
. "$here/lib.sh"

if [ $# -lt 1 ] || ! cross_arch "$1"; then echo "usage: $0 arm64|arm [LOG]" >&2; exit 2; fi
log=${2:-/dev/stderr}
root=$(matrix_root "$CROSS_RELEASE")
src=/var/tmp/connlimit-cross-$TB_ARCH
out=$TB_CROSS

v=$(MATRIX_TRIPLET=$TB_TRIPLET "$CROSS_TOP/tests/matrix/build-ext.sh" "$CROSS_RELEASE" "$log")
ext=$CROSS_TOP/build/matrix/xtables/$CROSS_RELEASE-$TB_TRIPLET

exec 7>"$root.lock"
flock 7
rm -rf "${root:?}$src"
mkdir -p "$root$src"
tar -C "$CROSS_TOP" -cf - include tests/tools tests/fixtures/crafted | tar -xf - -C "$root$src"
set +e
in_chroot "$root" env "PKG_CONFIG_LIBDIR=/usr/lib/$TB_TRIPLET/pkgconfig" sh -ec "
	mkdir -p $src/out/tools
	make -C $src/tests/tools --no-print-directory CC=$TB_TRIPLET-gcc OUT=$src/out/tools
	make -C $src/tests/fixtures/crafted --no-print-directory CC=$TB_TRIPLET-gcc OUT=$src/out/crafted
" >>"$log" 2>&1
rc=$?
set -e
[ $rc -eq 0 ] || { echo "build-user: the tools or the fixture did not build (see $log)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
cp -r "$root$src/out/tools" "$root$src/out/crafted" "$out/"
cp "$ext/libxt_connlimit.so" "$ext/cl-harness" "$out/"
rm -rf "${root:?}$src"
echo "$v"
