#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [--no-guest]: every example of README.md and the man page
# (man/xt_connlimit.8.in, userspace/libxt_connlimit.man) is run, taken
# from the documents themselves (tests/docs/extract.sh), so they cannot
# drift from the code.  TAP lines, one or more per example.
#
# The convention.  Every example is a block: a fenced block (```) in
# Markdown, a .nf/.fi (or .EX/.EE) block in roff.  Each has a marker
# right before it naming its KIND, then words that qualify it:
#
#   <!-- example: KIND [WORDS] -->          (Markdown, the line before ```)
#   .\" example: KIND [WORDS]               (roff, before .nf; only
#                                            requests such as .RS between)
#
# KIND says where and how the example runs:
#   rules   commands any connlimit runs (revision 1): on the host, whose
#           kernel has its own connlimit, in a fresh network namespace
#           (ip netns), with the legacy and the nft backend, iptables
#           loading our extension; with DOCS_GUEST_RULES=1 (make stress)
#           also in the qemu guest with our module (nft backend)
#   ours    commands that need our module (--connlimit-name, revision 2,
#           /proc/net/xt_connlimit): in the guest only, both backends
#   server  a recipe's server side, on the host (nft backend): a namespace
#           holding 198.18.0.1/15 and 2001:db8::1/48 with an HTTP server
#           (busybox httpd) on port 80 serving / (a short page) and
#           /cgi-bin/slow (a page that takes 3 s, so its connection stays
#           open meanwhile); a new server block starts a new server, unless it
#           has the word "same" (then it runs where the last one did)
#   client  a recipe's client side, on the host: a namespace holding
#           198.18.1.1-3 and 198.18.2.1 (/15), 2001:db8:0:1::1-3 and
#           2001:db8:0:2::1 (/48), joined to the last server by a veth
#   output  sample output, nothing to run (reported as a skip)
#   none    not run: every command in it must be on tests/docs/skip.list
#           with the reason why it cannot run in a test (installing
#           packages, the machine's own kernel), each skip printed
#
# What must hold, for rules, ours, server and client:
#   - every command exits 0 (the block runs as one bash script with
#     errexit and pipefail; the first command that fails is named);
#   - every rule the block adds (iptables/ip6tables -A or -I) is found by
#     -C with the same arguments, in the namespace it went into (rules,
#     ours, server);
#   - each family's rules round-trip: *-save, restored into another fresh
#     namespace, saves back the same (rules, ours);
#   - with the word "transcript", the lines after a "# " or "$ " prompt
#     are the commands and the other lines their output, which must be
#     what the commands print, line for line in any order (background
#     jobs print when they do), trailing blanks ignored -- unless the word
#     "sample-output" says the output depends on traffic the example does
#     not make (then only the commands are run).
# Placeholders: there are none; examples use the documentation addresses
# above, which the test's namespaces hold.  "watch CMD" runs CMD once.
#
# A block without a marker, a marker without a block, an unknown kind,
# and a command outside any block (extract.sh) fail, naming file and line:
# a new example cannot go untested without anyone noticing.
#
# The guest part is one boot of the first installed kernel (DOCS_KVER to
# choose), variant ours, through tests/qemu/run-suite.sh with
# tests/docs/guest.sh, which also checks the messages the man page's
# TROUBLESHOOTING quotes; --no-guest leaves it out.  Needs root,
# userspace/libxt_connlimit.so (built here) and, for the guest,
# build/<kver>/kernel/xt_connlimit.ko (make modules-all).
# The body is one compound command, so bash parses all of it before running
# any: editing this file while a run is under way cannot derail that run.
{
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$ROOT/build/docs
DOCS=(README.md man/xt_connlimit.8.in userspace/libxt_connlimit.man)
# DOCS_FILES (paths from the top of the tree) checks other documents instead
[ -n "${DOCS_FILES:-}" ] && read -r -a DOCS <<<"$DOCS_FILES"
SKIPLIST=$HERE/skip.list
guest=1
[ "${1:-}" = --no-guest ] && guest=0

# shellcheck source=tests/host/lib.sh
. "$ROOT/tests/host/lib.sh"
# shellcheck source=tests/docs/examples-lib.sh
. "$HERE/examples-lib.sh"

docs_in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

NSLIST=()
mkns() { # VAR...: a fresh namespace docs-VAR-<random> in each VAR
	local v ns
	for v in "$@"; do
		ns=docs-$v-$(printf '%04x%04x' $RANDOM $RANDOM)
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
		NSLIST+=("$ns")
		printf -v "$v" %s "$ns"
	done
}

# rmns: kill what runs in the namespaces made so far, delete them.
rmns() {
	local ns pid
	for ns in "${NSLIST[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	done
	for ns in "${NSLIST[@]}"; do ip netns del "$ns" 2>/dev/null; done
	NSLIST=()
}
trap rmns EXIT

# skip_reason CMD: the reason skip.list gives for CMD, or nothing.
skip_reason() {
	local pat reason
	while IFS=$'\t' read -r pat reason; do
		case $pat in '#'* | '') continue ;; esac
		# shellcheck disable=SC2053  # a glob on purpose
		if [[ $1 == $pat ]]; then
			echo "$reason"
			return
		fi
	done <"$SKIPLIST"
}

# ---- host cases -------------------------------------------------------

# (tap_case runs it in a subshell: it deletes its own namespaces)
case_rules_host() { # I
	local a b rc
	mkns a b || { rmns; return 1; }
	docs_run_rules "$1" "$a" "$b" "$RUN"
	rc=$?
	rmns
	return $rc
}

# The recipe pair of namespaces: SRV (server) and CLI (client).
SRV='' CLI=''
recipe_start() {
	local a
	rmns
	mkns SRV CLI || return 1
	ip link add c0 netns "$CLI" type veth peer name s0 netns "$SRV"
	{
		echo "addr add 198.18.0.1/15 dev s0"
		echo "addr add 2001:db8::1/48 dev s0 nodad"
		echo "link set s0 up"
	} | ip -n "$SRV" -b -
	{
		for a in 198.18.1.1 198.18.1.2 198.18.1.3 198.18.2.1; do
			echo "addr add $a/15 dev c0"
		done
		for a in 2001:db8:0:1::1 2001:db8:0:1::2 2001:db8:0:1::3 2001:db8:0:2::1; do
			echo "addr add $a/48 dev c0 nodad"
		done
		echo "link set c0 up"
	} | ip -n "$CLI" -b -
	mkdir -p "$RUN/www"
	echo ok >"$RUN/www/index.html"
	mkdir -p "$RUN/www/cgi-bin"
	printf '#!/bin/sh\nsleep 3\nprintf "Content-Type: text/plain\\r\\n\\r\\nok\\n"\n' \
		>"$RUN/www/cgi-bin/slow"
	chmod +x "$RUN/www/cgi-bin/slow"
	ip netns exec "$SRV" busybox httpd -f -p 80 -h "$RUN/www" &
	disown $!
	local n
	for n in $(seq 50); do
		ip netns exec "$CLI" curl -s -o /dev/null http://198.18.0.1/ && return 0
		sleep 0.1
	done
	echo "the recipe's HTTP server (busybox httpd) does not answer"
	return 1
}

# case_recipe I NS_VAR: run example I in the server's or the client's
# namespace; a server block's rules must be found by -C.
case_recipe() {
	local i=$1 ns=${!2} d=$RUN got want
	[ -n "$ns" ] || { echo "a client example with no server example before it"; return 1; }
	BACKEND=nft docs_exec "$ns" "$i" "$d" || return 1
	BACKEND=nft docs_in_ns "$ns" bash -c "$(declare -f docs_check_rules); BACKEND=nft docs_check_rules $d/rec" ||
		return 1
	if docs_has_word "$i" transcript && ! docs_has_word "$i" sample-output; then
		want=$(docs_expected "$i")
		got=$(docs_output "$d/out")
		docs_same_output "$want" "$got" || return 1
	fi
}

# ---- the guest ----------------------------------------------------------

run_guest() { # EXAMPLES
	local kver=${DOCS_KVER:-} v
	if [ -z "$kver" ]; then
		for v in /boot/vmlinuz-*; do
			kver=${v#/boot/vmlinuz-}
			[ -d "/lib/modules/$kver" ] && break
		done
	fi
	cp "$1" "$RUN/docs-examples.txt"
	TESTBED_SUITE=$HERE/guest.sh TESTBED_NAME=docs TESTBED_TIMEOUT=600 \
	TESTBED_GUEST_ARGS="-a $HERE/examples-lib.sh -a $RUN/docs-examples.txt -e DOCS_GUEST_RULES=${DOCS_GUEST_RULES:-0}" \
		"$ROOT/tests/qemu/run-suite.sh" "$kver" ours
}

# case_extractor: extract.sh sees what it must in a small document of
# each format: a marked block (with its words), an unmarked one, a marker
# with no block, a command outside any block.
case_extractor() {
	local d=$RUN/selftest got
	mkdir -p "$d"
	printf '%s\n' '<!-- example: rules -->' '```' 'iptables -L' '```' '' '```' 'x' '```' \
		'<!-- example: ours -->' 'text' '' '    iptables -A INPUT -j DROP' >"$d/t.md"
	printf '%s\n' '.SH X' '.\" example: client transcript' '.RS' '.nf' '$ nc \-v 198.18.0.1 80' '.fi' \
		'.nf' 'y' '.fi' '.\" example: rules' 'text' '\fBiptables \-L\fP' >"$d/t.8"
	got=$(cd "$d" && "$HERE/extract.sh" t.md t.8 | grep '^@@example' | cut -d' ' -f2-)
	same "extract.sh records" "t.md 2 rules
t.md 6 -
t.md 9 orphan
t.md 12 unfenced
t.8 4 client transcript
t.8 7 -
t.8 10 orphan
t.8 12 unfenced" "$got" || return 1
	got=$(cd "$d" && "$HERE/extract.sh" t.8 | sed -n 2p)
	same "roff escapes undone" '$ nc -v 198.18.0.1 80' "$got"
}

# ---- main ---------------------------------------------------------------

main() {
	local ex i where kind cmd reason n_guest=0 be l rc=0
	mkdir -p "$WORK"
	# this run's scratch files: runs of two worktrees' builds, or two at
	# once, must not share them
	RUN=$(mktemp -d "$WORK/run.XXXXXX")
	trap 'rmns; rm -rf "$RUN"' EXIT
	ex=$RUN/examples.txt
	export XTABLES_LOCKFILE=$WORK/xtables.lock
	(cd "$ROOT" && "$HERE/extract.sh" "${DOCS[@]}") >"$ex" || {
		tap_result 1 "extract the examples" "tests/docs/extract.sh failed"
		tap_finish
		return 1
	}
	if ! make -s -C "$ROOT/userspace" >"$WORK/build.log" 2>&1; then
		tap_result 1 "build the extension" "$(tail -n 20 "$WORK/build.log")"
		tap_finish
		return 1
	fi
	SYS_XTLIBDIR=$(pkg-config --variable=xtlibdir xtables)
	mkdir -p "$RUN/ours"
	cp "$ROOT/userspace/libxt_connlimit.so" "$RUN/ours/"
	export XTABLES_LIBDIR=$RUN/ours:$SYS_XTLIBDIR

	tap_case "extract.sh finds marked, unmarked and stray examples" case_extractor
	docs_read "$ex"
	echo "# ${#EX_WHERE[@]} examples in ${DOCS[*]}"
	for i in "${!EX_WHERE[@]}"; do
		where=${EX_WHERE[i]} kind=${EX_KIND[i]}
		case $kind in
		-)
			tap_result 1 "$where: example has no marker" \
				"add '<!-- example: KIND -->' (Markdown) or '.\\\" example: KIND' (roff) right before it: see tests/docs/run.sh"
			;;
		orphan)
			tap_result 1 "$where: example marker" "the marker is not followed by a block" ;;
		unfenced)
			tap_result 1 "$where: command outside an example block" \
				"'${EX_TEXT[i]%$'\n'}': put it in a marked block (tests/docs/run.sh)" ;;
		unterminated)
			tap_result 1 "$where: example block" "the block is never closed" ;;
		output)
			tap_skip "$where: sample output" "nothing to run" ;;
		none)
			while IFS= read -r cmd; do
				l=${cmd%%#*}
				l=${l%"${l##*[![:space:]]}"}
				[ -n "$l" ] || continue
				reason=$(skip_reason "$l")
				if [ -n "$reason" ]; then
					tap_skip "$where: $l" "$reason"
				else
					tap_result 1 "$where: $l" "marked none but not on tests/docs/skip.list: run it (another kind) or add it there with the reason"
				fi
			done < <(docs_commands "$i")
			;;
		rules)
			n_guest=$((n_guest + 1))
			for be in legacy nft; do
				BACKEND=$be tap_case "$where: rules, host $be (in-kernel connlimit)" \
					case_rules_host "$i"
				rmns
			done
			;;
		ours)
			n_guest=$((n_guest + 1)) ;;
		server)
			if docs_has_word "$i" same && [ -n "$SRV" ]; then
				tap_case "$where: recipe server, same server (host, in-kernel connlimit)" \
					case_recipe "$i" SRV
			elif recipe_start >"$RUN/recipe.log" 2>&1; then
				tap_case "$where: recipe server (host, in-kernel connlimit)" \
					case_recipe "$i" SRV
			else
				tap_result 1 "$where: recipe server (host, in-kernel connlimit)" \
					"$(cat "$RUN/recipe.log")"
			fi
			;;
		client)
			tap_case "$where: recipe client (host, in-kernel connlimit)" \
				case_recipe "$i" CLI ;;
		*)
			tap_result 1 "$where: example kind '$kind'" "unknown kind (tests/docs/run.sh lists them)" ;;
		esac
	done
	rmns
	tap_finish || rc=1
	if [ "$guest" = 1 ] && [ "$n_guest" -gt 0 ]; then
		run_guest "$ex" || rc=1
	fi
	return $rc
}

main
exit
}
