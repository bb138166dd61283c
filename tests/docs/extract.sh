#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# extract.sh FILE...: every example of the given documents (Markdown
# README, roff man pages), as records for tests/docs/run.sh:
#
#   @@example FILE LINE KIND [WORDS...]
#   the example's lines (roff escapes undone)
#   @@end
#
# KIND comes from the example's marker (see tests/docs/run.sh for what
# each kind means):
#   Markdown: a fenced block (```, indented or not) whose opening fence
#             follows the line
#             <!-- example: KIND [WORDS...] -->
#   roff:     a .nf/.fi or .EX/.EE block after a line
#             .\" example: KIND [WORDS...]
#             (only requests such as .RS, .PP or .IP between the two)
# A block without a marker is a record of KIND "-"; a marker followed by
# no block is one of KIND "orphan"; a command outside any block (a roff
# text line, or a Markdown line indented as code, that starts with one of
# the commands in $cmds) is one of KIND "unfenced": run.sh fails all three,
# so no example goes untested without anyone noticing.
set -euo pipefail

# Commands that make a line an example wherever it appears: one of these
# words followed by what a command's first argument looks like (an option,
# a path, an address, a URL, a subcommand), not by prose.
cmds='iptables|ip6tables|iptables-save|ip6tables-save|iptables-restore|ip6tables-restore|iptables-translate|ip6tables-translate|ipset|nft|modprobe|insmod|rmmod|lsmod|modinfo|dkms|conntrack|nc|curl|ss|watch|apt-get|dpkg-buildpackage|netfilter-persistent|sysctl'
args='-|/|[0-9]|http|install|status|create|add|save|list|xt_connlimit|cat '

extract_md() { # FILE
	awk -v file="$1" -v cmds="^($cmds)( +($args)|\$)" '
	function marker(s) {
		if (s ~ /^[ \t]*<!-- example: .* -->[ \t]*$/) {
			sub(/^[ \t]*<!-- example: /, "", s)
			sub(/ -->[ \t]*$/, "", s)
			return s
		}
		return ""
	}
	# a fence may be indented (in a list item); its lines lose as much
	infence && /^[ \t]*```/ { print "@@end"; infence = 0; prev = ""; next }
	infence { line = $0; if (substr(line, 1, ind) ~ /^[ \t]*$/) line = substr(line, ind + 1); print line; next }
	/^[ \t]*```/ {
		m = marker(prev)
		if (m == "") m = "-"
		print "@@example " file " " NR " " m
		infence = 1
		match($0, /^[ \t]*/)
		ind = RLENGTH
		pending = ""
		next
	}
	{
		if (pending != "" && $0 !~ /^[ \t]*$/ && marker($0) == "") {
			print "@@example " file " " pendline " orphan"
			print "@@end"
			pending = ""
		}
		if (marker($0) != "") { pending = marker($0); pendline = NR }
		line = $0
		# an indented code line after a blank line (not in a list)
		if (line ~ /^    / && (prev ~ /^[ \t]*$/ || previndented)) {
			sub(/^ +/, "", line)
			if (line ~ cmds) {
				print "@@example " file " " NR " unfenced"
				print line
				print "@@end"
			}
			previndented = 1
		} else {
			previndented = 0
		}
		prev = $0
	}
	END {
		if (infence) { print "@@end"; print "@@example " file " " NR " unterminated"; print "@@end" }
		if (pending != "") { print "@@example " file " " pendline " orphan"; print "@@end" }
	}' "$1"
}

extract_roff() { # FILE
	awk -v file="$1" -v cmds="^($cmds)( +($args)|\$)" '
	function unescape(s) {
		gsub(/\\e/, "\001", s)
		gsub(/\\\(rs/, "\001", s)
		gsub(/\\-/, "-", s)
		gsub(/\\\(aq/, "\047", s)
		gsub(/\\\(oq/, "\047", s)
		gsub(/\\\(cq/, "\047", s)
		gsub(/\\\(dq/, "\"", s)
		gsub(/\\\(ti/, "~", s)
		gsub(/\\\(ha/, "^", s)
		gsub(/\\f[BIRP]/, "", s)
		gsub(/\\f\(CW/, "", s)
		gsub(/\\&/, "", s)
		gsub(/\\\|/, "", s)
		gsub(/\\ /, " ", s)
		gsub(/\001/, "\\", s)
		return s
	}
	/^\.\\" example: / {
		if (pending != "") { print "@@example " file " " pendline " orphan"; print "@@end" }
		pending = $0
		sub(/^\.\\" example: /, "", pending)
		sub(/[ \t]+$/, "", pending)
		pendline = NR
		next
	}
	/^\.\\"/ { next }
	inblock && /^\.(fi|EE)([ \t]|$)/ { print "@@end"; inblock = 0; next }
	inblock && /^\./ { next }
	inblock { print unescape($0); next }
	/^\.(nf|EX)([ \t]|$)/ {
		m = pending
		if (m == "") m = "-"
		print "@@example " file " " NR " " m
		inblock = 1
		pending = ""
		next
	}
	/^\./ { next }
	{
		if (pending != "") {
			print "@@example " file " " pendline " orphan"
			print "@@end"
			pending = ""
		}
		line = unescape($0)
		sub(/^[ \t]+/, "", line)
		if (line ~ cmds) {
			print "@@example " file " " NR " unfenced"
			print line
			print "@@end"
		}
	}
	END {
		if (inblock) { print "@@end"; print "@@example " file " " NR " unterminated"; print "@@end" }
		if (pending != "") { print "@@example " file " " pendline " orphan"; print "@@end" }
	}' "$1"
}

[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
for f in "$@"; do
	case $f in
	*.md) extract_md "$f" ;;
	*) extract_roff "$f" ;;
	esac
done
