# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# shrink_scenario FILE STEP OUT: a smaller scenario that still shows a
# difference that is not an intended one (DIFF_SHRINK=1; each try runs
# both modules again, so it costs minutes).  The steps after STEP go;
# then each rule, then each step but the last, is left out in turn and
# stays out if the difference remains.  OUT gets the result, and
# $T/tr-intree, $T/tr-ours its transcripts.

# scenario_cut FILE N: FILE with its first N steps and no count lines.
scenario_cut() {
	awk -v n="$2" '$1 == "count" { next } $1 == "step" && ++k > n { next } { print }' "$1"
}

# scenario_without FILE KIND I: FILE without its I-th KIND line.
scenario_without() {
	awk -v kind="$2" -v i="$3" '$1 == kind && ++k == i { next } { print }' "$1"
}

# still_differs FILE: both modules run it; a difference not intended.
still_differs() {
	local k id
	play_on intree "$1" || return 1
	play_on ours "$1" || return 1
	read -r k id <<<"$(first_difference "$1" "$T/tr-intree" "$T/tr-ours")"
	[ -n "$k" ] && [ -z "$id" ]
}

shrink_scenario() {
	local out=$3 try=$T/shrink.try kind i n
	scenario_cut "$1" "$2" >"$out"
	for kind in rule step; do
		i=1
		while n=$(grep -c "^$kind " "$out"); [ "$i" -le "$n" ]; do
			[ "$kind" = step ] && [ "$i" -eq "$n" ] && break
			scenario_without "$out" "$kind" "$i" >"$try"
			if still_differs "$try"; then
				mv "$try" "$out"
				log "shrink: $kind $i is not needed"
			else
				i=$((i + 1))
			fi
		done
	done
	# the transcripts of the result
	still_differs "$out" || true
}
