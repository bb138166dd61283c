#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkchroot.sh CACHEDIR
#
# Prints the path of a tarball holding a Debian chroot of the host's release
# (debootstrap minbase) ready for the package tests: dkms and its build
# tools, iptables, and for every kernel under test (see pkg_kernels) its
# linux-image and linux-headers packages, at the versions the host has when
# the mirror still serves them.  The tarball is cached in CACHEDIR, keyed by
# everything that goes into it, and made again only when that changes.
#
# The host is only read: its apt sources name the mirror, and kernel .debs
# already in its apt cache are copied in to save the download.
#
# linux-image-* needs an initramfs generator; a local stub package provides
# linux-initramfs-tool instead, so no initramfs is built in the chroot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/pkg/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 CACHEDIR" >&2; exit 2; }
cache=$1
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
log() { echo "# mkchroot: $*" >&2; }

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
mirrors=$(pkg_mirrors) || true
main_url=$(awk -v c="$codename" '$2 == c { print $1; exit }' <<<"$mirrors")
[ -n "$codename" ] && [ -n "$main_url" ] || {
	echo "mkchroot: no apt source for '$codename' main on this machine" >&2
	exit 1
}

mapfile -t kernels < <(pkg_kernels)
[ ${#kernels[@]} -gt 0 ] || { echo "mkchroot: no installed kernels" >&2; exit 1; }

# Package list, pinned to the host's kernel package versions.
host_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
# (libc6-dev, libxtables-dev, pkg-config: for "make install" in the chroot)
pkgs=(dkms openssl iptables kmod xz-utils libc6-dev libxtables-dev pkg-config)
for k in "${kernels[@]}"; do
	img=$(dpkg -S "/boot/vmlinuz-$k" 2>/dev/null | cut -d: -f1 | head -n 1)
	img=${img:-linux-image-$k}
	for p in "$img" "linux-headers-$k"; do
		v=$(host_version "$p")
		pkgs+=("$p${v:+=$v}")
	done
done

# How the base is made; its text is part of the cache key.
make_base() { # DIR
	local dir=$1 p name ver deb

	bg_run debootstrap --variant=minbase "$codename" "$dir" "$main_url" >&2
	: >"$dir/etc/apt/sources.list"
	while read -r url suite; do
		echo "deb $url $suite main" >>"$dir/etc/apt/sources.list"
	done <<<"$mirrors"
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 0755 "$dir/usr/sbin/policy-rc.d"
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
		>"$dir/etc/apt/apt.conf.d/90connlimit-test"

	# the stub that stands in for initramfs-tools
	mkdir -p "$dir.stub/DEBIAN"
	cat >"$dir.stub/DEBIAN/control" <<-EOF
	Package: connlimit-test-no-initramfs
	Version: 1
	Architecture: all
	Maintainer: connlimit tests <root@localhost>
	Provides: linux-initramfs-tool
	Description: stands in for an initramfs generator in the test chroot
	EOF
	dpkg-deb --root-owner-group --build "$dir.stub" "$dir/var/cache/stub.deb" >/dev/null
	rm -rf "$dir.stub"

	chroot_mount "$dir"
	in_chroot "$dir" dpkg -i /var/cache/stub.deb >&2
	rm -f "$dir/var/cache/stub.deb"
	in_chroot "$dir" apt-get -q update >&2
	# reuse kernel .debs the host already downloaded (same name, same version)
	for p in "${pkgs[@]}"; do
		case $p in *=*) ;; *) continue ;; esac
		name=${p%%=*} ver=${p#*=}
		for deb in /var/cache/apt/archives/"${name}_${ver//:/%3a}"_*.deb; do
			if [ -f "$deb" ]; then cp "$deb" "$dir/var/cache/apt/archives/"; fi
		done
	done
	if ! in_chroot "$dir" apt-get -q -y install "${pkgs[@]}" >&2; then
		log "pinned kernel versions not available; taking the mirror's"
		in_chroot "$dir" apt-get -q -y install "${pkgs[@]%%=*}" >&2
	fi
	in_chroot "$dir" apt-get clean
	chroot_umount "$dir"
}

key=$({
	declare -f make_base
	echo "$codename"
	echo "$mirrors"
	printf '%s\n' "${pkgs[@]}"
} | sha256sum | cut -c1-16)

if command -v zstd >/dev/null; then ext=tar.zst; else ext=tar; fi
tarball=$cache/base-$codename-$key.$ext
if [ -f "$tarball" ]; then
	echo "$tarball"
	exit 0
fi

exec 8>"$cache/.lock"
flock 8
if [ -f "$tarball" ]; then	# made by a concurrent run meanwhile
	echo "$tarball"
	exit 0
fi

dir=$cache/base.tmp
# shellcheck disable=SC2317  # (a trap handler)
cleanup() {
	bg_kill
	chroot_kill "$dir"
	chroot_umount "$dir"
	if [ -n "$(mounts_below "$dir")" ]; then
		echo "mkchroot: mounts left below $dir, not removing it" >&2
		return
	fi
	rm -rf --one-file-system "$dir" "$dir.stub" "$tarball.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup
start=$(date +%s)
log "making the base chroot ($codename from $main_url; ${pkgs[*]})"
make_base "$dir"
log "base made in $(since "$start")s; packing"
if [ "$ext" = tar.zst ]; then
	tar -C "$dir" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
else
	tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
fi
rm -f "$cache"/base-"$codename"-*."$ext"
mv "$tarball.tmp" "$tarball"
log "cached $(du -h "$tarball" | cut -f1) in $(since "$start")s total"
echo "$tarball"
