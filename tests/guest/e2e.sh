#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end connlimit cases, run inside the test guest for each iptables
# backend.  Every case builds its own namespaces:
#
#   cli-XXXX  c0 ===veth=== s0  srv-XXXX
#     198.18.1.1-3, 198.18.2.1        198.18.0.1, 198.18.0.2
#     2001:db8:0:1::1-3,              2001:db8::1, 2001:db8::2
#     2001:db8:0:2::1                 connt server, TCP+UDP ports 80, 81
#
# puts connlimit rules into srv's INPUT chain (IPv4 and IPv6 side by side,
# each family with its own clients), opens connections with connt clients
# and asserts how many were accepted and how many refused.  The same cases
# run against our module and against the kernel's own (the differential
# run): TESTBED_VARIANT (ours|intree) names the one the guest must find.
#
# Environment: TESTBED_VARIANT, TESTBED_BACKENDS ("legacy nft"),
# TESTBED_ONLY (regex over case ids such as nft/above), RESULT_FD.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=hostile.sh
. "$(dirname "$0")/hostile.sh"
# shellcheck source=named.sh
. "$(dirname "$0")/named.sh"
# shellcheck source=failsafe.sh
. "$(dirname "$0")/failsafe.sh"

VARIANT=${TESTBED_VARIANT:-intree}
BACKENDS=${TESTBED_BACKENDS:-legacy nft}
REJECT_TCP=(-j REJECT --reject-with tcp-reset)

# Cases where our module deliberately differs from the in-tree one:
# "case-id reason" lines.  On the intree variant such a case still runs;
# if it fails there, it is reported "ok ... # SKIP in-tree differs: reason"
# (the FAIL lines stay in the console log), so the differential run keeps
# showing whether upstream still differs.
INTREE_DIFFERS="
live the in-tree engine (every Debian kernel booted, 5.10 to 7.3) keeps counting a just-refused connection, so packets of the counted ones are refused: UDP until conntrack marks the flows ASSURED (~2 s), TCP without --syn at times
hostile-flags the in-tree checkentry never looks at the flags and accepts unknown bits; ours refuses them with -EINVAL and a message
"

# fam_addrs FAMILY: SRV/CLI address arrays, full and network prefix.
fam_addrs() {
	if [ "$1" = 6 ]; then
		SRV=("${SRV6[@]}") CLI=("${CLI6[@]}") FULL=128 NET=64
	else
		SRV=("${SRV4[@]}") CLI=("${CLI4[@]}") FULL=32 NET=24
	fi
}

# Predicates for busywait (which re-runs its command, so the value must be
# read inside the command, not expanded once in its arguments).
refcnt_is() { [ "$(module_refcnt)" -eq "$1" ]; }
object_is() { [ "$(object_count "$1")" = "$2" ]; }

# ------------------------------------------------------------------ cases

case_module() {
	local got path ver
	modprobe xt_connlimit || fail "modprobe xt_connlimit failed"
	got=$(module_is)
	path=$(modinfo -n xt_connlimit)
	ver=$(cat /sys/module/xt_connlimit/version 2>/dev/null || true)
	log "loaded: $got, file $path, version ${ver:-none}"
	note "$got: ${path#/lib/modules/*/}${ver:+, version $ver}"
	[ "$got" = "$VARIANT" ] || fail "expected the $VARIANT xt_connlimit, found $got ($path)"
	if [ "$VARIANT" = ours ]; then
		[ -r "$OBJECTS" ] || fail "ours: no $OBJECTS"
		log "objects: $(objects | paste -s -d ' ')"
	fi
}

# limit above 2 per address (/32 and /128)
case_above() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		expect_open a$fam 4 2 2
		expect_open b$fam 3 2 1
		expect_open a$fam 1 0 1
		expect_ping a$fam 2 0
		expect_ping b$fam 2 0
		expect_pkts $fam "$s" INPUT 1 4
	done
}

# --connlimit-mask 24 / 64 groups the first three clients
case_mask() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 3 \
			--connlimit-mask $NET "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		client_start d$fam "$c" "${CLI[2]}" "${SRV[0]}" 80
		client_start x$fam "$c" "${CLI[3]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		expect_open b$fam 2 1 1
		expect_open d$fam 1 0 1
		expect_open x$fam 4 3 1	# another network
		expect_pkts $fam "$s" INPUT 1 3
	done
}

# --connlimit-daddr counts per server address, whoever the client is
case_daddr() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 \
			--connlimit-daddr "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[3]}" "${SRV[0]}" 80
		client_start d$fam "$c" "${CLI[1]}" "${SRV[1]}" 80
		expect_open a$fam 1 1 0
		expect_open b$fam 2 1 1	# the server address is full
		expect_open d$fam 3 2 1	# the other server address counts apart
		expect_open a$fam 1 0 1
	done
}

# --connlimit-upto 2 -j ACCEPT, REJECT the rest
case_upto() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt_restore $fam "$s" <<-EOF
		*filter
		-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-upto 2 -j ACCEPT
		-A INPUT -p tcp --syn --dport 80 -j REJECT --reject-with tcp-reset
		COMMIT
		EOF
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		expect_open a$fam 3 2 1
		expect_open b$fam 2 2 0
		expect_pkts $fam "$s" INPUT 1 4 min	# a retransmitted SYN may add one
		expect_pkts $fam "$s" INPUT 2 1
	done
}

# The next cases check that a count falls.  Each expects an acceptance only
# where no refusal of the same key came before it: how fast a refused
# connection stops counting is case "live" (the in-tree engine is slow).

# the count falls when connections close (FIN) or are reset (RST)
case_close() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		client_close a$fam 1
		wait_ct_established "$s" "${CLI[0]}" 1
		expect_open a$fam 1 1 0	# 2 again, not 3
		client_close a$fam 1 reset
		wait_ct_established "$s" "${CLI[0]}" 1
		expect_open a$fam 1 1 0	# 2 again, not 3
		expect_ping a$fam 2 0
		expect_open a$fam 1 0 1	# and the limit still holds
	done
}

# a client holding more connections than a key keeps in itself (its first
# entries live in the key, later ones are allocated): the count stays exact
# going over that line, while the first ones go and new ones come beside
# the allocated ones, and when every one of them went
case_many() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 7 "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 7 7 0
		client_close a$fam 5
		wait_ct_established "$s" "${CLI[0]}" 2
		expect_open a$fam 5 5 0	# 7 again, not 12
		client_close a$fam 7
		wait_ct_established "$s" "${CLI[0]}" 0
		expect_open a$fam 7 7 0	# 7 again, not 14
		expect_ping a$fam 7 0
		expect_open a$fam 1 0 1	# and the limit still holds
	done
}

# the count falls after conntrack -F; the flushed connections keep working
case_flush() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
	done
	nsx "$s" conntrack -F 2>/dev/null
	for fam in 4 6; do
		expect_open a$fam 2 2 0	# 2, not 4
		expect_ping a$fam 4 0
		expect_open a$fam 1 0 1
	done
}

# UDP: flows count while conntrack knows them, refused beyond the limit
# (REJECT -> ICMP unreachable); flows within the limit keep working; a
# conntrack flush frees the count.  No --ctstate: every datagram is matched.
case_udp() {
	local fam c s n
	topo c s
	no_icmp_ratelimit "$s"
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p udp --dport 80 -m connlimit --connlimit-above 2 -j REJECT
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80 -u
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80 -u
		expect_open a$fam 2 2 0
		expect_ping a$fam 2 0
		expect_open b$fam 3 2 1
		n=$(ct_count "$s" -p udp -s "${CLI[0]}")
		[ "$n" -eq 2 ] || fail "conntrack shows $n UDP flows from ${CLI[0]}, expected 2"
	done
	nsx "$s" conntrack -F 2>/dev/null
	for fam in 4 6; do
		expect_open a$fam 2 2 0	# 2, not 4
		expect_open a$fam 1 0 1
	done
}

# two rules with different masks count independently.  The per-address
# rule comes first, so that what it refuses never reaches the per-network
# one (whose count then does not depend on how fast a refused connection
# stops counting: that is case "live").
case_two_rules() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt_restore $fam "$s" <<-EOF
		*filter
		-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-mask $FULL -j REJECT --reject-with tcp-reset
		-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 4 --connlimit-mask $NET -j REJECT --reject-with tcp-reset
		COMMIT
		EOF
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		client_start d$fam "$c" "${CLI[2]}" "${SRV[0]}" 80
		client_start x$fam "$c" "${CLI[3]}" "${SRV[0]}" 80
		expect_open a$fam 3 2 1	# the per-address rule refuses the third
		expect_open b$fam 2 2 0	# 4 in the network: still within 4
		expect_open d$fam 1 0 1	# the per-network rule: 5 > 4
		expect_open x$fam 3 2 1	# another network: only the per-address rule
		expect_pkts $fam "$s" INPUT 1 2
		expect_pkts $fam "$s" INPUT 2 1
	done
}

# a SYN counted by two rules (each with a table of its own) and refused by
# the second is held by both tables: neither may keep it counted because
# the other holds it too.  Once the client's one connection is closed, the
# refused one must go as well (ours: within two aging passes of the
# background work), and the stricter limit admits a connection again.
case_refused_twice() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt_restore $fam "$s" <<-EOF
		*filter
		-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-mask $FULL -j REJECT --reject-with tcp-reset
		-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 1 --connlimit-mask $FULL -j REJECT --reject-with tcp-reset
		COMMIT
		EOF
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 1 1	# the second rule refuses the second
		client_close a$fam 1
		wait_ct_established "$s" "${CLI[0]}" 0
		if [ "$VARIANT" = ours ]; then
			busywait 10000 object_is conns 0 ||
				fail "entries still held after every connection closed: $(objects | paste -s -d ' ')"
		fi
		expect_open a$fam 1 1 0	# 1 again, not 2
		client_close a$fam 1
		wait_ct_established "$s" "${CLI[0]}" 0
	done
}

# the same ruleset in two namespaces counts independently (same addresses,
# same keys, different namespaces)
case_netns() {
	local fam c1 s1 c2 s2
	topo c1 s1
	topo c2 s2
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s1" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		xt $fam "$s2" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		client_start a$fam "$c1" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c2" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		expect_open b$fam 2 2 0
		expect_open a$fam 1 0 1
		expect_open b$fam 1 0 1
	done
}

# conntrack zones count apart: port 81 goes to zone 1 (-j CT --zone 1 in
# raw), so the same client gets the limit once per zone
case_zone() {
	local fam c s n
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt_restore $fam "$s" <<-EOF
		*raw
		-A PREROUTING -p tcp --dport 81 -j CT --zone 1
		-A OUTPUT -p tcp --sport 81 -j CT --zone 1
		COMMIT
		*filter
		-A INPUT -p tcp --syn -m connlimit --connlimit-above 2 -j REJECT --reject-with tcp-reset
		COMMIT
		EOF
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start z$fam "$c" "${CLI[0]}" "${SRV[0]}" 81
		expect_open a$fam 3 2 1
		expect_open z$fam 3 2 1
		n=$(ct_count "$s" -p tcp -s "${CLI[0]}" --zone 1 --state ESTABLISHED)
		[ "$n" -eq 2 ] || fail "conntrack zone 1 holds $n established connections from ${CLI[0]}, expected 2"
		expect_ping a$fam 2 0
		expect_ping z$fam 2 0
	done
}

# a rule without --syn sees every packet; connections within the limit
# must keep flowing (upstream broke this once: Debian #1130336)
case_nosyn() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		expect_ping a$fam 2 0
		expect_ping a$fam 2 0
		client_close a$fam 1
		wait_ct_established "$s" "${CLI[0]}" 1
		expect_open a$fam 1 1 0
		expect_ping a$fam 2 0
		expect_open a$fam 1 0 1
	done
}

# connections at the limit keep flowing right after a refused attempt: the
# refused connection's conntrack is never confirmed and must stop counting
# at once, so packets of the counted ones are not refused for a stale count
# (TCP with a rule without --syn, and UDP, which has no --syn)
case_live() {
	local fam c s
	topo c s
	no_icmp_ratelimit "$s"
	for fam in 4 6; do
		fam_addrs $fam
		xt_restore $fam "$s" <<-EOF
		*filter
		-A INPUT -p tcp --dport 80 -m connlimit --connlimit-above 2 -j REJECT --reject-with tcp-reset
		-A INPUT -p udp --dport 80 -m connlimit --connlimit-above 2 -j REJECT
		COMMIT
		EOF
		client_start t$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start u$fam "$c" "${CLI[1]}" "${SRV[0]}" 80 -u
		expect_open t$fam 3 2 1
		expect_ping t$fam 2 0
		expect_ping t$fam 2 0
		expect_open u$fam 3 2 1
		expect_ping u$fam 2 0
		expect_ping u$fam 2 0
	done
}

# connections between two local addresses (they go over lo, and conntrack
# confirms them on output, before INPUT sees them) are counted
case_local() {
	local fam s
	mkns s
	link_pair_local "$s"
	server_start "$s"
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -i lo -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 "${REJECT_TCP[@]}"
		client_start a$fam "$s" "${SRV[1]}" "${SRV[0]}" 80
		expect_open a$fam 3 2 1
		expect_ping a$fam 2 0
		expect_pkts $fam "$s" INPUT 1 1
	done
}

# a rule without --syn over lo sees both directions of each connection,
# and both ends fall under one key: each connection counts once (with
# --connlimit-mask 0, a total cap, every connection's ends do too)
case_loopback() {
	local fam s mask
	mkns s
	link_pair_local "$s"
	server_start "$s"
	for fam in 4 6; do
		fam_addrs $fam
		for mask in $FULL 0; do
			xt $fam "$s" -A INPUT -i lo -p tcp -m connlimit --connlimit-above 1 \
				--connlimit-mask $mask "${REJECT_TCP[@]}"
			client_start a$fam$mask "$s" "${SRV[1]}" "${SRV[0]}" 80
			expect_open a$fam$mask 1 1 0
			expect_ping a$fam$mask 1 0
			expect_ping a$fam$mask 1 0
			# refused: the rule drops the tcp-reset it answers with
			# too (it comes back over lo, a packet of the same key)
			client_cmd a$fam$mask "open 1"
			[ "$REPLY_LINE" = "open est=0 ref=0 tmo=1 err=0" ] ||
				fail "IPv$fam mask $mask: a 2nd connection under a limit of 1 got '$REPLY_LINE'"
			# the rule goes first: while the refused attempt is
			# still counted it refuses this connection's packets too
			# (as the kernel's own engine does), the reset among
			# them, and the server would later retransmit into the
			# next round, where conntrack picks that up as a new
			# connection under the same key
			xt $fam "$s" -F INPUT
			client_close a$fam$mask 1 reset
			# the next round starts from no connection at all
			busywait 5000 eval "[ -z \"\$(nsx $s ss -Htn state established)\" ]" ||
				fail "IPv$fam mask $mask: connections left after the reset: $(nsx "$s" ss -Htn)"
			nsx "$s" conntrack -F 2>/dev/null
		done
	done
}

# connections established before a rule without --syn was added are
# counted as their packets pass it, as the kernel's own engine counts them
# (the first one sent on fits the limit; the others are refused)
case_preexist() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 3 3 0
		xt $fam "$s" -A INPUT -p tcp --dport 80 -m connlimit --connlimit-above 1 \
			"${REJECT_TCP[@]}"
		expect_ping a$fam 1 2
	done
}

# a rule in the raw table sees a connection's first packet before
# conntrack does: the connection is counted by its tuple all the same
case_raw() {
	local fam c s
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -t raw -A PREROUTING -p tcp --syn --dport 80 -m connlimit \
			--connlimit-above 2 -j DROP
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		client_cmd a$fam "open 3"
		[ "$REPLY_LINE" = "open est=2 ref=0 tmo=1 err=0" ] ||
			fail "IPv$fam raw: 3 opened under a limit of 2: expected 2 established, 1 dropped; got '$REPLY_LINE'"
		expect_open b$fam 2 2 0
		expect_ping a$fam 2 0
	done
}

# rule text survives the round trip through the module with the stock
# extension: -S prints what was given, -L its summary, -C finds it, -D by
# spec removes it
case_roundtrip() {
	local fam srv spec want out i
	local -a specs wants
	mkns srv
	for fam in 4 6; do
		fam_addrs $fam
		specs=(
			"--connlimit-above 7"
			"--connlimit-upto 5 --connlimit-mask $NET --connlimit-daddr"
			"! --connlimit-upto 3 --connlimit-mask 16"
			"--connlimit-above 0 --connlimit-saddr"
		)
		wants=(
			"-m connlimit --connlimit-above 7 --connlimit-mask $FULL --connlimit-saddr"
			"-m connlimit --connlimit-upto 5 --connlimit-mask $NET --connlimit-daddr"
			"-m connlimit --connlimit-above 3 --connlimit-mask 16 --connlimit-saddr"
			"-m connlimit --connlimit-above 0 --connlimit-mask $FULL --connlimit-saddr"
		)
		{
			echo "*filter"
			for spec in "${specs[@]}"; do
				echo "-A INPUT -p tcp -m connlimit $spec -j DROP"
			done
			echo "COMMIT"
		} | xt_restore $fam "$srv"
		out=$(xt $fam "$srv" -S INPUT)
		log "$out"
		for want in "${wants[@]}"; do
			grep -qF -- "$want -j DROP" <<<"$out" || fail "IPv$fam -S lacks '$want'"
		done
		[ "$(grep -c connlimit <<<"$out")" -eq ${#specs[@]} ] ||
			fail "IPv$fam -S shows the wrong number of rules"
		out=$(xt $fam "$srv" -L INPUT -n)
		grep -qF "#conn dst/$NET <= 5" <<<"$out" ||
			fail "IPv$fam -L lacks '#conn dst/$NET <= 5': $out"
		for i in "${!specs[@]}"; do
			# shellcheck disable=SC2086
			xt $fam "$srv" -C INPUT -p tcp -m connlimit ${specs[$i]} -j DROP ||
				fail "IPv$fam -C does not find '${specs[$i]}'"
		done
		for i in "${!specs[@]}"; do
			# shellcheck disable=SC2086
			xt $fam "$srv" -D INPUT -p tcp -m connlimit ${specs[$i]} -j DROP ||
				fail "IPv$fam -D does not remove '${specs[$i]}'"
		done
		out=$(xt $fam "$srv" -S INPUT)
		[ "$out" = "-P INPUT ACCEPT" ] || fail "IPv$fam rules left after -D: $out"
	done
}

# our libxt_connlimit.so (when built) drives the module: a directory with
# every stock extension but connlimit, plus ours, so ours is the only one
case_our_ext() {
	local fam c s out
	use_our_ext
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 \
			--connlimit-mask $NET "${REJECT_TCP[@]}"
		out=$(xt $fam "$s" -S INPUT)
		log "$out"
		grep -qF -- "-m connlimit --connlimit-above 2 --connlimit-mask $NET --connlimit-saddr" <<<"$out" ||
			fail "IPv$fam -S with our extension: $out"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		expect_open a$fam 1 1 0
		expect_open b$fam 2 1 1
		xt $fam "$s" -D INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 \
			--connlimit-mask $NET "${REJECT_TCP[@]}" || fail "IPv$fam -D with our extension"
	done
}

# hex_zeros N: N bytes of zeros as hex.
hex_zeros() { printf "%0$(($1 * 2))d" 0; }

# hex_le32 N: N as the 4 bytes of a little-endian __u32 (every Debian
# architecture the test bed boots is little-endian).
hex_le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24)); }

# layout_roundtrip NS FAM WANT [AFTER]: the dump is WANT; then -save,
# flush, -restore: the same -save text, and the dump AFTER (default WANT).
layout_roundtrip() {
	local ns=$1 fam=$2 want=$3 after=${4:-$3} got save1 save2 v=
	[ "$fam" = 6 ] && v=6
	got=$(nsx "$ns" xtcraft dump "$fam")
	[ "$got" = "$want" ] ||
		fail "IPv$fam match data in the kernel's table:"$'\n'"$got"$'\n'"expected:"$'\n'"$want"
	save1=$(nsx "$ns" "ip${v}tables-legacy-save" -t filter | grep -v '^#')
	xt "$fam" "$ns" -F INPUT
	[ -z "$(nsx "$ns" xtcraft dump "$fam")" ] || fail "IPv$fam -F left connlimit rules"
	nsx "$ns" "ip${v}tables-legacy-restore" <<<"$save1"
	save2=$(nsx "$ns" "ip${v}tables-legacy-save" -t filter | grep -v '^#')
	[ "$save1" = "$save2" ] || fail "IPv$fam -save after -restore differs:"$'\n'"$save1"$'\n'"$save2"
	got=$(nsx "$ns" xtcraft dump "$fam")
	[ "$got" = "$after" ] ||
		fail "IPv$fam match data after -save/-restore:"$'\n'"$got"$'\n'"expected:"$'\n'"$after"
}

# as_rev2 DUMP: the dump with every revision-1 line as our extension
# restores it: revision 2, the same first 24 bytes, no name (zeros).
as_rev2() {
	local line
	while read -r line; do
		case $line in
		"connlimit rev=1 size=64 data="*)
			line=${line#*data=}
			echo "connlimit rev=2 size=104 data=${line:0:48}$(hex_zeros 48)"
			;;
		*) echo "$line" ;;
		esac
	done <<<"$1"
}

# The match data in the kernel's table is, byte for byte, the layout of
# include/xt_connlimit.h, whichever iptables (32- or 64-bit) wrote it: the
# stock extension's revision 1 and, on ours, our revision 2 with a name;
# the kernel-only pointer reads back as zeros (legacy only: the bytes are
# read with IPT_SO_GET_ENTRIES).  Our extension restores every rule as
# revision 2 (README: with our module loaded every rule is revision 2), a
# revision-1 one with an empty name.
case_layout() {
	local srv v1 v2 want4 want6
	mkns srv
	xt 4 "$srv" -A INPUT -p tcp -m connlimit --connlimit-above 5 --connlimit-mask 24 -j DROP
	xt 4 "$srv" -A INPUT -m connlimit --connlimit-upto 9 --connlimit-mask 16 --connlimit-daddr
	xt 6 "$srv" -A INPUT -m connlimit --connlimit-above 5 --connlimit-mask 64
	v1="connlimit rev=1 size=64 data="
	want4="${v1}ffffff00$(hex_zeros 12)$(hex_le32 5)$(hex_le32 0)$(hex_zeros 8)"
	want4+=$'\n'"${v1}ffff0000$(hex_zeros 12)$(hex_le32 9)$(hex_le32 3)$(hex_zeros 8)"
	want6="${v1}ffffffffffffffff$(hex_zeros 8)$(hex_le32 5)$(hex_le32 0)$(hex_zeros 8)"
	layout_roundtrip "$srv" 4 "$want4"
	layout_roundtrip "$srv" 6 "$want6"
	[ "$VARIANT" = ours ] || return 0
	use_our_ext
	xt 4 "$srv" -A INPUT -m connlimit --connlimit-above 4 --connlimit-mask 24 \
		--connlimit-name abi1
	xt 6 "$srv" -A INPUT -m connlimit --connlimit-upto 6 --connlimit-mask 48 \
		--connlimit-daddr --connlimit-name abi-6
	# "abi1" and "abi-6", NUL-padded to 32 bytes; 8 reserved bytes
	v2="connlimit rev=2 size=104 data="
	want4+=$'\n'"${v2}ffffff00$(hex_zeros 12)$(hex_le32 4)$(hex_le32 0)61626931$(hex_zeros 28)"
	want4+="$(hex_zeros 8)$(hex_zeros 8)"
	want6+=$'\n'"${v2}ffffffffffff$(hex_zeros 10)$(hex_le32 6)$(hex_le32 3)6162692d36$(hex_zeros 27)"
	want6+="$(hex_zeros 8)$(hex_zeros 8)"
	layout_roundtrip "$srv" 4 "$want4" "$(as_rev2 "$want4")"
	layout_roundtrip "$srv" 6 "$want6" "$(as_rev2 "$want6")"
}

# rmmod is refused while a rule uses the match and works once it is gone
case_rmmod() {
	local srv got t0
	modprobe xt_connlimit
	# earlier cases' namespaces are freed asynchronously: wait for them
	t0=$(uptime_ms)
	busywait 30000 refcnt_is 0 ||
		fail "xt_connlimit refcnt $(module_refcnt) with no rule left (30 s after the namespaces went)"
	log "refcnt 0 after $(($(uptime_ms) - t0)) ms"
	mkns srv
	xt 4 "$srv" -A INPUT -p tcp --syn -m connlimit --connlimit-above 2 -j DROP
	xt 6 "$srv" -A INPUT -p tcp --syn -m connlimit --connlimit-above 2 -j DROP
	if rmmod xt_connlimit 2>"$T/rmmod.err"; then
		fail "rmmod xt_connlimit succeeded while a rule uses it"
	fi
	log "rmmod while in use: $(cat "$T/rmmod.err")"
	[ -d /sys/module/xt_connlimit ] || fail "module gone while a rule uses it"
	xt 4 "$srv" -F INPUT
	if rmmod xt_connlimit 2>/dev/null; then
		fail "rmmod xt_connlimit succeeded while an IPv6 rule uses it"
	fi
	xt 6 "$srv" -F INPUT
	# nft frees rules asynchronously: poll
	busywait 20000 rmmod xt_connlimit 2>/dev/null ||
		fail "rmmod xt_connlimit still refused 20 s after the rules went (refcnt $(module_refcnt))"
	modprobe xt_connlimit
	got=$(module_is)
	[ "$got" = "$VARIANT" ] || fail "after reload: $got loaded, expected $VARIANT"
}

# Teardown at the end of the boot: no namespaces, no rules, our objects
# back to zero, the module unloads (slub_debug then reports any object left
# in our caches as the caches are destroyed).
case_teardown() {
	local ns b k v batch= left=
	for ns in $(ip netns list | cut -d' ' -f1); do
		for v in $(ip netns pids "$ns"); do kill -9 "$v"; done
		batch+="netns del $ns"$'\n'
		left+=" $ns"
	done
	[ -z "$batch" ] || ip -b - <<<"$batch"
	for b in legacy nft; do
		for k in iptables ip6tables; do
			"$k-$b" -F 2>/dev/null || true
			"$k-$b" -t raw -F 2>/dev/null || true
		done
	done
	if [ -d /sys/module/xt_connlimit ]; then
		busywait 30000 refcnt_is 0 ||
			fail "xt_connlimit refcnt still $(module_refcnt) after every namespace went"
		if [ "$VARIANT" = ours ]; then
			log "objects: $(objects | paste -s -d ' ')"
			for k in rules keys conns; do
				busywait 5000 object_is $k 0 ||
					fail "ours: '$k $(object_count $k)' left after teardown, expected 0"
			done
			v=$(object_count alloc_failures)
			note "alloc_failures ${v:-?}"
		fi
		busywait 30000 rmmod xt_connlimit 2>/dev/null ||
			fail "rmmod xt_connlimit refused after teardown (refcnt $(module_refcnt))"
	fi
	# the in-tree engine's caches go with nf_conncount
	if [ -d /sys/module/nf_conncount ]; then
		busywait 10000 rmmod nf_conncount 2>/dev/null ||
			fail "rmmod nf_conncount refused after teardown"
	fi
	[ ! -d /sys/module/xt_connlimit ] || fail "xt_connlimit still loaded"
	# every case cleans up after itself; leftovers are a test bed bug
	[ -z "$left" ] || fail "namespaces left behind by earlier cases:$left"
}

# e2e ID DESCRIPTION FUNCTION ARGS...: a backend case; honours
# INTREE_DIFFERS.
e2e() {
	local id=$1 desc="$BACKEND: $2" why
	shift 2
	why=$(awk -v id="$id" '$1 == id { $1 = ""; print substr($0, 2) }' <<<"$INTREE_DIFFERS")
	if [ -n "$why" ] && [ "$VARIANT" = intree ]; then
		run_case "$BACKEND/$id" "$desc" intree_differs "$why" "$@"
	else
		run_case "$BACKEND/$id" "$desc" "$@"
	fi
}

# intree_differs WHY FUNCTION ARGS...: run the case; a failure is the known
# in-tree difference.
intree_differs() {
	local why=$1 rc
	shift
	set +e
	(
		set -e
		CASE_SUBSHELL=$BASH_SUBSHELL
		trap cleanup_case EXIT
		"$@"
	)
	rc=$?
	set -e
	[ "$rc" -eq 0 ] && return 0
	skip "in-tree differs on purpose: $why"
}

# ------------------------------------------------------------------ main

log "variant $VARIANT, backends $BACKENDS, kernel $(uname -r)"
run_case "!module" "module: the $VARIANT xt_connlimit is the one modprobe loads" case_module

for BACKEND in $BACKENDS; do
	export BACKEND
	e2e above "limit above 2 per /32 and per /128 (tcp)" case_above
	e2e mask "--connlimit-mask 24 and 64 group clients" case_mask
	e2e daddr "--connlimit-daddr counts per server address" case_daddr
	e2e upto "--connlimit-upto 2 with ACCEPT" case_upto
	e2e close "count falls when connections close or reset" case_close
	e2e many "a client with more connections than a key holds in itself" case_many
	e2e flush "count falls after conntrack -F, flushed connections keep working" case_flush
	e2e udp "udp flows counted, refused above the limit, freed by conntrack -F" case_udp
	e2e tworules "two rules with different masks count independently" case_two_rules
	e2e refused2 "a SYN two rules counted and the second refused is let go by both" case_refused_twice
	e2e netns "the same ruleset in two namespaces counts independently" case_netns
	e2e zone "conntrack zones (-j CT --zone) count apart" case_zone
	e2e local "connections between local addresses (over lo) are counted" case_local
	e2e loopback "a rule without --syn over lo counts each connection once" case_loopback
	e2e preexist "connections opened before a rule without --syn are counted as their packets pass" case_preexist
	e2e raw "a rule in the raw table counts connections by their tuple" case_raw
	e2e nosyn "a rule without --syn keeps established connections working" case_nosyn
	e2e live "tcp (no --syn) and udp at the limit keep flowing right after a refused attempt" case_live
	e2e roundtrip "the stock libxt_connlimit.so round-trips rules through the module" case_roundtrip
	if [ "$BACKEND" = legacy ]; then
		e2e layout "match data in the kernel byte for byte as include/xt_connlimit.h lays it out; -save/-restore keep it" case_layout
	fi
	e2e ourext "our libxt_connlimit.so drives the module" case_our_ext
	e2e hostile-flags "unknown flag bits refused with a message, nothing installed" case_hostile_flags
	e2e hostile-masks "any mask accepted, never rewritten, -D finds it" case_hostile_masks
	e2e hostile-size "a wrong match size is refused by x_tables" case_hostile_size
	e2e rmmod "rmmod refused while a rule uses the match, clean after" case_rmmod
	e2e failsafe "a saved ruleset with named rules restores and its limits hold (names dropped with a warning on the kernel's module)" case_failsafe_restore
	if [ "$VARIANT" = ours ]; then
		e2e named-list "named table: keys listed with counts, peaks, over-limit counters; clear" case_named_list
		e2e named-restore "named table: iptables-restore under live connections keeps the counts" case_named_restore
		e2e named-grace "named table: flush and re-add within the grace period keeps counts; then it goes" case_named_grace
		e2e named-remask "named table: iptables-restore changing a rule's mask or direction under live connections" case_named_remask
		e2e named-masks "named table: a rolled-back rule leaves nothing behind; rules with other masks count apart" case_named_masks
		e2e named-shared "named table: a packet passing two of its rules is counted once" case_named_shared
		e2e named-netns "named table: the same name in two namespaces counts apart" case_named_netns
		e2e named-perms "named table: file owner and mode from the module parameters" case_named_perms
		e2e named-netns-gone "named table: goes with its namespace" case_named_netns_gone
		# the record is the kernel's alone (named-restore reloads under
		# both backends): one backend keeps make check short
		if [ "$BACKEND" = legacy ]; then
			e2e named-record "named table: the record (a burst that is over: count, key, time) survives reload, a freed part; histogram; clear" case_named_record
		fi
		e2e named-mixed "revision-1 rules of the stock extension listed and saved by ours" case_named_mixed_revisions
		e2e netns-exit "a namespace whose rules hold thousands of connections goes at once" case_named_netns_exit
	else
		log "named tables (revision 2): not run, the in-kernel module has none"
	fi
done

if [ "$VARIANT" = intree ]; then
	run_case reload "connlimit-reload: from the kernel's module to ours; two failures half-way undone" case_reload
else
	run_case reload "connlimit-reload: nothing to do with ours loaded" case_reload_ours
fi

run_case "!teardown" "teardown: namespaces gone, objects zero, rmmod clean" case_teardown

log "$case_no cases, $n_fail failed"
[ "$n_fail" -eq 0 ]
