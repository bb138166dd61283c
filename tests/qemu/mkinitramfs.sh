#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh KVER ours|intree OUT
#
# Writes OUT: the initramfs for one test guest, made of Debian binaries of
# the kernel's architecture (tests/qemu/arch.sh: amd64 ones are the host's
# own; arm64 and armhf ones are unpacked by tests/cross/mksysroot.sh, with
# our extension, tools and fixture cross-built by tests/cross/run.sh) and
# the kernel's own modules.  It is two cpio layers, cached under build/qemu/
# and rebuilt only when an input changed:
#
#   base-ARCH-<hash>.cpio kernel-independent userspace: busybox (applets in
#                         /opt/busybox/bin, minus those we bring for real),
#                         bash, xtables-legacy-multi and xtables-nft-multi
#                         with ip(6)tables-{legacy,nft}[-save,-restore]
#                         links, the system xtables extension dir, iproute2
#                         (ip, ss), kmod (modprobe/insmod/rmmod/lsmod/depmod/
#                         modinfo), conntrack, ipset, our tools (connt, and
#                         clstress and xtcraft for tests/stress), and our
#                         libxt_connlimit.so (if built) in /usr/lib/xtables-ours
#   mod-KVER-VARIANT-<hash>.cpio
#                         the kernel's module subset (net/netfilter,
#                         net/ipv{4,6}/netfilter, lib, crypto, arch/ARCH/crypto,
#                         veth; on ARM also drivers/virtio and virtio_console
#                         for the result channel) + `depmod -b`; for "ours" also
#                         updates/xt_connlimit.ko, which depmod's default
#                         search order ("updates" before "built-in") makes
#                         the one `modprobe xt_connlimit` loads
#
# The per-run layer (/init, the guest scripts, the run's config) is added by
# run-guest.sh; the kernel unpacks concatenated cpio archives in order.
#
# Environment: COMPRESS=none|gzip (default none: the guest boots fastest from
# an uncompressed archive, and the cache lives on local disk).  Not zstd: the
# kernel's unzstd takes its whole input as zstd frames, so a zstd layer
# cannot be followed by another archive ("invalid magic").
# The body is one compound command, so bash parses all of it before running
# any: editing this file while a run is under way cannot derail that run.
{
set -euo pipefail

usage() { echo "usage: $0 KVER ours|intree OUT" >&2; exit 2; }
[ $# -eq 3 ] || usage
kver=$1 variant=$2 out=$3
case $variant in ours|intree) ;; *) usage ;; esac

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=$top/build/qemu
# shellcheck source=tests/qemu/arch.sh
. "$top/tests/qemu/arch.sh"
testbed_arch "$kver"
# where the guest's binaries come from: "" (the host) or a sysroot
sr=$TB_SYSROOT
# where the kernel's modules are (installed, or unpacked: kernel-path.sh);
# in the guest they are always at /lib/modules/KVER
moddir=$("$top/tests/qemu/kernel-path.sh" modules "$kver") || moddir=/lib/modules/$kver
gmoddir=/lib/modules/$kver
compress=${COMPRESS:-none}
mkdir -p "$cache"

# Other scripts (the bench, the package tests) build here too, maybe at the
# same time: one builder at a time, each in its own scratch directory.
exec 8>"$cache/.lock"
flock 8
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT

"$top/tests/qemu/kernel-path.sh" image "$kver" >/dev/null && [ -d "$moddir/kernel" ] || {
	echo "mkinitramfs: kernel $kver is neither installed nor unpacked (tests/qemu/kernel-path.sh)" >&2
	exit 1
}

# TESTBED_MODULES: another build directory (e.g. a worktree's) for "ours"
ours_ko=${TESTBED_MODULES:-$top/build}/$kver/kernel/xt_connlimit.ko
ours_ext=$top/userspace/libxt_connlimit.so
tooldir=$cache/tools crafted=$cache/crafted
if [ -n "$sr" ]; then
	# cross-built by tests/cross/run.sh
	ours_ext=$TB_CROSS/libxt_connlimit.so tooldir=$TB_CROSS/tools crafted=$TB_CROSS/crafted
	[ -f "$sr/.sysroot-key" ] || {
		echo "mkinitramfs: no $TB_ARCH binaries in $sr (tests/cross/mksysroot.sh)" >&2
		exit 1
	}
fi
tools=("$tooldir/connt" "$tooldir/clstress" "$tooldir/xtcraft")

# Host binaries the guest gets, with their libraries.
bins=(
	/usr/bin/bash /usr/bin/busybox
	/usr/sbin/xtables-legacy-multi /usr/sbin/xtables-nft-multi
	/usr/sbin/ip /usr/bin/ss /usr/bin/kmod /usr/sbin/conntrack
)
# ipset, for the documentation's examples (tests/docs), when installed
# (the host's, so amd64 guests only)
[ -z "$sr" ] && [ -x /usr/sbin/ipset ] && bins+=(/usr/sbin/ipset)
xtdir=/usr/lib/$TB_TRIPLET/xtables
# Busybox applets we must not shadow the real tools with (busybox sh would
# otherwise prefer them), and ones that make no sense here.
bb_skip=" ip ipneigh tc modprobe insmod rmmod lsmod depmod modinfo init linuxrc bash "
module_dirs=(net/netfilter net/ipv4/netfilter net/ipv6/netfilter lib crypto "arch/$TB_KARCH/crypto")
# single modules (each maybe compressed: NAME.ko*)
module_files=(drivers/net/veth)
# the result channel's (a virtio console on ARM)
if [ -n "$TB_RESULT_MODULES" ]; then
	module_dirs+=(drivers/virtio)
	module_files+=(drivers/char/virtio_console)
fi

# A short content hash of whatever names the inputs of a layer.
digest() { sha256sum | cut -c1-16; }

# stat line for each file (path, size, mtime): cheap change detection.
file_manifest() { stat -L -c '%n %s %Y' "$@" 2>/dev/null || true; }

write_cpio() { # DIR OUTFILE
	local dir=$1 file=$2
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$file.tmp"
	case $compress in
	none) ;;
	gzip) gzip -1 -n <"$file.tmp" >"$file.tmp.z" && mv "$file.tmp.z" "$file.tmp" ;;
	*) echo "mkinitramfs: COMPRESS=$compress?" >&2; exit 2 ;;
	esac
	mv "$file.tmp" "$file"
}

# Merged-/usr skeleton like the host's (bin, sbin, lib, lib64 -> usr/...).
skeleton() {
	local r=$1
	mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/{dev,proc,sys,run,tmp,etc,root,var}
	ln -s usr/bin "$r/bin"
	ln -s usr/sbin "$r/sbin"
	ln -s usr/lib "$r/lib"
	ln -s usr/lib64 "$r/lib64"
	ln -s ../run "$r/var/run"
}

# Copy a file of the host (or of the sysroot) to the same path under ROOT
# (symlinks resolved).
add_file() { # ROOT FILE
	[ -e "$1$2" ] || { mkdir -p "$(dirname "$1$2")" && cp -L "$sr$2" "$1$2"; }
}

# The sysroot path of the library NAME (a DT_NEEDED entry).
sysroot_lib() { # NAME
	local d
	for d in "/usr/lib/$TB_TRIPLET" /usr/lib "/lib/$TB_TRIPLET"; do
		if [ -e "$sr$d/$1" ]; then echo "$d/$1"; return 0; fi
	done
	echo "mkinitramfs: library $1 is not in $sr" >&2
	return 1
}

# Copy every library an ELF file needs: what ldd lists for a host file; for
# a sysroot's (which cannot run here; FILE is its path in the guest, already
# copied), its interpreter and DT_NEEDED entries, followed through the
# libraries.
add_libs() { # ROOT FILE
	local r=$1 f=$2 lib todo
	if [ -z "$sr" ]; then
		for lib in $(ldd "$f" 2>/dev/null |
			awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			add_file "$r" "$lib"
		done
		return 0
	fi
	todo=("$f")
	while [ ${#todo[@]} -gt 0 ]; do
		f=${todo[0]}
		todo=("${todo[@]:1}")
		lib=$(readelf -l "$r$f" | sed -n 's/.*program interpreter: \(.*\)]$/\1/p')
		if [ -n "$lib" ]; then add_file "$r" "$lib"; fi
		for lib in $(readelf -d "$r$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			lib=$(sysroot_lib "$lib") || exit 1
			[ -e "$r$lib" ] && continue
			add_file "$r" "$lib"
			todo+=("$lib")
		done
	done
}

# The applets of the guest's busybox (a foreign one runs under qemu-user).
busybox_list() {
	if [ -n "$sr" ]; then "$TB_QEMU_USER" "$sr/usr/bin/busybox" --list; else busybox --list; fi
}

# Copy an ELF file and its libraries.
add_elf() { # ROOT FILE
	add_file "$1" "$2"
	add_libs "$1" "$2"
}

build_tools() {
	[ -z "$sr" ] || return 0 # tests/cross/run.sh built them
	mkdir -p "$cache/tools"
	make -s -C "$top/tests/tools" OUT="$cache/tools" >&2
	# the hostile-data fixture (tests/guest/hostile.sh)
	make -s -C "$top/tests/fixtures/crafted" OUT="$cache/crafted" >&2
}

build_base() { # OUTFILE
	local r a so
	r=$(mktemp -d "$cache/base.root.XXXXXX")
	scratch+=("$r")
	skeleton "$r"
	for a in "${bins[@]}"; do add_elf "$r" "$a"; done

	# busybox applets, except the ones above
	mkdir -p "$r/opt/busybox/bin"
	for a in $(busybox_list); do
		case $bb_skip in *" $a "*) continue ;; esac
		ln -s /usr/bin/busybox "$r/opt/busybox/bin/$a"
	done

	# kmod's tools
	for a in modprobe insmod rmmod lsmod depmod modinfo; do
		ln -s ../bin/kmod "$r/usr/sbin/$a"
	done

	# iptables for both backends; plain names follow Debian's default (nft)
	for a in iptables ip6tables; do
		for s in "" -save -restore; do
			ln -s xtables-legacy-multi "$r/usr/sbin/$a-legacy$s"
			ln -s xtables-nft-multi "$r/usr/sbin/$a-nft$s"
			ln -s xtables-nft-multi "$r/usr/sbin/$a$s"
		done
	done

	# the stock extensions and what they link against
	for so in "$sr$xtdir"/*.so; do add_elf "$r" "${so#"$sr"}"; done

	# our extension, in its own dir (select with XTABLES_LIBDIR)
	if [ -f "$ours_ext" ]; then
		mkdir -p "$r/usr/lib/xtables-ours"
		cp "$ours_ext" "$r/usr/lib/xtables-ours/"
		if [ -n "$sr" ]; then
			add_libs "$r" /usr/lib/xtables-ours/libxt_connlimit.so
		else
			add_libs "$r" "$ours_ext"
		fi
	fi

	cp "${tools[@]}" "$r/usr/bin/"
	mkdir -p "$r/opt/crafted"
	cp -r "$crafted/crafted" "$crafted/crafted-size" "$r/opt/crafted/"
	for a in /etc/protocols /etc/services /etc/ethertypes /etc/nsswitch.conf; do
		if [ -f "$sr$a" ]; then add_file "$r" "$a"; fi
	done
	echo "root:x:0:0:root:/root:/bin/bash" >"$r/etc/passwd"
	echo "root:x:0:" >"$r/etc/group"
	write_cpio "$r" "$1"
	rm -rf "$r"
}

build_modules() { # OUTFILE
	local r d f
	r=$(mktemp -d "$cache/mod-$kver-$variant.root.XXXXXX")
	scratch+=("$r")
	skeleton "$r"
	mkdir -p "$r$gmoddir/kernel"
	for d in "${module_dirs[@]}"; do
		[ -d "$moddir/kernel/$d" ] || continue
		mkdir -p "$r$gmoddir/kernel/$d"
		cp -a "$moddir/kernel/$d/." "$r$gmoddir/kernel/$d/"
	done
	for f in "${module_files[@]}"; do
		mkdir -p "$r$gmoddir/kernel/${f%/*}"
		for d in "$moddir/kernel/$f".ko*; do
			# (a built-in one has no file)
			if [ -f "$d" ]; then cp -a "$d" "$r$gmoddir/kernel/${f%/*}/"; fi
		done
	done
	for f in modules.order modules.builtin modules.builtin.modinfo; do
		if [ -f "$moddir/$f" ]; then cp "$moddir/$f" "$r$gmoddir/"; fi
	done
	if [ "$variant" = ours ]; then
		mkdir -p "$r$gmoddir/updates"
		cp "$ours_ko" "$r$gmoddir/updates/xt_connlimit.ko"
	fi
	depmod -b "$r" "$kver"
	# what modprobe will load must be what we meant
	f=$(modprobe -d "$r" -S "$kver" --show-depends xt_connlimit | awk '/xt_connlimit/ { print $2 }')
	case $variant:$f in
	ours:*/updates/xt_connlimit.ko) ;;
	intree:*/kernel/net/netfilter/xt_connlimit.ko*) ;;
	*) echo "mkinitramfs: modprobe would load '$f' for variant $variant" >&2; exit 1 ;;
	esac
	[ -f "$f" ] || { echo "mkinitramfs: $f is missing" >&2; exit 1; }
	write_cpio "$r" "$1"
	rm -rf "$r"
}

if [ "$variant" = ours ]; then
	[ -f "$ours_ko" ] || { echo "mkinitramfs: $ours_ko not built (make modules-all)" >&2; exit 1; }
	vm=$(modinfo -F vermagic "$ours_ko" | awk '{ print $1 }')
	[ "$vm" = "$kver" ] || {
		echo "mkinitramfs: $ours_ko is built for '$vm', not $kver" >&2
		exit 1
	}
fi

build_tools

# --- base layer (kernel independent)
base_key=$({
	echo "compress=$compress"
	sha256sum "$0" "$top/tests/qemu/arch.sh" "${tools[@]}" "$crafted"/*/libxt_connlimit.so
	file_manifest "${bins[@]/#/$sr}" "$sr$xtdir"/*.so
	if [ -f "$ours_ext" ]; then sha256sum "$ours_ext"; fi
	busybox_list
} | digest)
base=$cache/base-$TB_ARCH-$base_key.cpio
if [ ! -f "$base" ]; then
	rm -f "$cache/base-$TB_ARCH-"*.cpio
	build_base "$base"
fi

# --- module layer (per kernel and variant)
mod_key=$({
	echo "compress=$compress $kver $variant"
	sha256sum "$0"
	for d in "${module_dirs[@]}"; do
		if [ -d "$moddir/kernel/$d" ]; then
			find "$moddir/kernel/$d" -type f -printf '%p %s %T@\n'
		fi
	done
	for f in "${module_files[@]}"; do file_manifest "$moddir/kernel/$f".ko*; done
	if [ "$variant" = ours ]; then sha256sum "$ours_ko"; fi
} | digest)
mods=$cache/mod-$kver-$variant-$mod_key.cpio
if [ ! -f "$mods" ]; then
	rm -f "$cache/mod-$kver-$variant-"*.cpio
	build_modules "$mods"
fi

cat "$base" "$mods" >"$out.tmp"
mv "$out.tmp" "$out"
exit
}
