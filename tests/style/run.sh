#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Style and build gates, one TAP-like line each:
#   - checkpatch --strict over kernel/ (clean)
#   - the module for every installed Debian header set with W=1, sparse
#     (C=2) and -Werror: any compiler or sparse diagnostic fails
#   - the extension with the strict userspace warnings as errors
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
n=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

report() {	# report <0|1> <description>
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		failed=1
		sed 's/^/# /' "$log" | tail -n 40
		echo "FAIL: $2"
		echo "not ok $n - $2"
	fi
}

checkpatch=$(tests/style/get-checkpatch.sh 2>"$log")
if [ -z "$checkpatch" ]; then
	report 1 "checkpatch available (extracted from linux-source)"
else
	perl "$checkpatch" --no-tree -f --strict --terse kernel/*.c kernel/*.h >"$log" 2>&1
	report $? "checkpatch --strict clean over kernel/"
fi

for kdir in /usr/src/linux-headers-*-amd64; do
	[ -d "$kdir" ] || continue
	kver=${kdir##*/linux-headers-}
	make --no-print-directory module KDIR="$kdir" \
		KBUILD_ARGS="W=1 C=2 KCFLAGS=-Werror" >"$log" 2>&1
	rc=$?
	# sparse reports as "file:line:col: warning|error:" without failing.
	if [ $rc -eq 0 ] && grep -E ': (warning|error):' "$log" >/dev/null; then
		rc=1
	fi
	report $rc "module builds for $kver with W=1, sparse and -Werror, no diagnostics"
done

make --no-print-directory -B -C userspace >"$log" 2>&1
report $? "extension builds with strict warnings as errors"

exit $failed
