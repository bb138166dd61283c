# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the guest suites, in the manner of the kernel's netfilter
# selftests: network namespaces with random suffixes, veth, polling instead
# of sleeps, a "FAIL: <what differed>" line before each failing case.
#
# Results are TAP-like lines on fd $RESULT_FD (the result channel; stdout
# when run by hand):  ok N - desc | not ok N - desc | ok N - desc # SKIP why
# Everything else goes to stdout (the console), "# " prefixed narration.
#
# Addresses: only 198.18.0.0/15 and 2001:db8::/32.
#
# Under TCG every exec costs 50-300 ms, so the helpers batch `ip` commands,
# enter namespaces with busybox nsenter (or connt -n) rather than
# `ip netns exec`, and sleep and time without forking.

ksft_skip=4
RESULT_FD=${RESULT_FD:-1}
TESTBED_ONLY=${TESTBED_ONLY:-}
T=$(mktemp -d /tmp/testbed.XXXXXX)
NSENTER=/opt/busybox/bin/nsenter
[ -x "$NSENTER" ] || NSENTER=nsenter
case_no=0
n_fail=0

# Server addresses (two per family) and client addresses: the first three
# of each family share a /24 (/64), the fourth is in another one.
SRV4=(198.18.0.1 198.18.0.2)
SRV6=(2001:db8::1 2001:db8::2)
CLI4=(198.18.1.1 198.18.1.2 198.18.1.3 198.18.2.1)
CLI6=(2001:db8:0:1::1 2001:db8:0:1::2 2001:db8:0:1::3 2001:db8:0:2::1)

log() { echo "# $*"; }

# fail WHAT: say what differed and make the case fail.  (On stderr, which
# is the console too, so that a $(...) never swallows it.)
fail() {
	echo "FAIL: $*" >&2
	: >"$T/failed"
	return 1
}

# ERR trap of a case: a command that failed outside fail() still gets its
# FAIL line (once: the error then propagates through the callers).  Only
# the case's own shell counts: inside a $(...) a non-zero status is data.
on_err() {
	local rc=$1 cmd=$2 where=$3
	[ "$BASH_SUBSHELL" -gt "${CASE_SUBSHELL:-0}" ] && return
	[ -e "$T/failed" ] && return
	echo "FAIL: '$cmd' exited $rc (at $where)" >&2
	: >"$T/failed"
}

# skip WHY: end the current case as skipped.
skip() {
	echo "$*" >"$T/skip-reason"
	exit $ksft_skip
}

# note TEXT: appended to the case's TAP description, in parentheses.
note() { echo "$*" >>"$T/notes"; }

# Guest uptime in ms, without a fork.
uptime_ms() {
	local up
	read -r up _ </proc/uptime
	up=${up/./}
	echo $((10#$up * 10))
}

# A fifo nobody writes to: "read -t" on it is a sleep without a fork.
mkfifo "$T/sleep"
exec {SLEEP_FD}<>"$T/sleep"
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || true; }

rand_suffix() { printf '%04x%04x' $RANDOM $RANDOM; }

# busywait TIMEOUT_MS CMD...: run CMD until it succeeds or time runs out.
busywait() {
	local ms=$1 start
	shift
	start=$(uptime_ms)
	while ! "$@"; do
		[ $(($(uptime_ms) - start)) -ge "$ms" ] && return 1
		nap 0.05
	done
}

# parse_kv "word key=value ...": R_key variables from the words (no fork).
parse_kv() {
	local w
	unset "${!R_@}"
	for w in $1; do
		case $w in *=*) printf -v "R_${w%%=*}" %s "${w#*=}" ;; esac
	done
}

# ---------------------------------------------------------------- netns

NSLIST=()	# namespaces of the current case
PIDLIST=()	# processes the current case started

# nsx NS CMD...: run CMD in namespace NS (network namespace only).
nsx() {
	local ns=$1
	shift
	"$NSENTER" --net="/run/netns/$ns" "$@"
}

# mkns VAR... : for each VAR, a namespace VAR-<random>, stored in VAR.
# (Helpers that store into a caller's variable use _-prefixed locals, so
# the caller's names are never shadowed.)
mkns() {
	local _v _ns _batch=
	for _v in "$@"; do
		_ns=$_v-$(rand_suffix)
		_batch+="netns add $_ns"$'\n'
		NSLIST+=("$_ns")
		printf -v "$_v" %s "$_ns"
	done
	ip -b - <<<"$_batch"
}

# proc_alive PID: without a fork.
proc_alive() { [ -d "/proc/$1" ]; }

# dump_state NS: rules with counters and the conntrack table, for the log.
dump_state() {
	local b=${BACKEND:-legacy}
	echo "# state of $1 ($b):"
	{
		nsx "$1" "iptables-$b-save" -c
		nsx "$1" "ip6tables-$b-save" -c
		nsx "$1" conntrack -L
	} 2>&1 | sed 's/^/#   /'
}

# Stop what the case started, delete its namespaces (one batch).  Clients
# reset their connections (a killed process would close them gracefully and
# leave orphans retransmitting FINs for a minute, keeping the namespaces --
# and their rules, and so the module -- alive).  After a failure, first show
# what the namespaces held.
cleanup_case() {
	local ns name pid batch= t0
	set +e		# clean up as much as possible, whatever fails
	trap - ERR
	if [ -e "$T/failed" ]; then
		for ns in "${NSLIST[@]}"; do dump_state "$ns"; done
	fi
	# Rules go first: a rule that refuses a client's RST (or the server's
	# FIN) at teardown would leave orphan sockets retransmitting.
	for ns in "${!RULE_NS[@]}"; do
		for pid in iptables ip6tables; do
			printf '*filter\nCOMMIT\n*raw\nCOMMIT\n' |
				nsx "$ns" "$pid-${RULE_NS[$ns]}-restore" 2>/dev/null
		done
	done
	for name in "${!CL_W[@]}"; do
		echo abort >&"${CL_W[$name]}" 2>/dev/null
	done
	for name in "${!CL_PID[@]}"; do
		busywait 2000 eval "! proc_alive ${CL_PID[$name]}"
	done
	for name in "${!CL_W[@]}"; do
		eval "exec ${CL_W[$name]}>&- ${CL_R[$name]}<&-"
	done
	for pid in "${PIDLIST[@]}"; do kill -9 "$pid" 2>/dev/null; done
	for pid in "${PIDLIST[@]}"; do busywait 5000 eval "! proc_alive $pid"; done
	for ns in "${NSLIST[@]}"; do batch+="netns del $ns"$'\n'; done
	[ -n "$batch" ] && ip -b - <<<"$batch" 2>/dev/null
	NSLIST=() PIDLIST=()
	# The namespaces die asynchronously; let them, so that no case sees
	# the previous one's rules.  (A case that leaks is caught by the rmmod
	# and teardown cases, which insist on a zero refcount.)
	t0=$(uptime_ms)
	busywait 20000 eval '[ "$(module_refcnt)" -eq 0 ]' ||
		echo "# note: xt_connlimit refcnt still $(module_refcnt) 20 s after the case" >&2
	[ -z "${TESTBED_TRACE:-}" ] ||
		echo "# refcnt $(module_refcnt) after $(($(uptime_ms) - t0)) ms" >&2
	return 0
}

# no_icmp_ratelimit NS: REJECT's ICMP errors must not be rate limited away.
no_icmp_ratelimit() {
	nsx "$1" sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
}

# flood_pair V4NET V6NET: namespaces stored in the caller's cli and srv,
# joined by a veth (c0 - s0), for a flood from spoofed sources in V4NET and
# V6NET: srv holds 198.18.0.1 and 2001:db8::1 and routes both ranges back
# through cli, which throws the answers away (blackhole routes); cli holds
# 198.18.1.1-2 and 2001:db8:0:1::1-2, the second of each for legitimate
# clients.
flood_pair() {
	mkns cli srv
	ip link add c0 netns "$cli" type veth peer name s0 netns "$srv"
	ip -n "$srv" -b - <<-EOF
	addr add 198.18.0.1/24 dev s0
	addr add 2001:db8::1/64 dev s0 nodad
	link set lo up
	link set s0 up
	route add 198.18.1.0/24 dev s0
	route add $1 via 198.18.1.1
	route add 2001:db8:0:1::/64 dev s0
	route add $2 via 2001:db8:0:1::1
	EOF
	ip -n "$cli" -b - <<-EOF
	addr add 198.18.1.1/24 dev c0
	addr add 198.18.1.2/24 dev c0
	addr add 2001:db8:0:1::1/64 dev c0 nodad
	addr add 2001:db8:0:1::2/64 dev c0 nodad
	link set lo up
	link set c0 up
	route add 198.18.0.0/24 dev c0
	route add 2001:db8::/64 dev c0
	route add blackhole $1
	route add blackhole $2
	EOF
}

# link_pair CLI SRV: veth c0 (in CLI) <-> s0 (in SRV) with the standard
# addresses, lo and both ends up.
link_pair() {
	local c=$1 s=$2 a
	ip link add c0 netns "$c" type veth peer name s0 netns "$s"
	{
		for a in "${SRV4[@]}"; do echo "addr add $a/15 dev s0"; done
		for a in "${SRV6[@]}"; do echo "addr add $a/48 dev s0 nodad"; done
		echo "link set lo up"
		echo "link set s0 up"
	} | ip -n "$s" -b -
	{
		for a in "${CLI4[@]}"; do echo "addr add $a/15 dev c0"; done
		for a in "${CLI6[@]}"; do echo "addr add $a/48 dev c0 nodad"; done
		echo "link set lo up"
		echo "link set c0 up"
	} | ip -n "$c" -b -
}

# link_pair_local NS: the server addresses on a veth in NS whose peer sits
# in NS too, for connections from one local address to another.
link_pair_local() {
	local s=$1 a
	ip link add s0 netns "$s" type veth peer name p0 netns "$s"
	{
		for a in "${SRV4[@]}"; do echo "addr add $a/15 dev s0"; done
		for a in "${SRV6[@]}"; do echo "addr add $a/48 dev s0 nodad"; done
		echo "link set lo up"
		echo "link set s0 up"
		echo "link set p0 up"
	} | ip -n "$s" -b -
}

# topo VAR_CLI VAR_SRV: a client namespace and a server namespace joined by
# a veth, with connt serving TCP and UDP on ports 80 and 81 of every server
# address.
topo() {
	local cli srv
	mkns cli srv
	link_pair "$cli" "$srv"
	server_start "$srv"
	printf -v "$1" %s "$cli"
	printf -v "$2" %s "$srv"
}

server_ready() {
	local l
	read -r l <"$1" 2>/dev/null && [ "$l" = ready ]
}

# server_start NS: connt server on every server address, ports 80 and 81.
server_start() {
	local a args=()
	for a in "${SRV4[@]}" "${SRV6[@]}"; do args+=(-a "$a"); done
	connt -n "$1" server "${args[@]}" -p 80 -p 81 >"$T/server-$1" 2>&1 &
	PIDLIST+=($!)
	disown $!	# killed by cleanup_case, no job notice
	busywait 10000 server_ready "$T/server-$1" ||
		fail "connt server in $1 did not start: $(cat "$T/server-$1")"
}

# flood_topo: flood_pair for the random-source flood (clstress flood):
# sources from 198.19.0.0/16 and 2001:2::/48.
flood_topo() { flood_pair 198.19.0.0/16 2001:2::/48; }

# ---------------------------------------------------------------- rules

declare -A RULE_NS	# namespace -> backend, for cleanup_case

# xt FAMILY NS ARGS...: ip(6)tables of the current backend inside NS.
xt() {
	local fam=$1 ns=$2
	shift 2
	RULE_NS[$ns]=$BACKEND
	if [ "$fam" = 6 ]; then
		nsx "$ns" "ip6tables-$BACKEND" "$@"
	else
		nsx "$ns" "iptables-$BACKEND" "$@"
	fi
}

# xt_restore FAMILY NS: ip(6)tables-restore --noflush of stdin inside NS.
xt_restore() {
	RULE_NS[$2]=$BACKEND
	if [ "$1" = 6 ]; then
		nsx "$2" "ip6tables-$BACKEND-restore" --noflush
	else
		nsx "$2" "iptables-$BACKEND-restore" --noflush
	fi
}

# expect_pkts FAMILY NS CHAIN NUM EXPECTED [min]: the filter rule's
# packet counter is EXPECTED (or, with "min", at least EXPECTED: a rule that
# accepts sees a SYN again when it is retransmitted).  Rules that refuse
# with an RST or ICMP error see each refused attempt exactly once.
expect_pkts() {
	local got
	got=$(xt "$1" "$2" -L "$3" -v -x -n --line-numbers |
		while read -r num pkts _; do
			if [ "$num" = "$4" ]; then echo "$pkts"; fi
		done)
	if [ "${6:-}" = min ] && [ -n "$got" ] && [ "$got" -ge "$5" ]; then
		return 0
	fi
	[ "$got" = "$5" ] || fail "IPv$1 rule $4 of $3 counted '$got' packets, expected ${6:+at least }$5"
}

# ct_count NS ARGS...: how many conntrack entries match ARGS in NS.
# (Counted by wc: bash's read takes a pipe a byte per system call, which for
# thousands of entries under TCG on ARM took longer than conntrack's
# SYN_SENT timeout.)
ct_count() {
	local ns=$1 n
	shift
	n=$({ nsx "$ns" conntrack -L "$@" 2>/dev/null || true; } | wc -l)
	echo $((n))
}

# ct_established_is NS SRC N: see wait_ct_established.
ct_established_is() {
	nsx "$1" conntrack -L -p tcp -s "$2" 2>/dev/null | awk -v want="$3" '
		$4 == "ESTABLISHED" { est++; next }
		$4 != "TIME_WAIT" && $4 != "CLOSE" { other++ }
		END { exit !(est == want && other == 0) }'
}

# wait_ct_established NS SRC N: until N TCP connections from SRC are
# ESTABLISHED in NS's conntrack table and the others are gone or in
# TIME_WAIT or CLOSE, the states both engines take as closed (a connection
# still in FIN_WAIT or LAST_ACK is counted by both; on a loaded host the
# last ACK of a close can come a while after the connection left
# ESTABLISHED).
wait_ct_established() {
	busywait 10000 ct_established_is "$1" "$2" "$3" ||
		fail "conntrack in $1 shows $(ct_count "$1" -p tcp -s "$2" --state ESTABLISHED) established of $(ct_count "$1" -p tcp -s "$2") from $2, expected $3 and the rest in TIME_WAIT or CLOSE"
}

# ---------------------------------------------------------------- clients

declare -A CL_W CL_R CL_PID CL_DESC

# client_start NAME NS SRC DST PORT [-u]: a connt client holding its
# connections, driven through two fifos; an open times out after
# CLIENT_TIMEOUT_MS (default 3000).
client_start() {
	local name=$1 ns=$2 src=$3 dst=$4 port=$5 udp=${6:-} w r
	rm -f "$T/$name.in" "$T/$name.out" "$T/$name.err"
	mkfifo "$T/$name.in" "$T/$name.out"
	exec {w}<>"$T/$name.in" {r}<>"$T/$name.out"
	# shellcheck disable=SC2086
	connt -n "$ns" client -s "$src" -d "$dst" -p "$port" $udp -t "${CLIENT_TIMEOUT_MS:-3000}" \
		<"$T/$name.in" >"$T/$name.out" 2>>"$T/$name.err" &
	PIDLIST+=($!)
	CL_PID[$name]=$!
	disown $!
	CL_W[$name]=$w
	CL_R[$name]=$r
	CL_DESC[$name]="$src -> $dst port $port${udp:+ udp}"
}

# client_cmd NAME CMD: send CMD, the answer line lands in $REPLY_LINE.
client_cmd() {
	local name=$1 cmd=$2
	echo "$cmd" >&"${CL_W[$name]}"
	REPLY_LINE=
	read -r -t 120 -u "${CL_R[$name]}" REPLY_LINE ||
		fail "client $name (${CL_DESC[$name]}): no answer to '$cmd'; stderr: $(cat "$T/$name.err" 2>/dev/null)"
	log "$name (${CL_DESC[$name]}): $cmd -> $REPLY_LINE"
}

# expect_open NAME N EST REF: open N connections, expect EST established
# and REF refused (and nothing timed out or failed otherwise).
expect_open() {
	local want="open est=$3 ref=$4 tmo=0 err=0"
	client_cmd "$1" "open $2" || return 1
	[ "$REPLY_LINE" = "$want" ] ||
		fail "$1 (${CL_DESC[$1]}) open $2: expected '$want', got '$REPLY_LINE'"
}

# expect_ping NAME OK FAIL: every held connection echoes a byte, or not.
expect_ping() {
	local want="ping ok=$2 fail=$3"
	client_cmd "$1" ping || return 1
	[ "$REPLY_LINE" = "$want" ] ||
		fail "$1 (${CL_DESC[$1]}) ping: expected '$want', got '$REPLY_LINE'"
}

# client_close NAME N [reset]: close (or reset) the N oldest connections.
client_close() {
	local how=close
	[ "${3:-}" = reset ] && how=reset
	client_cmd "$1" "$how $2" || return 1
	[ "$REPLY_LINE" = "$how n=$2" ] ||
		fail "$1: '$how $2' answered '$REPLY_LINE'"
}

# ---------------------------------------------------------------- module

# use_our_ext: make iptables load our libxt_connlimit.so (and no other).
use_our_ext() {
	local d=/tmp/xtables-ours-only so
	[ -f /usr/lib/xtables-ours/libxt_connlimit.so ] ||
		skip "userspace/libxt_connlimit.so was not built"
	if [ ! -d "$d" ]; then
		mkdir -p "$d"
		for so in /usr/lib/*-linux-gnu*/xtables/*.so; do
			[ "${so##*/}" = libxt_connlimit.so ] || ln -s "$so" "$d/"
		done
		ln -s /usr/lib/xtables-ours/libxt_connlimit.so "$d/"
	fi
	export XTABLES_LIBDIR=$d
}

# module_is: which xt_connlimit is loaded: ours (it has a version), intree,
# or none.
module_is() {
	if [ ! -d /sys/module/xt_connlimit ]; then
		echo none
	elif [ -f /sys/module/xt_connlimit/version ]; then
		echo ours
	else
		echo intree
	fi
}

module_refcnt() {
	local n=0
	{ read -r n </sys/module/xt_connlimit/refcnt; } 2>/dev/null
	echo "$n"
}

# Our module's live-object counters ("rules N", "keys N", ...).
OBJECTS=/sys/kernel/debug/xt_connlimit/objects
objects() { cat "$OBJECTS" 2>/dev/null; }
# kernel_before MAJOR MINOR: the running kernel is older than MAJOR.MINOR.
kernel_before() {
	local r=$(uname -r) major minor
	major=${r%%.*} r=${r#*.}
	minor=${r%%[!0-9]*}
	[ "$major" -lt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -lt "$2" ]; }
}
object_count() {
	local k v
	while read -r k v; do
		[ "$k" = "$1" ] && { echo "$v"; return 0; }
	done <"$OBJECTS"
}

# ---------------------------------------------------------------- runner

# run_case ID DESCRIPTION FUNCTION ARGS...: run one case in a subshell with
# set -e, clean its namespaces up whatever happens, print its TAP line.
# TESTBED_ONLY (a regex) limits which case ids run; ids starting with "!"
# always run (module checks, teardown).  TESTBED_TRACE=1 traces the cases.
run_case() {
	local id=$1 desc=$2 rc line notes t_case
	shift 2
	if [ "${id#!}" != "$id" ]; then
		id=${id#!}
	elif [ -n "$TESTBED_ONLY" ] && ! [[ $id =~ $TESTBED_ONLY ]]; then
		return 0
	fi
	case_no=$((case_no + 1))
	rm -f "$T/skip-reason" "$T/notes" "$T/failed"
	echo "# --- case $case_no [$id]: $desc"
	t_case=$(uptime_ms)
	(
		if [ -n "${TESTBED_TRACE:-}" ]; then
			PS4='+ ${EPOCHREALTIME} '
			set -x
		fi
		set -eE
		CASE_SUBSHELL=$BASH_SUBSHELL
		trap 'on_err $? "$BASH_COMMAND" "${FUNCNAME[0]:-main}:$LINENO"' ERR
		trap cleanup_case EXIT
		"$@"
	)
	rc=$?
	notes=
	[ -s "$T/notes" ] && notes=" ($(paste -s -d ';' "$T/notes" | sed 's/;/; /g'))"
	case $rc in
	0) line="ok $case_no - $desc$notes" ;;
	"$ksft_skip") line="ok $case_no - $desc$notes # SKIP $(cat "$T/skip-reason" 2>/dev/null)" ;;
	*)
		line="not ok $case_no - $desc$notes"
		n_fail=$((n_fail + 1))
		;;
	esac
	echo "$line"
	echo "# case $case_no took $(($(uptime_ms) - t_case)) ms"
	echo "$line" >&"$RESULT_FD"
}
