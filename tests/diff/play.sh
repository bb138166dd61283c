# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# play_scenario FILE VARIANT OUT: run one scenario (gen.sh's format)
# against the xt_connlimit that is loaded (VARIANT: ours|intree) and write
# its transcript to OUT, one line per step:
#   STEP CLIENT ACTION -> connt's answer
# e.g. "3 a open -> open est=0 ref=1 tmo=0 err=0".  Each open step opens
# one connection, so the transcript says connection by connection what was
# accepted and refused and whether the held ones echo.  On VARIANT intree
# the rules lose their --connlimit-name (the in-tree module has no
# revision 2: the same rule without a table of its own); on ours a rule
# with a name is added with our extension, and the "count" lines check the
# named table's total against conntrack.  Run in a subshell of a case
# (lib.sh's run_case): it leaves namespaces for cleanup_case.

# scenario_parse FILE: S_TOPO S_FAM S_PROTO BACKEND, arrays S_RULES
# S_CLIENTS S_STEPS S_COUNTS (each entry the line without its keyword).
scenario_parse() {
	local kw rest
	S_TOPO= S_FAM= S_PROTO= S_RULES=() S_CLIENTS=() S_STEPS=() S_COUNTS=()
	while read -r kw rest; do
		case $kw in
		topo) S_TOPO=$rest ;;
		fam) S_FAM=$rest ;;
		proto) S_PROTO=$rest ;;
		backend) BACKEND=$rest ;;
		rule) S_RULES+=("$rest") ;;
		client) S_CLIENTS+=("$rest") ;;
		step) S_STEPS+=("$rest") ;;
		count) S_COUNTS+=("$rest") ;;
		esac
	done <"$1"
	export BACKEND
}

# rule_for VARIANT ARGS: the rule's arguments as this variant adds them.
rule_for() {
	if [ "$1" = intree ]; then
		sed -E 's/ --connlimit-name [^ ]+//' <<<"$2"
	else
		echo "$2"
	fi
}

# conntrack_settled NS: no TCP connection of NS halfway through opening
# or closing (half-open ones, SYN_SENT, stay as they are).
conntrack_settled() {
	nsx "$1" conntrack -L -p tcp 2>/dev/null |
		awk '$4 ~ /^(SYN_RECV|FIN_WAIT|CLOSE_WAIT|LAST_ACK|SYN_SENT2)$/ { busy = 1 }
			END { exit busy }'
}

declare -A ROLE_NS	# role (cli, rtr, srv) -> namespace, of the scenario playing

# settle: after closes both engines are given the same quiet moment:
# conntrack settled everywhere, then 100 ms (many jiffies).  After a
# refusal only the 100 ms: the in-tree engine lets go of a refused
# connection in 2 jiffies, and how soon ours does is part of the test.
settle() {
	local ns
	for ns in "${NSLIST[@]}"; do
		busywait 10000 conntrack_settled "$ns" ||
			fail "conntrack in $ns did not settle within 10 s"
	done
	nap 0.1
}

# named_total NS NAME: the sum of the conns column of the named table.
named_total() {
	nsx "$1" cat "/proc/net/xt_connlimit/$2" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "conns") n += $(i + 1) } END { print n + 0 }'
}

# ct_open_to NS PORT|any: TCP entries (to PORT) in NS that are not closed
# (the states both engines count: all but TIME_WAIT and CLOSE).
ct_open_to() {
	local port=()
	[ "$2" = any ] || port=(--dport "$2")
	nsx "$1" conntrack -L -p tcp "${port[@]}" 2>/dev/null |
		awk '$4 != "TIME_WAIT" && $4 != "CLOSE" { n++ } END { print n + 0 }'
}

named_matches_ct() {
	[ "$(named_total "$1" "$2")" = "$(ct_open_to "$1" "$3")" ]
}

# flush_rules: empty every table the scenario's rules went into, before
# cleanup_case (which empties filter and raw only) ends its connections: a
# rule left in mangle that drops a closing packet leaves orphan sockets
# retransmitting, which keep the namespace, and so the module, alive.
flush_rules() {
	local r t ns cmd=iptables
	local -A batch
	[ "$S_FAM" = 6 ] && cmd=ip6tables
	for r in "${S_RULES[@]}"; do
		read -r ns _ t _ <<<"$r"
		batch[$ns]+="*$t"$'\n'"COMMIT"$'\n'
	done
	for ns in "${!batch[@]}"; do
		[ -n "${ROLE_NS[$ns]:-}" ] || continue
		nsx "${ROLE_NS[$ns]}" "$cmd-$BACKEND-restore" <<<"${batch[$ns]}" 2>/dev/null
	done
	return 0
}

play_scenario() {
	local file=$1 variant=$2 out=$3 r ns c name cns src dst port proto act k=0 dirty=
	local cli= rtr= srv=
	local -n role=ROLE_NS
	scenario_parse "$file"
	# shellcheck disable=SC2046  # role names, one word each
	mkns $(topo_roles "$S_TOPO")
	role=([cli]=$cli [rtr]=$rtr [srv]=$srv)
	eval "$(topo_commands "$S_TOPO")"
	server_start "$srv"
	if [ "$variant" = ours ] && grep -q -- '--connlimit-name' "$file"; then
		use_our_ext
	fi
	for r in "${S_RULES[@]}"; do
		ns=${role[${r%% *}]}
		# shellcheck disable=SC2046  # the rule's words
		xt "$S_FAM" "$ns" $(rule_for "$variant" "${r#* }") ||
			fail "$variant: rule not added: ${r#* }"
	done
	for c in "${S_CLIENTS[@]}"; do
		read -r name cns src dst port proto <<<"$c"
		client_start "$name" "${role[$cns]}" "$src" "$dst" "$port" \
			"$([ "$proto" = udp ] && echo -u)"
	done
	: >"$out"
	for r in "${S_STEPS[@]}"; do
		k=$((k + 1))
		read -r name act <<<"$r"
		case $act:$dirty in
		open:closed | ping:closed) settle; dirty= ;;
		open:refused | ping:refused) nap 0.1; dirty= ;;
		esac
		case $act in
		open) client_cmd "$name" "open 1" ;;
		ping) client_cmd "$name" ping ;;
		close) client_cmd "$name" "close 1" ;;
		reset) client_cmd "$name" "reset 1" ;;
		esac
		echo "$k $name $act -> $REPLY_LINE" >>"$out"
		case $REPLY_LINE in
		"close n=0" | "reset n=0" | "open est=1 "* | "ping "*) ;;
		"open "*) [ "$dirty" = closed ] || dirty=refused ;;
		*) dirty=closed ;;
		esac
	done
	[ "$variant" = ours ] || return 0
	settle
	for r in "${S_COUNTS[@]}"; do
		read -r name cns port <<<"$r"
		busywait 5000 named_matches_ct "${role[$cns]}" "$name" "$port" ||
			fail "ours: /proc/net/xt_connlimit/$name in $cns holds $(named_total "${role[$cns]}" "$name") connections, conntrack $(ct_open_to "${role[$cns]}" "$port") open TCP ones (port $port)"
		log "ours: /proc/net/xt_connlimit/$name holds $(named_total "${role[$cns]}" "$name") connections, as conntrack says"
	done
}
