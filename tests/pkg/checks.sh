# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The package checks shared by tests/pkg/run.sh (the host's release, its
# kernels installed from their packages) and tests/matrix/pkg.sh (each
# release of the kernel matrix, with the kernels' headers only): what the
# built packages declare, what an install leaves behind, what a removal
# gives back.  Sourced; the caller defines
#   n failed         the TAP helpers' counters (0 0); TAP_PREFIX goes before
#                    each description ("" when unset)
#   ch CMD...        run CMD inside the chroot under test
#   root version arch xtlib kernels[] iptables_md5
#   VERIFY_PKGS[]    the distribution's packages to verify (dpkg --verify;
#                    none: every package)
#   KERNEL_OWN       1 when the kernels' own modules are in the chroot (their
#                    xt_connlimit.ko is then checked too), 0 when only
#                    their headers are
# shellcheck disable=SC2154,SC2034  # root, arch, version, ...: the caller's; failed: read by the caller

# The TAP helpers: pass DESC; fail DESC WHY...; skip DESC REASON;
# check DESC WHY CMD... (pass if CMD succeeds, else fail with WHY).
pass() { n=$((n + 1)); echo "ok $n - ${TAP_PREFIX:-}$1"; }
fail() {
	local d=$1
	shift
	n=$((n + 1)) failed=1
	echo "FAIL: $*"
	echo "not ok $n - ${TAP_PREFIX:-}$d"
}
skip() { n=$((n + 1)); echo "ok $n - ${TAP_PREFIX:-}$1 # SKIP $2"; }
check() {
	local d=$1 why=$2
	shift 2
	if "$@"; then pass "$d"; else fail "$d" "$why"; fi
}

# verify_dist [installed]: dpkg --verify of VERIFY_PKGS is silent, else it
# prints what differs.  While our packages are installed, the kernels' own
# xt_connlimit.ko may be missing where that release's dkms moved it into
# its archive to put back at removal (dkms 3.2, Debian 13: it archives any
# same-named module of the kernel's tree, wherever ours goes): accepted
# only when the archive holds exactly the file dpkg lists.
verify_dist() {
	local out line path k pkg bad="" archived
	ARCHIVED=0
	out=$(ch dpkg --verify "${VERIFY_PKGS[@]}" 2>&1)
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		path=${line##* }
		if [ "${1:-}" = installed ] && [ "${line%% *}" = missing ] &&
			[[ $path == */lib/modules/*/kernel/net/netfilter/xt_connlimit.ko* ]]; then
			k=${path#*/lib/modules/}
			k=${k%%/*}
			pkg=$(ch dpkg -S "$path" 2>/dev/null | cut -d: -f1 | head -n 1)
			archived=$(ch sh -c "md5sum /var/lib/dkms/connlimit/original_module/$k/*/${path##*/}" 2>/dev/null | cut -d' ' -f1)
			if [ -n "$archived" ] && [ "$archived" = "$(pkg_md5 "$pkg" "$path")" ]; then
				echo "#   $k: the kernel's own ${path##*/} is in dkms's archive while ours is installed"
				ARCHIVED=$((ARCHIVED + 1))
				continue
			fi
		fi
		bad+="$line"$'\n'
	done <<<"$out"
	[ -z "$bad" ] || { printf '%s' "$bad" | sed 's/^/#   dpkg --verify: /'; return 1; }
}

# intree_ko KVER: the kernel's own module, as its package lists it
intree_ko() { ch sh -c "ls /lib/modules/$1/kernel/net/netfilter/xt_connlimit.ko*" 2>/dev/null; }
md5_of() { ch md5sum "$1" 2>/dev/null | cut -d' ' -f1; }
# pkg_md5 PKG PATH: the md5 dpkg recorded for PATH in PKG
pkg_md5() {
	awk -v p="${2#/}" '$2 == p { print $1 }' "$root/var/lib/dpkg/info/$1.md5sums" \
		"$root/var/lib/dpkg/info/$1:$arch.md5sums" 2>/dev/null | head -n 1
}

# dist_files: what of the distribution the checks protect, for the
# descriptions.
dist_files() {
	if [ "$KERNEL_OWN" = 1 ]; then
		echo "the kernels' own xt_connlimit.ko and iptables' libxt_connlimit.so"
	else
		echo "iptables' libxt_connlimit.so and every package's files"
	fi
}

# check_built DKMS_DEB XT_DEB: both packages there, the architectures
# right, and what they declare: dkms, the headers, the DKMS config, the
# diversion.
check_built() {
	local dkms_deb=$1 xt_deb=$2 why="" conf scripts want
	f() { dpkg-deb -f "$1" "$2" 2>/dev/null; }
	[ "$(f "$dkms_deb" Architecture)" = all ] || why+="connlimit-dkms is not Architecture: all; "
	[ "$(f "$xt_deb" Architecture)" = "$arch" ] || why+="connlimit-xtables is not Architecture: $arch; "
	check "packages: connlimit-dkms (all) and connlimit-xtables ($arch) built" "${why:-?}" \
		test -z "$why"
	why=""
	case ", $(f "$dkms_deb" Depends)," in *", dkms"[\ ,]*) ;; *) why+="connlimit-dkms does not depend on dkms; " ;; esac
	case "$(f "$dkms_deb" Recommends)" in *linux-headers*) ;; *) why+="connlimit-dkms does not recommend linux-headers; " ;; esac
	conf=$(dpkg-deb --fsys-tarfile "$dkms_deb" | tar -xOf - "./usr/src/connlimit-$version/dkms.conf" 2>/dev/null)
	for want in "PACKAGE_VERSION=\"$version\"" 'DEST_MODULE_LOCATION[0]="/updates/dkms"' \
		'BUILT_MODULE_LOCATION[0]="kernel/"' 'AUTOINSTALL="yes"'; do
		grep -qxF "$want" <<<"$conf" || why+="dkms.conf lacks $want; "
	done
	grep -q '/kernel/' <<<"$(grep DEST_MODULE_LOCATION <<<"$conf")" && why+="dkms.conf names an in-tree location; "
	scripts=$(dpkg-deb --ctrl-tarfile "$xt_deb" | tar -xOf - ./preinst ./postrm 2>/dev/null)
	grep -qF -- "--divert $xtlib.distrib" <<<"$scripts" || why+="no dpkg-divert of $xtlib in preinst/postrm; "
	dpkg-deb -c "$dkms_deb" | grep -qE '^-rwxr-xr-x root/root .* \./usr/sbin/connlimit-reload$' ||
		why+="connlimit-dkms lacks an executable /usr/sbin/connlimit-reload; "
	dpkg-deb --ctrl-tarfile "$dkms_deb" | tar -xOf - ./postinst 2>/dev/null | grep -q 'Run "connlimit-reload"' ||
		why+="connlimit-dkms's postinst does not point to connlimit-reload; "
	check "packages declare dkms, the headers, /updates/dkms, the diversion and connlimit-reload" "${why:-?}" test -z "$why"
}

# check_install LOG: dpkg -i of both packages (copied to the chroot's
# /tmp/debs), DKMS's lines of its output shown.
check_install() {
	local log=$1
	if ch sh -c 'dpkg -i /tmp/debs/connlimit-dkms_*.deb /tmp/debs/connlimit-xtables_*.deb' \
		>"$log" 2>&1; then
		pass "dpkg -i connlimit-dkms connlimit-xtables"
	else
		fail "dpkg -i connlimit-dkms connlimit-xtables" "see $log"
		tail -n 30 "$log" | sed 's/^/#   /'
	fi
	sed -n 's/^/#   dkms: /p' "$log" |
		grep -E 'Building for|Building initial|Done|Skipped|WARNING|Error|error' | head -n 20
}

# check_installed: after dpkg -i of both packages, per kernel DKMS's module
# in updates/dkms, resolved by modinfo -k, with our version; the kernels'
# own modules and iptables' files untouched; the extension diverted.
check_installed() {
	local k ko status got ver why out
	for k in "${kernels[@]}"; do
		ko=$(ch sh -c "ls /lib/modules/$k/updates/dkms/xt_connlimit.ko*" 2>/dev/null)
		status=$(ch dkms status -m connlimit -v "$version" -k "$k" 2>&1)
		why=""
		[ -n "$ko" ] || why+="no xt_connlimit.ko* in /lib/modules/$k/updates/dkms; "
		case $status in *installed*) ;; *) why+="dkms status: '$status'; " ;; esac
		check "$k: dkms installed ${ko:-the module} " "${why:-?}" test -z "$why"

		why=""
		if [ ! -e "$root/lib/modules/$k/modules.dep" ] && [ -n "$ko" ]; then
			# dkms 3.2 runs no depmod for a kernel whose image is
			# not installed (its modules.dep missing): the file only
			ver=$(ch modinfo -F version "$ko" 2>&1)
			[ "$ver" = "$version" ] || why+="modinfo -F version $ko: '$ver', expected $version; "
			check "$k: modinfo of $ko: version $version (image not installed: no modules.dep to resolve by)" \
				"${why:-?}" test -z "$why"
			continue
		fi
		got=$(ch modinfo -k "$k" -n xt_connlimit 2>&1)
		ver=$(ch modinfo -k "$k" -F version xt_connlimit 2>&1)
		case $got in "/lib/modules/$k/updates/dkms/xt_connlimit.ko"*) ;;
		*) why+="modinfo -n: '$got'; " ;; esac
		[ "$ver" = "$version" ] || why+="modinfo -F version: '$ver', expected $version; "
		check "$k: modinfo -k resolves xt_connlimit to updates/dkms, version $version" \
			"${why:-?}" test -z "$why"
	done

	why=""
	if [ "$KERNEL_OWN" = 1 ]; then
		[ -n "$(intree_ko "${kernels[0]}")" ] || why+="in-tree xt_connlimit gone; "
	fi
	verify_dist installed || why+="dpkg --verify not clean; "
	local moved=""
	[ "$ARCHIVED" -eq 0 ] ||
		moved=" but the $ARCHIVED kernels' own xt_connlimit.ko that dkms $(ch dpkg-query -W -f='${Version}' dkms) keeps in its archive"
	check "$(dist_files) untouched while installed$moved" \
		"${why:-?}" test -z "$why"

	why=""
	[ "$(ch dpkg-divert --listpackage "$xtlib")" = connlimit-xtables ] ||
		why+="$xtlib not diverted by connlimit-xtables; "
	[ "$(ch dpkg-divert --truename "$xtlib")" = "$xtlib.distrib" ] ||
		why+="diverted to '$(ch dpkg-divert --truename "$xtlib")', not $xtlib.distrib; "
	[ "$(md5_of "$xtlib.distrib")" = "$iptables_md5" ] ||
		why+="$xtlib.distrib is not iptables' file; "
	[ "$(md5_of "$xtlib")" = "$(pkg_md5 connlimit-xtables "$xtlib")" ] ||
		why+="$xtlib is not connlimit-xtables' file; "
	out=$(ch dpkg --verify connlimit-xtables connlimit-dkms 2>&1)
	[ -z "$out" ] || why+="dpkg --verify of our packages: $out; "
	check "iptables' libxt_connlimit.so diverted to .distrib, intact; ours in place" \
		"${why:-?}" test -z "$why"
}

# check_removed WHAT: the distribution's files are back, ours are gone.
check_removed() {
	local k got why=""
	for k in "${kernels[@]}"; do
		if ch sh -c "ls /lib/modules/$k/updates/dkms/xt_connlimit.ko*" >/dev/null 2>&1; then
			why+="$k: module left in updates/dkms; "
		fi
		got=$(ch modinfo -k "$k" -n xt_connlimit 2>&1)
		if [ "$KERNEL_OWN" = 1 ]; then
			case $got in "/lib/modules/$k/kernel/net/netfilter/xt_connlimit.ko"*) ;;
			*) why+="$k: modinfo -n: '$got'; " ;; esac
			[ -n "$(intree_ko "$k")" ] || why+="$k: in-tree xt_connlimit gone; "
		else
			case $got in *updates*) why+="$k: modinfo -n still finds '$got'; " ;; esac
		fi
	done
	[ -z "$(ch dpkg-divert --listpackage "$xtlib")" ] || why+="diversion of $xtlib left; "
	[ ! -e "$root$xtlib.distrib" ] || why+="$xtlib.distrib left; "
	[ "$(md5_of "$xtlib")" = "$iptables_md5" ] || why+="$xtlib is not iptables' file; "
	verify_dist || why+="dpkg --verify not clean; "
	[ ! -e "$root/usr/src/connlimit-$version" ] || why+="/usr/src/connlimit-$version left; "
	[ ! -e "$root/var/lib/dkms/connlimit" ] || why+="/var/lib/dkms/connlimit left; "
	check "$1: $(dist_files) back, intact (dpkg --verify)" \
		"${why:-?}" test -z "$why"
}

# check_remove: dpkg -r, then -P, each followed by check_removed.  LOG
# gets dpkg's output.
check_remove() { # LOG
	local log=$1
	if ch dpkg -r connlimit-xtables connlimit-dkms >"$log" 2>&1; then
		pass "dpkg -r connlimit-xtables connlimit-dkms"
	else
		fail "dpkg -r connlimit-xtables connlimit-dkms" "see $log"
		tail -n 30 "$log" | sed 's/^/#   /'
	fi
	check_removed "after dpkg -r"
	if ch dpkg -P connlimit-xtables connlimit-dkms >>"$log" 2>&1 &&
		[ -z "$(ch dpkg-query -W -f='${db:Status-Abbrev}' connlimit-xtables connlimit-dkms 2>/dev/null | tr -d ' ')" ]; then
		pass "dpkg -P connlimit-xtables connlimit-dkms: nothing of them left in dpkg"
	else
		fail "dpkg -P connlimit-xtables connlimit-dkms: nothing of them left in dpkg" "see $log"
	fi
	check_removed "after dpkg -P"
}
