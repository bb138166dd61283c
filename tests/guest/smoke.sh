#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Smallest guest suite: the guest boots, loads the modules the e2e suite
# needs and runs the tools it uses.  For checking the test bed itself:
#   tests/qemu/run-guest.sh -s smoke.sh -r KVER INITRD OUTDIR

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

smoke() {
	modprobe xt_connlimit
	iptables-legacy -L -n >/dev/null
	iptables-nft -L -n >/dev/null
	mkns a
	nsx "$a" connt -h 2>/dev/null || [ $? -eq 2 ]
}
run_case smoke "smoke: modules load, tools run" smoke
lsmod
[ "$n_fail" -eq 0 ]
