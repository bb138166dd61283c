#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes the seed corpus of cl-fuzz (tests/fuzz/corpus/, committed; rerun
# after adding host cases) from the host suite's cases: every connlimit
# rule of the .t, .cases, .txlate and .rules files, accepted or refused,
# for its families and both revisions, and every match data of
# harness.cases (its -d arguments and its expected "data:" lines) for the
# block's family and revision.  Files are named by the SHA-1 of their
# contents, as libFuzzer names what it adds, so a seed is written once.
# The input format is described at the top of cl-fuzz.c.
#
#   tests/fuzz/mkcorpus.sh [DIR]      (default tests/fuzz/corpus)

set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CASES=$HERE/../host/cases
OUT=${1:-$HERE/corpus}
mkdir -p "$OUT"

# put FILE-CONTENT-ON-STDIN: store under its hash.
put() {
	local tmp sum
	tmp=$(mktemp)
	cat >"$tmp"
	sum=$(sha1sum "$tmp")
	mv "$tmp" "$OUT/${sum%% *}"
}

# selector FAMILY REVISION DATA: the first byte (see cl-fuzz.c).
selector() {
	echo $(( ($1 == 6 ? 1 : 0) + ($2 == 1 ? 2 : 0) + ($3 ? 4 : 0) ))
}

# options FAMILIES WORD...: the words as arguments, for each family in
# FAMILIES (4, 6 or 46) and both revisions.
options() {
	local fams=$1 fam rev w first
	shift
	for fam in 4 6; do
		[[ $fams == *$fam* ]] || continue
		for rev in 2 1; do
			{
				selector "$fam" "$rev" 0 | tr -d '\n'
				first=1
				for w in "$@"; do
					if [ -n "$first" ]; then
						printf '%s' "$w"
						first=
					else
						printf '\0%s' "$w"
					fi
				done
			} | put
		done
	done
}

# rule FAMILIES RULE: the connlimit options of an iptables rule (shell
# words): what follows "-m connlimit" up to the next -m, -j or -g.
rule() {
	local fams=$1 w in='' prev=''
	local -a words=()
	eval "set -- $2"
	for w in "$@"; do
		if [ -n "$in" ]; then
			case $w in -m|-j|-g) break ;; esac
			words+=("$w")
		elif [ "$w" = connlimit ] && [ "${prev-}" = -m ]; then
			in=1
		fi
		prev=$w
	done
	[ -n "$in" ] && options "$fams" "${words[@]}"
	return 0
}

# data FAMILY REVISION HEX: match data.
data() {
	{
		selector "$1" "$2" 1 | tr -d '\n'
		printf '%s' "$3" | xxd -r -p
	} | put
}

# .t files: rule;expected save ("=" for the same);OK|FAIL[;error]
for f in "$CASES"/upstream-ipv4.t "$CASES"/upstream-ipv6.t \
	 "$CASES"/own-ipv4.t "$CASES"/own-ipv6.t; do
	fam=4
	[[ $f == *ipv6* ]] && fam=6
	while IFS=';' read -r r expected _; do
		rule "$fam" "$r"
		case $expected in ''|=) ;; *) rule "$fam" "$expected" ;; esac
	done < <(grep -v -e '^#' -e '^:' -e '^[[:space:]]*$' "$f")
done

# .cases files: families;rule;error
for f in "$CASES"/bad-input.cases "$CASES"/name-bad.cases; do
	while IFS=';' read -r fams r _; do
		rule "$fams" "$r"
	done < <(grep -v -e '^#' -e '^[[:space:]]*$' "$f")
done

# .txlate files and the rulesets: whole commands and rules
for f in "$CASES"/*.txlate "$CASES"/*.rules; do
	while read -r line; do
		fam=4
		[[ $line == ip6tables* || $f == *ipv6* ]] && fam=6
		rule "$fam" "$line"
	done < <(grep -e '-m connlimit' "$f")
done

# harness.cases: the first line of each block is cl-harness's arguments
block=1
while IFS= read -r line; do
	if [ -z "$line" ]; then
		block=1
		continue
	fi
	[[ $line == '#'* ]] && continue
	if [ -n "$block" ]; then
		block=
		eval "set -- $line"
		fam=4 rev=2 hex=
		while [ $# -gt 0 ]; do
			case $1 in
			-4) fam=4 ;;
			-6) fam=6 ;;
			-r) rev=$2; shift ;;
			-d) hex=$2; shift ;;
			--) shift; break ;;
			*) break ;;
			esac
			shift
		done
		if [ -n "$hex" ]; then
			data "$fam" "$rev" "$hex"
		else
			options "$fam" "$@"
		fi
	elif [[ $line == 'data: '* ]]; then
		data "$fam" "$rev" "${line#data: }"
	fi
done <"$CASES/harness.cases"

# match data no rule parses to: all zero, all ones, each revision's size
for fam in 4 6; do
	for rev in 2 1; do
		size=32
		[ "$rev" = 2 ] && size=72
		data "$fam" "$rev" "$(head -c "$size" /dev/zero | xxd -p -c 256)"
		data "$fam" "$rev" "$(head -c "$size" /dev/zero | tr '\0' '\377' | xxd -p -c 256)"
	done
done

echo "$(find "$OUT" -type f | wc -l) seeds in $OUT"
