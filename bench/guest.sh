#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark, run inside the guest as the test bed's suite (installed as
# /tests/guest/bench.sh by bench/run.sh).  Each scenario runs three ways in
# this one boot, with the same rules:
#
#   none    no connlimit rule (conntrack on all the same, through a rule in
#           a chain nothing jumps to)
#   intree  the kernel's own xt_connlimit.ko + nf_conncount.ko (modprobe)
#   ours    build/<kver>/kernel/xt_connlimit.ko (insmod)
#
# "none" is not a run of its own: the load generator drives a second,
# rule-less pair of namespaces as its second lane (clbench -N), one
# connection or SYN at a time in turn with the engine's, so each engine's
# figures come with no-rule figures from the same instants (the host is
# shared; its speed drifts from one second to the next).  In S2 and S3 the
# second lane's SYNs go through the engine's own namespaces, to a port the
# connlimit rule leaves out (see s2).
#
# Topology, per case:   bc-XXXX  c0 ===veth=== s0  bs-XXXX
#   client addresses 198.18.1.1 (S1), 198.18.2.1-64 (S1 daddr),
#   198.18.3.1 (S3); raw SYN sources from 198.18.4.0, 198.18.8.0 (S5) and
#   198.18.128.0 on (S2, up to 128,000 keys); the server is 198.18.0.1, TCP
#   ports 1001-1004 held by `clbench serve`, ports 1009 and 1010 closed
#   (SYN targets).  S6 has its own (tests/guest/prefix-flood.sh, shared
#   with the stress suite): no no-rule lane there, the in-kernel module is
#   its reference.
#
# Results go to the result channel as "BENCH <scenario> key=value..." lines
# (raw per-batch times; bench/report.sh computes medians and ratios), next
# to the TAP line of each case.  Parameters come from /etc/bench.conf.

# R_* variables are set by trecv from each answer's key=value words.
# shellcheck disable=SC2154
# shellcheck source=tests/guest/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/guest/prefix-flood.sh
. "$(dirname "$0")/prefix-flood.sh"
# shellcheck source=/dev/null
[ -f /etc/bench.conf ] && . /etc/bench.conf

SCENARIOS=${BENCH_SCENARIOS:-s1 s1d s2 s3 s5 s6 s7}
VARIANTS=${BENCH_VARIANTS:-none intree ours}
BATCHES=${BENCH_BATCHES:-5}
S1_LEVELS=${BENCH_S1_LEVELS:-1000 5000 20000 50000}
S1_BATCH=${BENCH_S1_BATCH:-1000}
S1_BUDGET=${BENCH_S1_BUDGET:-180}	# seconds per mode for the in-kernel ramp
S2_LEVELS=${BENCH_S2_LEVELS:-1000 16000 64000 128000}
S2_BATCH=${BENCH_S2_BATCH:-8000}
S3_LEVELS=${BENCH_S3_LEVELS:-100 10000}
S3_BATCH_MS=${BENCH_S3_BATCH_MS:-500}	# S3 batches: SYNs for about this long
S5_BATCH=${BENCH_S5_BATCH:-4000}
S7_KEYS=${BENCH_S7_KEYS:-1000000}	# S7: keys held while idle (<= 2^20)
S7_SECS=${BENCH_S7_SECS:-20}		# S7: seconds measured each way
S7_RATE=${BENCH_S7_RATE:-8000}		# S7: SYNs a second to make the keys
S6_RUNS=${BENCH_S6_RUNS:-3}		# floods per shape and target
PF_SECS=${BENCH_S6_SECS:-5}		# seconds each (tests/guest/prefix-flood.sh)
PF_RATE=${BENCH_S6_RATE:-6000}		# SYNs a second asked for
PF_LEGIT=${BENCH_S6_LEGIT:-4}		# legitimate opens per family in each
GAP=${BENCH_GAP:-1}			# seconds between batches
OURS_KO=/usr/lib/connlimit-bench/xt_connlimit.ko
NEVER=1000000				# a limit no scenario reaches

SRV=198.18.0.1
SPORTS=(-p 1001 -p 1002 -p 1003 -p 1004)
SYN_PORT=1009
SYN_PORT1=1010		# the no-rule lane of S2 and S3
REJECT=(-j REJECT --reject-with tcp-reset)

# emit WORDS...: one result line.
emit() { echo "BENCH $*" >&"$RESULT_FD"; }

# ---------------------------------------------------------------- tools

declare -A TW TR

# tool NAME NS ARGS...: clbench ARGS in NS, driven through two fifos.
tool() {
	local name=$1 ns=$2 w r
	shift 2
	rm -f "$T/$name.in" "$T/$name.out"
	mkfifo "$T/$name.in" "$T/$name.out"
	exec {w}<>"$T/$name.in" {r}<>"$T/$name.out"
	clbench -n "$ns" "$@" <"$T/$name.in" >"$T/$name.out" 2>>"$T/$name.err" &
	PIDLIST+=($!)
	disown $!
	TW[$name]=$w
	TR[$name]=$r
}

# tsend NAME CMD / trecv NAME: a command, and its answer in REPLY_LINE with
# its key=value words as R_key variables (no fork: the guest is slow).
tsend() { echo "$2" >&"${TW[$1]}"; }
trecv() {
	local w
	REPLY_LINE=
	unset "${!R_@}"
	read -r -t 900 -u "${TR[$1]}" REPLY_LINE || {
		fail "$1: no answer; stderr: $(cat "$T/$1.err" 2>/dev/null)"
		return 1
	}
	for w in $REPLY_LINE; do
		case $w in *=*) printf -v "R_${w%%=*}" %s "${w#*=}" ;; esac
	done
	case $REPLY_LINE in error*) fail "$1: $REPLY_LINE" ;; esac
}
tcmd() { tsend "$1" "$2" && trecv "$1"; }

# serve NS [NAME]: clbench server on SRV, ports 1001-1004 (tool NAME, srv).
serve() {
	local l name=${2:-srv}
	tool "$name" "$1" serve -a "$SRV" "${SPORTS[@]}"
	busywait 10000 eval 'read -r -t 0.1 -u "${TR[$name]}" l && [ "$l" = ready ]' ||
		fail "clbench serve did not start: $(cat "$T/$name.err")"
}

# open_n NAME N: open N connections (in each lane), all of which must be
# established.
open_n() {
	tcmd "$1" "open $2"
	[ "$R_est" = "$2" ] && [ "${R_est1:-$2}" = "$2" ] ||
		fail "$1: open $2 -> $REPLY_LINE"
}

# ---------------------------------------------------------------- setup

# bed ADDR...: namespaces BC (client, holding ADDRs) and BS (server), a
# veth between them, conntrack timeouts long enough for any scenario.
bed() {
	local a bc bs
	mkns bc bs
	BC=$bc BS=$bs
	ip link add c0 netns "$BC" type veth peer name s0 netns "$BS"
	printf '%s\n' "addr add $SRV/15 dev s0" "link set lo up" "link set s0 up" |
		ip -n "$BS" -b -
	{
		for a in "$@"; do echo "addr add $a/15 dev c0"; done
		echo "link set lo up"
		echo "link set c0 up"
	} | ip -n "$BC" -b -
	nsx "$BS" sysctl -q -w net.netfilter.nf_conntrack_tcp_timeout_syn_sent=3600 \
		net.netfilter.nf_conntrack_tcp_timeout_syn_recv=3600
}

# rules VARIANT RULE...: the server's INPUT rule for VARIANT; RULE is the
# connlimit rule (without the target), used as is unless VARIANT is none.
# With "-r", also drop the resets the server sends from the SYN port before
# conntrack sees them (raw OUTPUT): SYNs to that closed port then stay
# tracked (SYN_SENT), as half-open connections would, and the refusals of
# S3 cost no delivery.  Conntrack is on in every variant.
rules() {
	local var=$1 raw=
	shift
	if [ "$1" = -r ]; then
		raw="-A OUTPUT -p tcp --sport $SYN_PORT:$SYN_PORT1 --tcp-flags RST RST -j DROP"
		shift
	fi
	{
		echo "*raw"
		[ -n "$raw" ] && echo "$raw"
		echo "COMMIT"
		echo "*filter"
		echo ":ct-on - [0:0]"
		echo "-A ct-on -m conntrack --ctstate INVALID -j DROP"
		[ "$var" != none ] && echo "-A INPUT $* ${REJECT[*]}"
		echo "COMMIT"
	} | nsx "$BS" iptables-legacy-restore
}

# slab NAME: "active num objsize perslab pagesperslab slabs" of a cache.
slab() {
	local name a n sz per pps s
	while read -r name a n sz per pps _ _ _ _ _ _ _ _ s _; do
		if [ "$name" = "$1" ]; then
			echo "$a $n $sz $per $pps $s"
			return
		fi
	done </proc/slabinfo
	echo "0 0 0 0 0 0"
}

# free_pages: free pages in the buddy allocator plus the per-CPU lists.
# Each CPU keeps a difference of up to its vmstat threshold (tens of pages)
# to the global count until vmstat's work folds it in; stat_refresh folds
# them all now, or a delta between two readings is off by as much as the
# rule freed in a small case (an in-kernel total read below its own slab).
free_pages() {
	local k v free=0 pcp=0
	echo 1 >/proc/sys/vm/stat_refresh 2>/dev/null || true
	while read -r k v _; do
		[ "$k" = nr_free_pages ] && { free=$v; break; }
	done </proc/vmstat
	while read -r k v _; do
		[ "$k" = count: ] && pcp=$((pcp + v))
	done </proc/zoneinfo
	echo $((free + pcp))
}

# mem_snap WHERE VAR STATE CONNS KEYS: S4 numbers, with the engine's
# objects and (STATE=without) after the rule is gone.
mem_snap() {
	local c a n sz per pps s
	emit "s4 where=$1 var=$2 state=$3 conns=$4 keys=$5 free=$(free_pages)"
	for c in cl_conn cl_key nf_conncount_tuple nf_conncount_rb nf_conntrack; do
		read -r a n sz per pps s < <(slab "$c")
		emit "s4 where=$1 var=$2 state=$3 cache=$c active=$a num=$n objsize=$sz perslab=$per pagesperslab=$pps slabs=$s"
	done
}

# memory WHERE VAR CONNS KEYS: snapshot, drop the rule, snapshot again.
# First wait out the reset connections' conntrack entries (CLOSE, 10 s) and
# have them reaped, so that nothing but the rule's memory is freed between.
memory() {
	[ "$2" = none ] && return 0
	nap 12
	# a dump reaps expired entries now, not during the window below
	nsx "$BS" conntrack -L >/dev/null 2>&1 || true
	nap 1
	mem_snap "$1" "$2" with "$3" "$4"
	nsx "$BS" iptables-legacy -F INPUT
	nap 2
	mem_snap "$1" "$2" without "$3" "$4"
	[ "$2" = ours ] && emit "s4 where=$1 var=ours objects=$(objects | paste -s -d,)"
	return 0
}

# teardown: rules first (so the module is free at once), then the link
# (so dying sockets send nothing), then the processes.  cleanup_case
# deletes the namespaces.
teardown() {
	local pid name
	nsx "$BS" iptables-legacy -F INPUT
	nsx "$BS" iptables-legacy -t raw -F
	ip -n "$BC" link del c0
	for pid in "${PIDLIST[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
	# a process holding 100,000 sockets takes a while to die under TCG
	for pid in "${PIDLIST[@]}"; do busywait 60000 eval "! proc_alive $pid"; done
	PIDLIST=()	# gone: nothing for cleanup_case to stop
	for name in "${!TW[@]}"; do
		eval "exec ${TW[$name]}>&- ${TR[$name]}<&-"
		unset "TW[$name]" "TR[$name]"
	done
	if [ "$(module_is)" = ours ]; then
		busywait 5000 eval '[ "$(object_count keys)" = 0 ] && [ "$(object_count conns)" = 0 ]' ||
			fail "ours: objects left after the rules went: $(objects | paste -s -d ' ')"
	fi
}

# settle: wait until the last case's namespaces are gone (their conntrack
# entries and sockets freed), so that no cleanup runs during a measurement.
# (SLUB counts the free objects of per-CPU slabs as active: a few hundred
# stay "active" when the caches are empty; a case leaves tens of thousands.)
ct_idle() {
	local a t
	read -r a _ < <(slab nf_conntrack)
	read -r t _ < <(slab TCP)
	[ "$a" -lt 2048 ] && [ "$t" -lt 2048 ]
}
settle() {
	local t0
	t0=$(uptime_ms)
	busywait 60000 ct_idle || log "settle: still $(slab nf_conntrack) conntracks after 60 s"
	log "settled in $(($(uptime_ms) - t0)) ms"
}

# use_variant none|intree|ours: unload the other module, load this one.
use_variant() {
	local want=$1 have
	have=$(module_is)
	if [ "$have" != none ] && [ "$have" != "$want" ]; then
		busywait 20000 eval '[ "$(module_refcnt)" -eq 0 ]' || true
		rmmod xt_connlimit || { log "rmmod xt_connlimit ($have) failed"; return 1; }
		if [ "$have" = intree ]; then rmmod nf_conncount || true; fi
	fi
	case $want in
	intree) [ "$have" = intree ] || modprobe xt_connlimit ;;
	ours) [ "$have" = ours ] || insmod "$OURS_KO" ;;
	esac
	have=$(module_is)
	log "variant $want: xt_connlimit is $have"
	[ "$have" = "$want" ]
}

# ---------------------------------------------------------------- S1

# s1 VAR saddr|daddr: one hot key holding C connections for each C of
# S1_LEVELS; the cost of the next S1_BATCH connections at each.  The no-rule
# baseline runs beside the engine: a second pair of namespaces without the
# rule, driven by the same client process as its second lane (clbench -N),
# connection by connection in turn with the engine's.
s1() {
	local var=$1 mode=$2 held=0 level n i t0 left cost=0 proj x budget
	local -a srcs=(198.18.1.1) conn=(-s 198.18.1.1) rule
	local rc rs bc bs
	rule=(-p tcp --syn -m connlimit --connlimit-above "$NEVER")
	if [ "$mode" = daddr ]; then
		srcs=()
		for i in $(seq 1 64); do srcs+=("198.18.2.$i"); done
		conn=(-s 198.18.2.1 -S 64)
		rule+=(--connlimit-daddr)
	fi
	bed "${srcs[@]}"
	rc=$BC rs=$BS
	rules "$var" "${rule[@]}"
	serve "$rs" srv
	bed "${srcs[@]}"
	bc=$BC bs=$BS
	rules none
	serve "$bs" srv0
	tool cli "$rc" -N "$bc" conn "${conn[@]}" -d "$SRV" "${SPORTS[@]}"

	# Only the in-kernel engine has a budget (its cost grows with C, and
	# the run must end in time); ours must reach every level.
	budget=$S1_BUDGET
	[ "$var" = intree ] || budget=1000000
	t0=$(uptime_ms)
	for level in $S1_LEVELS; do
		# Stop before a level this variant cannot reach within the budget:
		# the ramp at today's cost is a lower bound of what it will take.
		left=$((budget * 1000 - ($(uptime_ms) - t0)))
		proj=$(((level - held + BATCHES * S1_BATCH) * cost / 1000000))
		if [ "$proj" -gt "$left" ]; then
			emit "s1 mode=$mode var=$var stop C=$held next=$level reason=projected_${proj}ms_left_${left}ms"
			note "ramp stopped at C=$held (next level $level would take over ${proj} ms, ${left} ms left)"
			break
		fi
		while [ "$held" -lt "$level" ]; do
			if [ $(($(uptime_ms) - t0)) -gt $((budget * 1000)) ]; then
				emit "s1 mode=$mode var=$var stop C=$held next=$level reason=budget_${budget}s"
				note "ramp stopped at C=$held: budget ${budget} s spent"
				break 2
			fi
			n=$((level - held))
			[ "$n" -gt "$S1_BATCH" ] && n=$S1_BATCH
			open_n cli "$n"
			emit "s1 mode=$mode var=$var phase=ramp C=$held n=$n ns=$R_ns"
			emit "s1 mode=$mode var=none pair=$var phase=ramp C=$held n=$n ns=$R_ns1"
			cost=$(((R_ns + R_ns1) / n))
			held=$((held + n))
		done
		nap "$GAP"
		for i in $(seq 1 "$BATCHES"); do
			open_n cli "$S1_BATCH"
			emit "s1 mode=$mode var=$var phase=batch C=$level i=$i n=$S1_BATCH ns=$R_ns"
			emit "s1 mode=$mode var=none pair=$var phase=batch C=$level i=$i n=$S1_BATCH ns=$R_ns1"
			cost=$(((R_ns + R_ns1) / S1_BATCH))
			x="$((R_ns / S1_BATCH / 1000)) us/conn (no rule $((R_ns1 / S1_BATCH / 1000)))"
			tcmd cli "reset $S1_BATCH"
			nap "$GAP"
		done
		log "s1 $mode $var: C=$level done at $(($(uptime_ms) - t0)) ms, last batch $x"
	done
	emit "s1 mode=$mode var=$var reached C=$held ms=$(($(uptime_ms) - t0))"
	BC=$rc BS=$rs
	[ "$mode" = saddr ] && memory s1 "$var" "$held" 1
	teardown
	BC=$bc BS=$bs
	teardown
}
s1_saddr() { s1 "$1" saddr; }
s1_daddr() { s1 "$1" daddr; }

# ---------------------------------------------------------------- S2

# profile_start / profile_stop TITLE: a perf profile (cpu-clock samples,
# every CPU) of what runs in between, its top symbols to the result channel
# as "BENCH profile" lines.  Only with BENCH_PERF_K (a diagnostic: the
# sampling itself costs time).
profile_start() {
	perf record -q -a -g -e cpu-clock -F 2000 -o "$T/perf.data" >"$T/perf.err" 2>&1 &
	PERF_PID=$!
	sleep 1
}
profile_stop() {
	local line
	if ! kill -INT "$PERF_PID" 2>/dev/null; then
		emit "profile $1: perf record failed: $(tr '\n' ' ' <"$T/perf.err")"
		return 0
	fi
	wait "$PERF_PID" || true
	emit "profile begin $1"
	# the sender's own samples (its softirqs included), not the idle CPU
	perf report -i "$T/perf.data" --stdio --no-children --sort sym \
		--comms clbench --percentage relative --percent-limit 0.2 -g none \
		2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 90 |
		while IFS= read -r line; do emit "profile $line"; done
	perf report -i "$T/perf.data" --stdio --children --sort sym \
		--comms clbench --percentage relative --percent-limit 0.5 -g none \
		2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 70 |
		while IFS= read -r line; do emit "profile-children $line"; done
	for sym in ${BENCH_PERF_SYMS:-}; do
		perf report -i "$T/perf.data" --stdio --no-children --comms clbench \
			--percentage relative -S "$sym" -g caller,0.5,callee --max-stack 12 \
			2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 60 |
			while IFS= read -r line; do emit "profile-$sym $line"; done
	done
	rm -f "$T/perf.data"
}

# s2 VAR: K keys (source addresses) with one connection each, for each K of
# S2_LEVELS; S2_BATCH new SYNs spread over the K keys, through the rule.  The
# no-rule baseline is the generator's second lane, SYN by SYN in turn with
# the engine's: the same SYNs into the same namespaces, to SYN_PORT1, which
# the rule's --dport leaves out: the lanes share the conntrack table, the
# veth and the generator's socket, and differ only in whether connlimit
# sees their SYNs (both pay the rule's tcp match).  This scenario's margin
# is a few percent, the size of what two pairs of namespaces could differ
# by.  Throughput over all steps; over the calm steps (clbench: steps where
# neither SYN was disturbed) as a diagnostic.
s2() {
	local var=$1 keys=0 k i ct sent1=0 max
	max=${S2_LEVELS##* }
	bed 198.18.1.1
	rules "$var" -r -p tcp --syn --dport "$SYN_PORT" -m connlimit --connlimit-above "$NEVER"
	tool syn "$BC" syn -s 198.18.128.0 -k "$max" -d "$SRV" -p "$SYN_PORT" -P "$SYN_PORT1"
	for k in $S2_LEVELS; do
		tcmd syn "keys $keys $k"
		emit "s2 var=$var phase=populate K=$keys n=$R_n err=$R_err ns=$R_ns"
		emit "s2 var=none pair=$var phase=populate K=$keys n=$R_n1 err=$R_err1 ns=$R_ns1"
		sent1=$((sent1 + R_n1 - R_err1))
		keys=$k
		nap "$GAP"
		[ "$k" = "${BENCH_PERF_K:-}" ] && profile_start
		for i in $(seq 1 "$BATCHES"); do
			tcmd syn "send $S2_BATCH $k"
			emit "s2 var=$var phase=batch K=$k i=$i n=$R_n err=$R_err ns=$R_ns med=$R_med big=$R_big calm=$R_calm steps=$R_steps"
			emit "s2 var=none pair=$var phase=batch K=$k i=$i n=$R_n1 err=$R_err1 ns=$R_ns1 med=$R_med1 big=$R_big1 calm=$R_calm1 steps=$R_steps"
			sent1=$((sent1 + R_n1 - R_err1))
			nap "$GAP"
		done
		[ "$k" = "${BENCH_PERF_K:-}" ] && profile_stop "s2 $var K=$k"
		# every SYN the no-rule lane sent is one of the namespace's
		# conntracks (3600 s in SYN_SENT); the rest are the engine's
		ct=$(nsx "$BS" cat /proc/sys/net/netfilter/nf_conntrack_count)
		emit "s2 var=$var tracked K=$k ct=$((ct - sent1))"
		emit "s2 var=none pair=$var tracked K=$k ct=$sent1"
		log "s2 $var: K=$k, $((ct - sent1)) conntrack entries of the engine's lane ($sent1 of the no-rule lane)"
	done
	memory s2 "$var" "$((ct - sent1))" "$keys"
	teardown
}

# ---------------------------------------------------------------- S3

# s3 VAR: one address holding N connections under --connlimit-above N, for
# each N of S3_LEVELS; the cost of new SYNs from it, all refused.  The
# no-rule baseline, the generator's second lane, sends the same SYNs (as in
# S2: same socket, same namespaces) to SYN_PORT1, which a rule ahead of the
# connlimit rule refuses by port, without counting; the engine's SYNs pass
# that rule's tcp match on their way to connlimit.  A batch is as many
# SYNs as a probe says take S3_BATCH_MS (200 to 20,000): the engines differ
# by orders of magnitude here, and a batch must be neither a blink nor
# minutes.
s3() {
	local var=$1 n held i refused refused0 batch sent
	for n in $S3_LEVELS; do
		bed 198.18.3.1
		rules "$var" -r -p tcp --syn -m connlimit --connlimit-above "$n"
		nsx "$BS" iptables-legacy -I INPUT 1 -p tcp --syn --dport "$SYN_PORT1" "${REJECT[@]}"
		serve "$BS"
		tool cli "$BC" conn -s 198.18.3.1 -d "$SRV" "${SPORTS[@]}"
		held=0
		while [ "$held" -lt "$n" ]; do
			i=$((n - held))
			[ "$i" -gt 1000 ] && i=1000
			open_n cli "$i"
			held=$((held + i))
		done
		# at the limit: the next real connection is refused
		tcmd cli "open 1"
		[ "$R_ref" = 1 ] || fail "N=$n: connection N+1 not refused: $REPLY_LINE"
		tool syn "$BC" syn -s 198.18.3.1 -k 1 -d "$SRV" -p "$SYN_PORT" -P "$SYN_PORT1"
		nap "$GAP"
		tcmd syn "send 200 1"
		sent=200
		batch=$((S3_BATCH_MS * 1000000 / (R_ns / 200 + R_ns1 / 200 + 1)))
		[ "$batch" -lt 200 ] && batch=200
		[ "$batch" -gt 20000 ] && batch=20000
		batch=$((batch / 100 * 100))
		nap "$GAP"
		for i in $(seq 1 "$BATCHES"); do
			tcmd syn "send $batch 1"
			emit "s3 var=$var N=$n i=$i n=$R_n err=$R_err ns=$R_ns med=$R_med big=$R_big calm=$R_calm steps=$R_steps"
			emit "s3 var=none pair=$var N=$n i=$i n=$R_n1 err=$R_err1 ns=$R_ns1 med=$R_med1 big=$R_big1 calm=$R_calm1 steps=$R_steps"
			sent=$((sent + batch))
			nap "$GAP"
		done
		# INPUT: the no-rule lane's rule (line 3 of the listing), then
		# the engine's, which also refused connection N+1
		refused0=$(nsx "$BS" iptables-legacy -L INPUT -v -x -n | awk 'NR == 3 { print $1 }')
		refused=$(nsx "$BS" iptables-legacy -L INPUT -v -x -n | awk 'NR == 4 { print $1 }')
		refused=$((refused - 1))
		emit "s3 var=$var N=$n refused=$refused sent=$sent"
		emit "s3 var=none pair=$var N=$n refused=$refused0 sent=$sent"
		[ "$refused" = "$sent" ] || fail "N=$n: $sent SYNs sent, $refused refused"
		[ "$refused0" = "$sent" ] || fail "N=$n: $sent SYNs sent to the no-rule lane, $refused0 refused"
		teardown
		cleanup_case
		settle
	done
}

# ---------------------------------------------------------------- S5

# s5 VAR: two SYN senders pinned to the two vCPUs, each with its own 1,000
# keys, sending at once; against one sender alone.  Each sender also drives
# the no-rule lane, SYN by SYN in turn, so the two senders load the rule
# and the rule-less copy together; the figures are each lane's time per
# SYN, summed over the senders.
s5() {
	local var=$1 i n=$((S5_BATCH / 2)) rc rs bc bs n0 ns0 n1 ns1 t0 t1
	bed 198.18.1.1
	rc=$BC rs=$BS
	rules "$var" -r -p tcp --syn -m connlimit --connlimit-above "$NEVER"
	bed 198.18.1.1
	bc=$BC bs=$BS
	rules none -r
	tool syn0 "$rc" -N "$bc" syn -s 198.18.4.0 -k 1000 -d "$SRV" -p "$SYN_PORT" -c 0
	tool syn1 "$rc" -N "$bc" syn -s 198.18.8.0 -k 1000 -d "$SRV" -p "$SYN_PORT" -c 1
	tcmd syn0 "keys 0 1000"
	tcmd syn1 "keys 0 1000"
	nap "$GAP"
	for i in $(seq 1 "$BATCHES"); do
		tcmd syn0 "send $S5_BATCH 1000"
		emit "s5 var=$var senders=1 i=$i n=$R_n err=$R_err ns=$R_ns"
		emit "s5 var=none pair=$var senders=1 i=$i n=$R_n1 err=$R_err1 ns=$R_ns1"
		nap "$GAP"
		tsend syn0 "send $n 1000"
		tsend syn1 "send $n 1000"
		trecv syn0
		n0=$R_n ns0=$R_ns n1=$R_n1 ns1=$R_ns1 t0=$R_t0 t1=$R_t1
		trecv syn1
		[ "$R_t0" -lt "$t0" ] && t0=$R_t0
		[ "$R_t1" -gt "$t1" ] && t1=$R_t1
		emit "s5 var=$var senders=2 i=$i n=$((n0 + R_n)) ns=$((ns0 + R_ns)) wall=$((t1 - t0))"
		emit "s5 var=none pair=$var senders=2 i=$i n=$((n1 + R_n1)) ns=$((ns1 + R_ns1)) wall=$((t1 - t0))"
		nap "$GAP"
	done
	BC=$rc BS=$rs
	teardown
	BC=$bc BS=$bs
	teardown
}

# ---------------------------------------------------------------- S6

# s6 VAR: the one-prefix SYN flood of tests/guest/prefix-flood.sh, every
# ruleset shape (a, b; c with ours) with DROP and with REJECT, S6_RUNS
# floods each, into conntrack lowered to PF_CT_MAX entries (and back
# after).  Conntrack's peak count, its drops for want of room, the
# legitimate client's opens: one "s6" line per flood.
s6() {
	local var=$1 shape target i
	trap 'pf_conntrack_back; cleanup_case' EXIT
	pf_conntrack_small
	pf_topo
	emit "s6 meta ct_max=$PF_CT_MAX rate=$PF_RATE secs=$PF_SECS runs=$S6_RUNS slack0=$(pf_slack 0) hold_ms=$PF_HOLD_MS keys6=$PF_KEYS6"
	for target in drop reject; do
		for shape in $(pf_shapes "$var"); do
			for i in $(seq 1 "$S6_RUNS"); do
				pf_run "$shape" "$target" "$T/s6"
				emit "s6 var=$var shape=$shape target=$target i=$i $(cat "$T/s6")"
			done
		done
	done
	pf_conntrack_back
}

# ---------------------------------------------------------------- S7

# busy_ticks: CPU time the guest spent outside idle, all CPUs (USER_HZ).
busy_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# s7 VAR: what an engine costs while nothing happens, holding S7_KEYS keys
# (IPv6 /128, one connection each: one SYN from each of as many sources of
# 2001:2:0:9::/64, half-open conntracks kept for the scenario's length).
# The guest's busy CPU time over S7_SECS seconds with the rule, then over as
# long without it (flushed, the same conntracks still there): the
# difference is the engine's, its background work (ours: a sweep each
# second; the in-kernel one: a worker visiting its trees).
s7() {
	local var=$1 cli srv b0 b1 idle_rule idle_none ct keys
	flood_pair 198.19.9.0/24 2001:2:0:9::/64
	BC=$cli BS=$srv
	nsx "$BS" sysctl -q -w net.netfilter.nf_conntrack_tcp_timeout_syn_recv=3600
	sysctl -q -w net.netfilter.nf_conntrack_max=$((S7_KEYS + 65536))
	clstress -n "$BS" serve -a 2001:db8::1 -p 80 >"$T/s7-serve" 2>&1 &
	PIDLIST+=($!)
	disown $!
	busywait 10000 server_ready "$T/s7-serve" || fail "s7: server did not start"
	# the SYN-ACKs to the sources go nowhere: drop them before conntrack
	nsx "$BS" ip6tables-legacy -t raw -A OUTPUT -p tcp --sport 80 -d 2001:2:0:9::/64 -j DROP
	nsx "$BS" ip6tables-legacy -A INPUT -p tcp --syn --dport 80 -m connlimit \
		--connlimit-above "$NEVER" --connlimit-mask 128 "${REJECT[@]}"
	# at a rate the veth's backlog keeps up with: one conntrack a SYN
	clstress -n "$BC" flood -s 2001:2:0:9:: -b 20 -k "$S7_KEYS" -c "$S7_KEYS" \
		-r "$S7_RATE" -d 2001:db8::1 -p 80 >"$T/s7-flood" 2>&1 || fail "s7: flood: $(cat "$T/s7-flood")"
	log "s7 $var: $(cat "$T/s7-flood")"
	ct=$(nsx "$BS" cat /proc/sys/net/netfilter/nf_conntrack_count)
	keys=
	[ "$var" = ours ] && keys=$(object_count keys)
	nap 3
	b0=$(busy_ticks)
	nap "$S7_SECS"
	b1=$(busy_ticks)
	idle_rule=$((b1 - b0))
	nsx "$BS" ip6tables-legacy -F INPUT
	[ "$var" != ours ] || busywait 60000 eval '[ "$(object_count keys)" = 0 ]' ||
		fail "s7: keys left after the rule went: $(objects | paste -s -d ' ')"
	nap 3
	b0=$(busy_ticks)
	nap "$S7_SECS"
	b1=$(busy_ticks)
	idle_none=$((b1 - b0))
	emit "s7 var=$var keys=${keys:-?} ct=$ct secs=$S7_SECS hz=100 busy_rule=$idle_rule busy_none=$idle_none"
	log "s7 $var: $ct conntracks, busy ${idle_rule} ticks in ${S7_SECS} s with the rule, ${idle_none} without"
	nsx "$BS" ip6tables-legacy -t raw -F
	sysctl -q -w net.netfilter.nf_conntrack_max=1048576
}

# ---------------------------------------------------------------- main

bench_setup() {
	local m
	for m in nf_conntrack x_tables ip_tables iptable_filter iptable_raw \
		xt_conntrack xt_tcpudp nf_reject_ipv4 ipt_REJECT veth; do
		if [ "$m" = nf_conntrack ]; then
			modprobe nf_conntrack hashsize=262144
		else
			modprobe "$m"
		fi
	done
	sysctl -q -w net.netfilter.nf_conntrack_max=1048576
	emit "meta kernel=$(uname -r) cpus=$(nproc) mem_kb=$(awk '/MemTotal/ { print $2 }' /proc/meminfo) ct_buckets=$(cat /proc/sys/net/netfilter/nf_conntrack_buckets) ct_max=$(cat /proc/sys/net/netfilter/nf_conntrack_max) cmdline=$(tr ' ' ',' </proc/cmdline)"
	emit "meta ours=$(modinfo -F version "$OURS_KO") intree=$(modinfo -F vermagic xt_connlimit | awk '{ print $1 }')"
	emit "meta params batches=$BATCHES s1_levels=${S1_LEVELS// /,} s1_batch=$S1_BATCH s1_budget=$S1_BUDGET s2_levels=${S2_LEVELS// /,} s2_batch=$S2_BATCH s3_levels=${S3_LEVELS// /,} s3_batch_ms=$S3_BATCH_MS s5_batch=$S5_BATCH s6_runs=$S6_RUNS s7_keys=$S7_KEYS s7_secs=$S7_SECS s6_secs=$PF_SECS s6_rate=$PF_RATE gap=$GAP"
}

declare -A DESC=(
	[s1]="S1 one hot key, one client address (saddr)"
	[s1d]="S1 one hot key, 64 clients to one server (daddr)"
	[s2]="S2 many keys"
	[s3]="S3 key held at its limit, refused SYNs"
	[s5]="S5 two senders on two vCPUs"
	[s6]="S6 SYN flood from one prefix, conntrack occupancy"
	[s7]="S7 idle cost with $S7_KEYS keys"
)
declare -A FUNC=([s1]=s1_saddr [s1d]=s1_daddr [s2]=s2 [s3]=s3 [s5]=s5 [s6]=s6 [s7]=s7)

bench_setup
start=$(uptime_ms)
for sc in $SCENARIOS; do
	for var in $VARIANTS; do
		# every scenario measures the no-rule baseline beside each engine
		[ "$var" = none ] && continue
		if ! use_variant "$var"; then
			emit "$sc var=$var error=module"
			echo "not ok $((case_no + 1)) - ${DESC[$sc]}: $var (module would not load)" >&"$RESULT_FD"
			case_no=$((case_no + 1)) n_fail=$((n_fail + 1))
			continue
		fi
		run_case "$sc/$var" "${DESC[$sc]}: $var" "${FUNC[$sc]}" "$var"
		settle
		emit "time $sc var=$var at_ms=$(($(uptime_ms) - start))"
	done
done
use_variant none
emit "done ms=$(($(uptime_ms) - start)) failed=$n_fail"
exit $((n_fail > 0))
