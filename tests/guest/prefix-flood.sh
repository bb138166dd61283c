# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The one-prefix SYN flood (issue 13, item 3): conntrack's occupancy under
# the kernel's own xt_connlimit and under ours, measured the same way.
# Sourced after lib.sh by the stress suite (tests/stress/guest.sh, cases
# prefix-flood-*) and by the benchmark (bench/guest.sh, scenario s6).
#
# A spoofed SYN flood from one IPv4 /24 (198.19.7.0/24, its 256 addresses)
# and one IPv6 /64 (2001:2:0:7::/64, PF_KEYS6 of its addresses), PF_RATE
# SYNs a second in all for PF_SECS seconds, to a listening port of the
# server, with conntrack small (nf_conntrack_max PF_CT_MAX, its hash a
# quarter of that, the kernel's own ratio), through one ruleset shape in
# the server's INPUT chain, every rule with the same target, -j DROP
# ("drop") or -j REJECT --reject-with tcp-reset ("reject"):
#   a  -p tcp --syn --dport 80 -m connlimit --connlimit-above 20
#   b  the README's two rules, each with a table of its own: per address
#      above 20, then per /24 (IPv6: /64) above 16
#   c  (ours only) two rules sharing one named table (--connlimit-name).
#      The rules of one name count a family by one mask, so both count per
#      /24 (/64), above 20 and above 16: b's second rule, with a first rule
#      that sees every SYN too and counts it in the same table.
#
# One run measures, in the server's namespace: conntrack's peak count
# (nf_conntrack_count read every PF_POLL seconds), how many packets
# conntrack dropped for want of room (conntrack -S "drop"; the kernel logs
# "nf_conntrack: table full, dropping packet", rate limited), and whether a
# legitimate client outside the prefix (198.18.1.2 and 2001:db8:0:1::2)
# gets a connection each time it opens one during the flood (within
# PF_LEGIT_MS).
#
# The server's SYN-ACKs to the prefix are dropped in raw OUTPUT, before
# conntrack sees them (cheaper under TCG than carrying them away); the
# resets REJECT sends go out to the client namespace, whose blackhole
# routes take them.  REJECT attaches the refused SYN's conntrack to its
# reset (a reference until the reset is freed), but conntrack confirms no
# entry for a packet of the reply direction: with the in-kernel module the
# refused SYNs' entries go at once with REJECT as with DROP (seen: shape b
# peaks at 39 to 50 entries with either target, on 6.1 and 6.12).
#
# Addresses: the server 198.18.0.1 and 2001:db8::1, the client namespace
# 198.18.1.1-2 and 2001:db8:0:1::1-2 (the legitimate clients are the
# second of each).

PF_RATE=${PF_RATE:-6000}	# SYNs a second, both families together
PF_SECS=${PF_SECS:-4}		# seconds of flood per run
PF_KEYS6=${PF_KEYS6:-4096}	# IPv6 sources (the /24 gives IPv4 all 256)
PF_CT_MAX=${PF_CT_MAX:-4096}
PF_LEGIT=${PF_LEGIT:-4}		# legitimate opens per family during a run
PF_POLL=${PF_POLL:-0.01}
# A legitimate open may take PF_LEGIT_MS: TCP's SYN and two retries (sent 1
# and 3 s after it).  A SYN that conntrack drops for want of room is one
# such retry (the slowest open is reported); the table full for seconds,
# or a saturated TCG guest starving the server, is more.
PF_LEGIT_MS=${PF_LEGIT_MS:-7000}
PF_NAME_OURS=/usr/lib/xtables-ours/libxt_connlimit.so
PF_LEGIT4=198.18.1.2
PF_LEGIT6=2001:db8:0:1::2

# pf_slack RATE: what ours may exceed the in-kernel module's peak by, in a
# flood of RATE SYNs a second (the rate ours' run achieved): 64 + 2 % of
# conntrack's max + PF_HOLD_MS of flood (100 ms: 445 at 3,000 SYNs/s).
# The in-kernel module holds no conntrack: early drop frees its victim at
# once and the count stops at the max.  Our entries hold references: a
# conntrack that early drop killed stays allocated, and in the count, until
# our next pass lets go of it.  With conntrack nearly full a pass starts at
# once, at most every 20 ms (CL_PRESSURE_GAP), and then has to be
# scheduled and run on vCPUs the flood's softirqs keep busy: under TCG the
# dead ones have been let go of 35 to 85 ms after they died (100 to 340
# over the max at 2,500 to 4,000 SYNs/s).  So 100 ms, five gaps.  64 is a
# sendmmsg batch of the flood in flight (its conntracks allocated, not yet
# seen by a rule) and the 2 % covers a count read at instants while it
# moves by a batch at a time.  What this looks for, conntracks held for a
# second or more, is thousands over: conntrack full with ours, not with
# the in-kernel module.
PF_HOLD_MS=${PF_HOLD_MS:-100}
pf_slack() {
	echo $((64 + PF_CT_MAX / 50 + $1 * PF_HOLD_MS / 1000))
}

# pf_topo: namespaces PF_CLI and PF_SRV joined by a veth, the server
# (clstress serve, port 80) and the legitimate clients l4 and l6 (connt).
pf_topo() {
	local cli srv
	flood_pair 198.19.7.0/24 2001:2:0:7::/64
	PF_CLI=$cli PF_SRV=$srv
	clstress -n "$srv" serve -a 198.18.0.1 -a 2001:db8::1 -p 80 >"$T/pf-serve" 2>&1 &
	PIDLIST+=($!)
	disown $!
	busywait 10000 server_ready "$T/pf-serve" ||
		fail "clstress serve did not start: $(cat "$T/pf-serve")"
	CLIENT_TIMEOUT_MS=$PF_LEGIT_MS client_start l4 "$cli" "$PF_LEGIT4" 198.18.0.1 80
	CLIENT_TIMEOUT_MS=$PF_LEGIT_MS client_start l6 "$cli" "$PF_LEGIT6" 2001:db8::1 80
}

# pf_conntrack_small / pf_conntrack_back: conntrack's max (global: the
# init namespace's sysctl) and its hash, and back to what they were.
pf_conntrack_small() {
	PF_CT_WAS="$(sysctl -n net.netfilter.nf_conntrack_max) $(sysctl -n net.netfilter.nf_conntrack_buckets)"
	sysctl -q -w net.netfilter.nf_conntrack_buckets=$((PF_CT_MAX / 4))
	sysctl -q -w net.netfilter.nf_conntrack_max="$PF_CT_MAX"
}
pf_conntrack_back() {
	[ -n "${PF_CT_WAS:-}" ] || return 0
	sysctl -q -w net.netfilter.nf_conntrack_max="${PF_CT_WAS% *}"
	sysctl -q -w net.netfilter.nf_conntrack_buckets="${PF_CT_WAS#* }"
	PF_CT_WAS=
}

# pf_ruleset FAMILY SHAPE TARGET: the server's raw and filter tables for
# iptables-restore.
pf_ruleset() {
	local fam=$1 shape=$2 net=24 pfx=198.19.7.0/24 m tgt="-j DROP"
	[ "$fam" = 6 ] && net=64 pfx=2001:2:0:7::/64
	[ "$3" = reject ] && tgt="-j REJECT --reject-with tcp-reset"
	m="-A INPUT -p tcp --syn --dport 80 -m connlimit"
	echo "*raw"
	echo "-A OUTPUT -d $pfx -p tcp --tcp-flags SYN,ACK,RST SYN,ACK -j DROP"
	echo "COMMIT"
	echo "*filter"
	case $shape in
	a) echo "$m --connlimit-above 20 $tgt" ;;
	b)
		echo "$m --connlimit-above 20 $tgt"
		echo "$m --connlimit-above 16 --connlimit-mask $net $tgt"
		;;
	c)
		echo "$m --connlimit-above 20 --connlimit-mask $net --connlimit-name pf-$3 $tgt"
		echo "$m --connlimit-above 16 --connlimit-mask $net --connlimit-name pf-$3 $tgt"
		;;
	esac
	echo "COMMIT"
}

# pf_rules SHAPE TARGET: both families' rules in the server (legacy
# backend; shape c through our extension, which knows the names).
pf_rules() {
	local fam cmd lib=${XTABLES_LIBDIR:-}
	if [ "$1" = c ]; then
		use_our_ext
	fi
	RULE_NS[$PF_SRV]=legacy
	for fam in 4 6; do
		cmd=iptables-legacy-restore
		[ "$fam" = 6 ] && cmd=ip6tables-legacy-restore
		pf_ruleset "$fam" "$1" "$2" | nsx "$PF_SRV" "$cmd"
	done
	if [ -n "$lib" ]; then export XTABLES_LIBDIR=$lib; else unset XTABLES_LIBDIR; fi
}

# pf_refused: the packets the server's connlimit rules matched (refused),
# both families.
pf_refused() {
	local n=0 p _ c
	for c in iptables-legacy ip6tables-legacy; do
		while read -r p _; do
			case $p in [0-9]*) n=$((n + p)) ;; esac
		done < <(nsx "$PF_SRV" "$c" -L INPUT -v -x -n)
	done
	echo "$n"
}

# pf_ct_drop: conntrack's "drop" statistic in the server's namespace
# (packets it dropped for want of an entry), summed over the CPUs.
pf_ct_drop() {
	nsx "$PF_SRV" conntrack -S 2>/dev/null |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^drop=/) d += substr($i, 6) }
			END { print d + 0 }'
}

# pf_listen_drops: TCP's drops of SYNs and handshakes at the server's
# listeners (TcpExt ListenDrops: full queues, failed lookups), which no
# rule and no conntrack decided.
pf_listen_drops() {
	nsx "$PF_SRV" cat /proc/net/netstat | awk '
		$1 == "TcpExt:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "TcpExt:" { print $col["ListenDrops"] + 0; exit }'
}

pf_ct_count() { nsx "$PF_SRV" cat /proc/sys/net/netfilter/nf_conntrack_count; }

# pf_sampler OUT MAX: run in the server's namespace; reads conntrack's
# count every PF_POLL s until OUT.stop appears, then writes its peak, the
# samples taken and those at or above MAX to OUT.  No forks.
pf_sampler() {
	local out=$1 max=$2 ct peak=0 n=0 full=0
	exec {fd}<>"$out.fifo"
	while [ ! -e "$out.stop" ]; do
		read -r ct </proc/sys/net/netfilter/nf_conntrack_count
		[ "$ct" -gt "$peak" ] && peak=$ct
		[ "$ct" -ge "$max" ] && full=$((full + 1))
		n=$((n + 1))
		read -r -t "$PF_POLL" -u "$fd" _ || true
	done
	echo "peak=$peak samples=$n full_samples=$full" >"$out.tmp"
	mv "$out.tmp" "$out"
}

# pf_legit_round: one open from each legitimate client at once, closed
# again when established; adds to PF_TRIES, PF_EST and PF_MISS (what each
# miss was: "l4:timeout", ...); PF_SLOW: the longest an answer took (ms; a SYN that conntrack
# dropped is sent again after a second).
pf_legit_round() {
	local c r t t0
	t0=$(uptime_ms)
	for c in l4 l6; do echo "open 1" >&"${CL_W[$c]}"; done
	for c in l4 l6; do
		r=
		read -r -t 60 -u "${CL_R[$c]}" r || r="no answer"
		t=$(($(uptime_ms) - t0))
		[ "$t" -gt "$PF_SLOW" ] && PF_SLOW=$t
		PF_TRIES=$((PF_TRIES + 1))
		if [ "$r" = "open est=1 ref=0 tmo=0 err=0" ]; then
			PF_EST=$((PF_EST + 1))
			echo "close 1" >&"${CL_W[$c]}"
			read -r -t 60 -u "${CL_R[$c]}" _ || true
		else
			case $r in
			*tmo=1*) r=timeout ;;
			*ref=1*) r=refused ;;
			open*) r=error ;;
			*) r=no-answer ;;
			esac
			PF_MISS+="${PF_MISS:+,}$c:$r"
		fi
	done
}

# pf_run SHAPE TARGET OUT: one flood through the rules of SHAPE with
# TARGET (pf_topo and pf_conntrack_small first); writes one line of
# key=value words to OUT: peak, samples, full_samples (samples at or above
# the max), max, drop (conntrack's drops for want of room), tablefull (the
# kernel logged it: 1), refused (SYNs the rules refused), sent, ms, rate
# (SYNs a second achieved), tries, est (legitimate opens, established),
# miss (what the others got), slow (ms, the longest answer),
# listen_drops (pf_listen_drops), base (conntrack's count before the flood).
pf_run() {
	local shape=$1 target=$2 out=$3 n4 n6 r4 r6 p4 p6 t0 t1 base drop0 drop mark
	local sent=0 ms=0 f w s gap i ld0 ld
	pf_rules "$shape" "$target"
	nsx "$PF_SRV" conntrack -F 2>/dev/null || true
	busywait 30000 eval '[ "$(pf_ct_count)" -eq 0 ]' ||
		log "prefix flood: conntrack still holds $(pf_ct_count) entries 30 s after the flush"
	base=$(pf_ct_count)
	drop0=$(pf_ct_drop)
	ld0=$(pf_listen_drops)
	mark="prefix-flood: $shape $target $(rand_suffix)"
	echo "$mark" >/dev/kmsg
	rm -f "$out" "$out.stop" "$out.fifo"
	mkfifo "$out.fifo"
	nsx "$PF_SRV" bash -c "PF_POLL=$PF_POLL; $(declare -f pf_sampler); pf_sampler $out $PF_CT_MAX" &
	PIDLIST+=($!)
	disown $!

	r4=$((PF_RATE / 2)) r6=$((PF_RATE - PF_RATE / 2))
	n4=$((r4 * PF_SECS)) n6=$((r6 * PF_SECS))
	t0=$(uptime_ms)
	clstress -n "$PF_CLI" flood -s 198.19.7.0 -b 8 -k 256 -c "$n4" -r "$r4" \
		-d 198.18.0.1 -p 80 -P 0 >"$out.f4" 2>&1 &
	p4=$!
	PIDLIST+=("$p4")
	disown $p4
	clstress -n "$PF_CLI" flood -s 2001:2:0:7:: -b 24 -k "$PF_KEYS6" -c "$n6" -r "$r6" \
		-d 2001:db8::1 -p 80 -P 1 >"$out.f6" 2>&1 &
	p6=$!
	PIDLIST+=("$p6")
	disown $p6

	# The legitimate clients: PF_LEGIT rounds spread over the flood, the
	# first a second into it (conntrack as full as it gets by then).
	PF_TRIES=0 PF_EST=0 PF_MISS='' PF_SLOW=0
	gap=$(((PF_SECS * 1000 - 1500) / PF_LEGIT))
	t1=
	for i in $(seq 0 $((PF_LEGIT - 1))); do
		busywait $((1000 + i * gap - ($(uptime_ms) - t0))) eval '! proc_alive $p4 && ! proc_alive $p6' &&
			break
		t1=${t1:-$(($(uptime_ms) - t0))}
		pf_legit_round
	done
	busywait $((PF_SECS * 4000 + 30000)) eval '! proc_alive $p4 && ! proc_alive $p6' ||
		fail "prefix flood $shape $target: the flood did not end"
	: >"$out.stop"
	busywait 5000 eval '[ -s "$out" ]' || fail "prefix flood: the sampler did not report"
	drop=$(pf_ct_drop)
	ld=$(pf_listen_drops)
	for f in "$out.f4" "$out.f6"; do
		parse_kv "$(cat "$f")"
		[ -n "${R_sent:-}" ] || fail "prefix flood: clstress flood said: $(cat "$f")"
		sent=$((sent + R_sent))
		[ "$R_ms" -gt "$ms" ] && ms=$R_ms
	done
	w=0
	dmesg | sed 's/^\[[ 0-9.]*\] //' |
		awk -v m="$mark" '$0 == m { f = 1 } f && /table full, dropping packet/ { n++ }
			END { exit !n }' && w=1
	s=$(cat "$out")
	echo "$s max=$PF_CT_MAX drop=$((drop - drop0)) tablefull=$w refused=$(pf_refused) sent=$sent ms=$ms rate=$((sent * 1000 / (ms > 0 ? ms : 1))) tries=$PF_TRIES est=$PF_EST miss=${PF_MISS:--} slow=$PF_SLOW listen_drops=$((ld - ld0)) base=$base legit_from_ms=${t1:--}" >"$out"
	log "prefix flood $shape $target ($(module_is)): $(cat "$out")"
	[ "$PF_TRIES" -gt 0 ] ||
		fail "prefix flood $shape $target: the flood ended before the legitimate clients tried (flood ${ms} ms)"
	rm -f "$out.f4" "$out.f6" "$out.fifo" "$out.stop"
}

# pf_shapes VARIANT: the shapes a module runs (c needs our module and
# our extension).
pf_shapes() {
	if [ "$1" = ours ] && [ -f "$PF_NAME_OURS" ]; then
		echo "a b c"
	else
		echo "a b"
	fi
}
