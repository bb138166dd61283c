#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mksysroot.sh ARCH
#
# Unpacks the Debian binaries an ARCH (arm64, arm) test guest is made of:
# busybox-static, bash, iptables, iproute2, kmod, conntrack and every
# library they need, as debootstrap resolves them for that architecture,
# into $CONNLIMIT_CROSS_CACHE/sysroot-DEBARCH (tests/qemu/arch.sh's
# TB_SYSROOT), where tests/qemu/mkinitramfs.sh takes them from.  Nothing is
# installed or run: debootstrap only downloads (--download-only) and
# dpkg-deb unpacks, so no emulator is needed.  Made again only when the
# package list or this script changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cross/lib.sh
. "$here/lib.sh"

if [ $# -ne 1 ] || ! cross_arch "$1"; then echo "usage: $0 arm64|arm" >&2; exit 2; fi
dir=$TB_SYSROOT
include=busybox-static,bash,iptables,iproute2,kmod,conntrack
url=$(matrix_mirror main)
[ -n "$url" ] || { echo "mksysroot: no Debian apt source on this host" >&2; exit 1; }
key=$( { cat "$0"; echo "$CROSS_RELEASE $TB_ARCH $include $url"; } | sha256sum | cut -c1-16)
mkdir -p "$CROSS_CACHE"
exec 7>"$dir.lock"
flock 7
[ "$(cat "$dir/.sysroot-key" 2>/dev/null)" = "$key" ] && exit 0

start=$(date +%s)
tmp=$dir.tmp
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/usr/bin" "$tmp/usr/sbin" "$tmp/usr/lib"
ln -s usr/bin "$tmp/bin"
ln -s usr/sbin "$tmp/sbin"
ln -s usr/lib "$tmp/lib"
debootstrap --download-only --arch="$TB_ARCH" --variant=minbase \
	--include="$include" "$CROSS_RELEASE" "$tmp" "$url" >&2
n=0
for f in "$tmp"/var/cache/apt/archives/*.deb; do
	dpkg-deb --fsys-tarfile "$f" | tar -x --keep-directory-symlink -C "$tmp"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "mksysroot: debootstrap downloaded nothing" >&2; exit 1; }
rm -rf "$tmp/var/cache/apt/archives"
if [ ! -x "$tmp/usr/bin/busybox" ] || [ ! -x "$tmp/usr/sbin/xtables-nft-multi" ]; then
	echo "mksysroot: busybox or iptables missing after unpacking" >&2
	exit 1
fi
echo "$key" >"$tmp/.sysroot-key"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "# mksysroot $TB_ARCH: $n packages unpacked in $(matrix_since "$start")" >&2
