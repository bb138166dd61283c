# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The addresses of the differential scenarios, sourced by gen.sh (host and
# guest) and topo.sh (guest).  The servers and the clients of the direct
# topology are lib.sh's SRV4/SRV6 and CLI4/CLI6 (server_start listens on
# those); the router topology puts the clients behind rtr and reaches the
# servers through it, or through a virtual address rtr DNATs.
#
#   direct  cli (198.18.1.1-3, 198.18.2.1 /15)  ==veth==  srv (198.18.0.1-2 /15)
#   router  cli (198.18.1.1-3/24, 198.18.2.1/24) == rtr == srv (198.18.0.1-2/24)
#           rtr: 198.18.1.254, 198.18.2.254 | 198.18.0.254; VIP 198.19.0.80
#   local   srv alone: 198.18.0.2 (or .1) -> 198.18.0.1 over lo
# IPv6 alike: 2001:db8:0:1::1-3, 2001:db8:0:2::1 | 2001:db8::1-2, router
# ::fe in each /64, VIP 2001:2::80.

D_SRV4=(198.18.0.1 198.18.0.2)
D_SRV6=(2001:db8::1 2001:db8::2)
D_CLI4=(198.18.1.1 198.18.1.2 198.18.1.3 198.18.2.1)
D_CLI6=(2001:db8:0:1::1 2001:db8:0:1::2 2001:db8:0:1::3 2001:db8:0:2::1)
D_VIP4=198.19.0.80
D_VIP6=2001:2::80
D_RTR_IN4=(198.18.1.254 198.18.2.254)	# rtr's r0, towards cli
D_RTR_IN6=(2001:db8:0:1::fe 2001:db8:0:2::fe)
D_RTR_OUT4=198.18.0.254			# rtr's r1, towards srv
D_RTR_OUT6=2001:db8::fe
