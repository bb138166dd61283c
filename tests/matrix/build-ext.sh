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
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 RELEASE [LOG]" >&2; exit 2; }
release=$1 log=${2:-/dev/stderr}
root=$(matrix_root "$release")
src=/var/tmp/connlimit-ext
out=$MATRIX_TOP/build/matrix/xtables/$release

exec 7>"$root.lock"
flock 7
rm -rf "${root:?}$src"
mkdir -p "$root$src"
tar -C "$MATRIX_TOP" --exclude='*.o' --exclude='*.so' --exclude=cl-harness \
	-cf - include userspace | tar -xf - -C "$root$src"
set +e
in_chroot "$root" make -C "$src/userspace" --no-print-directory -B >"$log" 2>&1
rc=$?
set -e
rm -rf "$out"
[ $rc -eq 0 ] || exit 1
mkdir -p "$out"
cp "$root$src/userspace/libxt_connlimit.so" "$root$src/userspace/cl-harness" "$out/"
chroot "$root" pkg-config --modversion xtables
