#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# gen.sh SEED: print the differential scenario of SEED (the guest sources
# this file and calls gen_scenario).  The same seed gives the same
# scenario everywhere: the generator has its own PRNG (xorshift32), not
# bash's $RANDOM.
#
# A scenario is a list of lines (play.sh runs them, compare.sh prints them
# as commands):
#   seed S | name NAME          where it came from
#   topo inbound|outbound|local|router
#   fam 4|6   proto tcp|udp   backend legacy|nft
#   rule NS ARGS...             an ip(6)tables rule (NS: cli, rtr or srv)
#   client C NS SRC DST PORT tcp|udp
#                               a connt client; port 80, 81 served (81 in
#                               conntrack zone 1 when the scenario has
#                               zones), 82 refused by the server, 83
#                               dropped at the server (left half-open)
#   step C open|ping|close|reset
#   count NAME NS PORT|any      ours: the named table's total against
#                               conntrack's TCP entries (to PORT) in NS
set -u

# shellcheck source=addrs.sh
. "$(dirname "${BASH_SOURCE[0]}")/addrs.sh"

# rng_seed N; rng N: R in [0, N); pick WORDS...: P, one of them.
rng_seed() {
	RNG=$(((($1 + 1) * 2654435761 + 40503) & 0xffffffff))
	[ "$RNG" -ne 0 ] || RNG=1
	rng 2	# stir
}
rng() {
	local x=$RNG
	x=$(((x ^ (x << 13)) & 0xffffffff))
	x=$((x ^ (x >> 17)))
	x=$(((x ^ (x << 5)) & 0xffffffff))
	RNG=$x
	R=$((x % $1))
}
pick() {
	rng $#
	shift "$R"
	P=$1
}

# refuse_target TABLE:CHAIN PROTO: how a rule there refuses (REJECT only
# exists in filter's INPUT, FORWARD and OUTPUT).
refuse_target() {
	case $1 in
	filter:INPUT | filter:FORWARD | filter:OUTPUT)
		if [ "$2" = tcp ]; then
			echo "-j REJECT --reject-with tcp-reset"
		else
			echo "-j REJECT"
		fi
		;;
	*) echo "-j DROP" ;;
	esac
}

gen_scenario() {
	local seed=$1 topo fam proto backend rns nat=none zone=0 i n tc table chain
	local sel mode opt limit mask dir name tgt cns src dst port half=0 act steps
	local -a chains srv cli rules=() clients=() counts=() accepted=() letters=(a b c)
	local full net vip rtr_out
	rng_seed "$seed"
	pick inbound inbound router router local outbound
	topo=$P
	pick 4 6
	fam=$P
	pick tcp tcp tcp udp
	proto=$P
	pick legacy nft
	backend=$P
	if [ "$fam" = 6 ]; then
		srv=("${D_SRV6[@]}") cli=("${D_CLI6[@]}") full=128 net=64
		vip=$D_VIP6 rtr_out=$D_RTR_OUT6
	else
		srv=("${D_SRV4[@]}") cli=("${D_CLI4[@]}") full=32 net=24
		vip=$D_VIP4 rtr_out=$D_RTR_OUT4
	fi
	case $topo in
	inbound)
		rns=srv
		chains=(raw:PREROUTING mangle:PREROUTING mangle:INPUT filter:INPUT filter:INPUT filter:OUTPUT)
		;;
	outbound)
		rns=cli
		chains=(raw:OUTPUT mangle:OUTPUT filter:OUTPUT filter:OUTPUT mangle:POSTROUTING filter:INPUT)
		;;
	local)
		rns=srv
		chains=(raw:PREROUTING raw:OUTPUT mangle:PREROUTING mangle:OUTPUT mangle:INPUT mangle:POSTROUTING filter:INPUT filter:OUTPUT)
		;;
	router)
		rns=rtr
		chains=(raw:PREROUTING mangle:PREROUTING mangle:FORWARD filter:FORWARD filter:FORWARD mangle:POSTROUTING)
		pick none none dnat snat masq
		nat=$P
		;;
	esac
	rng 4
	[ "$R" -ne 0 ] || zone=1

	# conntrack zone 1 for port 81, both directions, where the rules are
	if [ "$zone" = 1 ]; then
		case $topo in
		inbound) rules+=("$rns -t raw -A PREROUTING -p $proto --dport 81 -j CT --zone 1"
			"$rns -t raw -A OUTPUT -p $proto --sport 81 -j CT --zone 1") ;;
		outbound) rules+=("$rns -t raw -A OUTPUT -p $proto --dport 81 -j CT --zone 1"
			"$rns -t raw -A PREROUTING -p $proto --sport 81 -j CT --zone 1") ;;
		local) rules+=("$rns -t raw -A OUTPUT -p $proto --dport 81 -j CT --zone 1"
			"$rns -t raw -A OUTPUT -p $proto --sport 81 -j CT --zone 1") ;;
		router) rules+=("$rns -t raw -A PREROUTING -p $proto --dport 81 -j CT --zone 1"
			"$rns -t raw -A PREROUTING -p $proto --sport 81 -j CT --zone 1") ;;
		esac
	fi
	case $nat in
	dnat) rules+=("rtr -t nat -A PREROUTING -d $vip -j DNAT --to-destination ${srv[0]}") ;;
	snat) rules+=("rtr -t nat -A POSTROUTING -o r1 -j SNAT --to-source $rtr_out") ;;
	masq) rules+=("rtr -t nat -A POSTROUTING -o r1 -j MASQUERADE") ;;
	esac

	# one to three connlimit rules
	pick 1 1 2 3
	n=$P
	for ((i = 1; i <= n; i++)); do
		pick "${chains[@]}"
		tc=$P table=${P%%:*} chain=${P#*:}
		sel="-p $proto"
		if [ "$proto" = tcp ]; then
			pick "" " --syn"
			sel+=$P
		fi
		pick "" " --dport 80"
		sel+=$P
		pick above above upto
		mode=$P
		pick 0 1 1 2 2 3
		limit=$P
		pick "" "" " --connlimit-mask $full" " --connlimit-mask $net" " --connlimit-mask 0"
		mask=$P
		pick "" "" " --connlimit-saddr" " --connlimit-daddr"
		dir=$P
		name=
		rng 2
		[ "$R" -ne 0 ] || name=" --connlimit-name n$i"
		opt="--connlimit-$mode $limit"
		rng 5
		if [ "$R" -eq 0 ]; then
			# the same limit through "!": not above N is up to N
			if [ "$mode" = above ]; then
				opt="! --connlimit-upto $limit"
			else
				opt="! --connlimit-above $limit"
			fi
		fi
		tgt=$(refuse_target "$tc" "$proto")
		# the named table's total is conntrack's where the rule sees the
		# first packet of every TCP connection (to port 80 with --dport)
		# once, before anything in its chain accepted it: SYNs, or any
		# packet on the server's way in
		if [ -n "$name" ] && [ "$proto" = tcp ] && [ "$table" != raw ] &&
			[[ $chain =~ ^(PREROUTING|INPUT|FORWARD)$ ]] &&
			[[ " ${accepted[*]} " != *" $tc "* ]] &&
			{ [[ $sel = *--syn* && $topo != outbound ]] ||
				[[ $topo = inbound && $chain != FORWARD ]]; }; then
			counts+=("count n$i $rns $([[ $sel = *--dport* ]] && echo 80 || echo any)")
		fi
		# a rule matching what is over the limit refuses it; one matching
		# what is within accepts it and the next rule refuses the rest
		if [ "$mode" = above ]; then
			rules+=("$rns -t $table -A $chain $sel -m connlimit $opt$mask$dir$name $tgt")
		else
			rules+=("$rns -t $table -A $chain $sel -m connlimit $opt$mask$dir$name -j ACCEPT"
				"$rns -t $table -A $chain $sel $tgt")
			accepted+=("$tc")
		fi
	done

	# one to three clients
	pick 1 2 2 3
	n=$P
	for ((i = 0; i < n; i++)); do
		if [ "$topo" = local ]; then
			cns=srv
			pick "${srv[@]}"
			src=$P
		else
			cns=cli
			pick "${cli[0]}" "${cli[0]}" "${cli[1]}" "${cli[2]}" "${cli[3]}"
			src=$P
		fi
		pick "${srv[0]}" "${srv[0]}" "${srv[1]}"
		dst=$P
		[ "$nat" = dnat ] && dst=$vip
		pick 80 80 80 80 81 82 83
		port=$P
		if [ "$port" = 83 ]; then
			[ "$half" = 0 ] || port=80
			half=1
		fi
		clients+=("client ${letters[i]} $cns $src $dst $port $proto")
	done
	[ "$half" = 0 ] || rules+=("srv -t filter -A INPUT -p $proto --dport 83 -j DROP")

	echo "seed $seed"
	echo "topo $topo"
	echo "fam $fam"
	echo "proto $proto"
	echo "backend $backend"
	printf 'rule %s\n' "${rules[@]}"
	printf '%s\n' "${clients[@]}"
	# six to twelve steps, each client opening first
	for ((i = 0; i < ${#clients[@]}; i++)); do
		echo "step ${letters[i]} open"
	done
	rng 7
	steps=$((6 + R - ${#clients[@]}))
	for ((i = 0; i < steps; i++)); do
		pick "${clients[@]}"
		cns=${P#client }
		cns=${cns%% *}
		pick open open open open open ping ping close close reset
		act=$P
		[ "$proto" = udp ] && [ "$act" = reset ] && act=close
		echo "step $cns $act"
	done
	[ ${#counts[@]} -eq 0 ] || printf '%s\n' "${counts[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	[ $# -eq 1 ] && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 SEED" >&2; exit 2; }
	gen_scenario "$1"
fi
