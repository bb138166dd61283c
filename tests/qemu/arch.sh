# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2054  # variables for the sourcing scripts; qemu -M options
#
# The test bed's architectures, sourced by mkinitramfs.sh, run-guest.sh and
# tests/cross/.  A kernel release names its architecture by its flavour:
# ...-amd64 (and cloud-amd64, rt-amd64), ...-arm64, ...-armmp(-lpae).
#
# testbed_arch KVER sets:
#   TB_ARCH      Debian architecture: amd64, arm64, armhf
#   TB_KARCH     the kernel's ARCH= (x86, arm64, arm)
#   TB_TRIPLET   the multiarch triplet (x86_64-linux-gnu, ...)
#   TB_SYSROOT   where that architecture's Debian binaries for the guest are
#                unpacked: "" for the host's own (amd64), else
#                tests/cross/mksysroot.sh's directory
#   TB_CROSS     directory of the cross-built extension, test tools and
#                fixture (tests/cross/build-user.sh); "" for amd64
#   TB_QEMU      the qemu command line up to -kernel (an array; -smp and
#                -m come from the caller)
#   TB_CONSOLE   the console's device name in the guest
#   TB_RESULT_DEV, TB_RESULT_MODULES
#                the result channel: its device in the guest and the modules
#                to load before it appears ("" for built-in).  x86 has a
#                second 16550 UART; the ARM virt machine has one PL011, so
#                there the channel is a virtio console port (hvc0)
#   TB_RESULT_QEMU
#                the qemu options making the result channel write FILE
#                (the function testbed_result_qemu FILE prints them)
#   TB_QEMU_USER qemu-user-static binary that runs the sysroot's static
#                busybox on this machine ("" for amd64)

TB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TB_CROSS_CACHE=${CONNLIMIT_CROSS_CACHE:-/var/cache/connlimit-tests/cross}

testbed_arch() { # KVER
	case $1 in
	*-arm64)
		TB_ARCH=arm64 TB_KARCH=arm64 TB_TRIPLET=aarch64-linux-gnu
		TB_QEMU=(qemu-system-aarch64 -M virt -cpu cortex-a57)
		TB_CONSOLE=ttyAMA0 TB_QEMU_USER=qemu-aarch64-static
		;;
	*-armmp | *-armmp-lpae)
		TB_ARCH=armhf TB_KARCH=arm TB_TRIPLET=arm-linux-gnueabihf
		# highmem=off: the PCI window above 4 GiB is of no use to a
		# non-LPAE kernel; the devices are virtio-mmio
		TB_QEMU=(qemu-system-arm -M virt,highmem=off -cpu cortex-a15)
		TB_CONSOLE=ttyAMA0 TB_QEMU_USER=qemu-arm-static
		;;
	*)
		TB_ARCH=amd64 TB_KARCH=x86 TB_TRIPLET=x86_64-linux-gnu
		TB_QEMU=(qemu-system-x86_64 -vga none)
		TB_CONSOLE=ttyS0 TB_QEMU_USER=""
		TB_SYSROOT="" TB_CROSS=""
		TB_RESULT_DEV=/dev/ttyS1 TB_RESULT_MODULES=""
		return 0
		;;
	esac
	TB_SYSROOT=$TB_CROSS_CACHE/sysroot-$TB_ARCH
	TB_CROSS=$TB_TOP/build/cross/$TB_ARCH
	TB_RESULT_DEV=/dev/hvc0 TB_RESULT_MODULES="virtio_mmio virtio_console"
}

testbed_result_qemu() { # FILE
	if [ "$TB_ARCH" = amd64 ]; then
		echo "-serial file:$1"
	else
		echo "-device virtio-serial-device -chardev file,id=results,path=$1" \
			"-device virtconsole,chardev=results"
	fi
}
