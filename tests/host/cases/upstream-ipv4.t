# The upstream iptables test cases for IPv4, in iptables' .t format, with
# a fourth field: the exact error the FAIL lines must print (after the
# "iptables v1.8.9 (legacy): " style prefix).
#
# These are all lines of iptables 1.8.9 extensions/libxt_connlimit.t, in
# order.  Later releases split that file: libipt_connlimit.t is its lines
# 2,3,4,6,7,8,11,12,14,15 unchanged, and libxt_connlimit.t keeps its five
# family-neutral FAIL lines (also in upstream-ipv6.t).  Rules go through
# the shell's word splitting (eval), expected saves are compared verbatim.
:INPUT,FORWARD,OUTPUT
-m connlimit --connlimit-upto 0;-m connlimit --connlimit-upto 0 --connlimit-mask 32 --connlimit-saddr;OK
-m connlimit --connlimit-upto 4294967295 --connlimit-mask 32 --connlimit-saddr;=;OK
-m connlimit --connlimit-upto 4294967296 --connlimit-mask 32 --connlimit-saddr;;FAIL;connlimit: bad value for option "--connlimit-upto", or out of range (0-4294967295).
-m connlimit --connlimit-upto -1;;FAIL;connlimit: bad value for option "--connlimit-upto", or out of range (0-4294967295).
-m connlimit --connlimit-above 0;-m connlimit --connlimit-above 0 --connlimit-mask 32 --connlimit-saddr;OK
-m connlimit --connlimit-above 4294967295 --connlimit-mask 32 --connlimit-saddr;=;OK
-m connlimit --connlimit-above 4294967296 --connlimit-mask 32 --connlimit-saddr;;FAIL;connlimit: bad value for option "--connlimit-above", or out of range (0-4294967295).
-m connlimit --connlimit-above -1;;FAIL;connlimit: bad value for option "--connlimit-above", or out of range (0-4294967295).
-m connlimit --connlimit-upto 1 --conlimit-above 1;;FAIL;unknown option "--conlimit-above"
-m connlimit --connlimit-above 10 --connlimit-saddr;-m connlimit --connlimit-above 10 --connlimit-mask 32 --connlimit-saddr;OK
-m connlimit --connlimit-above 10 --connlimit-daddr;-m connlimit --connlimit-above 10 --connlimit-mask 32 --connlimit-daddr;OK
-m connlimit --connlimit-above 10 --connlimit-saddr --connlimit-daddr;;FAIL;connlimit: option "--connlimit-saddr" cannot be used together with "--connlimit-daddr".
-m connlimit --connlimit-above 10 --connlimit-mask 32 --connlimit-saddr;=;OK
-m connlimit --connlimit-above 10 --connlimit-mask 32 --connlimit-daddr;=;OK
-m connlimit;;FAIL;You must specify "--connlimit-above" or "--connlimit-upto".
