#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# pkg.sh RELEASE [KVER...]
#
# The Debian packages in one release of the kernel matrix, the way its users
# get them: built with that release's dpkg-buildpackage, debhelper and DKMS
# helper against its libxtables, installed with its dpkg and dkms, which
# builds the module for each KVER (default: every kernel whose headers are
# in the chroot), then removed and purged, after which the distribution's
# files verify clean (dpkg --verify) and nothing of ours is left.
#
# The release's chroot (mkroot.sh, with the kernels' headers fetch.sh put
# there) gets the packaging tools once (debhelper, build-essential and the
# DKMS debhelper sequence: dh-dkms, or in bullseye the dkms package itself);
# everything else happens in an overlay on top of it, thrown away at the
# end, so the cached chroot never holds our packages.  The kernels' images
# are not installed (their headers are what DKMS needs): the kernels' own
# modules are checked by tests/pkg/run.sh, which installs the host's.
#
# TAP-like lines ("ok N - RELEASE pkg: ..."), "# matrix timing:" lines;
# exit 1 if anything failed.  MATRIX_PKG_KEEP=1 leaves the overlay mounted
# (and the chroot's proc, dev, tmp in it) for a look.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/pkg/checks.sh
. "$MATRIX_TOP/tests/pkg/checks.sh"

[ $# -ge 1 ] || { echo "usage: $0 RELEASE [KVER...]" >&2; exit 2; }
release=$1
shift
lower=$(matrix_root "$release")
work=$MATRIX_TOP/build/matrix/pkg-$release
root=$work/root
logs=$MATRIX_TOP/build/matrix/logs
version=$(cat "$MATRIX_TOP/VERSION")
n=0 failed=0
t_all=$(date +%s)

TAP_PREFIX="$release pkg: "
show() { tail -n "${2:-30}" "$1" | sed 's/^/#   /'; }
ch() { in_chroot "$root" "$@"; }
# dpkg --verify: every package of the chroot
VERIFY_PKGS=()
KERNEL_OWN=0

[ "$(id -u)" -eq 0 ] || { echo "ok 1 - $release pkg # SKIP needs root (chroot, mounts)"; exit 0; }
[ -d "$lower/usr" ] || { fail "$release chroot" "no $lower (tests/matrix/mkroot.sh $release)"; exit 1; }
mkdir -p "$logs"

# The chroot is ours until the end (fd 7: the lock every matrix script takes).
exec 7>"$lower.lock"
flock 7

# shellcheck disable=SC2317  # (a trap handler)
cleanup() {
	if [ "${MATRIX_PKG_KEEP:-0}" = 1 ] && mountpoint -q "$root"; then
		echo "# MATRIX_PKG_KEEP=1: $root left mounted (umount it, then rm -r $work)"
		return
	fi
	bg_kill
	chroot_kill "$root"
	chroot_umount "$root"
	chroot_umount "$lower"
	mountpoint -q "$root" && { umount "$root" 2>/dev/null || umount -l "$root"; }
	if [ -n "$(mounts_below "$work")" ]; then
		echo "# WARNING: mounts left below $work"
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup

# --- the release's packaging tools, kept in its chroot
t=$(date +%s)
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z][^:]*:/p' "$MATRIX_TOP/debian/control" |
	sed -e '$d' -e 's/^Build-Depends://' | tr -d '\n' | sed -e 's/[[:space:]]\+/ /g' -e 's/, *$//')
chroot_mount "$lower" &&
	in_chroot "$lower" apt-get -q -y satisfy "build-essential, dkms, $bdeps" \
		>"$logs/pkg-$release-tools.log" 2>&1 &&
	in_chroot "$lower" apt-get clean
rc=$?
chroot_umount "$lower"
if [ $rc -ne 0 ]; then
	show "$logs/pkg-$release-tools.log"
	fail "packaging tools installed (build-essential, dkms, $bdeps)" "apt-get satisfy failed"
	exit 1
fi
dkms_v=$(chroot "$lower" dpkg-query -W -f='${Version}' dkms)
dh_v=$(chroot "$lower" dpkg-query -W -f='${Version}' debhelper)
xt_v=$(chroot "$lower" pkg-config --modversion xtables)
echo "# $release: dkms $dkms_v, debhelper $dh_v, libxtables $xt_v ($(matrix_since "$t"))"

kernels=("$@")
if [ $# -eq 0 ]; then
	for k in "$lower"/lib/modules/*; do
		[ -e "$lower/usr/src/linux-headers-${k##*/}/include" ] && kernels+=("${k##*/}")
	done
fi
[ ${#kernels[@]} -gt 0 ] || { fail "kernels with headers" "none in the $release chroot"; exit 1; }

# --- the overlay
mkdir -p "$work/upper" "$work/work" "$root"
if ! mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/work" "$root" ||
	! chroot_mount "$root"; then
	fail "overlay over the $release chroot" "mount failed"
	exit 1
fi

# --- build
t=$(date +%s)
src=/var/tmp/connlimit-pkg/connlimit-$version
mkdir -p "$root$src"
tar -C "$MATRIX_TOP" --exclude=./build --exclude=./.git --exclude='*.o' --exclude='*.so' \
	--exclude=./.ci -cf - . | tar -C "$root$src" -xf -
if ch sh -c "cd $src && dpkg-buildpackage -us -uc -b" >"$logs/pkg-$release-build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b (debhelper $dh_v)"
else
	show "$logs/pkg-$release-build.log"
	fail "dpkg-buildpackage -us -uc -b (debhelper $dh_v)" "see $logs/pkg-$release-build.log"
	exit 1
fi
arch=$(ch dpkg --print-architecture)
xtlib=/usr/lib/$(ch dpkg-architecture -qDEB_HOST_MULTIARCH)/xtables/libxt_connlimit.so
dkms_deb=$root${src%/*}/connlimit-dkms_${version}_all.deb
xt_deb=$root${src%/*}/connlimit-xtables_${version}_$arch.deb
check_built "$dkms_deb" "$xt_deb"

# connlimit-xtables needs this release's libxtables, no newer one
dep=$(dpkg-deb -f "$xt_deb" Depends 2>/dev/null | tr ',' '\n' | sed 's/^ *//' | grep '^libxtables')
lib=${dep%% *}
have=$(ch dpkg-query -W -f='${Version}' "$lib" 2>/dev/null)
need=$(sed -n 's/.*(>= *\([^)]*\)).*/\1/p' <<<"$dep")
why=""
[ -n "$have" ] || why+="depends on '${dep:-no libxtables}', which the release does not have installed; "
[ -z "$need" ] || dpkg --compare-versions "$have" ge "$need" || why+="needs $lib $need, the release has $have; "
check "connlimit-xtables depends on the release's libxtables: $dep (installed: $have)" \
	"${why:-?}" test -z "$why"
echo "# matrix timing: $release packages built: $(matrix_since "$t")"

iptables_md5=$(pkg_md5 iptables "$xtlib")
why=""
[ -n "$iptables_md5" ] || why+="iptables does not ship $xtlib; "
verify_dist || why+="dpkg --verify not clean before the test; "
check "chroot: iptables $(ch dpkg-query -W -f='${Version}' iptables), headers of ${kernels[*]}; verified" \
	"${why:-?}" test -z "$why"

# --- install: DKMS builds for the kernels
t=$(date +%s)
mkdir -p "$root/tmp/debs"
cp "$dkms_deb" "$xt_deb" "$root/tmp/debs/"
check_install "$logs/pkg-$release-install.log"
# The package's postinst builds for the running kernel and the newest one
# (dkms's own choice, which varies between releases); a kernel installed
# later is built by dkms's kernel hook: its autoinstall, run here for the
# kernels the postinst left out.
for k in "${kernels[@]}"; do
	ch dkms status -m connlimit -v "$version" -k "$k" 2>/dev/null | grep -q installed && continue
	echo "# $k: dkms autoinstall (the kernel hook's way)"
	ch dkms autoinstall -k "$k" >>"$logs/pkg-$release-install.log" 2>&1
done
echo "# matrix timing: $release dkms $dkms_v for ${#kernels[@]} kernels: $(matrix_since "$t")"
check_installed

# --- remove, purge
check_remove "$logs/pkg-$release-remove.log"

echo "# matrix timing: $release packages: $(matrix_since "$t_all")"
exit "$failed"
