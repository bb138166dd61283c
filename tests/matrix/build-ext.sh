#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-ext.sh RELEASE [LOG]
#
# Builds the iptables extension (userspace/: libxt_connlimit.so and
# cl-harness) inside RELEASE's chroot against that release's libxtables,
# with the strict warnings as errors, and copies both to
# build/matrix/xtables/RELEASE/.  Prints the libxtables version built
# against.  The build output goes to LOG (default: stderr).
# MATRIX_TRIPLET=TRIPLET (tests/cross/): cross-built with TRIPLET-gcc
# against that architecture's libxtables (multiarch libxtables-dev:DEBARCH
# in the chroot), into build/matrix/xtables/RELEASE-TRIPLET/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 RELEASE [LOG]" >&2; exit 2; }
release=$1 log=${2:-/dev/stderr}
root=$(matrix_root "$release")
src=/var/tmp/connlimit-ext
out=$MATRIX_TOP/build/matrix/xtables/$release
# the command prefix and make arguments of a cross build
pre=(env) cross=()
if [ -n "${MATRIX_TRIPLET:-}" ]; then
	out=$out-$MATRIX_TRIPLET
	pre=(env "PKG_CONFIG_LIBDIR=/usr/lib/$MATRIX_TRIPLET/pkgconfig")
	cross=(CC="$MATRIX_TRIPLET-gcc")
fi

exec 7>"$root.lock"
flock 7
rm -rf "${root:?}$src"
mkdir -p "$root$src"
tar -C "$MATRIX_TOP" --exclude='*.o' --exclude='*.so' --exclude=cl-harness \
	-cf - include userspace | tar -xf - -C "$root$src"
set +e
in_chroot "$root" "${pre[@]}" make -C "$src/userspace" --no-print-directory -B "${cross[@]}" \
	>"$log" 2>&1
rc=$?
set -e
rm -rf "$out"
[ $rc -eq 0 ] || exit 1
mkdir -p "$out"
cp "$root$src/userspace/libxt_connlimit.so" "$root$src/userspace/cl-harness" "$out/"
chroot "$root" "${pre[@]}" pkg-config --modversion xtables
