#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The stress suite (issue 7, items 1-4), run inside the test guest by
# tests/stress/run.sh: our xt_connlimit under a random-source SYN flood,
# connect races on two vCPUs, teardown under load and hostile rule data.
# STRESS_MODE (from /etc/testbed.conf) is "short" (the form inside
# make check) or "long" (make stress): the same cases, bigger figures; or
# "fault" (item 5): the test-only build of the module that fails every Nth
# allocation of the packet path (make module-fault), and one case on it.
#
# Every case ends with the same checks (case_end): the kernel log since
# the case began holds none of the patterns guest-init scans for (WARN,
# BUG, oops, bad page, soft lockup, RCU stall, slab corruption), the
# module's debugfs objects are back to zero once the case's namespaces are
# gone, and our slab caches hold no object (after a shrink, so SLUB's
# per-CPU slabs are counted right).  The guest boots with slub_debug=FZPU.
#
# Addresses: 198.18.0.0/15 and 2001:db8::/32 for the hosts, the flood's
# random sources from 198.19.0.0/16 and 2001:2::/48.

# shellcheck source=../guest/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../guest/prefix-flood.sh
. "$(dirname "$0")/prefix-flood.sh"
# shellcheck source=/dev/null
[ -f /etc/testbed.conf ] && . /etc/testbed.conf

MODE=${STRESS_MODE:-short}
BAD_KERNEL_LOG=${BAD_KERNEL_LOG:-'cut here|WARNING:|BUG|Oops|Call Trace|soft lockup|rcu.*stall|bad page|Poison overwritten|Redzone overwritten|Objects remaining'}
REJECT_TCP=(-j REJECT --reject-with tcp-reset)

# The flood: FLOOD_SYNS per family from FLOOD_KEYS4 + FLOOD_KEYS6 sources,
# nf_conntrack_max CT_MAX.  The short form floods less, into a smaller
# conntrack table, so that the table is full as long (in proportion).
if [ "$MODE" = long ]; then
	FLOOD_SYNS=125000	# per family
	FLOOD_KEYS4=65536	# distinct IPv4 sources (of 2^16)
	FLOOD_KEYS6=100000	# distinct IPv6 sources (of 2^20)
	CT_MAX=32768
	RACE_ROUNDS=300
	RACE_SETS="legacy:4:1 legacy:6:1 nft:4:mask nft:6:mask legacy:4:mask nft:6:1"
	TEARDOWN_ITERS=8	# pairs of namespaces killed under load
	TEARDOWN_INNER=4	# replace/delete/flush rounds in each
	PF_SECS=15		# the one-prefix flood: seconds per run
	PF_LEGIT=10		# legitimate opens per family in each
	PF_TARGETS="drop reject"
else
	FLOOD_SYNS=30000
	FLOOD_KEYS4=20000
	FLOOD_KEYS6=20000
	CT_MAX=8192
	RACE_ROUNDS=100
	RACE_SETS="legacy:4:1 nft:6:mask"
	TEARDOWN_ITERS=3
	TEARDOWN_INNER=2
	PF_SECS=4
	PF_LEGIT=3
	PF_TARGETS=drop		# reject in the long form only (a minute a kernel)
fi
FREE_MS=30000		# objects must be freed this soon after the flush
# for development: STRESS_TEARDOWN_ITERS, STRESS_RACE_ROUNDS,
# STRESS_PF_SECS, STRESS_PF_LEGIT, STRESS_PF_TARGETS in testbed.conf
TEARDOWN_ITERS=${STRESS_TEARDOWN_ITERS:-$TEARDOWN_ITERS}
RACE_ROUNDS=${STRESS_RACE_ROUNDS:-$RACE_ROUNDS}
PF_SECS=${STRESS_PF_SECS:-$PF_SECS}
PF_LEGIT=${STRESS_PF_LEGIT:-$PF_LEGIT}
PF_TARGETS=${STRESS_PF_TARGETS:-$PF_TARGETS}
RACE_LIMIT=4		# --connlimit-above in the race cases
RACE_THREADS=4		# client threads, pinned to the vCPUs in turn
RACE_ATTEMPTS=8		# connects per thread per round

# ---------------------------------------------------------------- checks

OUR_CACHES=()		# slab caches our module made (found at load)

# The caches that appear when our module loads: its own.  Loads the
# module's dependencies first, so that theirs are not taken for ours.
find_our_caches() {
	local before after deps c
	deps=$(modinfo -F depends xt_connlimit | tr , ' ')
	# shellcheck disable=SC2086
	[ -z "$deps" ] || modprobe -a $deps
	awk 'NR > 2 { print $1 }' /proc/slabinfo >"$T/slabs-before"
	modprobe xt_connlimit
	for c in $(awk 'NR == FNR { seen[$1] = 1; next }
			FNR > 2 && !($1 in seen) { print $1 }' "$T/slabs-before" /proc/slabinfo); do
		OUR_CACHES+=("$c")
	done
	log "our slab caches: ${OUR_CACHES[*]:-none}"
}

# slab_active CACHE: its active objects, SLUB's per-CPU slabs flushed first.
slab_active() {
	local name active rest
	echo 1 >"/sys/kernel/slab/$1/shrink" 2>/dev/null || true
	while read -r name active rest; do
		if [ "$name" = "$1" ]; then
			echo "$active"
			return 0
		fi
	done </proc/slabinfo
	echo 0		# the cache is gone (module unloaded)
}

objects_zero() {
	[ ! -r "$OBJECTS" ] && return 0
	[ "$(object_count rules)" = 0 ] && [ "$(object_count keys)" = 0 ] &&
		[ "$(object_count conns)" = 0 ]
}

slabs_zero() {
	local c
	for c in "${OUR_CACHES[@]}"; do
		[ "$(slab_active "$c")" = 0 ] || return 1
	done
}

# kmsg_mark: a line of our own in the kernel log; prints its text.
kmsg_mark() {
	local m="stress: case begins, mark $(rand_suffix)$(rand_suffix)"
	echo "$m" >/dev/kmsg
	echo "$m"
}

# kmsg_since MARK: the kernel log after MARK's line (all of it if the mark
# has scrolled out of the ring buffer), without timestamps.
kmsg_since() {
	dmesg | sed 's/^\[[ 0-9.]*\] //' |
		awk -v m="$1" '{ all[NR] = $0 } f { print } $0 == m { f = 1 }
			END { if (!f) for (i = 1; i <= NR; i++) print all[i] }'
}

# case_end MARK: the checks every case ends with.  MARK: from kmsg_mark at
# the start of the case.
case_end() {
	local mark=$1 c bad
	cleanup_case
	bad=$(kmsg_since "$mark" | grep -E -e "$BAD_KERNEL_LOG" || true)
	[ -z "$bad" ] || fail "kernel log during the case: $(head -n 3 <<<"$bad")"
	busywait 30000 objects_zero ||
		fail "objects left after the case: $(objects | paste -s -d ' ')"
	busywait 10000 slabs_zero || {
		for c in "${OUR_CACHES[@]}"; do
			echo "# slab $c: $(slab_active "$c") active" >&2
		done
		fail "objects left in our slab caches after the case"
	}
	log "end of case: log clean, $(objects | head -n 3 | paste -s -d ' '), slabs of ours empty"
}

# with_end FUNCTION ARGS...: the case, then case_end.
with_end() {
	local mark
	mark=$(kmsg_mark)
	"$@"
	case_end "$mark"
}

# stress ID DESCRIPTION FUNCTION ARGS...
stress() {
	local id=$1 desc=$2
	shift 2
	run_case "$id" "$desc" with_end "$@"
}

# ---------------------------------------------------------------- module

case_module() {
	find_our_caches
	[ "$(module_is)" = ours ] || fail "expected our xt_connlimit, found $(module_is)"
	[ -r "$OBJECTS" ] || fail "no $OBJECTS"
	[ ${#OUR_CACHES[@]} -gt 0 ] ||
		log "note: no slab cache appeared with the module: the slab check has nothing to look at"
	note "version $(cat /sys/module/xt_connlimit/version), caches ${OUR_CACHES[*]:-none}, $MODE form"
}

# ---------------------------------------------------------------- 1. flood

# sampler OUTFILE: in the server's namespace (for its conntrack count),
# the peaks of our objects, of conntrack's count and of our entries over
# conntrack's count (entries of dead connections not yet swept) until the
# stop file appears; no forks.
sampler() {
	local out=$1 k v ct pk=0 pc=0 pct=0 px=0 n=0 keys conns
	while [ ! -e "$out.stop" ]; do
		read -r ct </proc/sys/net/netfilter/nf_conntrack_count
		keys=0 conns=0
		while read -r k v; do
			case $k in keys) keys=$v ;; conns) conns=$v ;; esac
		done </sys/kernel/debug/xt_connlimit/objects
		[ "$keys" -gt "$pk" ] && pk=$keys
		[ "$conns" -gt "$pc" ] && pc=$conns
		[ "$ct" -gt "$pct" ] && pct=$ct
		[ $((conns - ct)) -gt "$px" ] && px=$((conns - ct))
		n=$((n + 1))
		read -r -t 0.1 <>"$out.fifo" || true
	done
	echo "peak keys=$pk conns=$pc ct=$pct excess=$px samples=$n" >"$out"
}

# ct_drops NS: conntrack's own statistics in NS, summed over CPUs: packets
# dropped for want of a conntrack (a full table), and early drops.
ct_drops() {
	nsx "$1" conntrack -S 2>/dev/null | awk '
		{ for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "drop") d += kv[2]
			if (kv[1] == "early_drop") e += kv[2]
		} }
		END { printf "%d packets dropped, %d early drops\n", d, e }'
}

# ct_total NS: conntrack's count of entries in NS.
ct_total() { nsx "$1" cat /proc/sys/net/netfilter/nf_conntrack_count; }

ct_nearly_full() { [ "$(ct_total "$1")" -ge $((CT_MAX - CT_MAX / 8)) ]; }

ct_count_is_zero() { [ "$(ct_total "$1")" = 0 ]; }

case_flood() {
	local cli srv fam ct_max_was ct_buckets_was pid4 pid6 spid t0 ms rate slack bound
	local sent=0 distinct=0 errs=0 fms=0 k c pk pc pct px ctstat
	flood_topo
	# Conntrack's limit lowered with its hash sized as the kernel sizes
	# it by default (max = 4 x buckets).  With the limit alone lowered
	# (2 GB guest: 16,384 buckets for 8,192 entries) most buckets are
	# empty, and early drop, which looks at 8 buckets from the new
	# tuple's, often finds nothing to drop: conntrack then refuses SYNs
	# ("table full") whatever the rule does, legitimate ones included.
	ct_max_was=$(sysctl -n net.netfilter.nf_conntrack_max)
	ct_buckets_was=$(sysctl -n net.netfilter.nf_conntrack_buckets)
	sysctl -q -w net.netfilter.nf_conntrack_buckets=$((CT_MAX / 4))
	sysctl -q -w net.netfilter.nf_conntrack_max=$CT_MAX
	BACKEND=legacy
	for fam in 4 6; do
		xt $fam "$srv" -A INPUT -p tcp --syn --dport 80 -m connlimit \
			--connlimit-above 2 "${REJECT_TCP[@]}"
	done
	# the answers to the flood go nowhere: drop them at once (cheaper
	# under TCG than carrying them to cli's blackhole routes)
	xt 4 "$srv" -t raw -A OUTPUT -d 198.19.0.0/16 -j DROP
	xt 6 "$srv" -t raw -A OUTPUT -d 2001:2::/48 -j DROP
	clstress -n "$srv" serve -a 198.18.0.1 -a 2001:db8::1 -p 80 >"$T/serve" 2>&1 &
	PIDLIST+=($!)
	disown $!
	busywait 10000 server_ready "$T/serve" || fail "clstress serve did not start: $(cat "$T/serve")"

	# The legitimate clients open their 2 connections before the flood.
	# Established (ASSURED), conntrack's early drop leaves them alone; a
	# handshake under a full table may lose its conntrack to early drop
	# like any flood SYN (seen: the connection lived on, uncounted, and
	# the next was let in -- conntrack's doing, as with any connlimit).
	client_start a4 "$cli" 198.18.1.2 198.18.0.1 80
	client_start a6 "$cli" 2001:db8:0:1::2 2001:db8::1 80
	expect_open a4 2 2 0
	expect_open a6 2 2 0

	mkfifo "$T/peak.fifo"
	nsx "$srv" bash -c "$(declare -f sampler); sampler $T/peak" &
	spid=$!
	PIDLIST+=($spid)
	disown $spid

	t0=$(uptime_ms)
	clstress -n "$cli" flood -s 198.19.0.0 -b 16 -k "$FLOOD_KEYS4" -c "$FLOOD_SYNS" \
		-d 198.18.0.1 -p 80 -P 0 >"$T/flood4" 2>&1 &
	pid4=$!
	PIDLIST+=($pid4)
	disown $pid4
	clstress -n "$cli" flood -s 2001:2:: -b 20 -k "$FLOOD_KEYS6" -c "$FLOOD_SYNS" \
		-d 2001:db8::1 -p 80 -P 1 >"$T/flood6" 2>&1 &
	pid6=$!
	PIDLIST+=($pid6)
	disown $pid6

	# the legitimate clients, once the flood has filled conntrack: their
	# 3rd connection is refused
	busywait 10000 eval '[ "$(object_count conns)" -gt 1000 ]' ||
		fail "the flood does not reach the rule: $(objects | paste -s -d ' ')"
	busywait 60000 ct_nearly_full "$srv" ||
		fail "conntrack not filled by the flood: $(ct_total "$srv") of $CT_MAX"
	expect_open a4 1 0 1
	expect_open a6 1 0 1
	proc_alive $pid4 && proc_alive $pid6 ||
		fail "the flood ended before the legitimate clients were done: make it longer"
	log "legitimate clients: limit held during the flood ($(objects | head -n 3 | paste -s -d ' '))"

	busywait 600000 eval '! proc_alive $pid4 && ! proc_alive $pid6' ||
		fail "the flood did not end in 10 minutes"
	ctstat=$(ct_drops "$srv")
	log "conntrack during the flood: $ctstat"
	ms=$(($(uptime_ms) - t0))
	for fam in 4 6; do
		parse_kv "$(cat "$T/flood$fam")"
		[ -n "${R_sent:-}" ] || fail "flood v$fam: $(cat "$T/flood$fam")"
		log "flood v$fam: $(cat "$T/flood$fam")"
		sent=$((sent + R_sent)) distinct=$((distinct + R_distinct)) errs=$((errs + R_err))
		[ "$R_ms" -gt "$fms" ] && fms=$R_ms
	done
	: >"$T/peak.stop"
	busywait 5000 eval '[ -s "$T/peak" ]' || fail "the sampler did not report"
	parse_kv "$(cat "$T/peak")"
	pk=$R_keys pc=$R_conns pct=$R_ct px=$R_excess

	# The bound: conntrack's limit, plus the entries of conntracks that
	# died (early drop makes room for each new SYN) and that no background
	# pass (one a second, later on a loaded host: 0.9 to 2.6 s of flood
	# seen) has swept yet: four seconds of this flood, or conntrack's limit
	# again if that is more.  A leak grows toward the SYNs admitted.
	# Conntrack's own count includes the dead conntracks our entries still
	# reference; with conntrack nearly full the engine sweeps at once
	# (every 20 ms at most), so they stay a fraction of its max: at most
	# half of it here (2% over the max seen).  Were they kept for a second, the count
	# would stay at the max with ever fewer live conntracks for early drop
	# to find, and conntrack would refuse legitimate SYNs ("table full").
	rate=$((sent * 1000 / (fms > 0 ? fms : 1)))
	slack=$((4 * rate))
	[ "$slack" -ge "$CT_MAX" ] || slack=$CT_MAX
	bound=$((CT_MAX + slack))
	log "flood: $sent SYNs ($errs send errors) from $distinct distinct sources in $fms ms ($rate/s)"
	log "peaks: keys $pk, conns $pc, conns over conntrack's count $px; conntrack $pct (max $CT_MAX); bound $CT_MAX + $slack = $bound"
	[ "$sent" -eq $((2 * FLOOD_SYNS)) ] || fail "only $sent of $((2 * FLOOD_SYNS)) SYNs sent"
	[ "$distinct" -eq $((FLOOD_KEYS4 + FLOOD_KEYS6)) ] ||
		fail "$distinct distinct sources, expected $((FLOOD_KEYS4 + FLOOD_KEYS6))"
	[ "$pct" -ge "$CT_MAX" ] || fail "conntrack never filled up (peak $pct of $CT_MAX): the flood is too small"
	[ "$pct" -le $((CT_MAX + CT_MAX / 2)) ] ||
		fail "conntrack's count reached $pct, more than half above its max $CT_MAX: dead conntracks held by our entries"
	[ "$pc" -le "$bound" ] || fail "peak conns $pc above the bound $bound (conntrack max $CT_MAX + slack $slack)"
	[ "$pk" -le "$bound" ] || fail "peak keys $pk above the bound $bound"
	[ "$pc" -gt 0 ] || fail "no connection was ever counted"

	# the legitimate connections came through the flood and still work
	expect_ping a4 2 0
	expect_ping a6 2 0

	# After the flood: flush; every object of ours goes, and conntrack's
	# count falls to zero (nothing of ours holds a conntrack)
	for c in a4 a6; do echo abort >&"${CL_W[$c]}"; done
	for c in a4 a6; do busywait 5000 eval "! proc_alive ${CL_PID[$c]}"; done
	k=$(object_count keys) c=$(object_count conns)
	nsx "$srv" conntrack -F 2>/dev/null
	t0=$(uptime_ms)
	busywait "$FREE_MS" eval '[ "$(object_count keys)" = 0 ] && [ "$(object_count conns)" = 0 ]' ||
		fail "objects not freed $FREE_MS ms after conntrack -F: $(objects | paste -s -d ' ')"
	ms=$(($(uptime_ms) - t0))
	busywait 10000 ct_count_is_zero "$srv" ||
		fail "conntrack count $(ct_total "$srv") 10 s after the flush"
	log "after conntrack -F: $k keys and $c conns freed in $ms ms"
	sysctl -q -w net.netfilter.nf_conntrack_max="$ct_max_was"
	sysctl -q -w net.netfilter.nf_conntrack_buckets="$ct_buckets_was"
	note "$sent SYNs from $distinct sources in $fms ms, peak keys $pk conns $pc (at most $px over conntrack's count) vs conntrack $pct (max $CT_MAX, bound $bound; $ctstat), all freed $ms ms after conntrack -F, legit clients held to 2"
}

# ---------------------------------------------------------------- 1b. one prefix

# The one-prefix flood (tests/guest/prefix-flood.sh) with the kernel's own
# module, then with ours, in this boot: each case records its runs in
# PF_DIR, the prefix-flood-SHAPE-TARGET cases compare them.
PF_DIR=$T/prefix-flood
mkdir -p "$PF_DIR"

# pf_use intree|ours: unload the other xt_connlimit, load this one (ours
# is the one modprobe finds, in updates/; the kernel's own is loaded by
# its path).  Fails if that did not give VARIANT.
pf_use() {
	local f
	[ "$(module_is)" = "$1" ] && return 0
	busywait 30000 eval '[ "$(module_refcnt)" -eq 0 ]' || return 1
	[ "$(module_is)" = none ] || rmmod xt_connlimit || return 1
	if [ "$1" = intree ]; then
		modprobe nf_conncount
		for f in /lib/modules/"$(uname -r)"/kernel/net/netfilter/xt_connlimit.ko*; do
			insmod "$f"
		done
	else
		modprobe xt_connlimit
	fi
	[ "$(module_is)" = "$1" ]
}

# case_prefix_flood VARIANT: every shape (a, b; c with ours) and target
# with VARIANT's module, one topology; the kernel's own module gives way to
# ours again when the case ends.
case_prefix_flood() {
	local var=$1 shape target
	pf_use "$var" || skip "no $var xt_connlimit in this boot (module_is: $(module_is))"
	trap 'pf_conntrack_back; cleanup_case; pf_use ours || true' EXIT
	pf_conntrack_small
	pf_topo
	for target in $PF_TARGETS; do
		for shape in $(pf_shapes "$var"); do
			pf_run "$shape" "$target" "$PF_DIR/$var-$shape-$target"
		done
	done
	note "shapes $(pf_shapes "$var"), targets $PF_TARGETS; $PF_RATE SYNs/s asked for $PF_SECS s each; nf_conntrack_max $PF_CT_MAX"
}

# case_prefix_verdict SHAPE TARGET: ours against the kernel's own module
# (shape c against its b): conntrack's peak at most the in-kernel one plus
# pf_slack, and the legitimate clients in every time.
case_prefix_verdict() {
	local shape=$1 target=$2 ref=$1 ours intree slack bound of= bad=0
	local i_peak i_drop i_full i_est i_tries i_rate i_slow
	if [ "$shape" = c ]; then
		ref=b of=" (shape b)"
		[ -f "$PF_NAME_OURS" ] || skip "our extension was not built: no named tables"
	fi
	ours=$PF_DIR/ours-$shape-$target intree=$PF_DIR/intree-$ref-$target
	[ -s "$ours" ] || fail "no measurement with our module (case prefix-flood-ours)"
	[ -s "$intree" ] || fail "no measurement with the in-kernel module (case prefix-flood-intree)"
	parse_kv "$(cat "$intree")"
	i_peak=$R_peak i_drop=$R_drop i_full=$R_tablefull i_est=$R_est i_tries=$R_tries
	i_rate=$R_rate i_slow=$R_slow
	parse_kv "$(cat "$ours")"
	slack=$(pf_slack "$R_rate")
	bound=$((i_peak + slack))
	log "in-kernel ($ref $target): $(cat "$intree")"
	log "ours      ($shape $target): $(cat "$ours")"
	note "conntrack peak ours $R_peak, in-kernel$of $i_peak (+$slack allowed); table full: ours $R_drop drops, in-kernel $i_drop; legitimate opens in: ours $R_est/$R_tries (slowest $R_slow ms), in-kernel $i_est/$i_tries ($i_slow ms); $R_rate and $i_rate SYNs/s"
	if [ "$R_peak" -gt "$bound" ]; then
		fail "shape $shape $target: conntrack peaked at $R_peak entries with ours, $i_peak with the in-kernel module$of: more than $i_peak + $slack = $bound (max $PF_CT_MAX; conntrack dropped $R_drop packets for want of room with ours$([ "$R_tablefull" = 1 ] && echo ", kernel log: table full"), $i_drop with the in-kernel module$([ "$i_full" = 1 ] && echo ", kernel log: table full"))" ||
			bad=1
	fi
	if [ "$R_est" != "$R_tries" ]; then
		fail "shape $shape $target: the legitimate client got in $R_est of $R_tries times with ours (missed: $R_miss), $i_est of $i_tries with the in-kernel module" ||
			bad=1
	fi
	[ "$bad" = 0 ]
}

# ---------------------------------------------------------------- 2. races

# case_race BACKEND FAMILY 1|mask
case_race() {
	local backend=$1 fam=$2 how=$3 cli srv dst srcs mask=() out
	BACKEND=$backend
	mkns cli srv
	link_pair "$cli" "$srv"
	if [ "$fam" = 6 ]; then
		dst=${SRV6[0]}
		srcs=${CLI6[0]}
		[ "$how" = mask ] && srcs=${CLI6[0]},${CLI6[1]},${CLI6[2]} mask=(--connlimit-mask 64)
	else
		dst=${SRV4[0]}
		srcs=${CLI4[0]}
		[ "$how" = mask ] && srcs=${CLI4[0]},${CLI4[1]},${CLI4[2]} mask=(--connlimit-mask 24)
	fi
	xt "$fam" "$srv" -A INPUT -p tcp --syn --dport 80 -m connlimit \
		--connlimit-above "$RACE_LIMIT" "${mask[@]}" "${REJECT_TCP[@]}"
	out=$(clstress race -S "$srv" -C "$cli" -d "$dst" -p 80 -s "$srcs" -l "$RACE_LIMIT" \
		-t "$RACE_THREADS" -a "$RACE_ATTEMPTS" -r "$RACE_ROUNDS" 2>"$T/race.err") || true
	echo "$out" | sed 's/^/# /'
	[ -s "$T/race.err" ] && sed 's/^/# race: /' "$T/race.err"
	parse_kv "$(grep '^race ' <<<"$out")"
	[ -n "${R_rounds:-}" ] || fail "clstress race gave no summary: $out $(cat "$T/race.err")"
	[ "$R_over" = 0 ] ||
		fail "over-admission: $R_over of $R_rounds rounds held more than $RACE_LIMIT connections from $srcs (highest $R_max_est established, $R_max_live at the server)"
	[ "$R_max_live" -le "$RACE_LIMIT" ] ||
		fail "the server held $R_max_live connections at once from $srcs, limit $RACE_LIMIT"
	[ "$R_saturated" -gt 0 ] ||
		fail "no round reached the limit: the race never ran at it (est $R_est, refused $R_ref, timeouts $R_tmo)"
	[ "$R_err" = 0 ] || fail "$R_err connects failed otherwise than refused (see the console)"
	[ "$R_stuck" = 0 ] || fail "$R_stuck rounds: the server did not see what the clients saw"
	log "race: $R_rounds rounds, $R_attempts attempts, highest concurrency $R_max_live (server) / $R_max_est (clients), limit $RACE_LIMIT, $R_saturated rounds at the limit"
	note "$R_rounds rounds of $((RACE_THREADS * RACE_ATTEMPTS)) racing connects, highest concurrency $R_max_live (limit $RACE_LIMIT), $R_saturated rounds at the limit, $R_tmo timeouts"
}

# ---------------------------------------------------------------- 3. teardown

# The whole ruleset of one family for iptables-restore (it replaces the
# tables): connlimit in filter INPUT and in raw PREROUTING (before
# conntrack: the match finds the connection by tuple); the slow flood's
# answers dropped in raw OUTPUT (no neighbour lookups for them).
ruleset() { # FAMILY LIMIT MASK
	local flood=198.19.0.0/16
	[ "$1" = 6 ] && flood=2001:2::/48
	cat <<-EOF
	*raw
	:PREROUTING ACCEPT [0:0]
	:OUTPUT ACCEPT [0:0]
	-A PREROUTING -p tcp --syn --dport 80 -m connlimit --connlimit-above 1000 --connlimit-mask $3 -j ACCEPT
	-A OUTPUT -d $flood -j DROP
	COMMIT
	*filter
	:INPUT ACCEPT [0:0]
	-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above $2 -j REJECT --reject-with tcp-reset
	-A INPUT -p tcp --dport 80 -m connlimit --connlimit-upto 100000 --connlimit-daddr -j ACCEPT
	COMMIT
	EOF
}

# restore FAMILY NS BACKEND [--noflush]: ip(6)tables-restore of stdin.
restore() {
	local cmd=iptables
	[ "$1" = 6 ] && cmd=ip6tables
	RULE_NS[$2]=$3
	nsx "$2" "$cmd-$3-restore" ${4:+"$4"}
}

# One pair of namespaces with rules of both backends and both families,
# traffic flowing (churning clients, a slow flood); then, under it, the
# legacy tables replaced whole, nft rules deleted and added again in one
# transaction, conntrack flushed; then the namespaces killed with it all.
teardown_round() {
	local cli srv i b fam lim
	mkns cli srv
	link_pair "$cli" "$srv"
	for fam in 4 6; do ruleset $fam 8 16 | restore $fam "$srv" legacy; done
	restore 4 "$srv" nft --noflush <<-EOF
	*filter
	-A OUTPUT -p tcp -m connlimit --connlimit-above 100000 -j ACCEPT
	COMMIT
	EOF
	clstress -n "$srv" serve -a "${SRV4[0]}" -a "${SRV6[0]}" -p 80 >"$T/serve-$srv" 2>&1 &
	PIDLIST+=($!)
	disown $!
	busywait 10000 server_ready "$T/serve-$srv" || fail "clstress serve did not start"
	clstress -n "$cli" churn -s "${CLI4[0]}" -d "${SRV4[0]}" -p 80 -c 6 -T 300 >>"$T/churn" 2>&1 &
	PIDLIST+=($!)
	disown $!
	clstress -n "$cli" churn -s "${CLI6[0]}" -d "${SRV6[0]}" -p 80 -c 6 -T 300 >>"$T/churn" 2>&1 &
	PIDLIST+=($!)
	disown $!
	clstress -n "$cli" flood -s 198.19.0.0 -b 16 -k 20000 -c 200000 -r 300 -d "${SRV4[0]}" -p 80 \
		>/dev/null 2>&1 &
	PIDLIST+=($!)
	disown $!
	busywait 20000 eval '[ "$(ct_total "$srv")" -gt 20 ]' ||
		fail "no traffic through the rules: $(ct_total "$srv") conntracks"

	for i in $(seq "$TEARDOWN_INNER"); do
		lim=$((2 + i))
		for fam in 4 6; do ruleset $fam "$lim" $((8 * i)) | restore $fam "$srv" legacy; done
		restore 4 "$srv" nft --noflush <<-EOF
		*filter
		-I INPUT -p tcp --syn -m connlimit --connlimit-above 50 --connlimit-mask 8 -j DROP
		-D OUTPUT -p tcp -m connlimit --connlimit-above 100000 -j ACCEPT
		-A OUTPUT -p tcp -m connlimit --connlimit-above 100000 -j ACCEPT
		COMMIT
		EOF
		nsx "$srv" conntrack -F 2>/dev/null || true
		restore 4 "$srv" nft --noflush <<-EOF
		*filter
		-D INPUT -p tcp --syn -m connlimit --connlimit-above 50 --connlimit-mask 8 -j DROP
		COMMIT
		EOF
	done
	log "round: $(objects | head -n 3 | paste -s -d ' ') before the namespaces go"
	# the namespaces go with their rules and live connections: kill what
	# runs in them, delete them
	for i in "$cli" "$srv"; do
		for b in $(ip netns pids "$i"); do kill -9 "$b" 2>/dev/null; done
	done
	ip -b - <<<"netns del $cli
netns del $srv"
}

refcnt_is_zero() { [ "$(module_refcnt)" = 0 ]; }

case_teardown() {
	local i srv t0 c
	for i in $(seq "$TEARDOWN_ITERS"); do
		t0=$(uptime_ms)
		teardown_round
		log "teardown round $i done in $(($(uptime_ms) - t0)) ms"
	done
	t0=$(uptime_ms)
	busywait 60000 refcnt_is_zero ||
		fail "xt_connlimit refcnt $(module_refcnt) 60 s after the namespaces went"
	busywait 30000 objects_zero || fail "objects left: $(objects | paste -s -d ' ')"
	log "refcnt 0 and objects 0 $(($(uptime_ms) - t0)) ms after the last namespaces went"
	# rmmod: refused while a rule uses the match, clean after
	mkns srv
	BACKEND=legacy xt 4 "$srv" -A INPUT -m connlimit --connlimit-above 1 -j DROP
	BACKEND=nft xt 6 "$srv" -A INPUT -m connlimit --connlimit-above 1 -j DROP
	if rmmod xt_connlimit 2>/dev/null; then
		fail "rmmod xt_connlimit succeeded while rules use the match"
	fi
	BACKEND=legacy xt 4 "$srv" -F INPUT
	if rmmod xt_connlimit 2>/dev/null; then
		fail "rmmod xt_connlimit succeeded while an nft rule uses the match"
	fi
	BACKEND=nft xt 6 "$srv" -F INPUT
	busywait 20000 rmmod xt_connlimit 2>/dev/null ||
		fail "rmmod xt_connlimit refused 20 s after the last rule went (refcnt $(module_refcnt))"
	for c in "${OUR_CACHES[@]}"; do
		grep -q "^$c " /proc/slabinfo && fail "slab cache $c still there after rmmod"
	done
	modprobe xt_connlimit
	grep -h '^churn ' "$T/churn" 2>/dev/null | sed 's/^/# /' | head -n 4
	note "$TEARDOWN_ITERS rounds of replace/delete/flush/netns kill under traffic; rmmod refused while in use, clean after"
}

# ---------------------------------------------------------------- 4. hostile

# xtcraft_group GROUP PATH:FAMILY...: run the group's cases on each.
xtcraft_group() {
	local group=$1 pf ns out rc=0
	shift
	mkns ns
	for pf in "$@"; do
		out=$(xtcraft -n "$ns" run "${pf%%:*}" "${pf#*:}" "$group" 2>&1) || rc=1
		echo "$out" | sed "s/^/# ${pf}: /"
		grep -q '^summary ' <<<"$out" || fail "xtcraft ${pf}: $out"
		grep '^case .*FAIL' <<<"$out" | while read -r l; do
			echo "FAIL: ${pf} ${group}: ${l#case }" >&2
		done
	done
	[ "$rc" = 0 ] || fail "hostile $group: some cases were not refused as they must be (FAIL lines above)"
}

case_hostile_rev1() {
	modprobe xt_connlimit
	xtcraft_group rev1 legacy:4 legacy:6 nft:4 nft:6
}

case_hostile_rev2() {
	local r
	modprobe xt_connlimit
	r=$(xtcraft revision 4 2) || skip "the loaded xt_connlimit has no revision 2 ($r): the revision-2 cases cannot run"
	xtcraft_group rev2 legacy:4 legacy:6 nft:4 nft:6
}

case_hostile_family() {
	modprobe xt_connlimit
	xtcraft_group family nft:inet nft:arp nft:netdev nft:bridge
}

# ---------------------------------------------------------------- 5. faults

expect_open_retrying() {
	local name=$1 n=$2 est=$3 ref=$4
	client_cmd "$name" "open $n" || return 1
	[ "$REPLY_LINE" = "open est=$est ref=$ref tmo=0 err=0" ] ||
		fail "$name (${CL_DESC[$name]}) open $n: expected $est established and $ref refused (a SYN dropped for lack of memory is sent again), got '$REPLY_LINE'"
}

# Allocation failures in the packet path drop the packet and are counted;
# the engine stays consistent: connections opened one at a time (their
# SYNs retried by TCP when dropped) all get through, the limit still holds,
# and every object is freed at the end (case_end).  The client holds more
# connections than its key keeps in itself, so that its new ones allocate.
case_fault() {
	local c s i fam failures cli srv
	BACKEND=legacy
	case "$(cat /sys/module/xt_connlimit/version)" in
	*+fault-every-*) ;;
	*) fail "not the fault-injection build: version $(cat /sys/module/xt_connlimit/version)" ;;
	esac
	topo c s
	for fam in 4 6; do
		if [ $fam = 6 ]; then cli=${CLI6[0]} srv=${SRV6[0]}; else cli=${CLI4[0]} srv=${SRV4[0]}; fi
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 6 "${REJECT_TCP[@]}"
		# a connection's SYN may find more than one allocation failing
		# in a row (its record's, and the entries made of the key's
		# records meanwhile): allow TCP three retries (1, 3 and 7 s)
		CLIENT_TIMEOUT_MS=15000 client_start a$fam "$c" "$cli" "$srv" 80
		expect_open_retrying a$fam 5 5 0
		for i in 1 2 3 4 5 6 7 8; do
			expect_open_retrying a$fam 1 1 0
			client_close a$fam 1
			wait_ct_established "$s" "$cli" 5
		done
		expect_open_retrying a$fam 3 1 2
		expect_ping a$fam 6 0
	done
	failures=$(object_count alloc_failures)
	[ "${failures:-0}" -gt 0 ] ||
		fail "alloc_failures ${failures:-?}: no allocation failed, the fault build did not inject"
	dmesg | grep -q "xt_connlimit: cannot count the connection (out of memory), dropping packet" ||
		fail "no 'cannot count the connection (out of memory)' message in the kernel log"
	note "$failures allocations failed, every connection got through on a retried SYN, limit held"
}

# ---------------------------------------------------------------- main

log "stress suite, $MODE form, kernel $(uname -r), $(nproc) CPUs"
run_case "!module" "stress: our xt_connlimit loaded, its slab caches found" case_module

if [ "$MODE" = fault ]; then
	stress fault "stress: packet-path allocation failures (fault-injection build) drop, count, stay consistent" case_fault
	log "$case_no cases, $n_fail failed"
	[ "$n_fail" -eq 0 ]
	exit
fi

stress flood "stress: random-source SYN flood through a connlimit rule, nf_conntrack_max $CT_MAX" case_flood
stress prefix-flood-intree "stress: one-prefix SYN flood, in-kernel xt_connlimit: conntrack peaks of each ruleset shape recorded" \
	case_prefix_flood intree
stress prefix-flood-ours "stress: one-prefix SYN flood, our xt_connlimit: conntrack peaks of each ruleset shape recorded" \
	case_prefix_flood ours
for target in $PF_TARGETS; do
	for shape in a b c; do
		run_case "prefix-flood-$shape-$target" \
			"stress: one-prefix SYN flood, shape $shape, $target: conntrack peak with ours at most the in-kernel module's + 64 + 2% of max + ${PF_HOLD_MS} ms of flood, legitimate client always in" \
			case_prefix_verdict "$shape" "$target"
	done
done
for set in $RACE_SETS; do
	IFS=: read -r b f how <<<"$set"
	desc="per address"
	[ "$how" = mask ] && desc="per /$([ "$f" = 6 ] && echo 64 || echo 24) (3 addresses)"
	stress "race-$b-$f-$how" "stress: $b IPv$f racing connects $desc never exceed --connlimit-above $RACE_LIMIT" \
		case_race "$b" "$f" "$how"
done
stress hostile-rev1 "stress: hostile revision-1 data via setsockopt and nft_compat refused, nothing installed" case_hostile_rev1
stress hostile-rev2 "stress: hostile revision-2 data (names, reserved bytes, sizes) refused, nothing installed" case_hostile_rev2
stress hostile-family "stress: connlimit in nft tables of other families refused (ENOENT)" case_hostile_family
stress teardown "stress: teardown under load (restore, delete, flush, netns kill), then rmmod" case_teardown

log "$case_no cases, $n_fail failed"
[ "$n_fail" -eq 0 ]
