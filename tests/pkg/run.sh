#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Packaging tests, run the way a user would install the packages -- but in a
# throwaway Debian chroot, so the host itself gets nothing installed:
#
#   1. dpkg-buildpackage -us -uc -b in a copy of the tree; lintian (no
#      errors); what the packages declare
#   2. a chroot of the host's release (tests/pkg/mkchroot.sh, cached
#      tarball) with every kernel under test: linux-image + linux-headers
#   3. dpkg -i both packages: DKMS builds the module for each kernel; it
#      must land in /lib/modules/KVER/updates/dkms/, modinfo must resolve
#      there and report VERSION, the kernel's own module must be untouched,
#      the iptables package's extension diverted and intact
#   4. per kernel: boot it under qemu with that module tree (the initramfs
#      of tests/qemu/ plus a layer holding the chroot's /lib/modules/KVER
#      and the packaged extension) and check that iptables rules autoload
#      OUR module (tests/guest/pkg-autoload.sh)
#   5. dpkg -r, then -P: the distribution's xt_connlimit.ko and
#      libxt_connlimit.so are back and intact (dpkg --verify), nothing left
#   6. an install that fails after preinst (a file conflict) takes the
#      diversion back (postrm abort-install)
#   7. the Makefile's install/uninstall and dkms-install/dkms-remove, as
#      root in the chroot, leave it as they found it
#
# TAP-like output: "ok N - desc", "FAIL: <what differed>" + "not ok N -
# desc", "ok N - desc # SKIP why"; "# timing:" lines; exit 1 on any failure.
#
# Environment:
#   CONNLIMIT_PKG_CACHE  where the base chroot tarball is kept (default
#                        /var/cache/connlimit-tests/pkg: outside the work
#                        tree, so fresh clones on the same machine reuse it;
#                        it is rebuilt whenever its inputs change)
#   KEEP_CHROOT=1        keep build/pkg/root after the run (it is kept
#                        anyway when a case failed)
#   PKG_BOOT=0           skip the qemu boots
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/pkg/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/pkg/checks.sh
. "$here/checks.sh"
cd "$top" || exit 1

version=$(cat VERSION)
work=$top/build/pkg
cache=${CONNLIMIT_PKG_CACHE:-/var/cache/connlimit-tests/pkg}
root=$work/root
logs=$work/logs
n=0 failed=0
t_all=$(date +%s)

timing() { echo "# timing: $1 $(since "$2")s"; }
# show FILE [N]: the tail of a log, as comments
show() { tail -n "${2:-30}" "$1" | sed 's/^/#   /'; }
bail() { echo "# bailing out: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	skip "package tests" "need root (debootstrap, chroot, mounts)"
	exit 0
fi
for tool in dpkg-buildpackage lintian debootstrap qemu-system-x86_64 cpio; do
	command -v "$tool" >/dev/null || {
		fail "tools present" "$tool missing (tests/install-deps.sh)"
		exit 1
	}
done

mapfile -t kernels < <(pkg_kernels)
[ ${#kernels[@]} -gt 0 ] || bail "no kernel with /boot/vmlinuz-* and /lib/modules/*"
echo "# kernels: ${kernels[*]}; version $version"
mkdir -p "$work" "$logs"
rm -f "$logs"/*

# ---------------------------------------------------------------- cleanup
# shellcheck disable=SC2317  # (a trap handler)
# The chroot's mounts come down whatever happens; the tree goes only when
# no mount is left below it (and never across a file system boundary).
cleanup() {
	local rc=$?
	exec >&3 2>&4	# a signal may arrive while a command's output is redirected
	bg_kill
	chroot_kill "$root"
	chroot_umount "$root"
	if [ -n "$(mounts_below "$root")" ]; then
		echo "# WARNING: mounts left below $root: $(mounts_below "$root" | tr '\n' ' ')"
	elif [ -d "$root" ] && [ "${KEEP_CHROOT:-0}" != 1 ] && [ "$failed" -eq 0 ]; then
		rm -rf --one-file-system "$root"
	elif [ -d "$root" ]; then
		echo "# chroot kept in $root"
	fi
	timing "pkg suite total (with cleanup)" "$t_all"
	exit "$rc"
}
exec 3>&1 4>&2
trap cleanup EXIT
trap 'echo "# interrupted" >&3; exit 130' INT TERM

# ------------------------------------------------------------- 1. build
t=$(date +%s)
src=$work/src/connlimit-$version
rm -rf "$work/src"
mkdir -p "$src"
tar -C "$top" --exclude=./build --exclude=./.git --exclude='*.o' --exclude='*.so' \
	--exclude=./.ci -cf - . | tar -C "$src" -xf -
if bg_run env --chdir="$src" dpkg-buildpackage -us -uc -b >"$logs/build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b"
else
	fail "dpkg-buildpackage -us -uc -b" "see $logs/build.log"
	show "$logs/build.log"
	bail "no packages"
fi
timing "package build" "$t"

arch=$(dpkg --print-architecture)
dkms_deb=$work/src/connlimit-dkms_${version}_all.deb
xt_deb=$work/src/connlimit-xtables_${version}_$arch.deb
changes=$work/src/connlimit_${version}_$arch.changes
xtdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/xtables
xtlib=$xtdir/libxt_connlimit.so
check_built "$dkms_deb" "$xt_deb"

t=$(date +%s)
lintian --fail-on error --display-level '>=info' "$changes" >"$logs/lintian.log" 2>&1
rc=$?
sed 's/^/#   lintian: /' "$logs/lintian.log"
check "lintian: no errors" "lintian exited $rc" test "$rc" -eq 0
timing lintian "$t"


# ------------------------------------------------------------- 2. chroot
t=$(date +%s)
if ! bg_run tests/pkg/mkchroot.sh "$cache" >"$work/tarball" 2>"$logs/mkchroot.log"; then
	fail "base chroot ready" "tests/pkg/mkchroot.sh failed"
	show "$logs/mkchroot.log"
	bail "no chroot"
fi
tarball=$(cat "$work/tarball")
grep '^# mkchroot' "$logs/mkchroot.log"
timing "base chroot (cached: $(basename "$tarball"))" "$t"

t=$(date +%s)
chroot_umount "$root"
[ -z "$(mounts_below "$root")" ] || bail "mounts left below $root from an earlier run"
rm -rf --one-file-system "$root"
mkdir -p "$root"
case $tarball in
*.zst) zstd -q -dc "$tarball" | tar -C "$root" -xf - ;;
*) tar -C "$root" -xf "$tarball" ;;
esac || bail "cannot unpack $tarball"
chroot_mount "$root" || bail "cannot mount proc/dev/tmp in $root"
timing "chroot unpacked and mounted" "$t"
ch() { in_chroot "$root" "$@"; }

# The distribution's own files that must survive everything.
images=()
for k in "${kernels[@]}"; do
	images+=("$(ch dpkg -S "/boot/vmlinuz-$k" | cut -d: -f1 | head -n 1)")
done
# dpkg --verify: iptables and the kernel images
VERIFY_PKGS=(iptables "${images[@]}")
KERNEL_OWN=1
iptables_md5=$(pkg_md5 iptables "$xtlib")

why=""
[ -n "$iptables_md5" ] || why+="iptables does not ship $xtlib; "
for k in "${kernels[@]}"; do
	[ -n "$(intree_ko "$k")" ] || why+="$k has no in-tree xt_connlimit; "
	[ -e "$root/lib/modules/$k/build/include" ] || why+="$k has no headers; "
done
verify_dist || why+="dpkg --verify not clean before the test; "
check "chroot: iptables, ${images[*]} and their headers, verified" "${why:-?}" test -z "$why"
[ -z "$why" ] || bail "the chroot is not what the tests need"

# ------------------------------------------------------------- 3. install
t=$(date +%s)
mkdir -p "$root/tmp/debs"
cp "$dkms_deb" "$xt_deb" "$root/tmp/debs/"
check_install "$logs/install.log"
timing "install (dkms builds for ${#kernels[@]} kernels)" "$t"
check_installed

# ------------------------------------------------------------- 4. boot
# One guest per kernel: the qemu test bed's initramfs (host binaries, the
# kernel's own modules) with a layer on top that holds the chroot's
# module tree for that kernel -- its depmod output, DKMS's module -- and
# the packaged extension.  The run layer of run-guest.sh comes last.
boot_subset=(net/netfilter net/ipv4/netfilter net/ipv6/netfilter lib crypto arch/x86/crypto)
# boot KVER: sets boot_why when the guest did not pass.  (Runs in this
# shell, not in a $(...), so that a signal can cut it short.)
boot() { # KVER
	local k=$1 out=$work/boot/$1 L d rc
	boot_why=""
	rm -rf "$out"
	mkdir -p "$out"
	if ! bg_run tests/qemu/mkinitramfs.sh "$k" intree "$out/base.img" >"$out/mkinitramfs.log" 2>&1; then
		show "$out/mkinitramfs.log" 20
		boot_why="the test bed's initramfs could not be built"
		return 1
	fi
	L=$out/layer
	mkdir -p "$L/usr/lib/modules/$k/kernel" "$L/usr/lib/xtables-pkg" "$L/etc"
	cp -a "$root/lib/modules/$k/updates" "$root/lib/modules/$k"/modules.* "$L/usr/lib/modules/$k/"
	for d in "${boot_subset[@]}"; do
		[ -d "$root/lib/modules/$k/kernel/$d" ] || continue
		mkdir -p "$L/usr/lib/modules/$k/kernel/$d"
		cp -a "$root/lib/modules/$k/kernel/$d/." "$L/usr/lib/modules/$k/kernel/$d/"
	done
	cp "$root$xtlib" "$L/usr/lib/xtables-pkg/"
	printf 'PKG_VERSION=%s\nPKG_KVER=%s\n' "$version" "$k" >"$L/etc/connlimit-pkg.conf"
	(cd "$L" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out/pkg.cpio"
	# (not initrd.img: run-guest.sh writes that one in OUTDIR)
	cat "$out/base.img" "$out/pkg.cpio" >"$out/pkg-initrd.img"
	rm -rf "$L" "$out/base.img" "$out/pkg.cpio"
	bg_run tests/qemu/run-guest.sh -s pkg-autoload.sh -V ours -t 600 "$k" "$out/pkg-initrd.img" "$out" \
		>"$out/run-guest.log" 2>&1
	rc=$?
	rm -f "$out/pkg-initrd.img" "$out/initrd.img"
	sed -n 's/^/#   guest: /p' "$out/results.txt" 2>/dev/null
	echo "# $k: guest verdict '$(cat "$out/verdict" 2>/dev/null)' after $(cat "$out/elapsed" 2>/dev/null)s in qemu"
	if [ $rc -ne 0 ]; then
		tr -d '\r' <"$out/console.log" 2>/dev/null | grep -E '^FAIL:' | sed 's/^/#   /'
		show "$out/run-guest.log" 10
		boot_why="guest verdict: $(cat "$out/verdict" 2>/dev/null || echo none); console: $out/console.log"
		return 1
	fi
}
for k in "${kernels[@]}"; do
	d="$k: qemu boot with the installed module tree: iptables rules autoload our module ($version)"
	if [ "${PKG_BOOT:-1}" = 0 ]; then
		skip "$d" "PKG_BOOT=0"
		continue
	fi
	if ! cmp -s "$root/boot/vmlinuz-$k" "/boot/vmlinuz-$k"; then
		skip "$d" "the chroot's vmlinuz-$k differs from the host's (run-guest.sh boots /boot)"
		continue
	fi
	t=$(date +%s)
	if boot "$k"; then
		pass "$d"
	else
		fail "$d" "$boot_why"
	fi
	timing "boot $k" "$t"
done

# ------------------------------------------------------------- 5. remove

t=$(date +%s)
check_remove "$logs/remove.log"
timing "remove" "$t"

# ------------------------------------------------------------- 6. abort-install
# A package that owns a path connlimit-xtables ships makes its unpack fail
# after preinst diverted the extension; dpkg then runs postrm
# abort-install, which must take the diversion back.
t=$(date +%s)
blocker=$root/tmp/blocker
mkdir -p "$blocker/DEBIAN" "$blocker/usr/share/man/man8"
echo blocker | gzip -n >"$blocker/usr/share/man/man8/xt_connlimit.8.gz"
cat >"$blocker/DEBIAN/control" <<EOF
Package: connlimit-test-blocker
Version: 1
Architecture: all
Maintainer: connlimit tests <root@localhost>
Description: owns a path connlimit-xtables ships, to make its unpack fail
EOF
dpkg-deb --root-owner-group --build "$blocker" "$root/tmp/blocker.deb" >/dev/null
ch dpkg -i /tmp/blocker.deb >"$logs/abort.log" 2>&1
why=""
if ch dpkg -i "/tmp/debs/${xt_deb##*/}" >>"$logs/abort.log" 2>&1; then
	why+="dpkg -i connlimit-xtables did not fail over the file conflict; "
fi
grep -q 'trying to overwrite' "$logs/abort.log" || why+="no file conflict reported; "
[ -z "$(ch dpkg-divert --listpackage "$xtlib")" ] || why+="diversion of $xtlib left; "
[ "$(md5_of "$xtlib")" = "$iptables_md5" ] || why+="$xtlib is not iptables' file; "
[ ! -e "$root$xtlib.distrib" ] || why+="$xtlib.distrib left; "
verify_dist || why+="dpkg --verify not clean; "
check "failed install of connlimit-xtables takes the diversion back (postrm abort-install)" \
	"${why:-?}" test -z "$why"
[ -z "$why" ] || show "$logs/abort.log" 15
ch dpkg -P connlimit-test-blocker connlimit-xtables >>"$logs/abort.log" 2>&1
timing "abort-install" "$t"

# ------------------------------------------------------------- 7. make targets
# The Makefile's own install paths, as root on a live Debian system (the
# chroot): make install / uninstall for the first kernel, make
# dkms-install / dkms-remove for the last.
t=$(date +%s)
mkdir -p "$root/root/connlimit"
tar -C "$top" --exclude=./build --exclude=./.git --exclude='*.o' --exclude='*.so' \
	--exclude=./debian --exclude=./.ci -cf - . | tar -C "$root/root/connlimit" -xf -
mk() { ch make --no-print-directory -C /root/connlimit "$@"; }
k=${kernels[0]}
why=""
mk install KVER="$k" >"$logs/make-install.log" 2>&1 || why+="make install failed ($logs/make-install.log); "
got=$(ch modinfo -k "$k" -n xt_connlimit 2>&1)
[ "$got" = "/lib/modules/$k/updates/xt_connlimit.ko" ] || why+="modinfo -n: '$got'; "
ver=$(ch modinfo -k "$k" -F version xt_connlimit 2>&1)
[ "$ver" = "$version" ] || why+="modinfo -F version: '$ver'; "
[ "$(ch dpkg-divert --listpackage "$xtlib")" = LOCAL ] || why+="no local diversion of $xtlib; "
[ "$(md5_of "$xtlib.distrib")" = "$iptables_md5" ] || why+="$xtlib.distrib is not iptables' file; "
ch cmp -s "$xtlib" /root/connlimit/userspace/libxt_connlimit.so || why+="$xtlib is not ours; "
[ -f "$root/usr/share/man/man8/xt_connlimit.8" ] || why+="no man page; "
[ -x "$root/usr/sbin/connlimit-reload" ] || why+="no /usr/sbin/connlimit-reload; "
check "$k: make install: module in updates/ (depmod'd), extension (local diversion), man page, connlimit-reload" \
	"${why:-?}" test -z "$why"
[ -z "$why" ] || show "$logs/make-install.log" 15

why=""
mk uninstall KVER="$k" >>"$logs/make-install.log" 2>&1 || why+="make uninstall failed; "
got=$(ch modinfo -k "$k" -n xt_connlimit 2>&1)
case $got in "/lib/modules/$k/kernel/net/netfilter/xt_connlimit.ko"*) ;;
*) why+="modinfo -n: '$got'; " ;; esac
[ -z "$(ch dpkg-divert --listpackage "$xtlib")" ] || why+="diversion left; "
[ "$(md5_of "$xtlib")" = "$iptables_md5" ] || why+="$xtlib is not iptables' file; "
[ ! -e "$root/usr/share/man/man8/xt_connlimit.8" ] || why+="man page left; "
[ ! -e "$root/usr/sbin/connlimit-reload" ] || why+="/usr/sbin/connlimit-reload left; "
verify_dist || why+="dpkg --verify not clean; "
check "$k: make uninstall restores the distribution's files" "${why:-?}" test -z "$why"
[ -z "$why" ] || show "$logs/make-install.log" 15

k=${kernels[${#kernels[@]} - 1]}
why=""
mk dkms-install KVER="$k" >"$logs/make-dkms.log" 2>&1 || why+="make dkms-install failed ($logs/make-dkms.log); "
got=$(ch modinfo -k "$k" -n xt_connlimit 2>&1)
case $got in "/lib/modules/$k/updates/dkms/xt_connlimit.ko"*) ;;
*) why+="modinfo -n: '$got'; " ;; esac
ver=$(ch modinfo -k "$k" -F version xt_connlimit 2>&1)
[ "$ver" = "$version" ] || why+="modinfo -F version: '$ver'; "
check "$k: make dkms-install: ${got##*/} in updates/dkms, version $version" "${why:-?}" test -z "$why"
[ -z "$why" ] || show "$logs/make-dkms.log" 15

why=""
mk dkms-remove KVER="$k" >>"$logs/make-dkms.log" 2>&1 || why+="make dkms-remove failed; "
got=$(ch modinfo -k "$k" -n xt_connlimit 2>&1)
case $got in "/lib/modules/$k/kernel/net/netfilter/xt_connlimit.ko"*) ;;
*) why+="modinfo -n: '$got'; " ;; esac
[ ! -e "$root/usr/src/connlimit-$version" ] || why+="/usr/src/connlimit-$version left; "
[ -z "$(ch dkms status -m connlimit 2>/dev/null)" ] || why+="dkms still knows connlimit; "
verify_dist || why+="dpkg --verify not clean; "
check "$k: make dkms-remove leaves only the kernel's own module" "${why:-?}" test -z "$why"
[ -z "$why" ] || show "$logs/make-dkms.log" 15
timing "make targets in the chroot" "$t"

echo "# logs: $logs"
exit "$failed"
