#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot Debian's 6.1 kernel under qemu with this project's
# xt_connlimit (the kernel's own one, with a note, if ours cannot be built)
# and watch a connlimit rule accept and refuse connections live.
#
# Needs root for the missing Debian packages (tests/install-deps.sh says
# which).  About a minute on a 2-core machine without KVM.  The guest's
# console (kernel messages) goes to build/qemu/runs/demo/console.log.
#
# The body is one compound command, so bash parses all of it before running
# any: editing this file while a run is under way cannot derail that run.
{
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

tests/install-deps.sh

# The newest installed 6.1 kernel that has its modules.
kver=
for v in /boot/vmlinuz-6.1.*; do
	[ -e "$v" ] || continue
	k=${v#/boot/vmlinuz-}
	[ -d "/lib/modules/$k/kernel" ] && kver=$k
done
[ -n "$kver" ] || { echo "demo: no Debian 6.1 kernel installed (linux-image-amd64)" >&2; exit 1; }

variant=${DEMO_VARIANT:-ours}	# DEMO_VARIANT=intree: the kernel's own module
ko=build/$kver/kernel/xt_connlimit.ko
if [ ! -f "$ko" ] && [ -d "/lib/modules/$kver/build" ]; then
	echo "demo: building the module for $kver (log: build/demo-make.log) ..."
	mkdir -p build
	make -s module KDIR="/lib/modules/$kver/build" >build/demo-make.log 2>&1 || true
fi
if [ "$variant" = ours ] && [ ! -f "$ko" ]; then
	variant=intree
	echo "demo: NOTE: $ko could not be built; showing the kernel's own xt_connlimit instead"
fi

out=build/qemu/runs/demo
mkdir -p "$out"
echo "demo: preparing the guest (kernel $kver, module: $variant) ..."
tests/qemu/mkinitramfs.sh "$kver" "$variant" "$out/base.img" >"$out/mkinitramfs.log" 2>&1 || {
	cat "$out/mkinitramfs.log" >&2
	exit 1
}
echo "demo: booting it under qemu (no KVM here: this takes a few seconds) ..."
if tests/qemu/run-guest.sh -s demo.sh -V "$variant" -t 300 -R "$kver" "$out/base.img" "$out"; then
	echo
	echo "demo: done; the guest's kernel log was clean."
else
	echo
	echo "demo: FAILED: $(cat "$out/verdict" 2>/dev/null)"
	tr -d '\r' <"$out/console.log" | tail -n 30
	exit 1
fi
exit
}
