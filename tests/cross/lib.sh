# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034  # variables for the scripts sourcing this
#
# Helpers shared by the cross builds and boots (tests/cross/): the ARM
# architectures, their Debian release, and the chroot that cross-builds for
# them.  The chroot is the kernel matrix's (tests/matrix/mkroot.sh, same
# scripts) made in a cache directory of its own, with the arm64 and armhf
# dpkg architectures and Debian's cross compilers added: the matrix's
# chroots are never changed.

CROSS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CROSS_TOP=$(cd "$CROSS_HERE/../.." && pwd)
# shellcheck source=tests/qemu/arch.sh
. "$CROSS_TOP/tests/qemu/arch.sh"

# The release whose kernels, compilers and binaries are used.
CROSS_RELEASE=trixie
CROSS_CACHE=$TB_CROSS_CACHE
# The matrix scripts, pointed at the cross chroot.
export CONNLIMIT_MATRIX_CACHE=$CROSS_CACHE
export MKROOT_FOREIGN="arm64 armhf"
export MKROOT_EXTRA_PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
	libxtables-dev:arm64 libxtables-dev:armhf"
# shellcheck source=tests/matrix/lib.sh
. "$CROSS_TOP/tests/matrix/lib.sh"

# cross_arch ARCH (the kernel's name: arm64 or arm) sets, besides
# testbed_arch's TB_* for that architecture:
#   CROSS_FLAVOURS  Debian's kernel flavours built against
#   CROSS_BOOT      the flavour booted
#   CROSS_COMPILE   the compiler prefix
cross_arch() {
	case $1 in
	arm64)
		CROSS_FLAVOURS="arm64" CROSS_BOOT=arm64
		testbed_arch x-arm64
		;;
	arm)
		CROSS_FLAVOURS="armmp armmp-lpae" CROSS_BOOT=armmp
		testbed_arch x-armmp
		;;
	*) return 1 ;;
	esac
	CROSS_COMPILE=$TB_TRIPLET-
}

CROSS_ARCHES="arm64 arm"
