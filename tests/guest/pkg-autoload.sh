#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest suite of tests/pkg/run.sh: the kernel boots with the module tree a
# package install left behind (DKMS's updates/dkms copy and the chroot's
# depmod output, /etc/connlimit-pkg.conf says which version to expect).
# Adding an iptables rule that uses -m connlimit must make the kernel load
# OUR module by itself -- for iptables and ip6tables, legacy and nft -- and
# nothing may have loaded it before.
#
# TAP-like lines on $RESULT_FD; a "FAIL: <what differed>" line on the
# console before each "not ok".
set -u
RESULT_FD=${RESULT_FD:-1}
# shellcheck source=/dev/null
. /etc/connlimit-pkg.conf	# PKG_VERSION, PKG_KVER
n=0 failed=0
sysver=/sys/module/xt_connlimit/version
# the packaged extension first, the distribution's for everything else
pkg_xtdir=/usr/lib/xtables-pkg:/usr/lib/x86_64-linux-gnu/xtables

result() { # 0|1 DESC [WHY]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2" >&"$RESULT_FD"
	else
		failed=1
		echo "FAIL: ${3:-$2}"
		echo "FAIL: ${3:-$2}" >&"$RESULT_FD"
		echo "not ok $n - $2" >&"$RESULT_FD"
	fi
}

# unload WHY: flush every table that may hold a connlimit rule, then
# unload; nft frees its rule references asynchronously, so retry a while.
unload() {
	local _ t
	for t in iptables-legacy ip6tables-legacy iptables-nft ip6tables-nft; do
		"$t" -F INPUT 2>/dev/null
	done
	for _ in $(seq 50); do
		[ -e /sys/module/xt_connlimit ] || return 0
		rmmod xt_connlimit 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# autoload DESC CMD...: with nothing loaded, CMD (which adds a connlimit
# rule) must succeed and leave our module loaded, at our version.
autoload() {
	local desc=$1 out got
	shift
	if ! unload; then
		result 1 "$desc" "could not unload xt_connlimit before the case"
		return
	fi
	if ! out=$("$@" 2>&1); then
		result 1 "$desc" "'$*' failed: $out"
		return
	fi
	got=$(cat "$sysver" 2>/dev/null)
	if [ ! -e /sys/module/xt_connlimit ]; then
		result 1 "$desc" "xt_connlimit not loaded after '$*'"
	elif [ -z "$got" ]; then
		result 1 "$desc" "no $sysver: the kernel's own module was loaded"
	elif [ "$got" != "$PKG_VERSION" ]; then
		result 1 "$desc" "$sysver is '$got', expected $PKG_VERSION"
	else
		result 0 "$desc"
	fi
}

rule=(-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 -j REJECT)

echo "# pkg-autoload: kernel $(uname -r), expecting xt_connlimit $PKG_VERSION"

if [ -e /sys/module/xt_connlimit ]; then
	result 1 "xt_connlimit not loaded before any rule" "already loaded at boot"
else
	result 0 "xt_connlimit not loaded before any rule"
fi

path=$(modinfo -n xt_connlimit 2>&1)
case $path in
"/lib/modules/$PKG_KVER/updates/dkms/xt_connlimit.ko"*)
	result 0 "modprobe resolves xt_connlimit to updates/dkms" ;;
*)	result 1 "modprobe resolves xt_connlimit to updates/dkms" "modinfo -n xt_connlimit: $path" ;;
esac

autoload "iptables-legacy rule autoloads our module (ipt_connlimit)" \
	iptables-legacy "${rule[@]}"
autoload "ip6tables-legacy rule autoloads our module (ip6t_connlimit)" \
	ip6tables-legacy "${rule[@]}"
autoload "iptables-nft rule with the packaged extension autoloads our module" \
	env XTABLES_LIBDIR="$pkg_xtdir" iptables-nft "${rule[@]}"

# The packaged extension reads back what it wrote through the kernel.
saved=$(XTABLES_LIBDIR=$pkg_xtdir iptables-nft -S INPUT 2>&1 | grep connlimit)
want="-A INPUT -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr -j REJECT --reject-with icmp-port-unreachable"
if [ "$saved" = "$want" ]; then
	result 0 "packaged extension prints the rule back"
else
	result 1 "packaged extension prints the rule back" "iptables-nft -S: '$saved', expected '$want'"
fi

unload
result $? "module unloads after the rules are gone"
exit $failed
