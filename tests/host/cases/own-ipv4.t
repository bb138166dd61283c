# Our own IPv4 cases that must be accepted, same format as upstream-ipv4.t:
# inverted limits, every way of writing a mask, numbers in other bases,
# connlimit next to other matches and twice in one rule.  INPUT only:
# the upstream cases already cover every chain.
:INPUT
-m connlimit ! --connlimit-upto 5;-m connlimit --connlimit-above 5 --connlimit-mask 32 --connlimit-saddr;OK
-m connlimit ! --connlimit-above 5;-m connlimit --connlimit-upto 5 --connlimit-mask 32 --connlimit-saddr;OK
-m connlimit --connlimit-daddr --connlimit-upto 7;-m connlimit --connlimit-upto 7 --connlimit-mask 32 --connlimit-daddr;OK
-m connlimit --connlimit-above 2 --connlimit-mask 0;-m connlimit --connlimit-above 2 --connlimit-mask 0 --connlimit-saddr;OK
-m connlimit --connlimit-above 2 --connlimit-mask 1 --connlimit-saddr;=;OK
-m connlimit --connlimit-above 2 --connlimit-mask 8 --connlimit-daddr;=;OK
-m connlimit --connlimit-upto 2 --connlimit-mask 16 --connlimit-saddr;=;OK
-m connlimit --connlimit-above 20 --connlimit-mask 24;-m connlimit --connlimit-above 20 --connlimit-mask 24 --connlimit-saddr;OK
-m connlimit --connlimit-upto 2 --connlimit-mask 31 --connlimit-daddr;=;OK
-m connlimit --connlimit-upto 3 --connlimit-mask 255.255.255.0 --connlimit-daddr;-m connlimit --connlimit-upto 3 --connlimit-mask 24 --connlimit-daddr;OK
-m connlimit --connlimit-upto 3 --connlimit-mask 255.255.0.0;-m connlimit --connlimit-upto 3 --connlimit-mask 16 --connlimit-saddr;OK
-m connlimit --connlimit-upto 3 --connlimit-mask 255.255.255.254;-m connlimit --connlimit-upto 3 --connlimit-mask 31 --connlimit-saddr;OK
-m connlimit --connlimit-upto 3 --connlimit-mask 255.255.255.255;-m connlimit --connlimit-upto 3 --connlimit-mask 32 --connlimit-saddr;OK
-m connlimit --connlimit-upto 3 --connlimit-mask 128.0.0.0;-m connlimit --connlimit-upto 3 --connlimit-mask 1 --connlimit-saddr;OK
-m connlimit --connlimit-upto 3 --connlimit-mask 0.0.0.0;-m connlimit --connlimit-upto 3 --connlimit-mask 0 --connlimit-saddr;OK
-m connlimit --connlimit-above 0x10 --connlimit-mask 0x18;-m connlimit --connlimit-above 16 --connlimit-mask 24 --connlimit-saddr;OK
-m connlimit --connlimit-above 010 --connlimit-mask 010;-m connlimit --connlimit-above 8 --connlimit-mask 8 --connlimit-saddr;OK
-p tcp --syn --dport 23 -m connlimit --connlimit-above 2 -j REJECT;-p tcp -m tcp --dport 23 --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr -j REJECT --reject-with icmp-port-unreachable;OK
-s 10.0.0.0/8 -m connlimit --connlimit-above 2 -m connlimit --connlimit-upto 9 --connlimit-mask 16 --connlimit-daddr -j ACCEPT;-s 10.0.0.0/8 -m connlimit --connlimit-above 2 --connlimit-mask 32 --connlimit-saddr -m connlimit --connlimit-upto 9 --connlimit-mask 16 --connlimit-daddr -j ACCEPT;OK
