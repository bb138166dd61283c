#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs the Debian packages a fresh bookworm machine needs to build the
# module and the extension for both target kernels and to run the test bed.
# Safe to re-run: apt-get skips what is already there.  Needs root.
# Arguments name more packages to install with these (make bench: gnuplot).
set -euo pipefail

pkgs=(
	# build
	make gcc libc6-dev pkg-config libxtables-dev sparse
	# target kernels: bookworm's 6.1 and 6.12 from bookworm-security
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	# test bed: qemu plus the binaries the guest initramfs is made of
	qemu-system-x86 busybox-static iptables iproute2 kmod conntrack
	cpio xz-utils
	# ARM guests (tests/cross): qemu-system-aarch64 and -arm boot the
	# kernels directly on the virt board (no firmware package needed);
	# qemu-user-static runs the guest's own static busybox here, to list
	# its applets; the guest's binaries and the cross compilers come from
	# Debian trixie into chroots tests/cross makes
	qemu-system-arm qemu-user-static
	# host tests: unshare, diff, groff for the man page fragment, nft to
	# load translations
	util-linux diffutils groff-base nftables
	# the documentation's examples (tests/docs): the recipes' everyday
	# tools and ipset (also taken into the guest)
	netcat-openbsd curl ipset
	# packaging (tests/pkg): build the .debs, lint them, and a chroot to
	# install them into (dkms itself is needed only inside that chroot)
	debhelper dh-dkms dpkg-dev fakeroot lintian debootstrap
	debian-archive-keyring zstd
	# fuzzing (tests/fuzz): clang with libFuzzer and the sanitizers'
	# runtimes, llvm-cov for the coverage report, xxd for mkcorpus.sh
	clang-14 libclang-rt-14-dev llvm-14 xxd
	"$@"
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages: ${missing[*]}" >&2
	echo "run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
