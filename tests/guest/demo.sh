#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The `make demo` guest script: a connlimit rule at work, narrated on the
# result channel (which tests/qemu/demo.sh shows live).  One client address
# may hold 3 connections to the server's port 80; the 4th and later are
# refused until one closes.  With our module, the rule's table is named and
# listed from /proc.  Exits non-zero if the limit is not enforced.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BACKEND=nft	# Debian's default iptables
LIMIT=3
out=$RESULT_FD

say() { echo "$*" >&"$out"; }
title() { say; say "=== $*"; }
pause() { nap "${1:-0.4}"; }

# run NS CMD...: show "[NS] # CMD" and its output
run() {
	local ns=$1
	shift
	say "[$ns] # $*"
	nsx "$ns" "$@" 2>&1 | sed 's/^/    /' >&"$out"
}

# connect NAME LABEL: one more connection; print what happened to it
declare -A opened
connect() {
	local name=$1 reply
	opened[$name]=$((${opened[$name]:-0} + 1))
	client_cmd "$name" "open 1" >/dev/null || return 1
	reply=$REPLY_LINE
	case $reply in
	"open est=1 "*) say "    ${CL_DESC[$name]%% ->*} connection ${opened[$name]}: accepted" ;;
	*"ref=1"*) say "    ${CL_DESC[$name]%% ->*} connection ${opened[$name]}: REFUSED (reset by the connlimit rule)" ;;
	*) say "    ${CL_DESC[$name]%% ->*} connection ${opened[$name]}: $reply" ;;
	esac
	pause
}

# expect_held NAME N: the client holds N connections
expect_held() {
	client_cmd "$1" held >/dev/null
	[ "$REPLY_LINE" = "held $2" ] || {
		say "!!! ${CL_DESC[$1]}: expected $2 open connections, have '${REPLY_LINE#held }'"
		exit 1
	}
}

demo() {
	local cli srv mod ver i named=
	modprobe xt_connlimit
	mod=$(module_is)
	ver=$(cat /sys/module/xt_connlimit/version 2>/dev/null || true)
	title "kernel $(uname -r); xt_connlimit loaded from $(modinfo -n xt_connlimit | sed 's|^/lib/modules/[^/]*/||')"
	if [ "$mod" = ours ]; then
		say "    this project's module, version $ver"
	else
		say "    NOTE: the kernel's own module, not this project's"
	fi

	title "two network namespaces joined by a veth pair"
	mkns cli srv
	link_pair "$cli" "$srv"
	server_start "$srv"
	say "    $srv: server 198.18.0.1, accepting and holding TCP connections on port 80"
	say "    $cli: clients 198.18.1.1 and 198.18.1.2"

	title "the rule: at most $LIMIT connections per client address"
	if [ "$mod" = ours ] && [ -f /usr/lib/xtables-ours/libxt_connlimit.so ]; then
		use_our_ext
		named=web
		say "    (with this project's extension: the table is named '$named')"
		run "$srv" iptables -A INPUT -p tcp --syn --dport 80 -m connlimit \
			--connlimit-above $LIMIT --connlimit-name $named -j REJECT --reject-with tcp-reset
	else
		run "$srv" iptables -A INPUT -p tcp --syn --dport 80 -m connlimit \
			--connlimit-above $LIMIT -j REJECT --reject-with tcp-reset
	fi
	RULE_NS[$srv]=nft
	run "$srv" iptables -L INPUT -v -n
	pause 1

	client_start a "$cli" 198.18.1.1 198.18.0.1 80
	client_start b "$cli" 198.18.1.2 198.18.0.1 80

	title "198.18.1.1 opens connections one after the other"
	for i in 1 2 3 4 5; do connect a; done
	expect_held a $LIMIT

	title "198.18.1.2, another address, has its own count"
	for i in 1 2 3 4; do connect b; done
	expect_held b $LIMIT

	title "the rule's counter: every refused attempt"
	run "$srv" iptables -L INPUT -v -n
	run "$srv" conntrack -L -p tcp --dport 80
	pause 1

	if [ -n "$named" ]; then
		title "who holds how many: the named table, listed"
		run "$srv" cat /proc/net/xt_connlimit/$named
		say "    (the header: since when, the highest count a key reached and when, how many keys hold 1, 2-3, ...)"
		say "    (per key: connections held now, the peak admitted, packets found over a limit)"
		run "$srv" cat /proc/net/stat/xt_connlimit
		pause 1
	fi

	title "198.18.1.1 closes one connection: one new one fits again"
	client_cmd a "close 1" >/dev/null
	say "    198.18.1.1 closed its oldest connection"
	busywait 10000 eval '[ "$(ct_count "$srv" -p tcp -s 198.18.1.1 --state ESTABLISHED)" -eq 2 ]'
	connect a
	connect a
	expect_held a $LIMIT

	title "the accepted connections carry data as before"
	for i in a b; do
		client_cmd $i ping >/dev/null
		set -- $REPLY_LINE
		say "    ${CL_DESC[$i]%% ->*}: ${2#ok=} of $((${2#ok=} + ${3#fail=})) open connections echo a byte back"
	done

	if [ -r "$OBJECTS" ]; then
		title "the module's live objects ($OBJECTS)"
		sed 's/^/    /' "$OBJECTS" >&"$out"
	fi
}

teardown() {
	local rc=$?
	title "cleaning up: namespaces gone, module unloaded"
	cleanup_case
	if busywait 20000 rmmod xt_connlimit 2>/dev/null; then
		say "    rmmod xt_connlimit: done"
	else
		say "    rmmod xt_connlimit failed"
		rc=1
	fi
	exit "$rc"
}

(
	set -e
	trap teardown EXIT
	demo
)
rc=$?
[ "$rc" -eq 0 ] || say "!!! the demo failed (see the console log)"
exit "$rc"
