# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Running one example of the documentation: shared by tests/docs/run.sh
# (the host) and tests/docs/guest.sh (the qemu guest, which gets this file
# with run-guest.sh -a, so its name must not clash with tests/guest/*).  See tests/docs/run.sh for the conventions.
#
# The caller provides:
#   docs_in_ns NS CMD...   run CMD in network namespace NS
#   BACKEND                legacy or nft
# and exports XTABLES_LIBDIR so that iptables loads our extension.

# docs_read FILE: the records of extract.sh into arrays EX_WHERE ("FILE:LINE"),
# EX_KIND (the marker's first word), EX_WORDS (the rest) and EX_TEXT, for
# the caller.
# shellcheck disable=SC2034
docs_read() {
	local line n=-1 k
	EX_WHERE=() EX_KIND=() EX_WORDS=() EX_TEXT=()
	while IFS= read -r line; do
		case $line in
		"@@example "*)
			n=$((n + 1))
			set -- ${line#@@example }
			EX_WHERE[n]="$1:$2"
			k=${3:--}
			EX_KIND[n]=$k
			shift 3 2>/dev/null || shift $#
			EX_WORDS[n]="$*"
			EX_TEXT[n]=
			;;
		@@end) ;;
		*) EX_TEXT[n]+="$line"$'\n' ;;
		esac
	done <"$1"
}

# docs_has_word I WORD: the marker of example I has WORD.
docs_has_word() {
	case " ${EX_WORDS[$1]} " in *" $2 "*) return 0 ;; esac
	return 1
}

# docs_commands I: the example's commands, one per line.  In a transcript
# (marker word "transcript") those are the lines after a "# " or "$ "
# prompt; otherwise every line (shell comments are the shell's business).
docs_commands() {
	local l
	if docs_has_word "$1" transcript; then
		while IFS= read -r l; do
			case $l in "# "* | "\$ "*) printf '%s\n' "${l#??}" ;; esac
		done <<<"${EX_TEXT[$1]}"
	else
		printf '%s' "${EX_TEXT[$1]}"
	fi
}

# docs_expected I: a transcript's output lines (not compared for marker
# word "sample-output"), sorted, trailing blanks and empty lines dropped.
docs_expected() {
	local l
	while IFS= read -r l; do
		case $l in "# "* | "\$ "*) continue ;; esac
		l=${l%"${l##*[![:space:]]}"}
		[ -n "$l" ] && printf '%s\n' "$l"
	done <<<"${EX_TEXT[$1]}" | LC_ALL=C sort
}

# docs_script I DIR: the script that runs example I, for bash: it stops
# at the first command that fails and writes which into DIR/fail;
# iptables and ip6tables are the BACKEND's and note each rule they add
# (-A, -I) in DIR/rec; "watch CMD" runs CMD once (the wrappers end in
# "|| return": errexit would end the script inside them, before the ERR
# trap, which is not inherited by functions, could name the command); what the commands print
# goes to DIR/out (and nothing keeps the caller's stdout or stderr open,
# so background jobs of the example do not hold up the caller).
docs_script() {
	printf 'BACKEND=%q DOCS_REC=%q DOCS_FAIL=%q\n' "$BACKEND" "$2/rec" "$2/fail"
	printf 'exec >>%q 2>&1 </dev/null\n' "$2/out"
	cat <<-'EOF'
	set -e -o pipefail
	# DEBUG runs before each command, and once more before the ERR
	# trap's: the command that failed is the one before the last
	trap 'DOCS_PREV=${DOCS_CMD:-}; DOCS_CMD=$BASH_COMMAND' DEBUG
	trap 'echo "\"$DOCS_PREV\" failed" >>"$DOCS_FAIL"; exit 1' ERR
	_docs_xt() {
		local t=$1
		shift
		case " $* " in
		*" -A "* | *" -I "*)
			{ printf '%s' "$t"; printf ' %q' "$@"; echo; } >>"$DOCS_REC" ;;
		esac
		"$t-$BACKEND" "$@" || return
	}
	iptables() { _docs_xt iptables "$@" || return; }
	ip6tables() { _docs_xt ip6tables "$@" || return; }
	iptables-save() { "iptables-$BACKEND-save" "$@" || return; }
	ip6tables-save() { "ip6tables-$BACKEND-save" "$@" || return; }
	iptables-restore() { "iptables-$BACKEND-restore" "$@" || return; }
	ip6tables-restore() { "ip6tables-$BACKEND-restore" "$@" || return; }
	watch() { "$@" || return; }
	EOF
	docs_commands "$1"
	echo "trap - ERR"
}

# docs_exec NS I DIR: run example I in NS (docs_script); on failure, say
# what failed and what the commands printed.
docs_exec() {
	local ns=$1 i=$2 d=$3
	rm -f "$d/rec" "$d/out" "$d/fail" "$d"/saved* "$d"/back* "$d/ipset"
	: >"$d/rec"
	: >"$d/out"
	docs_script "$i" "$d" >"$d/script"
	docs_in_ns "$ns" bash "$d/script" && return 0
	if [ -s "$d/fail" ]; then cat "$d/fail"; else echo "the example's script failed"; fi
	sed 's/^/out: /' "$d/out"
	return 1
}

# docs_save FAMILY: the family's rules as *-save prints them, without its
# comment lines and counters, the tables in name order (legacy lists them
# in the order they were first used).  No process but *-save: under TCG
# every one costs.
docs_save() {
	local t=iptables l name='' n
	local -A block=()
	[ "$1" = 6 ] && t=ip6tables
	while IFS= read -r l; do
		case $l in
		"#"*) continue ;;
		"*"*) name=$l ;;
		esac
		[[ $l =~ ^(:.*)\[[0-9]+:[0-9]+\]$ ]] && l=${BASH_REMATCH[1]}
		block[$name]+="$l"$'\n'
	done < <("$t-$BACKEND-save")
	for n in "*filter" "*mangle" "*nat" "*raw" "*security"; do
		[ -n "${block[$n]+set}" ] && printf '%s' "${block[$n]}"
		unset "block[$n]"
	done
	for n in "${!block[@]}"; do printf '%s' "${block[$n]}"; done
}

# docs_families I: 4 and/or 6, the families the example adds rules to.
docs_families() {
	local c f=
	c=$(docs_commands "$1")
	case $c in *iptables*) f=4 ;; esac
	case $c in *ip6tables*) f+=" 6" ;; esac
	echo $f
}

# docs_check_rules REC: every rule REC noted is found again by -C, so
# the extension printed it back the way it was given (the same match
# data), each one in the namespace where it was added.
docs_check_rules() {
	local line t out
	local -a a c
	while IFS= read -r line; do
		eval "a=($line)"
		t=${a[0]}
		c=()
		local i skip=0
		for ((i = 1; i < ${#a[@]}; i++)); do
			if [ "$skip" = 1 ]; then
				skip=0
				# -I CHAIN NUM: the number is not part of the rule
				[[ ${a[i]} =~ ^[0-9]+$ ]] && continue
			fi
			case ${a[i]} in
			-A | --append) c+=(-C); i=$((i + 1)); c+=("${a[i]}") ;;
			-I | --insert) c+=(-C); i=$((i + 1)); c+=("${a[i]}"); skip=1 ;;
			*) c+=("${a[i]}") ;;
			esac
		done
		out=$("$t-$BACKEND" "${c[@]}" 2>&1) ||
			{ echo "'$t ${c[*]}' does not find the rule the example added: $out"; return 1; }
	done <"$1"
}

# docs_after DIR FAMILIES (run in the example's namespace): -C finds each
# rule (docs_check_rules), then each family's rules are saved to
# DIR/savedFAMILY and the ipsets to DIR/ipset.
docs_after() {
	local d=$1 fam
	shift
	docs_check_rules "$d/rec" || return 1
	for fam in "$@"; do docs_save "$fam" >"$d/saved$fam"; done
	if command -v ipset >/dev/null; then ipset save >"$d/ipset" 2>/dev/null || :; fi
}

# docs_restore DIR FAMILIES (run in a fresh namespace): the sets and the
# saved rules restore, and save back to DIR/backFAMILY.
docs_restore() {
	local d=$1 fam t out
	shift
	if [ -s "$d/ipset" ]; then
		out=$(ipset -exist restore <"$d/ipset" 2>&1) ||
			{ echo "ipset restore of the example's sets failed: $out"; return 1; }
	fi
	for fam in "$@"; do
		t=iptables
		[ "$fam" = 6 ] && t=ip6tables
		out=$("$t-$BACKEND-restore" <"$d/saved$fam" 2>&1) ||
			{ echo "$t-$BACKEND-restore of the saved rules failed: $out"; return 1; }
		docs_save "$fam" >"$d/back$fam"
	done
}

# docs_run_rules I NS OTHER_NS DIR: run example I (kind rules or ours) in
# NS: every command succeeds, -C finds each rule it added, and each
# family's rules round-trip through save and restore (into OTHER_NS).
# Transcript output is compared unless the marker says sample-output.
docs_run_rules() {
	local i=$1 ns=$2 other=$3 d=$4 fam fams got want fns
	docs_exec "$ns" "$i" "$d" || return 1
	fams=$(docs_families "$i")
	fns="$(declare -f docs_check_rules docs_save docs_after docs_restore); BACKEND=$BACKEND"
	# shellcheck disable=SC2086  # the families, split on purpose
	docs_in_ns "$ns" bash -c "$fns; docs_after $d $fams" || return 1
	# shellcheck disable=SC2086
	docs_in_ns "$other" bash -c "$fns; docs_restore $d $fams" || return 1
	for fam in $fams; do
		if [ "$(<"$d/saved$fam")" != "$(<"$d/back$fam")" ]; then
			echo "IPv$fam rules do not round-trip through save and restore:"
			diff -u "$d/saved$fam" "$d/back$fam" | sed 's/^/  /'
			return 1
		fi
	done
	if docs_has_word "$i" transcript && ! docs_has_word "$i" sample-output; then
		want=$(docs_expected "$i")
		got=$(docs_output "$d/out")
		docs_same_output "$want" "$got" || return 1
	fi
}

# docs_output FILE: what the commands printed, as docs_expected shapes it.
docs_output() {
	local l
	while IFS= read -r l; do
		l=${l%"${l##*[![:space:]]}"}
		[ -n "$l" ] && printf '%s\n' "$l"
	done <"$1" | LC_ALL=C sort
}

docs_same_output() { # WANT GOT
	[ "$1" = "$2" ] && return 0
	echo "the output differs from the example's (sorted lines, - example, + got):"
	diff -u <(printf '%s\n' "$1") <(printf '%s\n' "$2") | tail -n +3 | sed 's/^/  /'
	return 1
}
