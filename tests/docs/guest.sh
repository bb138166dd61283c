#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest suite of tests/docs/run.sh: the documentation's examples of kind
# "ours" (docs-examples.txt, from tests/docs/extract.sh) with our module,
# each in a fresh namespace, with each backend; with DOCS_GUEST_RULES=1
# (make stress) those of kind "rules" too, with the nft backend (the host
# runs them with both backends on the kernel's own module, and the e2e
# suite runs revision-1 rules through both on ours; under TCG each example
# costs seconds, so make check leaves them to the host): every command
# succeeds, -C finds every rule added, each family's rules round-trip
# through save and restore (examples-lib.sh: docs_run_rules).  Then the
# module must unload cleanly.  First, the messages the man page's
# TROUBLESHOOTING quotes are checked against what this boot prints.

# shellcheck source=../guest/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=examples-lib.sh
. "$(dirname "$0")/examples-lib.sh"

# DOCS_GUEST_RULES comes from /etc/testbed.conf (run-guest.sh -e)
[ -f /etc/testbed.conf ] && . /etc/testbed.conf
BACKENDS=${TESTBED_BACKENDS:-legacy nft}

# Lighter than lib.sh's: the namespaces of a case are deleted without
# waiting for them to die (under TCG that wait is most of a small case's
# time); the last case waits once for the module to be free.
cleanup_case() {
	local ns batch=
	set +e
	trap - ERR
	if [ -e "$T/failed" ]; then
		for ns in "${NSLIST[@]}"; do dump_state "$ns"; done
	fi
	for ns in "${NSLIST[@]}"; do batch+="netns del $ns"$'\n'; done
	[ -n "$batch" ] && ip -b - <<<"$batch" 2>/dev/null
	NSLIST=()
	return 0
}
EXAMPLES=$(dirname "$0")/docs-examples.txt

docs_in_ns() {
	local ns=$1
	shift
	nsx "$ns" "$@"
}

NO_CL=/etc/modprobe.d/docs-no-connlimit.conf

# has OUTPUT LINE: OUTPUT holds LINE as a whole line.
has() {
	grep -qxF -- "$2" <<<"$1" || fail "expected the line '$2' in: $1"
}

# The messages xt_connlimit(8) TROUBLESHOOTING quotes, as this boot's
# iptables (Debian's) and kmod print them: a kernel whose connlimit match
# cannot load (an install command in modprobe.d that fails stands for a
# module that is missing), with iptables' own extension and with ours;
# then insmod of ours over the kernel's own module.
case_messages() {
	local a out rule="-A INPUT -p tcp --syn --dport 22 -m connlimit --connlimit-above 3 -j REJECT"
	local be t kdir
	kdir=/lib/modules/$(uname -r)
	[ "$(module_is)" = none ] || fail "xt_connlimit loaded before the case ($(module_is))"
	mkdir -p /etc/modprobe.d
	echo "install xt_connlimit /bin/false" >"$NO_CL"
	mkns a
	for t in iptables ip6tables; do
		# shellcheck disable=SC2086  # the rule, split on purpose
		out=$(nsx "$a" $t-legacy $rule 2>&1) && fail "$t-legacy accepted a connlimit rule with no module"
		has "$out" "Warning: Extension connlimit revision 0 not supported, missing kernel module?"
		has "$out" "$t: No chain/target/match by that name."
		# shellcheck disable=SC2086
		out=$(nsx "$a" $t-nft $rule 2>&1) && fail "$t-nft accepted a connlimit rule with no module"
		has "$out" "$($t-nft -V):  RULE_APPEND failed (No such file or directory): rule in chain INPUT"
	done
	(
		use_our_ext
		for be in legacy nft; do
			# shellcheck disable=SC2086
			out=$(nsx "$a" iptables-$be $rule 2>&1) && fail "iptables-$be (our extension) accepted a connlimit rule with no module"
			has "$out" "Warning: Extension connlimit is not supported, missing kernel module?"
			has "$out" "$(iptables-$be -V): Couldn't load match \`connlimit':No such file or directory"
		done
	)
	rm -f "$NO_CL"
	[ "$(module_is)" = none ] || fail "xt_connlimit loaded although modprobe could not ($(module_is))"
	modprobe nf_conncount
	insmod "$(find "$kdir/kernel" -name 'xt_connlimit.ko*' | head -n 1)"
	[ "$(module_is)" = intree ] || fail "insmod of the kernel's own module loaded $(module_is)"
	[ "$(grep -c '^connlimit$' /proc/net/ip_tables_matches)" = 1 ] ||
		fail "the kernel's own module: /proc/net/ip_tables_matches lists connlimit $(grep -c '^connlimit$' /proc/net/ip_tables_matches) times, expected 1"
	out=$(insmod "$kdir/updates/xt_connlimit.ko" 2>&1) && fail "insmod of ours over the kernel's own succeeded"
	has "$out" "insmod: ERROR: could not insert module $kdir/updates/xt_connlimit.ko: File exists"
	out=$(modprobe xt_connlimit 2>&1) || fail "modprobe with the kernel's own loaded failed: $out"
	[ -z "$out" ] || fail "modprobe with the kernel's own loaded said: $out"
	[ "$(module_is)" = intree ] || fail "modprobe replaced the loaded module ($(module_is))"
	rmmod xt_connlimit
}

case_module() {
	rm -f "$NO_CL"
	modprobe xt_connlimit || fail "modprobe xt_connlimit failed"
	[ "$(module_is)" = ours ] || fail "modprobe loaded the $(module_is) xt_connlimit, not ours"
	[ -s "$EXAMPLES" ] || fail "no examples given ($EXAMPLES)"
}

# with ours: revisions 1 and 2
case_matches() {
	[ "$(grep -c '^connlimit$' /proc/net/ip_tables_matches)" = 2 ] ||
		fail "ours: /proc/net/ip_tables_matches lists connlimit $(grep -c '^connlimit$' /proc/net/ip_tables_matches) times, expected 2"
}

case_example() { # I
	local a b out
	use_our_ext
	mkns a b
	mkdir -p "$T/run"
	out=$(docs_run_rules "$1" "$a" "$b" "$T/run") || fail "$out"
	[ -z "$out" ] || log "$out"
}

case_unload() {
	busywait 60000 eval '[ "$(module_refcnt)" -eq 0 ]' ||
		fail "xt_connlimit refcnt $(module_refcnt) after the examples"
	busywait 10000 rmmod xt_connlimit 2>/dev/null || fail "rmmod xt_connlimit refused"
}

run_case "!messages" "docs: the messages TROUBLESHOOTING quotes (no connlimit module; insmod over the kernel's)" case_messages
run_case "!module" "docs: our module loads, examples present" case_module
run_case "!matches" "docs: /proc/net/ip_tables_matches lists our two revisions" case_matches
docs_read "$EXAMPLES"
for BACKEND in $BACKENDS; do
	export BACKEND
	for i in "${!EX_WHERE[@]}"; do
		case ${EX_KIND[i]}:$BACKEND:${DOCS_GUEST_RULES:-0} in
		rules:*:0 | rules:legacy:*) ;;
		rules:* | ours:*)
			run_case "docs/$BACKEND/${EX_WHERE[i]}" \
				"docs $BACKEND: ${EX_WHERE[i]} (${EX_KIND[i]}, our module)" case_example "$i"
			;;
		esac
	done
done
run_case "!unload" "docs: no rule left, module unloads" case_unload
# shellcheck disable=SC2154  # lib.sh counts the failed cases
[ "$n_fail" -eq 0 ]
