# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by the kernel matrix scripts (tests/matrix/): where the
# release chroots and downloaded packages are cached, the Debian mirrors,
# and running a command inside a release's chroot.  The chroot mounts come
# from tests/pkg/lib.sh.

MATRIX_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MATRIX_TOP=$(cd "$MATRIX_HERE/../.." && pwd)
# shellcheck source=tests/pkg/lib.sh
. "$MATRIX_TOP/tests/pkg/lib.sh"

# Outside the work tree, so fresh clones on this machine reuse it.
MATRIX_CACHE=${CONNLIMIT_MATRIX_CACHE:-/var/cache/connlimit-tests/matrix}
# Kernels unpacked from their packages, per kernel release.
MATRIX_KERNELS=$MATRIX_TOP/build/kernels
# Our module, built in the release chroots, per kernel release.
MATRIX_MODULES=$MATRIX_TOP/build/matrix/modules

matrix_root() { echo "$MATRIX_CACHE/root-$1"; }

# The base URL of the host's apt source serving SUITE-like suites of its
# own release: "main" (the archive) or "security".
matrix_mirror() { # main|security
	local codename want
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	case $1 in
	security) want="$codename-security" ;;
	*) want=$codename ;;
	esac
	apt-cache policy 2>/dev/null |
		awk -v s="$want/main" '$2 ~ /^(https?|file):/ && $3 == s { print $2; exit }'
}

# The matrix lines (comments and blank lines dropped).
matrix_lines() {
	grep -vE '^[[:space:]]*(#|$)' "$MATRIX_HERE/releases.conf"
}

# The releases the matrix needs a chroot of, in file order.
matrix_releases() {
	matrix_lines | awk '!seen[$1]++ { print $1 }'
}

# with_root RELEASE CMD...: run CMD inside the release's chroot, mounted
# for the call only; one user of a chroot at a time (fd 7 holds its lock).
with_root() {
	local root rc
	root=$(matrix_root "$1")
	shift
	exec 7>"$root.lock"
	flock 7
	chroot_mount "$root" || { chroot_umount "$root"; exec 7>&-; return 1; }
	in_chroot "$root" "$@"
	rc=$?
	chroot_umount "$root"
	exec 7>&-
	return "$rc"
}

# Seconds since $1, as "Ns".
matrix_since() { echo "$(($(date +%s) - $1))s"; }
