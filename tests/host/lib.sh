# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for tests/host/run.sh: TAP output, running the real iptables
# binaries against a chosen extension, fresh network namespaces, and the
# comparisons the cases are made of.  Sourced, never run.
#
# Variables the caller sets (and exports, since cases run in child shells):
#   SYS_XTLIBDIR  the system extension directory (libxt_standard.so & co.)
#   OURS_DIR      a directory holding only our libxt_connlimit.so
#   STOCK_DIR     a directory holding only Debian's stock libxt_connlimit.so

TAP_N=0
TAP_PASS=0
TAP_FAIL=0
TAP_SKIP=0

# ---- TAP ----------------------------------------------------------------

# tap_result STATUS DESC [TEXT]: STATUS is 0 (ok), 1 (fail) or skip.  For
# a failure TEXT says what differed: its first line follows "FAIL: ", any
# further lines are printed as "#   " diagnostics.
tap_result() {
	local status=$1 desc=$2 text=${3-} first rest
	TAP_N=$((TAP_N + 1))
	case $status in
	0)
		TAP_PASS=$((TAP_PASS + 1))
		echo "ok $TAP_N - $desc"
		;;
	skip)
		TAP_SKIP=$((TAP_SKIP + 1))
		echo "ok $TAP_N - $desc # SKIP $text"
		;;
	*)
		TAP_FAIL=$((TAP_FAIL + 1))
		[ -n "$text" ] || text="failed without saying why"
		first=${text%%$'\n'*}
		echo "FAIL: $first"
		if [ "$first" != "$text" ]; then
			rest=${text#*$'\n'}
			printf '%s\n' "$rest" | sed 's/^/#   /'
		fi
		echo "not ok $TAP_N - $desc"
		;;
	esac
}

tap_skip() {
	tap_result skip "$1" "$2"
}

# tap_case DESC CMD...: one test.  CMD passes by exiting 0; when it fails,
# what it printed is the reason.
tap_case() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	tap_result "$([ $rc -eq 0 ] && echo 0 || echo 1)" "$desc" "$out"
}

# Closing plan and tally; returns the suite's exit status.
tap_finish() {
	echo "1..$TAP_N"
	echo "# host tests: $TAP_PASS passed, $TAP_FAIL failed, $TAP_SKIP skipped"
	[ "$TAP_FAIL" -eq 0 ]
}

# ---- running iptables ---------------------------------------------------

# fam_tool FAMILY [SUFFIX]: iptables or ip6tables, e.g. "fam_tool 6 -save".
fam_tool() {
	if [ "$1" = 6 ]; then echo "ip6tables${2-}"; else echo "iptables${2-}"; fi
}

# fam_width FAMILY: the family's address width in bits.
fam_width() {
	if [ "$1" = 6 ]; then echo 128; else echo 32; fi
}

# xt EXT BACKEND TOOL ARGS...: run TOOL (iptables, ip6tables-save, ...) of
# BACKEND (legacy or nft) with extension EXT (ours or stock) ahead of the
# system extensions.  Translate tools belong to the nft backend.
xt() {
	local ext=$1 backend=$2 dir
	shift 2
	case $ext in
	ours) dir=$OURS_DIR ;;
	stock) dir=$STOCK_DIR ;;
	*) echo "xt: unknown extension '$ext'" >&2; return 99 ;;
	esac
	XTABLES_LIBDIR="$dir:$SYS_XTLIBDIR" "xtables-$backend-multi" "$@"
}

# err_prefix BACKEND TOOL: how TOOL's error messages begin, taken from its
# own --version line ("iptables v1.8.9 (legacy)") so no version is wired in.
# Remembered in an exported ERRPFX_* variable once err_prefix_cache ran.
err_prefix() {
	local var v
	var=ERRPFX_$1_${2//-/_}
	if [ -n "${!var-}" ]; then
		echo "${!var}"
		return
	fi
	v=$("xtables-$1-multi" "$2" --version 2>/dev/null | head -n1)
	echo "$v: "
}

# err_prefix_cache BACKEND TOOL...: compute and export the prefixes.
err_prefix_cache() {
	local be=$1 tool
	shift
	for tool in "$@"; do
		export "ERRPFX_${be}_${tool//-/_}=$(err_prefix "$be" "$tool")"
	done
}

# in_netns CMD...: run CMD (a command or an exported function) in a fresh
# network namespace, so every case starts from empty tables.
in_netns() {
	unshare -n -- bash -c '"$@"' in_netns "$@"
}

# save_rules EXT BACKEND FAMILY: *-save output without its comment lines
# (they carry dates, and nft adds warnings about legacy tables).
save_rules() {
	xt "$1" "$2" "$(fam_tool "$3" -save)" | grep -v '^#'
}

# ---- comparisons --------------------------------------------------------

# same WHAT EXPECTED GOT: passes if equal, else says so on one line
# (the first line that differs) followed by a unified diff.
same() {
	local what=$1 want=$2 got=$3 i n_want n_got
	local -a w g
	[ "$want" = "$got" ] && return 0
	mapfile -t w <<<"$want"
	mapfile -t g <<<"$got"
	n_want=${#w[@]} n_got=${#g[@]}
	for ((i = 0; i < n_want || i < n_got; i++)); do
		[ "${w[i]-<none>}" = "${g[i]-<none>}" ] || break
	done
	if [ "$n_want" -eq 1 ] && [ "$n_got" -eq 1 ]; then
		echo "$what: expected '$want' got '$got'"
		return 1
	fi
	echo "$what, line $((i + 1)): expected '${w[i]-<no line>}' got '${g[i]-<no line>}'"
	diff -u <(printf '%s\n' "$want") <(printf '%s\n' "$got") | tail -n +3
	return 1
}

# expect_error WANT_LINE CMD...: CMD must exit 2 and the first line of its
# standard error must be exactly WANT_LINE.
expect_error() {
	local want=$1 err rc
	shift
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 2 ]; then
		echo "exit status: expected 2 got $rc (stderr: ${err%%$'\n'*})"
		return 1
	fi
	same "error" "$want" "${err%%$'\n'*}"
}

# trimmed: standard input without blanks at the ends of lines.  For the
# comparisons with fixed expected text: iptables-nft 1.8.7 ends a rule
# without a target with a space (its own printing, the stock extension's
# rules get it too).  The comparisons with the stock extension stay byte
# for byte.
trimmed() {
	sed 's/[[:space:]]*$//'
}

# chain_rules EXT BACKEND FAMILY CHAIN: "-S CHAIN" output.
chain_rules() {
	xt "$1" "$2" "$(fam_tool "$3")" -S "$4" 2>&1
}
