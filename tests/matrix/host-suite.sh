#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# host-suite.sh RELEASE
#
# The extension's host suite (tests/host/run.sh) inside RELEASE's chroot:
# that release's iptables, ip6tables, -save, -restore and -translate, its
# libxtables and its stock extension (fetched by the suite with apt-get
# download), against the host's kernel in private network namespaces.
# Prints the suite's TAP lines with "RELEASE: " put in each description;
# exit status is the suite's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 RELEASE" >&2; exit 2; }
release=$1
root=$(matrix_root "$release")
src=/var/tmp/connlimit-host
logs=$MATRIX_TOP/build/matrix/logs
mkdir -p "$logs"
# what the suite uses beyond the chroot's build tools
extra=(groff-base nftables diffutils util-linux)

exec 7>"$root.lock"
flock 7
rm -rf "${root:?}$src"
mkdir -p "$root$src"
tar -C "$MATRIX_TOP" --exclude='*.o' --exclude='*.so' --exclude=cl-harness \
	-cf - VERSION include userspace tests/host | tar -xf - -C "$root$src"
chroot_mount "$root"
trap 'chroot_umount "$root"' EXIT
in_chroot "$root" apt-get -q -y install "${extra[@]}" >"$logs/host-$release-apt.log" 2>&1
set +e
in_chroot "$root" sh -c "cd $src && tests/host/run.sh" 2>&1 |
	sed -u -E "s/^(ok|not ok) ([0-9]+) - /\\1 \\2 - $release: /"
rc=${PIPESTATUS[0]}
set -e
exit "$rc"
