#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian ships checkpatch.pl only inside linux-source-*.  Download that
# package (not installed) and extract just checkpatch and its data files
# into DEST (default build/checkpatch).  Prints the path of checkpatch.pl.
set -euo pipefail

dest=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/checkpatch}
if [ -x "$dest/scripts/checkpatch.pl" ]; then
	echo "$dest/scripts/checkpatch.pl"
	exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Any recent kernel tree's checkpatch will do: bookworm's 6.1 source.
pkg=linux-source-6.1
(cd "$work" && apt-get download -q "$pkg" >/dev/null)
tarball=$(dpkg-deb -c "$work"/*.deb | awk '/linux-source-.*\.tar\.xz$/ {print $NF}')
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -xO "./${tarball#./}" |
	tar -xJ -C "$work" --wildcards --strip-components=1 \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
mkdir -p "$dest/scripts"
cp "$work"/scripts/checkpatch.pl "$work"/scripts/spelling.txt \
	"$work"/scripts/const_structs.checkpatch "$dest/scripts/"
echo "$dest/scripts/checkpatch.pl"
