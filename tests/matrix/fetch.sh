#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fetch.sh RELEASE KVER headers|image
#
# Brings kernel KVER of RELEASE's archive (see resolve.sh) into the test
# bed without installing a kernel anywhere: its packages are fetched with
# apt-get download inside the release's chroot and kept in the matrix
# cache (debs/, which outlives a chroot made again), then unpacked with
# dpkg-deb.
#
#   headers  linux-headers-KVER and what it depends on among linux-headers-*
#            and linux-kbuild-* are unpacked into the chroot's /usr/src and
#            /usr/lib; its other dependencies (the compiler the kernel was
#            built with: gcc-N, linux-compiler-gcc-N-x86) are installed in
#            the chroot with apt-get, as the headers package would have.
#   image    linux-image-KVER and, from 7.x on where that is a metapackage,
#            the linux-binary-KVER and linux-modules-KVER it depends on, are
#            unpacked into build/kernels/KVER/, where tests/qemu finds it.
# Done once per kernel: a stamp records what was unpacked.
#
# MATRIX_ARCH=DEBARCH (tests/cross/): the kernel is of that foreign dpkg
# architecture of the chroot.  A package not found for the chroot's own
# architecture is taken as NAME:DEBARCH: the kernel's packages are, while
# linux-kbuild-* (the kbuild tools, host binaries) stays the chroot's own.
# The foreign packages' own dependencies (their native compiler) are not
# installed: the cross compiler is the chroot's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -eq 3 ] || { echo "usage: $0 RELEASE KVER headers|image" >&2; exit 2; }
release=$1 kver=$2 what=$3
root=$(matrix_root "$release")
dl=/var/cache/connlimit-debs
debs=$MATRIX_CACHE/debs
stamps=$root/var/lib/connlimit-matrix
mkdir -p "$root$dl" "$debs" "$stamps"
log() { echo "# fetch $release $kver $what: $*" >&2; }

case $what in
headers)
	first=linux-headers-$kver
	dest=$root
	stamp=$stamps/headers-$kver
	;;
image)
	first=linux-image-$kver
	dest=$MATRIX_KERNELS/$kver
	stamp=$dest/.matrix-unpacked
	;;
*) echo "usage: $0 RELEASE KVER headers|image" >&2; exit 2 ;;
esac
[ -f "$stamp" ] && exit 0

# Whether a dependency is one of the packages to unpack (a kernel release
# holds "+" and ".": compared as text, never as a regex).
to_unpack() { # NAME
	case $what:$1 in
	headers:linux-headers-* | headers:linux-kbuild-*) return 0 ;;
	image:linux-image-"$kver" | image:linux-binary-"$kver" | image:linux-modules-"$kver") return 0 ;;
	esac
	return 1
}

# The version apt would fetch for NAME (installable or not).
candidate() { # NAME
	chroot "$root" apt-cache policy "$1" | awk '$1 == "Candidate:" { print $2; exit }'
}

# NAME, or NAME:MATRIX_ARCH if only that architecture has it.
qualified() { # NAME
	local v
	v=$(candidate "$1")
	if [ -n "${MATRIX_ARCH:-}" ] && { [ -z "$v" ] || [ "$v" = "(none)" ]; }; then
		echo "$1:$MATRIX_ARCH"
	else
		echo "$1"
	fi
}

# Download NAME (at VERSION, or the candidate) unless kept; prints the file.
fetch_deb() { # NAME [VERSION]
	local qname ver=${2:-} f name=$1
	qname=$(qualified "$name")
	[ -n "$ver" ] || ver=$(candidate "$qname")
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || { log "no package $qname"; return 1; }
	for f in "$debs/${name}_${ver//:/%3a}"_*.deb; do
		if [ -f "$f" ]; then echo "$f"; return 0; fi
	done
	rm -f "$root$dl"/*.deb
	in_chroot "$root" sh -c "cd $dl && apt-get -q download '$qname=$ver'" >&2
	for f in "$root$dl/${name}_${ver//:/%3a}"_*.deb; do
		if [ -f "$f" ]; then mv "$f" "$debs/"; echo "$debs/${f##*/}"; return 0; fi
	done
	log "apt-get download $name=$ver left no file"
	return 1
}

# "name op version" per dependency of a .deb (first alternative of each).
deps_of() { # DEB
	dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -E 's/\|.*//' |
		sed -E 's/^ *([^ (]+) *(\(([<>=]+) *([^)]*)\))?.*/\1 \3 \4/'
}

exec 7>"$root.lock"
flock 7
start=$(date +%s)
queue=("$first") done_pkgs=" " files=() tools=()
while [ ${#queue[@]} -gt 0 ]; do
	item=${queue[0]}
	queue=("${queue[@]:1}")
	name=${item%%=*} ver=""
	[ "$item" = "$name" ] || ver=${item#*=}
	case $done_pkgs in *" $name "*) continue ;; esac
	done_pkgs+="$name "
	f=$(fetch_deb "$name" "$ver")
	files+=("$f")
	foreign_deb=0
	if [ -n "${MATRIX_ARCH:-}" ] && [ "$(dpkg-deb -f "$f" Architecture)" = "$MATRIX_ARCH" ]; then
		foreign_deb=1
	fi
	while read -r dname op dver; do
		[ -n "$dname" ] || continue
		if to_unpack "$dname"; then
			if [ "$op" = "=" ]; then queue+=("$dname=$dver"); else queue+=("$dname"); fi
		elif [ "$what" = headers ] && [ "$foreign_deb" = 0 ]; then
			tools+=("$dname")
		fi
	done < <(deps_of "$f")
done

rm -rf "${dest:?}.tmp"
if [ "$what" = image ]; then mkdir -p "$dest.tmp"; fi
for f in "${files[@]}"; do
	log "unpacking $(basename "$f")"
	# --keep-directory-symlink: the chroot's /lib -> usr/lib stays a link
	if [ "$what" = image ]; then dpkg-deb -x "$f" "$dest.tmp"; else
		dpkg-deb --fsys-tarfile "$f" | tar -x --keep-directory-symlink -C "$dest"
	fi
done
if [ "$what" = image ]; then
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
elif [ ${#tools[@]} -gt 0 ]; then
	chroot_mount "$root"
	trap 'chroot_umount "$root"' EXIT
	in_chroot "$root" apt-get -q -y install "${tools[@]}" >&2
	in_chroot "$root" apt-get clean
	chroot_umount "$root"
	trap - EXIT
fi
printf '%s\n' "${files[@]##*/}" >"$stamp"
log "done in $(matrix_since "$start")"
