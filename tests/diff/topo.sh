# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2016  # the commands name $cli, $rtr, $srv, for eval
#
# topo_commands TOPO: the shell commands that wire a scenario's namespaces
# ($cli, $rtr, $srv, which must exist), for the guest to eval and for a
# reproduction to print.  Addresses: addrs.sh.  The connt server in $srv
# is started apart (lib.sh's server_start).

# addr_lines DEV PREFIX4 PREFIX6 ADDR...: "addr add" batch lines.
addr_lines() {
	local dev=$1 p4=$2 p6=$3 a
	shift 3
	for a in "$@"; do
		case $a in
		*:*) echo "addr add $a/$p6 dev $dev nodad" ;;
		*) echo "addr add $a/$p4 dev $dev" ;;
		esac
	done
}

topo_commands() {
	local icmp='net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0'
	case $1 in
	inbound | outbound)
		echo 'ip link add c0 netns "$cli" type veth peer name s0 netns "$srv"'
		echo 'ip -n "$srv" -b - <<EOF'
		addr_lines s0 15 48 "${D_SRV4[@]}" "${D_SRV6[@]}"
		printf 'link set lo up\nlink set s0 up\nEOF\n'
		echo 'ip -n "$cli" -b - <<EOF'
		addr_lines c0 15 48 "${D_CLI4[@]}" "${D_CLI6[@]}"
		printf 'link set lo up\nlink set c0 up\nEOF\n'
		echo "nsenter --net=/run/netns/\"\$cli\" sysctl -q -w $icmp"
		;;
	local)
		echo 'ip link add s0 netns "$srv" type veth peer name p0 netns "$srv"'
		echo 'ip -n "$srv" -b - <<EOF'
		addr_lines s0 15 48 "${D_SRV4[@]}" "${D_SRV6[@]}"
		printf 'link set lo up\nlink set s0 up\nlink set p0 up\nEOF\n'
		;;
	router)
		echo 'ip -b - <<EOF'
		echo 'link add c0 netns $cli type veth peer name r0 netns $rtr'
		echo 'link add r1 netns $rtr type veth peer name s0 netns $srv'
		echo 'EOF'
		echo 'ip -n "$cli" -b - <<EOF'
		addr_lines c0 24 64 "${D_CLI4[@]}" "${D_CLI6[@]}"
		printf 'link set lo up\nlink set c0 up\n'
		printf 'route add default via %s\n' "${D_RTR_IN4[0]}" "${D_RTR_IN6[0]}"
		echo 'EOF'
		echo 'ip -n "$rtr" -b - <<EOF'
		addr_lines r0 24 64 "${D_RTR_IN4[@]}" "${D_RTR_IN6[@]}"
		addr_lines r1 24 64 "$D_RTR_OUT4" "$D_RTR_OUT6"
		printf 'link set lo up\nlink set r0 up\nlink set r1 up\nEOF\n'
		echo 'ip -n "$srv" -b - <<EOF'
		addr_lines s0 24 64 "${D_SRV4[@]}" "${D_SRV6[@]}"
		printf 'link set lo up\nlink set s0 up\n'
		printf 'route add default via %s\n' "$D_RTR_OUT4" "$D_RTR_OUT6"
		echo 'EOF'
		echo "nsenter --net=/run/netns/\"\$rtr\" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 $icmp"
		;;
	esac
	echo "nsenter --net=/run/netns/\"\$srv\" sysctl -q -w $icmp"
}

# topo_roles TOPO: the namespaces it needs.
topo_roles() {
	case $1 in
	local) echo srv ;;
	router) echo cli rtr srv ;;
	*) echo cli srv ;;
	esac
}
