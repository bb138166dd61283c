# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Named tables (revision 2), sourced by e2e.sh (after lib.sh).  Our
# extension drives them (the stock one knows revision 1 only); the
# in-kernel module has no revision 2, so they run on our variant only.
#
# A named table is listed in /proc/net/xt_connlimit/NAME of its namespace:
# three header lines ("# since ...", "# record ...", "# histogram ..."),
# then one line per key:  src|dst ADDRESS/PREFIX conns N peak N over N [zone N]

PARAMS=/sys/module/xt_connlimit/parameters

# named_setup: our module and extension.
named_setup() {
	modprobe xt_connlimit
	use_our_ext
}

# listing NS NAME: the table's key lines (the header skipped, as a parser
# of key lines does).
listing() { nsx "$1" cat "/proc/net/xt_connlimit/$2" | awk '!/^#/'; }

# key_line NS NAME KEY: the listing's line for KEY ("src 198.18.1.0/24").
key_line() { listing "$1" "$2" | grep -F -- "$3 " || true; }

# key_is NS NAME KEY "conns N peak N over N": the listing says so.
key_is() { [ "$(key_line "$1" "$2" "$3")" = "$3 $4" ]; }

# expect_key NS NAME KEY "conns N peak N over N": within 5 s (a closed
# connection stops counting once conntrack has it in TIME_WAIT or CLOSE,
# a moment after the client's close).
expect_key() {
	busywait 5000 key_is "$@" ||
		fail "/proc/net/xt_connlimit/$2: expected '$3 $4', got '$(key_line "$1" "$2" "$3")' (listing: $(listing "$1" "$2" | paste -s -d '|'))"
}

proc_entry_gone() { ! nsx "$1" test -e "/proc/net/xt_connlimit/$2"; }

# grace_period SECONDS: set the module parameter (restored by the caller).
grace_period() { echo "$1" >"$PARAMS/grace_period"; }

# keys are listed with their counts, peaks and over-limit counters, IPv4
# and IPv6 in one table, with masks; clearing restarts peaks and counters
case_named_list() {
	local fam c s net key out bad
	named_setup
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 3 \
			--connlimit-mask $NET --connlimit-name web "${REJECT_TCP[@]}"
		out=$(xt $fam "$s" -S INPUT)
		log "$out"
		grep -qF -- "--connlimit-name web" <<<"$out" || fail "IPv$fam -S lacks the name: $out"
	done
	for fam in 4 6; do
		fam_addrs $fam
		if [ $fam = 4 ]; then net=198.18.1.0/24; else net=2001:db8:0:1::/64; fi
		key="src $net"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		expect_open b$fam 1 1 0
		expect_key "$s" web "$key" "conns 3 peak 3 over 0"
		client_close a$fam 1
		wait_ct_established "$s" "${CLI[0]}" 1
		# exact when read: the closed connection is gone at once
		expect_key "$s" web "$key" "conns 2 peak 3 over 0"
		expect_open b$fam 2 1 1
		expect_key "$s" web "$key" "conns 3 peak 3 over 1"
		# writing "clear": peak restarts from the count, over from 0
		nsx "$s" sh -c 'echo clear >/proc/net/xt_connlimit/web' ||
			fail "writing 'clear' to /proc/net/xt_connlimit/web failed"
		expect_key "$s" web "$key" "conns 3 peak 3 over 0"
		# anything else is refused and changes nothing
		if nsx "$s" sh -c 'echo reset >/proc/net/xt_connlimit/web' 2>/dev/null; then
			fail "writing 'reset' to /proc/net/xt_connlimit/web was accepted"
		fi
		expect_open a$fam 1 0 1
		expect_key "$s" web "$key" "conns 3 peak 3 over 1"
		# a buffer that cannot be read: EFAULT; other text: EINVAL;
		# either way nothing is cleared
		out=$(xtcraft -n "$s" write /proc/net/xt_connlimit/web -)
		[ "$out" = "write err=EFAULT" ] ||
			fail "writing from an unreadable buffer: '$out', expected 'write err=EFAULT'"
		for bad in clearx cleared clea "clear " " clear"; do
			out=$(xtcraft -n "$s" write /proc/net/xt_connlimit/web "$bad")
			[ "$out" = "write err=EINVAL" ] || fail "writing '$bad': '$out', expected 'write err=EINVAL'"
		done
		expect_key "$s" web "$key" "conns 3 peak 3 over 1"
	done
	# the other family's keys are in the same file
	[ "$(listing "$s" web | wc -l)" = 2 ] ||
		fail "expected 2 keys in /proc/net/xt_connlimit/web: $(listing "$s" web | paste -s -d '|')"
	out=$(nsx "$s" stat -c '%a %u %g' /proc/net/xt_connlimit/web)
	[ "$out" = "600 0 0" ] || fail "/proc/net/xt_connlimit/web: mode/owner '$out', expected '600 0 0'"
	out=$(nsx "$s" cat /proc/net/stat/xt_connlimit)
	log "$(paste -s -d ' ' <<<"$out")"
	grep -qx "named_tables 1" <<<"$out" || fail "/proc/net/stat/xt_connlimit: expected named_tables 1: $out"
	grep -qx "keys 2" <<<"$out" || fail "/proc/net/stat/xt_connlimit: expected keys 2: $out"
	grep -qx "conns 6" <<<"$out" || fail "/proc/net/stat/xt_connlimit: expected conns 6: $out"
}

# iptables-restore of the whole ruleset under live connections keeps the
# counts: the old connections still hold the limit
case_named_restore() {
	local fam c s rules
	named_setup
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		rules="*filter
-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-name lim$fam -j REJECT --reject-with tcp-reset
COMMIT"
		xt_restore $fam "$s" <<<"$rules"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		# a full restore (no --noflush): every rule is replaced
		if [ $fam = 6 ]; then
			nsx "$s" "ip6tables-$BACKEND-restore" <<<"$rules"
		else
			nsx "$s" "iptables-$BACKEND-restore" <<<"$rules"
		fi
		expect_open a$fam 1 0 1
		expect_key "$s" lim$fam "src ${CLI[0]}/$FULL" "conns 2 peak 2 over 1"
		expect_ping a$fam 2 0
	done
}

# flushing and re-adding the rule within the grace period keeps the counts;
# once no rule uses the name for the grace period, the table and its file go
case_named_grace() {
	local fam c s rule out
	named_setup
	topo c s
	grace_period 3
	for fam in 4 6; do
		fam_addrs $fam
		rule=(INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-name g$fam
			"${REJECT_TCP[@]}")
		xt $fam "$s" -A "${rule[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		xt $fam "$s" -F INPUT
		nsx "$s" test -e /proc/net/xt_connlimit/g$fam ||
			fail "/proc/net/xt_connlimit/g$fam went at once, expected it to stay for the grace period"
		xt $fam "$s" -A "${rule[@]}"
		expect_open a$fam 1 0 1
		expect_key "$s" g$fam "src ${CLI[0]}/$FULL" "conns 2 peak 2 over 1"
		xt $fam "$s" -D "${rule[@]}"
		busywait 10000 proc_entry_gone "$s" g$fam ||
			fail "/proc/net/xt_connlimit/g$fam still there 10 s after its last rule went (grace period 3 s)"
	done
	grace_period 60
	out=$(nsx "$s" cat /proc/net/stat/xt_connlimit)
	grep -qx "named_tables 0" <<<"$out" || fail "/proc/net/stat/xt_connlimit after the grace period: $out"
}

# ---------------------------------------------------------- the record

# read_header NS NAME: the listing in H_ALL, its header lines' words after
# "# since", "# record" and "# histogram" in H_SINCE, H_RECORD and H_HIST,
# and the first word after "#" of each header line, in order, in H_WORDS;
# H_BEFORE and H_NOW are the wall clock (seconds) before and after the read.
read_header() {
	local line
	printf -v H_BEFORE '%(%s)T' -1
	H_ALL=$(nsx "$1" cat "/proc/net/xt_connlimit/$2") || return 1
	printf -v H_NOW '%(%s)T' -1
	H_SINCE='' H_RECORD='' H_HIST='' H_WORDS=''
	while read -r line; do
		case $line in
		"# since "*) H_SINCE=${line#"# since "} ;;
		"# record "*) H_RECORD=${line#"# record "} ;;
		"# histogram") ;;
		"# histogram "*) H_HIST=${line#"# histogram "} ;;
		"#"*) ;;
		*) continue ;;
		esac
		line=${line#"# "}
		H_WORDS+="${H_WORDS:+ }${line%% *}"
	done <<<"$H_ALL"
}

# iso_utc SECONDS: the wall-clock second as the listing writes it.
iso_utc() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' "$1"; }

# when_within "TIME ago S" T0 T1: TIME is one of the seconds T0 to T1 (wall
# clock), and S the seconds from it to the read (H_BEFORE to H_NOW; each
# clock read in whole seconds, so give or take one).
when_within() {
	local -a w
	local t iso ok=''
	read -ra w <<<"$1"
	for ((t = $2; t <= $3; t++)); do
		TZ=UTC0 printf -v iso '%(%Y-%m-%dT%H:%M:%SZ)T' "$t"
		[ "${w[0]}" = "$iso" ] && ok=$t
	done
	[ -n "$ok" ] ||
		{ fail "'${w[0]}' is not between $(iso_utc "$2") and $(iso_utc "$3")"; return 1; }
	if [ "${w[1]}" != ago ] || [ "${w[2]}" -lt $((H_BEFORE - ok - 1)) ] ||
		[ "${w[2]}" -gt $((H_NOW - ok + 1)) ]; then
		fail "'$1': expected 'ago' $((H_BEFORE - ok - 1)) to $((H_NOW - ok + 1)) s (read at $(iso_utc "$H_NOW"))"
		return 1
	fi
}

# expect_record NS NAME "PEAK KEY" T0 T1: the record is PEAK, reached by
# KEY ("src ADDRESS/PREFIX") between the wall-clock seconds T0 and T1.
expect_record() {
	read_header "$1" "$2"
	log "$(paste -s -d '|' <<<"$H_ALL")"
	[ "${H_RECORD%% at *}" = "$3" ] ||
		{ fail "/proc/net/xt_connlimit/$2: expected '# record $3 at ...', got '# record $H_RECORD'"; return 1; }
	when_within "${H_RECORD#* at }" "$4" "$5"
}

# record_at: the time of the record read last.
record_at() {
	local r=${H_RECORD#* at }
	echo "${r%% *}"
}

# hist_is NS NAME "RANGE:KEYS ...": the histogram says so.
hist_is() { read_header "$1" "$2" && [ "$H_HIST" = "$3" ]; }

# ns_tables_is NS N: N counting tables (a named table's parts) in NS.
ns_tables_is() { nsx "$1" grep -qx "tables $2" /proc/net/stat/xt_connlimit; }

# A burst that is over is still reported, count, key and time, after its
# key went; the histogram counts the keys by the connections they hold
# now; the record survives a reload of the rules and the part that holds
# it being freed; writing "clear" restarts it from the keys' counts.
case_named_record() {
	local c s rules t0 t1 at
	named_setup
	topo c s
	rules="*filter
-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 100 --connlimit-name audit
COMMIT"
	printf -v t0 '%(%s)T' -1
	xt_restore 4 "$s" <<<"$rules"
	xt_restore 6 "$s" <<<"$rules"
	printf -v t1 '%(%s)T' -1
	read_header "$s" audit
	[ "$H_WORDS" = "since record histogram" ] && [ "$H_RECORD" = 0 ] && [ -z "$H_HIST" ] ||
		fail "a new table's header: '$(paste -s -d '|' <<<"$H_ALL")'"
	when_within "$H_SINCE" "$t0" "$t1"

	# a burst of 6 from one address, over before anyone looks
	fam_addrs 4
	client_start a "$c" "${CLI[0]}" "${SRV[0]}" 80
	printf -v t0 '%(%s)T' -1
	expect_open a 6 6 0
	printf -v t1 '%(%s)T' -1
	client_close a 6
	busywait 10000 key_unlisted "$s" audit "src ${CLI[0]}/32" ||
		fail "the burst's key still listed 10 s after it closed: $(listing "$s" audit | paste -s -d '|')"
	expect_record "$s" audit "6 src ${CLI[0]}/32" "$t0" "$t1"
	[ "$H_HIST" = "" ] || fail "no key holds a connection, yet the histogram is '$H_HIST'"

	# keys holding 1, 2, 3, 4 (IPv4) and 9 (IPv6) connections; the IPv6
	# key's 9 is the new record
	expect_open a 1 1 0
	client_start b "$c" "${CLI[1]}" "${SRV[0]}" 80
	client_start d "$c" "${CLI[2]}" "${SRV[0]}" 80
	client_start x "$c" "${CLI[3]}" "${SRV[0]}" 80
	expect_open b 2 2 0
	expect_open d 3 3 0
	expect_open x 4 4 0
	fam_addrs 6
	client_start e "$c" "${CLI[0]}" "${SRV[0]}" 80
	printf -v t0 '%(%s)T' -1
	expect_open e 9 9 0
	printf -v t1 '%(%s)T' -1
	busywait 5000 hist_is "$s" audit "1:1 2-3:2 4-7:1 8-15:1" ||
		fail "expected '# histogram 1:1 2-3:2 4-7:1 8-15:1': $(paste -s -d '|' <<<"$H_ALL")"
	expect_record "$s" audit "9 src ${CLI[0]}/128" "$t0" "$t1"
	at=$(record_at)

	# a reload of every rule: the same record
	nsx "$s" "$(restore_cmd 4)" <<<"$rules"
	nsx "$s" "$(restore_cmd 6)" <<<"$rules"
	expect_record "$s" audit "9 src ${CLI[0]}/128" "$t0" "$t1"
	[ "$(record_at)" = "$at" ] ||
		fail "after the reload the record is dated $(record_at), before it $at"

	# the IPv6 rule counts by /64 from now on (a connection of e's under
	# it): its /128 part, which reached the record, is freed after the
	# grace period, and the record stays
	ns_tables_is "$s" 2 || fail "expected 2 tables: $(nsx "$s" cat /proc/net/stat/xt_connlimit | paste -s -d ' ')"
	grace_period 3
	nsx "$s" "$(restore_cmd 6)" <<<"${rules/--connlimit-name/--connlimit-mask 64 --connlimit-name}"
	ns_tables_is "$s" 3 || fail "expected 3 tables after the reload by /64 (grace period 3 s): $(nsx "$s" cat /proc/net/stat/xt_connlimit | paste -s -d ' ')"
	expect_open e 1 1 0
	busywait 10000 ns_tables_is "$s" 2 ||
		fail "the /128 part not freed 10 s after its last rule went (grace period 3 s): $(nsx "$s" cat /proc/net/stat/xt_connlimit | paste -s -d ' ')"
	grace_period 60
	expect_record "$s" audit "9 src ${CLI[0]}/128" "$t0" "$t1"
	[ "$(record_at)" = "$at" ] ||
		fail "after the part went the record is dated $(record_at), before it $at"
	expect_key "$s" audit "src ${CLI[0]%1}/64" "conns 1 peak 1 over 0"

	# clear: the record restarts from the counts held now, the highest
	# the IPv4 key's 4 (e's 9 others are not counted by /64)
	printf -v t0 '%(%s)T' -1
	nsx "$s" sh -c 'echo clear >/proc/net/xt_connlimit/audit' ||
		fail "writing 'clear' to /proc/net/xt_connlimit/audit failed"
	printf -v t1 '%(%s)T' -1
	fam_addrs 4
	expect_record "$s" audit "4 src ${CLI[3]}/32" "$t0" "$t1"
	when_within "$H_SINCE" "$t0" "$t1"
	[ "$H_HIST" = "1:2 2-3:2 4-7:1" ] || fail "after clear: '# histogram $H_HIST', expected '1:2 2-3:2 4-7:1'"
}

# restore_cmd FAMILY: ip(6)tables-restore of the current backend.
restore_cmd() {
	if [ "$1" = 6 ]; then echo "ip6tables-$BACKEND-restore"; else echo "iptables-$BACKEND-restore"; fi
}

# key_unlisted NS NAME KEY: the listing has no line for KEY.
key_unlisted() { [ -z "$(key_line "$@")" ]; }

# iptables-restore of the whole ruleset with a named rule's mask, then its
# direction, changed (under live connections): accepted at once; the rule
# counts the new way from then on, afresh, and the listing shows the new
# keys only
case_named_remask() {
	local fam c s rules net
	named_setup
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		if [ $fam = 4 ]; then net=198.18.1.0; else net=2001:db8:0:1::; fi
		rules="*filter
-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-name rm$fam -j REJECT --reject-with tcp-reset
COMMIT"
		xt_restore $fam "$s" <<<"$rules"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		expect_key "$s" rm$fam "src ${CLI[0]}/$FULL" "conns 2 peak 2 over 0"
		# per /24 (/64): a's two connections are not counted again
		nsx "$s" "$(restore_cmd $fam)" <<<"${rules/--connlimit-name/--connlimit-mask $NET --connlimit-name}" 2>"$T/err" ||
			fail "IPv$fam: iptables-restore changing the mask of rm$fam to /$NET refused: $(cat "$T/err")"
		xt $fam "$s" -S INPUT | grep -qF -- "--connlimit-mask $NET --connlimit-saddr --connlimit-name rm$fam" ||
			fail "IPv$fam: the new rule is not installed: $(xt $fam "$s" -S INPUT)"
		expect_open b$fam 2 2 0
		expect_open a$fam 1 0 1
		expect_key "$s" rm$fam "src $net/$NET" "conns 2 peak 2 over 1"
		busywait 5000 key_unlisted "$s" rm$fam "src ${CLI[0]}/$FULL" ||
			fail "IPv$fam: the old mask's key still listed: $(listing "$s" rm$fam | paste -s -d '|')"
		# by destination
		nsx "$s" "$(restore_cmd $fam)" <<<"${rules/--connlimit-name/--connlimit-daddr --connlimit-name}" 2>"$T/err" ||
			fail "IPv$fam: iptables-restore changing rm$fam to --connlimit-daddr refused: $(cat "$T/err")"
		expect_open b$fam 2 2 0
		expect_open a$fam 1 0 1
		expect_key "$s" rm$fam "dst ${SRV[0]}/$FULL" "conns 2 peak 2 over 1"
		busywait 5000 key_unlisted "$s" rm$fam "src $net/$NET" ||
			fail "IPv$fam: the old direction's key still listed: $(listing "$s" rm$fam | paste -s -d '|')"
		[ "$(listing "$s" rm$fam | wc -l)" = 1 ] ||
			fail "IPv$fam: expected one key listed: $(listing "$s" rm$fam | paste -s -d '|')"
		expect_ping a$fam 2 0
		expect_ping b$fam 4 0
	done
}

# a rule rolled back (a later rule of the same restore refused by the
# kernel) leaves nothing later rules must agree with; rules of one name
# counting by other masks count apart, each key listed with its prefix
case_named_masks() {
	local fam c s out net wide
	named_setup
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		if [ $fam = 4 ]; then net=198.18.1.0 wide=198.18.0.0; else net=2001:db8:0:1:: wide=2001::; fi
		# tcp-reset without -p tcp: refused by REJECT's checkentry
		if xt_restore $fam "$s" 2>"$T/err" <<-EOF
		*filter
		-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-mask 16 --connlimit-name mx$fam -j ACCEPT
		-A INPUT -j REJECT --reject-with tcp-reset
		COMMIT
		EOF
		then
			fail "IPv$fam: a restore with a rule the kernel refuses was accepted"
		fi
		log "IPv$fam: refused restore: $(head -n 1 "$T/err")"
		[ "$(xt $fam "$s" -S INPUT | grep -c connlimit)" = 0 ] ||
			fail "IPv$fam: rules of the refused restore installed: $(xt $fam "$s" -S INPUT)"
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 1 \
			--connlimit-mask $FULL --connlimit-name mx$fam "${REJECT_TCP[@]}"
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 \
			--connlimit-mask $NET --connlimit-name mx$fam "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		# one per address, two per /24 (/64)
		expect_open a$fam 2 1 1
		expect_open b$fam 1 1 0
		expect_key "$s" mx$fam "src ${CLI[0]}/$FULL" "conns 1 peak 1 over 1"
		expect_key "$s" mx$fam "src ${CLI[1]}/$FULL" "conns 1 peak 1 over 0"
		expect_key "$s" mx$fam "src $net/$NET" "conns 2 peak 2 over 0"
		key_unlisted "$s" mx$fam "src $wide/16" ||
			fail "IPv$fam: the rolled-back rule's mask is listed: $(listing "$s" mx$fam | paste -s -d '|')"
	done
	out=$(nsx "$s" cat /proc/net/stat/xt_connlimit)
	grep -qx "named_tables 2" <<<"$out" || fail "expected two named tables: $out"
}

# two rules sharing a table both see each SYN, before its conntrack is
# confirmed: the connection is counted once, not once per rule.  The first
# rule only counts (no target); the second refuses above 2 (a client within
# its key's own slots) and, for the other client, above 6 (beyond them).
case_named_shared() {
	local fam c s
	named_setup
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 100 \
			--connlimit-name pair
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -s "${CLI[0]}" -m connlimit \
			--connlimit-above 2 --connlimit-name pair "${REJECT_TCP[@]}"
		xt $fam "$s" -A INPUT -p tcp --syn --dport 80 -s "${CLI[1]}" -m connlimit \
			--connlimit-above 6 --connlimit-name pair "${REJECT_TCP[@]}"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[1]}" "${SRV[0]}" 80
		expect_open a$fam 2 2 0
		expect_open b$fam 6 6 0
		expect_key "$s" pair "src ${CLI[0]}/$FULL" "conns 2 peak 2 over 0"
		expect_key "$s" pair "src ${CLI[1]}/$FULL" "conns 6 peak 6 over 0"
		expect_open a$fam 1 0 1
		expect_open b$fam 1 0 1
		expect_ping a$fam 2 0
		expect_ping b$fam 6 0
	done
}

# the same name in two namespaces: two tables
case_named_netns() {
	local c1 s1 c2 s2 fam=4
	named_setup
	topo c1 s1
	topo c2 s2
	fam_addrs $fam
	xt 4 "$s1" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-name web "${REJECT_TCP[@]}"
	xt 4 "$s2" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 2 --connlimit-name web "${REJECT_TCP[@]}"
	client_start a "$c1" "${CLI[0]}" "${SRV[0]}" 80
	client_start b "$c2" "${CLI[0]}" "${SRV[0]}" 80
	expect_open a 2 2 0
	expect_open b 1 1 0
	expect_key "$s1" web "src ${CLI[0]}/32" "conns 2 peak 2 over 0"
	expect_key "$s2" web "src ${CLI[0]}/32" "conns 1 peak 1 over 0"
	expect_open b 2 1 1
	expect_open a 1 0 1
}

# file owner and mode come from the module parameters
case_named_perms() {
	local s out
	named_setup
	mkns s
	echo 1234 >"$PARAMS/list_uid"
	echo 2345 >"$PARAMS/list_gid"
	echo 416 >"$PARAMS/list_perms"	# 0640
	xt 4 "$s" -A INPUT -p tcp -m connlimit --connlimit-above 2 --connlimit-name p -j DROP || true
	out=$(nsx "$s" stat -c '%a %u %g' /proc/net/xt_connlimit/p 2>&1 || true)
	echo 0 >"$PARAMS/list_uid"
	echo 0 >"$PARAMS/list_gid"
	echo 384 >"$PARAMS/list_perms"	# 0600
	[ "$out" = "640 1234 2345" ] || fail "/proc/net/xt_connlimit/p: '$out', expected '640 1234 2345'"
}

# the namespace's files go with it
case_named_netns_gone() {
	local s
	named_setup
	mkns s
	xt 4 "$s" -A INPUT -p tcp -m connlimit --connlimit-above 2 --connlimit-name gone -j DROP
	nsx "$s" test -e /proc/net/xt_connlimit/gone || fail "no /proc/net/xt_connlimit/gone"
	ip netns del "$s"
	NSLIST=()
	busywait 10000 object_is named_tables 0 ||
		fail "named_tables $(object_count named_tables) after the namespace went"
}

# rules the stock extension added (revision 1) are listed and saved by ours
# (which uses revision 2 with our module loaded), so iptables-save keeps
# them; -D by rule number deletes them (-D by specification builds a
# revision-2 rule, which is not the same rule: README, "Named tables")
case_named_mixed_revisions() {
	local s out
	modprobe xt_connlimit
	mkns s
	xt 4 "$s" -A INPUT -p tcp -m connlimit --connlimit-above 2 --connlimit-mask 24 -j DROP
	(
		use_our_ext
		xt 4 "$s" -A INPUT -p tcp -m connlimit --connlimit-above 3 --connlimit-name n -j DROP
		out=$(xt 4 "$s" -S INPUT)
		log "$out"
		grep -qF -- "-m connlimit --connlimit-above 2 --connlimit-mask 24 --connlimit-saddr -j DROP" <<<"$out" ||
			fail "our extension does not show the stock extension's revision-1 rule: $out"
		grep -qF -- "--connlimit-above 3 --connlimit-mask 32 --connlimit-saddr --connlimit-name n -j DROP" <<<"$out" ||
			fail "our extension does not show its own revision-2 rule: $out"
		xt 4 "$s" -D INPUT 1 || fail "our extension cannot delete the revision-1 rule by number"
		out=$(xt 4 "$s" -S INPUT)
		[ "$(grep -c connlimit <<<"$out")" = 1 ] || fail "after -D INPUT 1: $out"
	)
}

# ---------------------------------------------------------- namespace exit

# ct_load_last: reload nf_conntrack (and what uses it) after the modules
# that hold rules (the iptables tables, nf_tables), as on a machine where
# the firewall was set up before the first connlimit rule: a namespace's
# pernet exits run in reverse order of registration, so conntrack's exit
# (which waits until no conntrack of the namespace is referenced) then
# runs before the rules are destroyed.  The order the test bed had so far
# (conntrack loaded first, by case_module) never shows it.
ct_load_last() {
	modprobe -a iptable_filter ip6table_filter iptable_raw ip6table_raw nf_tables nft_compat
	busywait 20000 unload_tree nf_conntrack ||
		fail "cannot unload nf_conntrack to load it again last (holders: $(ls /sys/module/nf_conntrack/holders | paste -s -d ' '))"
	modprobe -a xt_connlimit nf_conntrack_netlink
}

# unload_tree MODULE: unload MODULE and every module that uses it.
unload_tree() {
	local h
	[ -d "/sys/module/$1" ] || return 0
	for h in "/sys/module/$1"/holders/*; do
		[ -e "$h" ] || continue
		unload_tree "${h##*/}" || return 1
	done
	rmmod "$1" 2>/dev/null
}

# objects_gone: every table of ours freed, and every entry.
objects_gone() { object_is rules 0 && object_is conns 0 && object_is keys 0; }

# A namespace whose rules (own tables and a named one, IPv4 and IPv6) hold
# thousands of connections goes away in bounded time.  Conntrack's
# namespace exit spins until no conntrack of it is referenced; the rules'
# tables, destroyed only after it (see ct_load_last), must not make it
# wait for the background passes to find those conntracks dead (up to 8
# passes, one a second, for keys that large).
case_named_netns_exit() {
	local cli srv fam syns=2000 want least t0 ms bound=${NETNS_EXIT_BOUND_MS:-6000}
	named_setup
	ct_load_last
	flood_topo
	for fam in 4 6; do
		# by destination: every SYN under one key per table, the
		# largest keys the background passes sweep in 8 steps
		xt $fam "$srv" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 100000 \
			--connlimit-daddr
		xt $fam "$srv" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 100000 \
			--connlimit-daddr --connlimit-name big
		# a key per source too
		xt $fam "$srv" -A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 100000 \
			--connlimit-name small
	done
	# the answers (RSTs) go nowhere; conntrack keeps the SYNs (SYN_SENT).
	# Paced: at full speed the veth backlog drops most of them.
	xt 4 "$srv" -t raw -A OUTPUT -d 198.19.0.0/16 -j DROP
	xt 6 "$srv" -t raw -A OUTPUT -d 2001:2::/48 -j DROP
	clstress -n "$cli" flood -s 198.19.0.0 -b 16 -k $syns -c $syns -r 1000 -d 198.18.0.1 -p 80 >"$T/flood4" 2>&1 ||
		fail "flood v4: $(cat "$T/flood4")"
	clstress -n "$cli" flood -s 2001:2:: -b 16 -k $syns -c $syns -r 1000 -d 2001:db8::1 -p 80 >"$T/flood6" 2>&1 ||
		fail "flood v6: $(cat "$T/flood6")"
	log "$(cat "$T/flood4") / $(cat "$T/flood6")"
	# every SYN conntrack tracked, counted by each of the 3 rules of its
	# family (under load the veth's backlog may drop some of the flood)
	want=$((3 * $(ct_count "$srv" -p tcp --dport 80)))
	[ "$want" -ge $((3 * syns)) ] ||
		fail "only $((want / 3)) of $((2 * syns)) flood SYNs tracked"
	# Before 5.12 there is no polled grace period: a record is taken as
	# dropped two jiffies after its packet, as upstream does (see
	# cl_gp_passed() in kernel/compat.h), so a vCPU its host holds up for
	# longer mid-packet leaves that connection uncounted, as upstream
	# would; seen there under load, 2 of 9,759.  Exact from 5.12 on.
	least=$want
	kernel_before 5 12 && least=$((want - want / 100))
	busywait 20000 eval '[ "$(object_count conns)" -ge $least ]' ||
		fail "expected $want connections counted (at least $least), objects: $(objects | paste -s -d ' ')"
	[ "$(object_count conns)" -ge "$want" ] ||
		log "kernel $(uname -r): $(object_count conns) of $want connections counted (records taken as dropped after two jiffies)"
	log "before: $(objects | paste -s -d ' '); conntrack $(ct_count "$srv")"
	t0=$(uptime_ms)
	ip -b - <<<"netns del $cli
netns del $srv"
	NSLIST=()
	busywait 60000 objects_gone ||
		fail "objects left 60 s after the namespace went: $(objects | paste -s -d ' ')"
	ms=$(($(uptime_ms) - t0))
	log "namespace with $want counted connections gone in $ms ms"
	note "$want connections, gone in $ms ms"
	[ "$ms" -le "$bound" ] ||
		fail "the namespace took $ms ms to go (bound $bound ms): conntrack's exit waited for our references"
}
