#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# resolve.sh RELEASE FROM FLAVOUR
#
# Prints the kernel release (uname -r) of the newest FLAVOUR kernel
# (amd64, cloud-amd64, rt-amd64) that RELEASE's chroot can install from
# suite FROM, e.g. "resolve.sh bullseye bullseye amd64" -> 5.10.0-46-amd64.
# A release name as FROM also takes its -security and -updates suites.
# MATRIX_ARCH=DEBARCH: FLAVOUR is a kernel of that foreign architecture
# (arm64, armmp) of the chroot.
# It reads the flavour's metapackage (linux-image-FLAVOUR): the highest
# version of it in those suites, and the kernel package it depends on.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"

[ $# -eq 3 ] || { echo "usage: $0 RELEASE FROM FLAVOUR" >&2; exit 2; }
release=$1 from=$2 flavour=$3
root=$(matrix_root "$release")
meta=linux-image-$flavour
# a foreign architecture's kernel (fetch.sh's MATRIX_ARCH)
if [ -n "${MATRIX_ARCH:-}" ]; then meta=$meta:$MATRIX_ARCH; fi

# "pkg | version | url suite/component arch Packages"
best=""
while IFS='|' read -r _ ver where; do
	ver=$(echo "$ver" | tr -d ' ')
	suite=$(echo "$where" | awk '{ split($2, s, "/"); print s[1] }')
	case $suite in
	"$from" | "$from-security" | "$from-updates") ;;
	*) continue ;;
	esac
	if [ -z "$best" ] || dpkg --compare-versions "$ver" gt "$best"; then
		best=$ver
	fi
done < <(chroot "$root" apt-cache madison "$meta")
[ -n "$best" ] || { echo "resolve: no $meta in $from ($release chroot)" >&2; exit 1; }

dep=$(chroot "$root" apt-cache show "$meta=$best" |
	awk -F': ' '$1 == "Depends" { print $2; exit }' | tr ',' '\n' |
	sed -E 's/^ *//; s/ .*//' | grep -E "^linux-image-.*-$flavour\$" | head -n 1)
[ -n "$dep" ] || { echo "resolve: $meta=$best depends on no kernel" >&2; exit 1; }
echo "${dep#linux-image-}"
