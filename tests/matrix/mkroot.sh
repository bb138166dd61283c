#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkroot.sh RELEASE
#
# Makes (or refreshes) the build chroot of one Debian release and prints its
# path: debootstrap --variant=minbase from the host's mirror, apt sources
# for the release and its -updates and -security suites (and -backports
# when releases.conf takes kernels from it), and the release's own make,
# gcc, sparse, libxtables-dev, pkg-config and iptables.  Kernel headers and
# the compiler a kernel was built with are added later (fetch.sh).
#
# MKROOT_FOREIGN="arm64 armhf" adds foreign dpkg architectures (multiarch)
# and MKROOT_EXTRA_PKGS more packages (which may name those architectures:
# "libxtables-dev:arm64") once the chroot is made: tests/cross/ makes its
# own chroot so, in its own cache directory.  Without them the chroot and
# its cache key are what they always were.
#
# Cached in $CONNLIMIT_MATRIX_CACHE (default /var/cache/connlimit-tests/
# matrix) as root-RELEASE/, made again only when what goes into it changes
# (root-RELEASE/.matrix-key); its package lists are refreshed once a day
# (MATRIX_REFRESH=SECONDS changes that), so "newest kernel" stays newest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 RELEASE" >&2; exit 2; }
release=$1
root=$(matrix_root "$release")
mkdir -p "$MATRIX_CACHE"
log() { echo "# mkroot $release: $*" >&2; }

main_url=$(matrix_mirror main)
sec_url=$(matrix_mirror security)
[ -n "$main_url" ] || { echo "mkroot: no Debian apt source on this host" >&2; exit 1; }
sec_url=${sec_url:-${main_url%/debian}/debian-security}

# The apt sources of the chroot.
sources() {
	echo "deb $main_url $release main"
	[ "$release" = sid ] && return 0
	echo "deb $main_url $release-updates main"
	echo "deb $sec_url $release-security main"
	if matrix_lines | awk -v r="$release" '$1 == r && $2 == r "-backports" { f = 1 } END { exit !f }'; then
		echo "deb $main_url $release-backports main"
	fi
}
pkgs=(make gcc libc6-dev sparse libxtables-dev pkg-config iptables xz-utils)
# shellcheck disable=SC2206  # lists, split on purpose
foreign=(${MKROOT_FOREIGN:-}) extra=(${MKROOT_EXTRA_PKGS:-})

make_root() { # DIR
	local dir=$1
	bg_run debootstrap --variant=minbase "$release" "$dir" "$main_url" >&2
	sources >"$dir/etc/apt/sources.list"
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 0755 "$dir/usr/sbin/policy-rc.d"
	# The mirror may be a frozen copy of the archive, whose Release files
	# have expired: their signatures are still checked.
	printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
		'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/90connlimit-matrix"
	chroot_mount "$dir"
	in_chroot "$dir" apt-get -q update >&2
	in_chroot "$dir" apt-get -q -y install "${pkgs[@]}" >&2
	in_chroot "$dir" apt-get clean
	chroot_umount "$dir"
}

# The foreign architectures and the extra packages.
add_extra() { # DIR
	local dir=$1 a
	chroot_mount "$dir"
	for a in "${foreign[@]}"; do in_chroot "$dir" dpkg --add-architecture "$a"; done
	in_chroot "$dir" apt-get -q update >&2
	in_chroot "$dir" apt-get -q -y install "${extra[@]}" >&2
	in_chroot "$dir" apt-get clean
	chroot_umount "$dir"
}

key=$({
	declare -f make_root sources
	echo "$release"
	sources
	printf '%s\n' "${pkgs[@]}"
	if [ ${#foreign[@]} -gt 0 ] || [ ${#extra[@]} -gt 0 ]; then
		declare -f add_extra
		echo "foreign: ${foreign[*]}"
		printf '%s\n' "${extra[@]}"
	fi
} | sha256sum | cut -c1-16)

exec 7>"$root.lock"
flock 7
if [ "$(cat "$root/.matrix-key" 2>/dev/null)" != "$key" ]; then
	tmp=$root.tmp
	# shellcheck disable=SC2317  # (a trap handler)
	cleanup() {
		bg_kill
		chroot_kill "$tmp"
		chroot_umount "$tmp"
		if [ -n "$(mounts_below "$tmp")" ]; then
			echo "mkroot: mounts left below $tmp, not removing it" >&2
			return
		fi
		rm -rf --one-file-system "$tmp"
	}
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	cleanup
	start=$(date +%s)
	log "making it from $main_url (${pkgs[*]})"
	make_root "$tmp"
	if [ ${#foreign[@]} -gt 0 ] || [ ${#extra[@]} -gt 0 ]; then add_extra "$tmp"; fi
	echo "$key" >"$tmp/.matrix-key"
	touch "$tmp/var/lib/apt/lists/.matrix-updated"
	[ -z "$(mounts_below "$root")" ] || { echo "mkroot: $root is mounted" >&2; exit 1; }
	rm -rf --one-file-system "$root"
	mv "$tmp" "$root"
	trap - EXIT
	log "made in $(matrix_since "$start")"
fi

# Refresh the package lists once a day.
lists=$root/var/lib/apt/lists
age=$(($(date +%s) - $(stat -c %Y "$lists/.matrix-updated" 2>/dev/null || echo 0)))
if [ "$age" -gt "${MATRIX_REFRESH:-86400}" ]; then
	chroot_mount "$root"
	trap 'chroot_umount "$root"' EXIT
	in_chroot "$root" apt-get -q update >&2
	chroot_umount "$root"
	trap - EXIT
	touch "$lists/.matrix-updated"
fi
echo "$root"
