#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# newsparse.sh RELEASE
#
# For kernels whose headers a release's own sparse cannot parse (7.x needs
# __typeof_unqual__, which sparse learnt after Debian 13's 0.6.4): unpacks
# the newest Debian sparse (sid's, fetched with apt-get download in the sid
# chroot) into RELEASE's chroot under /opt/sparse-sid and prints the path
# of the binary there.  Sparse is only the checker: the compiler stays the
# one the kernel was built with.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 RELEASE" >&2; exit 2; }
root=$(matrix_root "$1")
bin=/opt/sparse-sid/usr/bin/sparse
if [ -x "$root$bin" ]; then echo "$bin"; exit 0; fi

sid=$("$here/mkroot.sh" sid)
debs=$MATRIX_CACHE/debs
mkdir -p "$debs" "$sid/var/cache/connlimit-debs"
rm -f "$sid"/var/cache/connlimit-debs/sparse_*.deb
chroot "$sid" sh -c 'cd /var/cache/connlimit-debs && apt-get -q download sparse' >&2 </dev/null
deb=$(ls "$sid"/var/cache/connlimit-debs/sparse_*.deb)
mv "$deb" "$debs/"
deb=$debs/${deb##*/}
rm -rf "$root/opt/sparse-sid"
mkdir -p "$root/opt/sparse-sid"
dpkg-deb -x "$deb" "$root/opt/sparse-sid"
echo "# newsparse: ${deb##*/} unpacked into the $1 chroot" >&2
echo "$bin"
