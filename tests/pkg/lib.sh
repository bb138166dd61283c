# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by tests/pkg/run.sh and tests/pkg/mkchroot.sh: the mounts a
# package-installing chroot needs, always undone, and running commands in it.

# The kernels under test: every /boot/vmlinuz-* whose modules are installed.
# Never hard-coded; this is the same rule tests/run-all.sh uses.
pkg_kernels() {
	local v k
	for v in /boot/vmlinuz-*; do
		[ -e "$v" ] || continue
		k=${v#/boot/vmlinuz-}
		[ -d "/lib/modules/$k/kernel" ] && echo "$k"
	done
}

# The host's Debian mirrors for its own release, as "URL SUITE" lines taken
# from apt's view of the configured sources (so a local mirror or a proxy
# configured there is reused).  Only the main component is used.
pkg_mirrors() {
	local codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || return 1
	apt-cache policy 2>/dev/null |
		awk -v c="$codename" '
			$2 ~ /^(https?|file):/ && $3 ~ ("^" c "(-[a-z]+)?/main$") {
				split($3, s, "/")
				if (!seen[$2 " " s[1]]++) print $2, s[1]
			}' | sort
}

# Mount what dpkg, apt and dkms need inside ROOT: proc, a private /dev
# (a tmpfs with the few device nodes package scripts use -- nothing of the
# host's /dev is bound in), devpts and a tmpfs /tmp.  Every mount made is
# recorded in ROOT.mounts (next to ROOT) so chroot_umount undoes exactly
# those, innermost first, even if a later mount failed.
chroot_mount() { # ROOT
	local root=$1 rec=$1.mounts d name maj min
	: >"$rec"
	mount -t proc proc "$root/proc" && echo "$root/proc" >>"$rec" || return 1
	mount -t tmpfs -o mode=0755,size=16m tmpfs "$root/dev" &&
		echo "$root/dev" >>"$rec" || return 1
	for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
		IFS=: read -r name maj min <<<"$d"
		mknod -m 0666 "$root/dev/$name" c "$maj" "$min" || return 1
	done
	ln -s /proc/self/fd "$root/dev/fd"
	mkdir "$root/dev/pts" "$root/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" &&
		echo "$root/dev/pts" >>"$rec" || return 1
	ln -s pts/ptmx "$root/dev/ptmx"
	mount -t tmpfs -o mode=1777 tmpfs "$root/tmp" && echo "$root/tmp" >>"$rec" || return 1
}

chroot_umount() { # ROOT -- safe to call more than once
	local root=$1 rec=$1.mounts m
	[ -f "$rec" ] || return 0
	for m in $(tac "$rec"); do
		if mountpoint -q "$m"; then
			umount "$m" 2>/dev/null || umount -l "$m"
		fi
	done
	rm -f "$rec"
}

# Any mount still below ROOT (belt and braces for the trap's check).
mounts_below() { # ROOT
	awk -v r="$1/" 'index($2 "/", r) == 1 { print $2 }' /proc/self/mounts
}

# bg_run CMD...: run CMD (an executable) in a session of its own and wait
# for it.  Unlike a foreground command, the wait ends as soon as a trapped
# signal arrives, and bg_kill can then end everything CMD started -- by
# session id, so it also reaches what made its own process group (GNU
# timeout does, for qemu).  Stdin is /dev/null.
BG_SID=""
bg_run() {
	local rc
	setsid "$@" </dev/null &
	BG_SID=$!
	wait "$BG_SID"
	rc=$?
	BG_SID=""
	return "$rc"
}

bg_kill() {
	local pids _
	[ -n "$BG_SID" ] || return 0
	for _ in $(seq 50); do
		pids=$(ps -o pid= -s "$BG_SID" 2>/dev/null)
		[ -n "$pids" ] || break
		# shellcheck disable=SC2086  # a list of ids
		kill -TERM $pids 2>/dev/null
		sleep 0.1
	done
	pids=$(ps -o pid= -s "$BG_SID" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
	BG_SID=""
}

# End what still runs inside ROOT (started by us: nobody else uses it).
chroot_kill() { # ROOT
	local p r want
	want=$(realpath "$1" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$r" = "$want" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}

# Run a command in ROOT with a clean, non-interactive environment.
in_chroot() { # ROOT CMD...
	local root=$1
	shift
	bg_run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
		TERM=dumb chroot "$root" "$@"
}

# Seconds since $1 (an epoch second count).
since() { echo $(($(date +%s) - $1)); }
