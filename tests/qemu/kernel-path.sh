#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernel-path.sh image|modules KVER
#
# Prints where kernel KVER's image (vmlinuz) or module tree is: installed on
# this machine (/boot/vmlinuz-KVER, /lib/modules/KVER), or unpacked from
# its Debian packages under build/kernels/KVER/ (tests/matrix/fetch.sh), or
# under $TESTBED_KROOT when set (a directory holding the unpacked packages).
# Both layouts are understood: /boot + /lib/modules (Debian 11 to 13) and
# vmlinuz inside /usr/lib/modules/KVER/ (the 7.x linux-binary package).
# Exits 1, printing nothing, if it is nowhere.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 image|modules KVER" >&2; exit 2; }
what=$1 kver=$2
top=$(cd "$(dirname "$0")/../.." && pwd)

if [ -n "${TESTBED_KROOT:-}" ]; then
	roots=("$TESTBED_KROOT")
else
	roots=("" "$top/build/kernels/$kver")
fi
for r in "${roots[@]}"; do
	case $what in
	image) cands=("$r/boot/vmlinuz-$kver" "$r/usr/lib/modules/$kver/vmlinuz" "$r/lib/modules/$kver/vmlinuz") ;;
	modules) cands=("$r/lib/modules/$kver" "$r/usr/lib/modules/$kver") ;;
	*) echo "usage: $0 image|modules KVER" >&2; exit 2 ;;
	esac
	for c in "${cands[@]}"; do
		if [ "$what" = image ] && [ -f "$c" ]; then echo "$c"; exit 0; fi
		if [ "$what" = modules ] && [ -d "$c/kernel" ]; then echo "$c"; exit 0; fi
	done
done
exit 1
