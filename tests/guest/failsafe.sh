# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# A firewall that still loads when our module is missing, and the switch
# from the kernel's own module to ours (scripts/connlimit-reload); sourced
# by e2e.sh (after lib.sh).
#
# case_failsafe_restore runs on both variants: a saved ruleset with named
# rules restores on the kernel's own module too (revision 1: names dropped
# with a warning each, limits enforced per rule), and nothing changes on
# ours.  case_reload runs on the intree variant, with our module and
# connlimit-reload added to the guest (run-suite.sh: -a FILE) as the
# package would put them in place while the kernel's module is loaded.

# The ruleset both variants restore: two rules of one name.  With ours
# they share the table "web"; the kernel's module counts per rule.
failsafe_rules() { # FAMILY
	local full=32
	[ "$1" = 6 ] && full=128
	printf '%s\n' "*filter" \
		"-A INPUT -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask $full --connlimit-saddr --connlimit-name web -j REJECT --reject-with tcp-reset" \
		"-A INPUT -p tcp -m tcp --dport 81 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask $full --connlimit-saddr --connlimit-name web -j REJECT --reject-with tcp-reset" \
		"COMMIT"
}

FAILSAFE_WARNING="Warning: connlimit: --connlimit-name web dropped: the running kernel's connlimit match lacks revision 2 (named tables), so this rule counts its connections on its own, with its limit."

# iptables-restore of named rules: on the kernel's module it succeeds with
# one warning per rule, saves without the names, and each rule counts on
# its own (a client at port 80's limit still gets 2 connections to port
# 81); on ours no warning, the names stay, the rules share the table (the
# client gets none to port 81).
case_failsafe_restore() {
	local fam c s want got warnings
	use_our_ext
	topo c s
	for fam in 4 6; do
		fam_addrs $fam
		xt_restore $fam "$s" < <(failsafe_rules $fam) 2>"$T/restore.err" ||
			fail "IPv$fam restore of named rules failed: $(cat "$T/restore.err")"
		warnings=$(grep -c -F -x -- "$FAILSAFE_WARNING" "$T/restore.err" || true)
		want=$(failsafe_rules $fam | grep '^-A')
		got=$(xt $fam "$s" -S INPUT | grep '^-A')
		if [ "$VARIANT" = intree ]; then
			[ "$warnings" = 2 ] && [ $(($(wc -l <"$T/restore.err"))) = 2 ] ||
				fail "IPv$fam restore: expected the warning once for each of the 2 named rules on stderr, got: $(cat "$T/restore.err")"
			want=${want// --connlimit-name web/}
		else
			[ ! -s "$T/restore.err" ] ||
				fail "IPv$fam restore with our module wrote to stderr: $(cat "$T/restore.err")"
			nsx "$s" test -e /proc/net/xt_connlimit/web ||
				fail "no /proc/net/xt_connlimit/web with our module"
		fi
		[ "$got" = "$want" ] ||
			fail "IPv$fam rules after the restore: expected '$want', got '$got'"
		client_start a$fam "$c" "${CLI[0]}" "${SRV[0]}" 80
		client_start b$fam "$c" "${CLI[0]}" "${SRV[0]}" 81
		expect_open a$fam 3 2 1
		if [ "$VARIANT" = intree ]; then
			expect_open b$fam 3 2 1	# port 81's rule counts on its own
		else
			expect_open b$fam 3 0 3	# the table holds 2 already
		fi
		expect_open a$fam 1 0 1
		expect_ping a$fam 2 0
	done
	[ "$VARIANT" = intree ] || note "names kept, shared table"
	[ "$VARIANT" = ours ] || note "names dropped, one warning per rule, limits per rule"
}

# ------------------------------------------------------------ connlimit-reload

RELOAD=/tests/guest/connlimit-reload
OURS_KO=/tests/guest/xt_connlimit.ko
UPDATES=/lib/modules/$(uname -r)/updates
WRAPDIR=/usr/local/sbin

# The rules of the reload case, in the server namespace: IPv4 connlimit
# rules with the legacy backend, IPv6 ones with nft (so both backends and
# both families are saved and restored), around rules without connlimit,
# and a table without any connlimit rule that must be left alone.  (Both
# backends and families at once cost twice the time in TCG, not more
# code paths: connlimit-reload treats each ruleset alike.)
reload_rules() { # BACKEND FAMILY
	local port=80 full=32
	[ "$2" = 6 ] && full=128
	cat <<-EOF
	*raw
	-A PREROUTING -p udp --dport 9 -j NOTRACK
	COMMIT
	*filter
	:limits - [0:0]
	-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
	-A INPUT -p tcp -m tcp --dport $port -j limits
	-A INPUT -p udp -m udp --dport 53 -m connlimit --connlimit-above 50 --connlimit-mask 0 --connlimit-daddr -j DROP
	-A limits -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask $full --connlimit-saddr --connlimit-name web -j REJECT --reject-with tcp-reset
	-A limits -j ACCEPT
	COMMIT
	EOF
}

# rules_now NS: the rules of the case (IPv4 legacy, IPv6 nft), counters
# and comments dropped (iptables-save minus counters).
rules_now() {
	local t
	for t in iptables-legacy ip6tables-nft; do
		echo "== $t"
		nsx "$1" "$t-save" 2>/dev/null | grep -v '^#' |
			sed -E 's/^(:[^ ]+ [^ ]+) \[[0-9]+:[0-9]+\]$/\1/'
	done
}

# expect_rules NS WHEN: the rules are the ones first loaded.
expect_rules() {
	rules_now "$1" >"$T/rules.now"
	cmp -s "$T/rules.before" "$T/rules.now" ||
		fail "rules $2 differ from before: $(diff "$T/rules.before" "$T/rules.now" | grep '^[-+][^-+]' | head -n 6 | paste -s -d '|')"
}

# expect_limits C S N: fresh clients from CLI[N] get 2 connections and a
# refusal on port 80, IPv4 (legacy rule) and IPv6 (nft rule); each phase
# takes other clients, as counts restart with the module.
expect_limits() {
	local fam
	for fam in 4 6; do
		fam_addrs $fam
		client_start "l$3-$fam" "$1" "${CLI[$3]}" "${SRV[0]}" 80
		expect_open "l$3-$fam" 3 2 1
	done
}

# reload EXPECTED_STATUS NS WHAT: run connlimit-reload in NS.
reload() {
	local rc=0 t0
	t0=$(uptime_ms)
	nsx "$2" bash "$RELOAD" -t 20 >"$T/reload.out" 2>&1 || rc=$?
	sed 's/^/# reload: /' "$T/reload.out"
	log "connlimit-reload ($3): exit $rc after $(($(uptime_ms) - t0)) ms"
	[ "$rc" = "$1" ] || fail "connlimit-reload ($3) exited $rc, expected $1"
}

reload_cleanup() {
	local b f
	set +e
	trap - ERR
	[ -n "$RELOAD_NS" ] && for b in legacy nft; do
		for f in iptables ip6tables; do
			printf '*filter\nCOMMIT\n*raw\nCOMMIT\n' |
				nsx "$RELOAD_NS" "/usr/sbin/$f-$b-restore" 2>/dev/null
		done
	done
	rm -f "$UPDATES/xt_connlimit.ko" /etc/modprobe.d/connlimit-test.conf \
		"$WRAPDIR/ip6tables-nft-restore" /tmp/reload-fail-once
	depmod -a
}

# The kernel's module is loaded and ours gets installed (as connlimit-dkms
# or "make install" would): connlimit-reload, made to fail half-way twice
# (ours cannot load; a restore with ours fails), must each time put the
# kernel's module and the rules back exactly; then it switches (rules the
# same, ours loaded, the limits hold), and a second run has nothing to do.
case_reload() {
	local c s b f
	[ -f "$OURS_KO" ] && [ -f "$RELOAD" ] ||
		skip "our module or connlimit-reload not added to the guest (run-suite.sh adds them when build/KVER/kernel/xt_connlimit.ko exists)"
	use_our_ext
	RELOAD_NS=
	trap 'reload_cleanup; cleanup_case' EXIT
	modprobe xt_connlimit
	log "case start at $(uptime_ms) ms"
	[ "$(module_is)" = intree ] || fail "the kernel's own xt_connlimit is not the one loaded ($(module_is))"
	mkdir -p "$UPDATES"
	cp "$OURS_KO" "$UPDATES/xt_connlimit.ko"
	depmod -a
	log "ours installed under updates/ (depmod) at $(uptime_ms) ms"
	topo c s
	RELOAD_NS=$s
	for b in legacy:4 nft:6; do
		f=${b#*:} b=${b%:*}
		BACKEND=$b xt_restore $f "$s" < <(reload_rules $b $f) 2>"$T/err" ||
			fail "$b IPv$f: restoring the rules failed: $(cat "$T/err")"
	done
	rules_now "$s" >"$T/rules.before"
	grep -q -- '-m connlimit --connlimit-above 2 --connlimit-mask 128 --connlimit-saddr -j REJECT' "$T/rules.before" ||
		fail "the rules were not loaded as expected: $(paste -s -d '|' "$T/rules.before")"
	expect_limits "$c" "$s" 0

	# ours cannot load: a bad module option (the kernel refuses the value)
	mkdir -p /etc/modprobe.d
	echo "options xt_connlimit grace_period=bogus" >/etc/modprobe.d/connlimit-test.conf
	reload 1 "$s" "ours cannot load"
	grep -q 'everything is back as it was' "$T/reload.out" ||
		fail "connlimit-reload did not say everything is back"
	[ "$(module_is)" = intree ] || fail "after the failed load: $(module_is) xt_connlimit loaded, expected the kernel's"
	expect_rules "$s" "after ours failed to load"
	rm /etc/modprobe.d/connlimit-test.conf

	# a restore fails once our module is in: the last ruleset (ip6tables-nft)
	mkdir -p "$WRAPDIR"
	cat >"$WRAPDIR/ip6tables-nft-restore" <<-'EOF'
	#!/bin/bash
	in=$(cat)
	if [ -e /tmp/reload-fail-once ] && [ -e /sys/module/xt_connlimit/version ] &&
	   grep -q -- '-m connlimit' <<<"$in"; then
		rm -f /tmp/reload-fail-once
		echo "ip6tables-nft-restore: injected failure" >&2
		exit 1
	fi
	exec /usr/sbin/ip6tables-nft-restore "$@" <<<"$in"
	EOF
	chmod 755 "$WRAPDIR/ip6tables-nft-restore"
	: >/tmp/reload-fail-once
	reload 1 "$s" "a restore fails"
	[ ! -e /tmp/reload-fail-once ] || fail "the injected restore failure was never reached"
	grep -q 'everything is back as it was' "$T/reload.out" ||
		fail "connlimit-reload did not say everything is back"
	[ "$(module_is)" = intree ] || fail "after the failed restore: $(module_is) xt_connlimit loaded, expected the kernel's"
	expect_rules "$s" "after a restore failed"
	rm "$WRAPDIR/ip6tables-nft-restore"
	expect_limits "$c" "$s" 1

	# the switch
	reload 0 "$s" "the switch"
	[ "$(module_is)" = ours ] || fail "after the switch: $(module_is) xt_connlimit loaded, expected ours"
	grep -q 'Connection counts restarted from zero' "$T/reload.out" ||
		fail "connlimit-reload did not say the counts restart"
	expect_rules "$s" "after the switch"
	expect_limits "$c" "$s" 2

	# nothing to do
	reload 0 "$s" "nothing to do"
	grep -q 'loaded already: nothing to do' "$T/reload.out" ||
		fail "connlimit-reload did not say there was nothing to do"
	[ $(($(wc -l <"$T/reload.out"))) = 1 ] || fail "connlimit-reload said more than that"
	note "2 failures undone, switched, then nothing to do"
}

# With our module loaded (the ours variant), connlimit-reload has nothing
# to do and changes nothing.
case_reload_ours() {
	local s
	[ -f "$RELOAD" ] || skip "connlimit-reload not added to the guest (run-suite.sh)"
	modprobe xt_connlimit
	mkns s
	reload 0 "$s" "ours loaded"
	grep -q 'loaded already: nothing to do' "$T/reload.out" ||
		fail "connlimit-reload did not say there was nothing to do"
	[ "$(module_is)" = ours ] || fail "$(module_is) xt_connlimit loaded after connlimit-reload"
}
