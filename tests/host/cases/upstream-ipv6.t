# The upstream iptables test cases for IPv6 (libip6t_connlimit.t of
# iptables 1.8.11 and later: the 1.8.9 IPv4 file with /128 for /32), in
# iptables' .t format plus a fourth field, the exact error of FAIL lines.
# See upstream-ipv4.t for the format.
:INPUT,FORWARD,OUTPUT
-m connlimit --connlimit-upto 0;-m connlimit --connlimit-upto 0 --connlimit-mask 128 --connlimit-saddr;OK
-m connlimit --connlimit-upto 4294967295 --connlimit-mask 128 --connlimit-saddr;=;OK
-m connlimit --connlimit-upto 4294967296 --connlimit-mask 128 --connlimit-saddr;;FAIL;connlimit: bad value for option "--connlimit-upto", or out of range (0-4294967295).
-m connlimit --connlimit-upto -1;;FAIL;connlimit: bad value for option "--connlimit-upto", or out of range (0-4294967295).
-m connlimit --connlimit-above 0;-m connlimit --connlimit-above 0 --connlimit-mask 128 --connlimit-saddr;OK
-m connlimit --connlimit-above 4294967295 --connlimit-mask 128 --connlimit-saddr;=;OK
-m connlimit --connlimit-above 4294967296 --connlimit-mask 128 --connlimit-saddr;;FAIL;connlimit: bad value for option "--connlimit-above", or out of range (0-4294967295).
-m connlimit --connlimit-above -1;;FAIL;connlimit: bad value for option "--connlimit-above", or out of range (0-4294967295).
-m connlimit --connlimit-upto 1 --conlimit-above 1;;FAIL;unknown option "--conlimit-above"
-m connlimit --connlimit-above 10 --connlimit-saddr;-m connlimit --connlimit-above 10 --connlimit-mask 128 --connlimit-saddr;OK
-m connlimit --connlimit-above 10 --connlimit-daddr;-m connlimit --connlimit-above 10 --connlimit-mask 128 --connlimit-daddr;OK
-m connlimit --connlimit-above 10 --connlimit-saddr --connlimit-daddr;;FAIL;connlimit: option "--connlimit-saddr" cannot be used together with "--connlimit-daddr".
-m connlimit --connlimit-above 10 --connlimit-mask 128 --connlimit-saddr;=;OK
-m connlimit --connlimit-above 10 --connlimit-mask 128 --connlimit-daddr;=;OK
-m connlimit;;FAIL;You must specify "--connlimit-above" or "--connlimit-upto".
