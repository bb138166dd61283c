#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest suite of tests/docs/run.sh: the documentation's examples of kinds
# "rules" and "ours" (docs-examples.txt, from tests/docs/extract.sh) with
# our module, for each backend, each in a fresh namespace: every command
# succeeds, -C finds every rule added, each family's rules round-trip
# through save and restore (examples-lib.sh: docs_run_rules).  Then the
# module must unload cleanly.

# shellcheck source=../guest/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=examples-lib.sh
. "$(dirname "$0")/examples-lib.sh"

BACKENDS=${TESTBED_BACKENDS:-legacy nft}
EXAMPLES=$(dirname "$0")/docs-examples.txt

docs_in_ns() {
	local ns=$1
	shift
	nsx "$ns" "$@"
}

case_module() {
	modprobe xt_connlimit || fail "modprobe xt_connlimit failed"
	[ "$(module_is)" = ours ] || fail "modprobe loaded the $(module_is) xt_connlimit, not ours"
	[ -s "$EXAMPLES" ] || fail "no examples given ($EXAMPLES)"
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
	busywait 20000 eval '[ "$(module_refcnt)" -eq 0 ]' ||
		fail "xt_connlimit refcnt $(module_refcnt) after the examples"
	busywait 10000 rmmod xt_connlimit 2>/dev/null || fail "rmmod xt_connlimit refused"
}

run_case "!module" "docs: our module loads, examples present" case_module
docs_read "$EXAMPLES"
for BACKEND in $BACKENDS; do
	export BACKEND
	for i in "${!EX_WHERE[@]}"; do
		case ${EX_KIND[i]} in
		rules | ours)
			run_case "docs/$BACKEND/${EX_WHERE[i]}" \
				"docs $BACKEND: ${EX_WHERE[i]} (${EX_KIND[i]}, our module)" case_example "$i"
			;;
		esac
	done
done
run_case "!unload" "docs: no rule left, module unloads" case_unload
[ "$n_fail" -eq 0 ]
