# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# compare_runs FILE INTREE OURS: compare two transcripts of scenario FILE
# (play.sh) step by step.  Equal: returns 0.  At the first step that
# differs, the difference is either on the list of intended differences
# below (a note, returns 0; later steps follow from it and are not
# compared) or it fails the case: FAIL lines naming the step and what each
# module did, and a reproduction (the scenario up to that step, as
# commands to paste into a shell with connt and iptables at hand).

# Intended differences: "id reason" lines; intended_id (below) says which
# one a difference is.  Add one only for a difference that is upstream's,
# with the reason -- never to hide a divergence of ours.
DIFF_INTENDED="
live the in-tree engine (Debian 6.1, 6.12) keeps counting a just-refused connection for a while, so a rule that sees more than SYNs (udp, tcp without --syn) refuses packets and connections of the same key that should pass (e2e case live)
"

# intended_id FILE STEP INTREE_LINE OURS_LINE INTREE_TRANSCRIPT: the id
# of the intended difference this is, or nothing.
intended_id() {
	local file=$1 k=$2 a=$3 b=$4 tin=$5
	# live: in-tree refuses (or fails an echo) where ours passes, after a
	# refusal, with a rule that sees more than SYNs
	if in_tree_worse "$a" "$b" &&
		grep -qE '^rule .* -m connlimit ' "$file" &&
		grep -E '^rule .* -m connlimit ' "$file" | grep -qvE -- '-p tcp --syn' &&
		head -n $((k - 1)) "$tin" | grep -qE 'ref=[1-9]|tmo=[1-9]'; then
		echo live
	fi
}

# in_tree_worse INTREE_LINE OURS_LINE: in-tree refused or failed an echo
# where ours did not (same step).
in_tree_worse() {
	local a=${1#* -> } b=${2#* -> }
	case $a:$b in
	"open est=0 "*:"open est=1 "*) return 0 ;;
	"ping ok="*:"ping ok="*)
		[ "$(sed -E 's/.*fail=([0-9]+).*/\1/' <<<"$a")" -gt "$(sed -E 's/.*fail=([0-9]+).*/\1/' <<<"$b")" ]
		;;
	*) return 1 ;;
	esac
}

# first_difference FILE INTREE OURS: the number of the first step that
# differs, and the id of the intended difference it is, if it is one
# ("7" or "7 live"); nothing when the transcripts are equal.
first_difference() {
	local file=$1 tin=$2 k=0 a b
	local -a la lb
	mapfile -t la <"$tin"
	mapfile -t lb <"$3"
	while [ $k -lt ${#la[@]} ] || [ $k -lt ${#lb[@]} ]; do
		a=${la[$k]:-} b=${lb[$k]:-}
		k=$((k + 1))
		[ "$a" != "$b" ] || continue
		echo "$k $(intended_id "$file" "$k" "$a" "$b" "$tin")"
		return
	done
}

compare_runs() {
	local file=$1 tin=$2 tours=$3 k id a b
	read -r k id <<<"$(first_difference "$file" "$tin" "$tours")"
	[ -n "$k" ] || return 0
	a=$(sed -n "${k}p" "$tin")
	b=$(sed -n "${k}p" "$tours")
	if [ -n "$id" ]; then
		log "step $k differs as intended ($id): in-tree '${a#* -> }', ours '${b#* -> }'"
		note "intended difference at step $k: $id"
		return 0
	fi
	fail "$(scenario_label "$file"): step $k '$(cut -d' ' -f2,3 <<<"${a:-$b}")' differs: in-tree '${a#* -> }', ours '${b#* -> }'" || true
	print_repro "$file" "$k" "$tin" "$tours"
	return 1
}

# scenario_label FILE: "seed N" or "fixed NAME".
scenario_label() {
	local kw v
	while read -r kw v; do
		case $kw in
		seed) echo "seed $v"; return ;;
		name) echo "fixed $v"; return ;;
		esac
	done <"$1"
}

# print_repro FILE STEPS INTREE OURS: lines a person can paste (minus the
# "FAIL: repro| " prefix): namespaces, links and server (on the console
# only, "# repro| "), then as FAIL lines the rules, the clients and the
# steps up to STEPS with what each module answered.
print_repro() {
	local file=$1 n=$2 tin=$3 tours=$4 kw rest ns role name cns src dst port proto label k=0
	local -a ia oa
	mapfile -t ia <"$tin"
	mapfile -t oa <"$tours"
	scenario_parse "$file"
	{
		for role in $(topo_roles "$S_TOPO"); do printf '%s=%s-repro ' "$role" "$role"; done
		echo
		for role in $(topo_roles "$S_TOPO"); do echo "ip netns add \$$role"; done
		topo_commands "$S_TOPO"
		echo "connt -n \$srv server $(printf -- '-a %s ' "${D_SRV4[@]}" "${D_SRV6[@]}")-p 80 -p 81 &"
	} | sed 's/^/# repro| /'
	{
		label=$(scenario_label "$file")
		case $label in
		seed*) echo "# $label: re-run with 'make diff SEED=${label#seed }'; 'tests/diff/gen.sh ${label#seed }' prints the scenario" ;;
		*) echo "# $label: re-run with 'make diff DIFF_FIXED=${label#fixed }'; tests/diff/fixed.sh has the scenario" ;;
		esac
		echo "# load one module: modprobe xt_connlimit (ours, from updates/) or modprobe nf_conncount; insmod /lib/modules/\$(uname -r)/kernel/net/netfilter/xt_connlimit.ko*"
		echo "# topology $S_TOPO: the commands are on the console ('# repro| ' lines; tests/diff/topo.sh)"
		if grep -q -- '--connlimit-name' "$file"; then
			echo "# ours: rules with --connlimit-name need our extension (XTABLES_LIBDIR with userspace/libxt_connlimit.so); in-tree: the same rules without the name"
		fi
		for rest in "${S_RULES[@]}"; do
			ns=${rest%% *}
			echo "ip netns exec \$$ns ip$([ "$S_FAM" = 6 ] && echo 6)tables-$BACKEND ${rest#* }"
		done
		for rest in "${S_CLIENTS[@]}"; do
			read -r name cns src dst port proto <<<"$rest"
			echo "mkfifo /tmp/cl-$name; connt -n \$$cns client -s $src -d $dst -p $port$([ "$proto" = udp ] && echo ' -u') -t 3000 <>/tmp/cl-$name &"
		done
		echo "# (the test waits for conntrack to settle after each close and refusal)"
		for rest in "${S_STEPS[@]}"; do
			k=$((k + 1))
			[ $k -le "$n" ] || break
			read -r name kw <<<"$rest"
			case $kw in open | close | reset) kw="$kw 1" ;; esac
			echo "echo '$kw' >/tmp/cl-$name   # in-tree: ${ia[$((k - 1))]#* -> }; ours: ${oa[$((k - 1))]#* -> }"
		done
	} | sed 's/^/FAIL: repro| /' >&2
}
