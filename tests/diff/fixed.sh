# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Fixed regression scenarios (gen.sh's format), run by every make check
# beside the generated ones: fixed_scenario NAME prints one; FIXED_NAMES
# lists them.  Each is a divergence of ours seen before:
#   lo-nosyn4, lo-nosyn6  a rule without --syn sees both directions of a
#                         connection whose ends are one key (a local
#                         address talking to itself over lo): it must count
#                         it once
#   fwd-mask0             the same in FORWARD with --connlimit-mask 0
#   raw-syn4, raw-syn6    a rule in raw PREROUTING (no conntrack yet) must
#                         count too
#   refused-later         a SYN two rules counted and the second refused
#                         must stop counting as soon as its conntrack is
#                         gone (in-tree: 2 jiffies): the next connection of
#                         the key must pass (found by seed 3 of the first
#                         generator)
#   out-post              outbound: a SYN two OUTPUT rules count and the
#                         second refuses; REJECT's RST (attached to the
#                         refused conntrack, from the server's address)
#                         passes a mangle POSTROUTING rule per source: the
#                         next refusal's RST must get through too, as it
#                         does when the earlier refused one stopped
#                         counting (found by seed 32)

FIXED_NAMES="lo-nosyn4 lo-nosyn6 fwd-mask0 raw-syn4 raw-syn6 refused-later out-post"

fixed_scenario() {
	local a
	case $1 in
	lo-nosyn4 | lo-nosyn6)
		a=${D_SRV4[0]}
		[ "$1" = lo-nosyn6 ] && a=${D_SRV6[0]}
		cat <<-EOF
		name $1
		topo local
		fam ${1#lo-nosyn}
		proto tcp
		backend legacy
		rule srv -t filter -A INPUT -i lo -p tcp -m connlimit --connlimit-above 1 -j REJECT --reject-with tcp-reset
		client a srv $a $a 80 tcp
		step a open
		step a ping
		step a open
		step a ping
		EOF
		;;
	fwd-mask0)
		cat <<-EOF
		name $1
		topo router
		fam 4
		proto tcp
		backend nft
		rule rtr -t filter -A FORWARD -p tcp -m connlimit --connlimit-above 1 --connlimit-mask 0 -j REJECT --reject-with tcp-reset
		client a cli ${D_CLI4[0]} ${D_SRV4[0]} 80 tcp
		step a open
		step a ping
		step a open
		step a ping
		EOF
		;;
	raw-syn4 | raw-syn6)
		if [ "$1" = raw-syn6 ]; then
			set -- "$1" 6 "${D_CLI6[0]}" "${D_SRV6[0]}" " --connlimit-mask 64"
		else
			set -- "$1" 4 "${D_CLI4[0]}" "${D_SRV4[0]}" ""
		fi
		cat <<-EOF
		name $1
		topo inbound
		fam $2
		proto tcp
		backend legacy
		rule srv -t raw -A PREROUTING -p tcp --syn -m connlimit --connlimit-above 2$5 -j DROP
		client a cli $3 $4 80 tcp
		step a open
		step a open
		step a open
		step a ping
		EOF
		;;
	refused-later)
		cat <<-EOF
		name $1
		topo inbound
		fam 4
		proto tcp
		backend nft
		rule srv -t mangle -A PREROUTING -p tcp --syn -m connlimit --connlimit-above 1 -j DROP
		rule srv -t filter -A INPUT -p tcp --dport 81 -m connlimit --connlimit-above 0 -j REJECT --reject-with tcp-reset
		client a cli ${D_CLI4[0]} ${D_SRV4[0]} 81 tcp
		client b cli ${D_CLI4[0]} ${D_SRV4[0]} 80 tcp
		step a open
		step b open
		step b ping
		EOF
		;;
	out-post)
		# seed 32's first seven steps, without the half-open client
		cat <<-EOF
		name $1
		topo outbound
		fam 6
		proto tcp
		backend legacy
		rule cli -t mangle -A POSTROUTING -p tcp -m connlimit --connlimit-above 1 --connlimit-mask 128 --connlimit-saddr -j DROP
		rule cli -t filter -A OUTPUT -p tcp --dport 80 -m connlimit --connlimit-above 3 --connlimit-mask 128 -j REJECT --reject-with tcp-reset
		rule cli -t filter -A OUTPUT -p tcp --dport 80 -m connlimit ! --connlimit-upto 2 --connlimit-mask 0 --connlimit-daddr -j REJECT --reject-with tcp-reset
		client a cli ${D_CLI6[3]} ${D_SRV6[0]} 80 tcp
		client c cli ${D_CLI6[2]} ${D_SRV6[0]} 80 tcp
		step a open
		step c open
		step c open
		step a open
		step a ping
		step c ping
		EOF
		;;
	*) return 1 ;;
	esac
}
