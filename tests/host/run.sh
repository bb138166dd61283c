#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host tests for libxt_connlimit.so: the real iptables, ip6tables, *-save,
# *-restore and *-translate binaries of this machine, legacy and nft
# backends, load our extension through XTABLES_LIBDIR; every case that
# touches the kernel runs in a fresh network namespace (unshare -n) of the
# host kernel.  No qemu.
#
#   tests/host/run.sh          (as root; builds userspace/ if needed)
#
# Prints one TAP line per case ("ok N - ...", or "FAIL: ..." then
# "not ok N - ..."; skips as "ok N - ... # SKIP reason") and exits 0 when
# nothing failed.  The cases:
#   - every upstream test case (cases/upstream-ipv{4,6}.t, cases/xlate.txlate),
#     error texts asserted exactly;
#   - our own accepted rules (cases/own-ipv{4,6}.t) and refused input
#     (cases/bad-input.cases), on legacy, nft and iptables-translate;
#   - -D by specification, help text, -L printing, save -> restore -> save
#     of whole rulesets (cases/ruleset-ipv{4,6}.*), restore-translate;
#   - byte-identical listings and saves against Debian's stock extension,
#     fetched with apt-get download into build/host-tests/stock/, and rules
#     moving between the two extensions in both directions;
#   - revision 2 (--connlimit-name), which the host kernel lacks: the
#     name dropped with a warning on legacy and nft (-A, -C, -D, restore;
#     a bad name still refused), and through
#     the translate tools (which always take revision 2) and cl-harness
#     (userspace/tests/cl-harness.c, libxtables with no kernel) the name
#     checks (cases/name-bad.cases), translations (cases/name-xlate.txlate,
#     cases/ruleset-name-ipv{4,6}.*, loaded into nft when it is installed),
#     print/save/xlate and round trips (cases/harness.cases), and every
#     accepted and refused revision-1 case again as revision 2.
# Cases that need the kernel skip, with the reason, when unshare -n or the
# kernel's netfilter is unavailable (or HOST_TESTS_NO_KERNEL is set, to try
# that path); translate cases still run.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CASES=$HERE/cases
WORK=$ROOT/build/host-tests

# shellcheck source=tests/host/lib.sh
. "$HERE/lib.sh"

BACKENDS="legacy nft"
FAMILIES="4 6"

# ---- setup ----------------------------------------------------------------

# find_sys_xtlibdir: the system extension directory, which must stay on
# XTABLES_LIBDIR for libxt_standard.so and the other extensions.
find_sys_xtlibdir() {
	local d
	d=$(pkg-config --variable=xtlibdir xtables 2>/dev/null)
	if [ -z "$d" ] || [ ! -e "$d/libxt_standard.so" ]; then
		for d in /usr/lib/*/xtables /usr/lib/xtables /usr/lib64/xtables; do
			[ -e "$d/libxt_standard.so" ] && break
		done
	fi
	[ -e "$d/libxt_standard.so" ] && echo "$d"
}

# build_ours: build userspace/ (make is a no-op when up to date) and stage
# the .so alone in its own directory.  cl-harness is built with it.
build_ours() {
	local log=$WORK/build.log
	if ! make -C "$ROOT/userspace" >"$log" 2>&1 ||
	   [ ! -f "$ROOT/userspace/libxt_connlimit.so" ] ||
	   [ ! -x "$ROOT/userspace/cl-harness" ]; then
		echo "make -C userspace failed:"
		tail -n 20 "$log"
		return 1
	fi
	rm -rf "$OURS_DIR"
	mkdir -p "$OURS_DIR"
	cp "$ROOT/userspace/libxt_connlimit.so" "$OURS_DIR/"
	cp "$ROOT/userspace/cl-harness" "$HARNESS"
}

# fetch_stock: Debian's own libxt_connlimit.so, taken from the iptables
# package (not from the file system, which our package may divert), cached
# in build/host-tests/stock/.  Sets STOCK_SKIP when that is impossible.
fetch_stock() {
	local dir=$WORK/stock ver so
	STOCK_SKIP=
	[ -f "$STOCK_DIR/libxt_connlimit.so" ] && return 0
	if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
		STOCK_SKIP="no apt-get/dpkg-deb to fetch the stock extension"
		return 1
	fi
	rm -rf "$dir"
	mkdir -p "$dir/deb" "$dir/root"
	ver=$(dpkg-query -W -f='${Version}' iptables 2>/dev/null)
	if ! (cd "$dir/deb" &&
	      { timeout 120 apt-get download -q "iptables=$ver" ||
		timeout 120 apt-get download -q iptables; }) \
	      >"$dir/download.log" 2>&1; then
		STOCK_SKIP="apt-get download iptables failed (build/host-tests/stock/download.log)"
		return 1
	fi
	dpkg-deb -x "$dir"/deb/iptables_*.deb "$dir/root" 2>>"$dir/download.log"
	so=$(find "$dir/root" -path '*/xtables/libxt_connlimit.so' | head -n1)
	if [ -z "$so" ]; then
		STOCK_SKIP="the iptables package holds no libxt_connlimit.so"
		return 1
	fi
	mkdir -p "$STOCK_DIR"
	cp "$so" "$STOCK_DIR/"
	basename "$dir"/deb/iptables_*.deb >"$dir/PACKAGE"
}

# probe_kernel BACKEND: empty if kernel cases can run on BACKEND, else why not.
probe_kernel() {
	if [ -n "${HOST_TESTS_NO_KERNEL-}" ]; then
		echo "HOST_TESTS_NO_KERNEL is set"
	elif [ "$(id -u)" -ne 0 ]; then
		echo "needs root for unshare -n"
	elif ! unshare -n true 2>/dev/null; then
		echo "cannot create a network namespace (unshare -n failed)"
	elif ! XTABLES_LIBDIR=$SYS_XTLIBDIR unshare -n \
			"xtables-$1-multi" iptables -L -n >/dev/null 2>&1; then
		echo "host kernel lacks netfilter for the $1 backend (unshare -n iptables-$1 -L failed)"
	fi
}

# ---- reading case files -----------------------------------------------------

# t_lines FILE: the test lines of a .t file, chain lines and comments dropped.
t_lines() {
	grep -v -e '^#' -e '^:' -e '^[[:space:]]*$' "$1"
}

# t_chains FILE: the chains of the file's ":A,B,C" line, space-separated.
t_chains() {
	local l
	l=$(grep -m1 '^:' "$1")
	l=${l#:}
	echo "${l//,/ }"
}

# ok_rules FAMILY: every rule the .t files of FAMILY expect to be accepted.
ok_rules() {
	local f rule expected result
	for f in "$CASES/upstream-ipv$1.t" "$CASES/own-ipv$1.t"; do
		while IFS=';' read -r rule expected result _; do
			[ "$result" = OK ] && printf '%s\n' "$rule"
		done < <(t_lines "$f")
	done
}

# ---- case bodies (run in child shells, so they get their inputs as args) ----

# case_accept EXT BACKEND FAMILY CHAINS RULE EXPECTED: in each chain, -A
# RULE lists as "-A CHAIN EXPECTED", and -D RULE removes it again.
case_accept() {
	local ext=$1 be=$2 fam=$3 chains=$4 rule=$5 expected=$6 chain out
	local tool
	local -a words
	tool=$(fam_tool "$fam")
	eval "words=($rule)"
	for chain in $chains; do
		out=$(xt "$ext" "$be" "$tool" -A "$chain" "${words[@]}" 2>&1) ||
			{ echo "-A $chain $rule refused: ${out%%$'\n'*}"; return 1; }
		same "-S $chain" "-P $chain ACCEPT"$'\n'"-A $chain $expected" \
			"$(chain_rules "$ext" "$be" "$fam" "$chain" | trimmed)" || return 1
		out=$(xt "$ext" "$be" "$tool" -D "$chain" "${words[@]}" 2>&1) ||
			{ echo "-D $chain $rule found no rule: ${out%%$'\n'*}"; return 1; }
		same "-S $chain after -D" "-P $chain ACCEPT" \
			"$(chain_rules "$ext" "$be" "$fam" "$chain")" || return 1
	done
}

# case_refuse EXT BACKEND TOOL FAMILY RULE ERROR: "TOOL -A INPUT RULE" exits
# 2 with exactly ERROR after the tool's prefix.  (Kernel backends run it in
# a namespace of its own, so even a rule wrongly accepted goes nowhere.)
case_refuse() {
	local ext=$1 be=$2 tool=$3 fam=$4 rule=$5 error=$6
	local -a words
	eval "words=($rule)"
	expect_error "$(err_prefix "$be" "$tool")$error" \
		xt "$ext" "$be" "$tool" -A INPUT "${words[@]}"
}

# case_print BACKEND FAMILY RULE WANT: the rule's "-L -n" line ends in WANT.
case_print() {
	local be=$1 fam=$2 rule=$3 want=$4 out line
	local -a words
	eval "words=($rule)"
	out=$(xt ours "$be" "$(fam_tool "$fam")" -A INPUT "${words[@]}" 2>&1) ||
		{ echo "-A INPUT $rule refused: ${out%%$'\n'*}"; return 1; }
	line=$(xt ours "$be" "$(fam_tool "$fam")" -L INPUT -n | sed -n 3p)
	line=${line%"${line##*[![:space:]]}"}
	same "-L -n rule line ending" "$want" "${line: -${#want}}"
}

# case_help BACKEND FAMILY: "-m connlimit -h" shows our help.
case_help() {
	local be=$1 fam=$2 out opt
	out=$(xt ours "$be" "$(fam_tool "$fam")" -m connlimit -h 2>&1) ||
		{ echo "-m connlimit -h exited $?: ${out%%$'\n'*}"; return 1; }
	printf '%s\n' "$out" | grep -qx 'connlimit match options:' ||
		{ echo "no 'connlimit match options:' line in the help"; return 1; }
	for opt in upto above mask saddr daddr name; do
		printf '%s\n' "$out" | grep -q -- "^ .*--connlimit-$opt " ||
			{ echo "help does not describe --connlimit-$opt"; return 1; }
	done
}

# case_roundtrip BACKEND FAMILY: restore a whole ruleset, save it (must be
# the expected canonical form), restore that, save again (unchanged), then
# delete every rule by the specification save printed.
case_roundtrip() {
	local be=$1 fam=$2 s1 s2 line out
	local -a words
	xt ours "$be" "$(fam_tool "$fam" -restore)" <"$CASES/ruleset-ipv$fam.rules" ||
		{ echo "restoring ruleset-ipv$fam.rules failed"; return 1; }
	s1=$(save_rules ours "$be" "$fam")
	same "save of ruleset-ipv$fam.rules" "$(cat "$CASES/ruleset-ipv$fam.saved")" \
		"$(trimmed <<<"$s1")" || return 1
	printf '%s\n' "$s1" | xt ours "$be" "$(fam_tool "$fam" -restore)" ||
		{ echo "restoring the saved ruleset failed"; return 1; }
	s2=$(save_rules ours "$be" "$fam")
	same "save after restoring the save" "$s1" "$s2" || return 1
	while read -r line; do
		eval "words=(${line#-A })"
		out=$(xt ours "$be" "$(fam_tool "$fam")" -D "${words[@]}" 2>&1) ||
			{ echo "-D ${line#-A } found no rule: ${out%%$'\n'*}"; return 1; }
	done < <(printf '%s\n' "$s2" | grep '^-A ')
	same "rules left after deleting each saved rule" "" \
		"$(save_rules ours "$be" "$fam" | grep '^-A ')"
}

# case_txlate CMD WANT: the command of a .txlate block prints exactly its
# lines.  Where this iptables has no translations (XLATE=no) it prints the
# rule as an nft comment instead, as the stock extension does.
case_txlate() {
	local cmd=$1 want=$2 got stock
	local -a words
	eval "words=($cmd)"
	got=$(xt ours nft "${words[@]}" 2>&1) ||
		{ echo "'$cmd' exited $?: ${got%%$'\n'*}"; return 1; }
	[ "$XLATE" = no ] || { same "translation" "$want" "$got"; return; }
	# (the comment is iptables' own, which drops a "!" of the match)
	case $got in
	"nft # ${words[1]} "*) ;;
	*) echo "not the rule as an nft comment (iptables $XT_VERSION translates no connlimit match): '$got'"
	   return 1 ;;
	esac
	case $cmd in *--connlimit-name*) return 0 ;; esac
	[ -z "$STOCK_SKIP" ] || return 0
	stock=$(xt stock nft "${words[@]}" 2>&1)
	same "output (stock vs ours)" "$stock" "$got"
}

# case_restore_translate FAMILY: each connlimit match gets its own set,
# numbered in rule order, of the family's address type.  (Two connlimit
# matches in one rule put both sets on one "add set" line; that is
# iptables-translate's doing, the stock extension gets the same.)
case_restore_translate() {
	local fam=$1 got want sets i
	got=$(xt ours nft "$(fam_tool "$fam" -restore-translate)" \
		-f "$CASES/ruleset-ipv$fam.rules" 2>&1) ||
		{ echo "restore-translate exited $?: ${got%%$'\n'*}"; return 1; }
	want=$(grep -v '^#' "$CASES/ruleset-ipv$fam.rules" | grep -o -- '-m connlimit' | wc -l)
	[ "$want" -ge 2 ] || { echo "ruleset-ipv$fam.rules has only $want connlimit matches"; return 1; }
	if [ "$XLATE" = no ]; then
		[ -n "$STOCK_SKIP" ] || same "restore-translate (stock vs ours; dates aside)" \
			"$(xt stock nft "$(fam_tool "$fam" -restore-translate)" \
				-f "$CASES/ruleset-ipv$fam.rules" 2>&1 | grep -v '^# [TC]')" \
			"$(grep -v '^# [TC]' <<<"$got")" || return 1
		same "connlimit rules left as comments" "$want" \
			"$(grep '^# .*-m connlimit' <<<"$got" | grep -o -- '-m connlimit' | wc -l)"
		return
	fi
	sets=$(printf '%s\n' "$got" | grep '^add set ' |
		grep -o 'connlimit[0-9]* { type [^;]*;')
	same "sets declared" \
		"$(for ((i = 0; i < want; i++)); do
			echo "connlimit$i { type ipv${fam}_addr;"; done)" \
		"$sets"
}

# listing EXT BACKEND FAMILY: everything iptables shows of INPUT.
listing() {
	local tool
	tool=$(fam_tool "$3")
	echo "== -S"; xt "$1" "$2" "$tool" -S INPUT
	echo "== -L -n"; xt "$1" "$2" "$tool" -L INPUT -n
	echo "== -L -n -v -x"; xt "$1" "$2" "$tool" -L INPUT -n -v -x
	echo "== save"; save_rules "$1" "$2" "$3"
}

# add_all EXT BACKEND FAMILY: -A INPUT each rule of ok_rules.
add_all() {
	local rule out
	local -a words
	while read -r rule; do
		eval "words=($rule)"
		out=$(xt "$1" "$2" "$(fam_tool "$3")" -A INPUT "${words[@]}" 2>&1) ||
			{ echo "$1: -A INPUT $rule refused: ${out%%$'\n'*}"; return 1; }
	done < <(ok_rules "$3")
}

# del_all EXT BACKEND FAMILY: -D INPUT each rule of ok_rules, by specification.
del_all() {
	local rule out
	local -a words
	while read -r rule; do
		eval "words=($rule)"
		out=$(xt "$1" "$2" "$(fam_tool "$3")" -D INPUT "${words[@]}" 2>&1) ||
			{ echo "$1: -D INPUT $rule found no rule: ${out%%$'\n'*}"; return 1; }
	done < <(ok_rules "$3")
	same "-S INPUT after deleting every rule" "-P INPUT ACCEPT" \
		"$(chain_rules "$1" "$2" "$3" INPUT)"
}

# case_cmp_listing BACKEND FAMILY: the same rules, added and listed by the
# stock extension and by ours, list and save byte for byte the same.
case_cmp_listing() {
	local be=$1 fam=$2 stock ours
	add_all stock "$be" "$fam" || return 1
	stock=$(listing stock "$be" "$fam" 2>&1)
	xt stock "$be" "$(fam_tool "$fam")" -F INPUT
	add_all ours "$be" "$fam" || return 1
	ours=$(listing ours "$be" "$fam" 2>&1)
	same "listings (stock vs ours)" "$stock" "$ours"
}

# case_cmp_cross BACKEND FAMILY: rules the stock extension added list the
# same through ours and are deleted by ours by specification; rules ours
# added are deleted by the stock extension.  Deletion compares the stored
# match data, so this proves both build identical bytes.
case_cmp_cross() {
	local be=$1 fam=$2 stock ours
	add_all stock "$be" "$fam" || return 1
	stock=$(listing stock "$be" "$fam" 2>&1)
	ours=$(listing ours "$be" "$fam" 2>&1)
	same "listings of stock-added rules (stock vs ours)" "$stock" "$ours" ||
		return 1
	del_all ours "$be" "$fam" || return 1
	add_all ours "$be" "$fam" || return 1
	del_all stock "$be" "$fam"
}

# case_cmp_ruleset BACKEND FAMILY: a ruleset saved with either extension
# restores with the other and saves identically.
case_cmp_ruleset() {
	local be=$1 fam=$2 a b s1 s2 restore
	restore=$(fam_tool "$fam" -restore)
	for a in stock ours; do
		b=ours; [ $a = ours ] && b=stock
		xt "$a" "$be" "$restore" <"$CASES/ruleset-ipv$fam.rules" ||
			{ echo "$a: restoring ruleset-ipv$fam.rules failed"; return 1; }
		s1=$(save_rules "$a" "$be" "$fam")
		printf '%s\n' "$s1" | xt "$b" "$be" "$restore" ||
			{ echo "$b: restoring what $a saved failed"; return 1; }
		s2=$(save_rules "$b" "$be" "$fam")
		same "save by $a vs save by $b after restoring it" "$s1" "$s2" ||
			return 1
	done
}

# case_cmp_xlate FAMILY: translations of every accepted rule match the stock
# extension's, except that IPv6 sets are ipv6_addr where stock says ipv4_addr.
case_cmp_xlate() {
	local fam=$1 rule tool ours stock bad=0
	local -a words
	tool=$(fam_tool "$fam" -translate)
	while read -r rule; do
		eval "words=($rule)"
		stock=$(xt stock nft "$tool" -A INPUT "${words[@]}" 2>&1)
		ours=$(xt ours nft "$tool" -A INPUT "${words[@]}" 2>&1)
		[ "$fam" = 6 ] && stock=${stock//type ipv4_addr;/type ipv6_addr;}
		same "translation of '$rule'" "$stock" "$ours" || bad=1
	done < <(ok_rules "$fam")
	return $bad
}

# case_man: the man page fragment renders without groff warnings and
# documents every option.
case_man() {
	local man=$ROOT/userspace/libxt_connlimit.man out opt
	out=$( { printf '.TH TEST 8\n.SH connlimit\n'; cat "$man"; } |
		groff -man -Tutf8 -ww -z 2>&1)
	same "groff warnings" "" "$out" || return 1
	grep -q 'dropped: the running$' "$man" ||
		{ echo "man fragment does not show the missing-revision warning"; return 1; }
	for opt in upto above mask saddr daddr name; do
		grep -q -- "connlimit\\\\-$opt" "$man" ||
			{ echo "man fragment lacks --connlimit-$opt"; return 1; }
	done
}

# case_install: make install honours DESTDIR and puts both files in place.
case_install() {
	local dest=$WORK/destdir out xtlibdir
	rm -rf "$dest"
	out=$(make -C "$ROOT/userspace" install DESTDIR="$dest" 2>&1) ||
		{ echo "make install failed: $(printf '%s\n' "$out" | tail -n1)"; return 1; }
	xtlibdir=$(pkg-config --variable=xtlibdir xtables)
	[ -x "$dest$xtlibdir/libxt_connlimit.so" ] ||
		{ echo "no $xtlibdir/libxt_connlimit.so under DESTDIR"; return 1; }
	[ -n "$(find "$dest" -name libxt_connlimit.man)" ] ||
		{ echo "no libxt_connlimit.man under DESTDIR"; return 1; }
	same "files installed outside DESTDIR" "" \
		"$(find "$dest" -type f | grep -v -e "^$dest$xtlibdir/" -e '\.man$')"
}

# ---- revision 2 ---------------------------------------------------------------

# What revision 1 (a kernel without revision 2) says about a rule's name,
# NAME standing for it; exported for the cases that run in a namespace's
# shell.
export REV1_NAME_WARNING="Warning: connlimit: --connlimit-name NAME dropped: the running kernel's connlimit match lacks revision 2 (named tables), so this rule counts its connections on its own, with its limit."

# harness ARG...: cl-harness on our staged extension.
harness() {
	"$HARNESS" -l "$OURS_DIR/libxt_connlimit.so" "$@"
}

# match_words RULE: the words of RULE (eval'd) after its "-m connlimit",
# one a line, for cl-harness.
match_words() {
	local -a words
	eval "words=($1)"
	[ "${words[0]} ${words[1]}" = "-m connlimit" ] ||
		{ echo "case '$1' does not begin with -m connlimit" >&2; return 1; }
	[ ${#words[@]} -gt 2 ] && printf '%s\n' "${words[@]:2}"
	return 0
}

# harness_refuse REV FAMILY RULE ERROR: cl-harness, revision REV, refuses
# RULE (beginning "-m connlimit") with exit status 2 and exactly ERROR.
harness_refuse() {
	local rev=$1 fam=$2 rule=$3 error=$4
	local -a words
	mapfile -t words < <(match_words "$rule") || return 1
	expect_error "error: $error" harness -r "$rev" "-$fam" -- "${words[@]}"
}

# case_harness_refuse FAMILY RULE ERROR: revisions 1 and 2 alike.
case_harness_refuse() {
	harness_refuse 1 "$@" || { echo "(revision 1)"; return 1; }
	harness_refuse 2 "$@" || { echo "(revision 2)"; return 1; }
}

# case_harness_same FAMILY RULE EXPECTED: unnamed, revision 2 prints, saves
# and translates RULE byte for byte as revision 1, saves it as EXPECTED
# (the .t file's form), stores revision 1's 24 bytes first and zeros after.
case_harness_same() {
	local fam=$1 rule=$2 expected=$3 r1 r2 d1 d2 zeros
	local -a words
	mapfile -t words < <(match_words "$rule") || return 1
	r1=$(harness -r 1 "-$fam" -- "${words[@]}" 2>&1) ||
		{ echo "revision 1 refused it: ${r1%%$'\n'*}"; return 1; }
	r2=$(harness -r 2 "-$fam" -- "${words[@]}" 2>&1) ||
		{ echo "revision 2 refused it: ${r2%%$'\n'*}"; return 1; }
	same "revision 2 output vs revision 1" \
		"$(grep -v -e '^revision:' -e '^data:' <<<"$r1")" \
		"$(grep -v -e '^revision:' -e '^data:' <<<"$r2")" || return 1
	same "save" "save: ${expected#-m connlimit }" "$(grep '^save:' <<<"$r2")" ||
		return 1
	d1=$(sed -n 's/^data: //p' <<<"$r1")
	d2=$(sed -n 's/^data: //p' <<<"$r2")
	same "revision 1 data size" 64 "${#d1}" || return 1
	same "revision 2 data size" 144 "${#d2}" || return 1
	same "revision 2 data, revision 1's fields" "${d1:0:48}" "${d2:0:48}" ||
		return 1
	zeros=$(printf '0%.0s' {1..96})
	same "revision 2 data after revision 1's fields" "$zeros" "${d2:48}"
}

# case_harness ARGS WANT: a block of harness.cases.  Standard error comes
# first in the output (the harness writes its standard output at the end);
# a warning is not expected again from the save output's rule.
case_harness() {
	local args=$1 want=$2 got shown rc save fam=-4 w rev=2 prev=
	local -a words again
	eval "words=($args)"
	if [ "${want%%: *}" = error ]; then
		expect_error "$want" harness "${words[@]}"
		return
	fi
	got=$(harness "${words[@]}" 2>&1)
	rc=$?
	[ $rc -eq 0 ] || { echo "exit status $rc: ${got%%$'\n'*}"; return 1; }
	shown=$got
	# (no translation lines where libxtables has no translations)
	[ "$XLATE" = yes ] || want=$(grep -v '^xlate' <<<"$want")
	grep -q '^data:' <<<"$want" || shown=$(grep -v '^data:' <<<"$shown")
	grep -q '^revision:' <<<"$want" || shown=$(grep -v '^revision:' <<<"$shown")
	same "output" "$want" "$shown" || return 1
	for w in "${words[@]}"; do
		[ "$prev" = -r ] && rev=$w
		prev=$w
		case $w in
		-6) fam=-6 ;;
		-d) return 0 ;;	# match data in, nothing parsed to go round
		esac
	done
	save=$(sed -n 's/^save://p' <<<"$got")
	read -ra again <<<"$save"
	same "output when parsing its save output again" \
		"$(harness_unused_mask "$fam" "$(grep -v '^Warning: ' <<<"$got")")" \
		"$(harness_unused_mask "$fam" "$(harness -r "$rev" "$fam" -- "${again[@]}" 2>&1)")"
}

# harness_unused_mask -4|-6 OUTPUT: OUTPUT with the mask words an IPv4 rule
# does not use shown as "-": they are ff without --connlimit-mask and 00
# with it (as in iptables' own extension), so they differ after a save.
harness_unused_mask() {
	local line
	while IFS= read -r line; do
		case $1:$line in
		-4:data:*) line="${line:0:14}------------------------${line:38}" ;;
		esac
		printf '%s\n' "$line"
	done <<<"$2"
}

# case_harness_help FAMILY: revision 2's help has --connlimit-name and
# where its table is listed.
case_harness_help() {
	local out
	out=$(harness "-$1" -h 2>&1) || { echo "-h exited $?: ${out%%$'\n'*}"; return 1; }
	grep -q -- '^  --connlimit-name name  ' <<<"$out" ||
		{ echo "no --connlimit-name line in the revision-2 help"; return 1; }
	grep -q '/proc/net/xt_connlimit/NAME' <<<"$out" ||
		{ echo "the revision-2 help does not name /proc/net/xt_connlimit/NAME"; return 1; }
}

# case_untranslated TOOL RULE: TOOL prints the rule as an nft comment.
case_untranslated() {
	local tool=$1 rule=$2 got
	local -a words
	eval "words=($rule)"
	got=$(xt ours nft "$tool" -A INPUT "${words[@]}" 2>&1) ||
		{ echo "exit status $?: ${got%%$'\n'*}"; return 1; }
	got=${got%"${got##*[![:space:]]}"}
	same "translation" "nft # -A INPUT $rule" "$got"
}

# case_restore_translate_named FAMILY: ruleset-name-ipvN.rules translates
# to exactly ruleset-name-ipvN.nft.
case_restore_translate_named() {
	local fam=$1 got
	got=$(xt ours nft "$(fam_tool "$fam" -restore-translate)" \
		-f "$CASES/ruleset-name-ipv$fam.rules" 2>&1) ||
		{ echo "restore-translate exited $?: ${got%%$'\n'*}"; return 1; }
	if [ "$XLATE" = no ]; then
		same "connlimit rules left as comments" \
			"$(grep -c -- '^-A .*-m connlimit' "$CASES/ruleset-name-ipv$fam.rules")" \
			"$(grep -c '^# .*-m connlimit' <<<"$got")"
		return
	fi
	same "translation" "$(grep -v '^#' "$CASES/ruleset-name-ipv$fam.nft")" \
		"$(grep -v '^#' <<<"$got")"
}

# case_nft_load FAMILY: nft takes the translation of the named ruleset
# (and with it the set names) in a namespace of its own.
case_nft_load() {
	local fam=$1 out
	out=$(unshare -n nft -f "$CASES/ruleset-name-ipv$fam.nft" 2>&1) ||
		{ echo "nft -f ruleset-name-ipv$fam.nft failed: ${out%%$'\n'*}"
		  printf '%s\n' "$out" | tail -n +2; return 1; }
}

# case_rev1_drops_name BACKEND FAMILY RULE: on a kernel without revision
# 2 (the host's), -A of a rule named "web" succeeds with exactly one
# warning and adds the rule without its name (so iptables-save shows none);
# -C and -D with the name find that rule; a saved ruleset with two named
# rules restores with one warning per rule; a bad name is still refused,
# without a warning, and adds nothing.
case_rev1_drops_name() {
	local be=$1 fam=$2 rule=$3 tool restore err want got
	local -a words
	tool=$(fam_tool "$fam")
	restore=$(fam_tool "$fam" -restore)
	eval "words=($rule)"
	err=$(xt ours "$be" "$tool" -A INPUT "${words[@]}" 2>&1 >/dev/null) ||
		{ echo "-A INPUT $rule failed: ${err%%$'\n'*}"; return 1; }
	same "-A stderr" "${REV1_NAME_WARNING/NAME/web}" "$err" || return 1
	want="-A INPUT ${rule/ --connlimit-name web/}"
	got=$(save_rules ours "$be" "$fam" | grep '^-A ' | trimmed)
	same "saved rule (canonical form, no name)" "$want" \
		"$(sed -E 's/ --connlimit-mask [0-9]+//; s/ --connlimit-saddr//' <<<"$got")" ||
		return 1
	case $got in *connlimit-name*) echo "the name was kept: $got"; return 1 ;; esac
	xt ours "$be" "$tool" -C INPUT "${words[@]}" 2>/dev/null ||
		{ echo "-C with the name does not find the rule"; return 1; }
	xt ours "$be" "$tool" -D INPUT "${words[@]}" 2>/dev/null ||
		{ echo "-D with the name does not find the rule"; return 1; }
	same "rules after -D" "" "$(save_rules ours "$be" "$fam" | grep '^-A ')" ||
		return 1
	err=$(printf '*filter\n-A INPUT -p tcp --dport 80 %s\n-A INPUT -p tcp --dport 81 %s\nCOMMIT\n' \
		"$rule" "$rule" | xt ours "$be" "$restore" 2>&1 >/dev/null) ||
		{ echo "$restore of two named rules failed: ${err%%$'\n'*}"; return 1; }
	same "$restore stderr" "${REV1_NAME_WARNING/NAME/web}"$'\n'"${REV1_NAME_WARNING/NAME/web}" \
		"$err" || return 1
	same "rules restored" 2 "$(save_rules ours "$be" "$fam" | grep -c -- '^-A INPUT .*-m connlimit')" ||
		return 1
	expect_error "$(err_prefix "$be" "$tool")connlimit: bad value for option \"--connlimit-name\": '/' at position 2 is not allowed (names are printable ASCII without spaces, '/', '\"' or \"'\")." \
		xt ours "$be" "$tool" -A INPUT "${words[@]/web/a\/b}" || { echo "(bad name)"; return 1; }
	same "rules after the bad name" 2 \
		"$(save_rules ours "$be" "$fam" | grep -c -- '^-A INPUT .*-m connlimit')"
}

# rev2_kernel_skip: why revision-1 refusals cannot be seen here, if so.
rev2_kernel_skip() {
	if [ -e /sys/module/xt_connlimit/version ]; then
		echo "the host runs our xt_connlimit module, which has revision 2"
	fi
}

run_name_bad() {
	local fams rule error fam n=0 msg
	local bad='connlimit: bad value for option "--connlimit-name": '
	local chars="(names are printable ASCII without spaces, '/', '\"' or \"'\")."
	while IFS=';' read -r fams rule error; do
		n=$((n + 1))
		msg=${error//%BAD%/$bad}
		msg=${msg//%CHARS%/$chars}
		for fam in $FAMILIES; do
			case $fams in *$fam*) ;; *) continue ;; esac
			tap_case "name-bad:$n translate ipv$fam refuses: $rule" \
				case_refuse ours nft "$(fam_tool "$fam" -translate)" "$fam" "$rule" "$msg"
			tap_case "name-bad:$n cl-harness ipv$fam refuses: $rule" \
				harness_refuse 2 "$fam" "$rule" "$msg"
		done
	done < <(grep -v -e '^#' -e '^[[:space:]]*$' "$CASES/name-bad.cases")
}

run_harness_cases() {
	local args="" want="" line n=0
	while IFS= read -r line || [ -n "$args" ]; do
		case $line in \#*) continue ;; esac
		if [ -z "$line" ]; then
			[ -n "$args" ] || continue
			n=$((n + 1))
			tap_case "harness:$n cl-harness $args" case_harness "$args" "$want"
			args="" want=""
		elif [ -z "$args" ]; then
			args=$line
		else
			want=${want:+$want$'\n'}$line
		fi
	done < <(cat "$CASES/harness.cases"; echo)
}

# run_harness_t FILE FAMILY LABEL: every case of a .t file again through
# cl-harness: accepted rules that are one connlimit match alone, unnamed
# revision 2 against revision 1; refused ones, both revisions.
run_harness_t() {
	local file=$1 fam=$2 label=$3 rule expected result error n=0
	while IFS=';' read -r rule expected result error; do
		n=$((n + 1))
		[ "$expected" = "=" ] && expected=$rule
		case $result in
		OK)
			case " $rule " in
			*" -m connlimit "*" -m "* | *" -"[jpsd]" "*) continue ;;
			esac
			tap_case "$label:$n cl-harness ipv$fam revision 2 unnamed = revision 1: $rule" \
				case_harness_same "$fam" "$rule" "$expected"
			;;
		FAIL)
			tap_case "$label:$n cl-harness ipv$fam revisions 1 and 2 refuse: $rule" \
				case_harness_refuse "$fam" "$rule" "$error"
			;;
		esac
	done < <(t_lines "$file")
}

run_harness_bad_input() {
	local fams rule error fam n=0
	while IFS=';' read -r fams rule error; do
		n=$((n + 1))
		for fam in $FAMILIES; do
			case $fams in *$fam*) ;; *) continue ;; esac
			tap_case "bad-input:$n cl-harness ipv$fam revisions 1 and 2 refuse: $rule" \
				case_harness_refuse "$fam" "$rule" \
				"${error//%MAX%/$(fam_width "$fam")}"
		done
	done < <(grep -v -e '^#' -e '^[[:space:]]*$' "$CASES/bad-input.cases")
}

run_rev2() {
	local be fam rule reason
	reason=$(rev2_kernel_skip)
	for be in $BACKENDS; do
		for fam in $FAMILIES; do
			for rule in "-m connlimit --connlimit-above 2 --connlimit-name web" \
				"-m connlimit --connlimit-name web --connlimit-upto 1 --connlimit-daddr"; do
				if [ -n "$reason" ]; then
					tap_skip "$be ipv$fam revision 1 drops the name: $rule" "$reason"
					continue
				fi
				kcase "$be" "$be ipv$fam revision 1 drops the name with a warning (-A, -C, -D, restore): $rule" \
					case_rev1_drops_name "$be" "$fam" "$rule"
			done
		done
	done

	run_name_bad
	run_txlate "$CASES/name-xlate.txlate" name-txlate
	tap_case "untranslated: iptables-translate, name starting with a digit" \
		case_untranslated iptables-translate "-m connlimit --connlimit-above 2 --connlimit-name 80-http"
	tap_case "untranslated: ip6tables-translate, name with ':'" \
		case_untranslated ip6tables-translate "-m connlimit --connlimit-upto 2 --connlimit-name web:80"
	for fam in $FAMILIES; do
		tap_case "ipv$fam restore-translate of named rules: ruleset-name-ipv$fam.nft" \
			case_restore_translate_named "$fam"
		if ! command -v nft >/dev/null; then
			tap_skip "ipv$fam nft loads ruleset-name-ipv$fam.nft" \
				"nft not installed (nftables package; tests/install-deps.sh)"
		elif [ -n "$KSKIP_nft" ]; then
			tap_skip "ipv$fam nft loads ruleset-name-ipv$fam.nft" "$KSKIP_nft"
		else
			tap_case "ipv$fam nft loads ruleset-name-ipv$fam.nft" \
				case_nft_load "$fam"
		fi
	done

	run_harness_cases
	run_harness_t "$CASES/upstream-ipv4.t" 4 upstream-ipv4
	run_harness_t "$CASES/upstream-ipv6.t" 6 upstream-ipv6
	run_harness_t "$CASES/own-ipv4.t" 4 own-ipv4
	run_harness_t "$CASES/own-ipv6.t" 6 own-ipv6
	run_harness_bad_input
	for fam in $FAMILIES; do
		tap_case "cl-harness ipv$fam revision 2 help describes --connlimit-name" \
			case_harness_help "$fam"
	done
}

# ---- driver -------------------------------------------------------------------

# kcase BACKEND DESC CMD...: a kernel case on BACKEND, in its own namespace.
kcase() {
	local be=$1 desc=$2 reason
	shift 2
	reason=$(eval echo "\${KSKIP_$be}")
	if [ -n "$reason" ]; then
		tap_skip "$desc" "$reason"
	else
		tap_case "$desc" in_netns "$@"
	fi
}

# scase DESC CMD...: a case that needs the stock extension.
scase() {
	local desc=$1
	shift
	if [ -n "$STOCK_SKIP" ]; then
		tap_skip "$desc" "$STOCK_SKIP"
	else
		tap_case "$desc" "$@"
	fi
}

# skcase BACKEND DESC CMD...: needs both the kernel and the stock extension.
skcase() {
	local be=$1 desc=$2
	shift 2
	if [ -n "$STOCK_SKIP" ]; then
		tap_skip "$desc" "$STOCK_SKIP"
	else
		kcase "$be" "$desc" "$@"
	fi
}

run_t_file() { # FILE FAMILY LABEL
	local file=$1 fam=$2 label=$3 chains rule expected result error be n=0
	chains=$(t_chains "$file")
	while IFS=';' read -r rule expected result error; do
		n=$((n + 1))
		[ "$expected" = "=" ] && expected=$rule
		case $result in
		OK)
			for be in $BACKENDS; do
				kcase "$be" "$label:$n $be ipv$fam accepts: $rule" \
					case_accept ours "$be" "$fam" "$chains" "$rule" "$expected"
			done
			;;
		FAIL)
			for be in $BACKENDS; do
				kcase "$be" "$label:$n $be ipv$fam refuses: $rule" \
					case_refuse ours "$be" "$(fam_tool "$fam")" "$fam" "$rule" "$error"
			done
			tap_case "$label:$n translate ipv$fam refuses: $rule" \
				case_refuse ours nft "$(fam_tool "$fam" -translate)" "$fam" "$rule" "$error"
			scase "$label:$n stock extension gives the same error: $rule" \
				case_refuse stock nft "$(fam_tool "$fam" -translate)" "$fam" "$rule" "$error"
			;;
		*)
			tap_result 1 "$label:$n" "unknown result '$result' in $file"
			;;
		esac
	done < <(t_lines "$file")
}

run_bad_input() {
	local fams rule error fam be n=0 msg
	while IFS=';' read -r fams rule error; do
		n=$((n + 1))
		for fam in $FAMILIES; do
			case $fams in *$fam*) ;; *) continue ;; esac
			msg=${error//%MAX%/$(fam_width "$fam")}
			for be in $BACKENDS; do
				kcase "$be" "bad-input:$n $be ipv$fam refuses: $rule" \
					case_refuse ours "$be" "$(fam_tool "$fam")" "$fam" "$rule" "$msg"
			done
			tap_case "bad-input:$n translate ipv$fam refuses: $rule" \
				case_refuse ours nft "$(fam_tool "$fam" -translate)" "$fam" "$rule" "$msg"
		done
	done < <(grep -v -e '^#' -e '^[[:space:]]*$' "$CASES/bad-input.cases")
}

run_txlate() { # FILE LABEL
	local file=$1 label=$2 cmd="" want="" line n=0
	while IFS= read -r line || [ -n "$cmd" ]; do
		case $line in \#*) continue ;; esac
		if [ -z "$line" ]; then
			[ -n "$cmd" ] || continue
			n=$((n + 1))
			tap_case "$label:$n $cmd" case_txlate "$cmd" "$want"
			cmd="" want=""
		elif [ -z "$cmd" ]; then
			cmd=$line
		else
			want=${want:+$want$'\n'}$line
		fi
	done < <(cat "$file"; echo)
}

main() {
	local be fam reason

	mkdir -p "$WORK"
	export XTABLES_LOCKFILE=$WORK/xtables.lock
	export OURS_DIR=$WORK/ours
	export HARNESS=$WORK/cl-harness
	export STOCK_DIR=$WORK/stock/lib
	SYS_XTLIBDIR=$(find_sys_xtlibdir)
	# Translations need libxtables 1.8.8's xt_xlate_set_add: the same probe
	# as userspace/Makefile's.  Without it (Debian 11's iptables 1.8.7)
	# neither ours nor the stock extension translates.
	XT_VERSION=$(pkg-config --modversion xtables 2>/dev/null)
	XLATE=yes
	grep -q -s -F xt_xlate_set_add \
		"$(pkg-config --variable=includedir xtables 2>/dev/null)/xtables.h" || XLATE=no
	echo "# iptables $XT_VERSION, translations: $XLATE"
	export SYS_XTLIBDIR ROOT CASES WORK XLATE XT_VERSION

	for be in $BACKENDS; do
		if ! command -v "xtables-$be-multi" >/dev/null; then
			tap_result 1 "iptables binaries present" \
				"no xtables-$be-multi (run tests/install-deps.sh)"
			tap_finish
			return
		fi
	done
	if [ -z "$SYS_XTLIBDIR" ]; then
		tap_result 1 "system xtables directory found" \
			"no directory with libxt_standard.so (is iptables installed?)"
		tap_finish
		return
	fi
	if ! tap_case "build userspace/libxt_connlimit.so" build_ours; then :; fi
	if [ ! -f "$OURS_DIR/libxt_connlimit.so" ]; then
		tap_finish
		return
	fi

	fetch_stock >/dev/null 2>&1
	err_prefix_cache legacy iptables ip6tables iptables-restore ip6tables-restore
	err_prefix_cache nft iptables ip6tables iptables-translate ip6tables-translate \
		iptables-restore ip6tables-restore
	for be in $BACKENDS; do
		reason=$(probe_kernel "$be")
		eval "KSKIP_$be=\$reason"
		[ -z "$reason" ] || echo "# kernel cases on $be skip: $reason"
	done
	[ -z "$STOCK_SKIP" ] &&
		echo "# stock extension: $(cat "$WORK/stock/PACKAGE" 2>/dev/null)"

	# Child shells (namespaces) need the functions.
	# shellcheck disable=SC2046
	export -f $(declare -F | awk '{print $3}')

	# upstream cases, then ours
	run_t_file "$CASES/upstream-ipv4.t" 4 upstream-ipv4
	run_t_file "$CASES/upstream-ipv6.t" 6 upstream-ipv6
	run_txlate "$CASES/xlate.txlate" txlate
	run_t_file "$CASES/own-ipv4.t" 4 own-ipv4
	run_t_file "$CASES/own-ipv6.t" 6 own-ipv6
	run_bad_input

	for be in $BACKENDS; do
		kcase "$be" "$be ipv4 -L prints src/24 >" case_print "$be" 4 \
			"-m connlimit --connlimit-above 2 --connlimit-mask 24" "#conn src/24 > 2"
		kcase "$be" "$be ipv4 -L prints dst/16 <=" case_print "$be" 4 \
			"-m connlimit --connlimit-upto 5 --connlimit-mask 16 --connlimit-daddr" "#conn dst/16 <= 5"
		kcase "$be" "$be ipv6 -L prints src/64 >" case_print "$be" 6 \
			"-m connlimit --connlimit-above 3 --connlimit-mask 64" "#conn src/64 > 3"
		kcase "$be" "$be ipv6 -L prints dst/128 <=" case_print "$be" 6 \
			"-m connlimit ! --connlimit-above 0 --connlimit-daddr" "#conn dst/128 <= 0"
		for fam in $FAMILIES; do
			kcase "$be" "$be ipv$fam help text" case_help "$be" "$fam"
			kcase "$be" "$be ipv$fam save -> restore -> save round trip, -D of every saved rule" \
				case_roundtrip "$be" "$fam"
		done
	done
	for fam in $FAMILIES; do
		tap_case "ipv$fam restore-translate numbers sets and uses ipv${fam}_addr" \
			case_restore_translate "$fam"
	done

	# against Debian's stock extension
	for fam in $FAMILIES; do
		scase "stock ipv$fam translations identical (set type ipv6_addr aside)" \
			case_cmp_xlate "$fam"
		for be in $BACKENDS; do
			skcase "$be" "stock $be ipv$fam -S/-L/save byte-identical" \
				case_cmp_listing "$be" "$fam"
			skcase "$be" "stock $be ipv$fam rules cross over: list and -D either way" \
				case_cmp_cross "$be" "$fam"
			skcase "$be" "stock $be ipv$fam saved ruleset restores with the other" \
				case_cmp_ruleset "$be" "$fam"
		done
	done

	# revision 2 (--connlimit-name)
	run_rev2

	tap_case "man page fragment renders cleanly" case_man
	tap_case "make install honours DESTDIR" case_install

	tap_finish
}

main "$@"
