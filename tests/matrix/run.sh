#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh check|full
#
# The kernel matrix (releases.conf): every kernel Debian users run, each
# built in a chroot of its own release and booted under qemu.
#
#   check  (make check) per release: its chroot (mkroot.sh), the extension
#          built against its libxtables; per kernel and flavour: headers
#          unpacked (fetch.sh), the module built W=1 + sparse + -Werror with
#          the release's gcc (build.sh); per release again: the extension's
#          host suite in its chroot (host-suite.sh; the host's own release
#          has tests/host/run.sh) and the packages built, installed with
#          DKMS building for each of its kernels, removed (pkg.sh), run
#          beside the boots; per BOOT flavour: the kernel image unpacked and
#          the e2e suite run in one boot on our module and in another on the
#          kernel's own (the differential run), with the nft backend, unless
#          the kernel is installed on this machine (tests/run-all.sh boots
#          those anyway)
#   full   (make matrix) as check, and every flavour of every kernel booted,
#          ours and the kernel's own, both backends; the host suite in the
#          host's release's chroot too
#
# TAP-like lines as the other suites print; "# matrix timing:" lines say
# how long each kernel took.  Exit 1 if anything failed.
#
# Environment: MATRIX_BACKENDS, passed on to the boots as TESTBED_BACKENDS
# (default: "nft", Debian's default iptables, for check, to keep "make
# check" within its time; "legacy nft" for full); MATRIX_PARALLEL=0 runs
# the release checks before the boots instead of beside them;
# CONNLIMIT_MATRIX_CACHE (see lib.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/matrix/lib.sh
. "$here/lib.sh"
cd "$MATRIX_TOP" || exit 1

mode=${1:-check}
case $mode in
check) backends=${MATRIX_BACKENDS:-nft} ;;
full) backends=${MATRIX_BACKENDS:-legacy nft} ;;
*) echo "usage: $0 check|full" >&2; exit 2 ;;
esac
logs=$MATRIX_TOP/build/matrix/logs
mkdir -p "$logs"
n=0 failed=0
t_all=$(date +%s)

pass() { n=$((n + 1)); echo "ok $n - matrix: $1"; }
fail() { n=$((n + 1)) failed=1; echo "FAIL: $2"; echo "not ok $n - matrix: $1"; }
skip() { n=$((n + 1)); echo "ok $n - matrix: $1 # SKIP $2"; }
show() { tail -n "${2:-30}" "$1" | sed 's/^/#   /'; }

if [ "$(id -u)" -ne 0 ]; then
	skip "kernel matrix" "needs root (debootstrap, chroot, mounts)"
	exit 0
fi

# --- the release chroots
declare -A have_root
for release in $(matrix_releases); do
	t=$(date +%s)
	if tests/matrix/mkroot.sh "$release" >/dev/null 2>"$logs/mkroot-$release.log"; then
		have_root[$release]=1
		pass "$release chroot ready ($(matrix_since "$t"))"
	else
		show "$logs/mkroot-$release.log"
		fail "$release chroot ready" "debootstrap or apt in the $release chroot failed"
	fi
done

# --- the kernels: "RELEASE FROM BOOT FLAVOUR KVER" per kernel and flavour
kernels=$logs/kernels.txt
: >"$kernels"
majors=" "
while read -r release from boot flavours <&3; do
	[ -n "${have_root[$release]:-}" ] || continue
	only_new=0
	case $from in *'?') only_new=1 from=${from%'?'} ;; esac
	lines=()
	for fl in $flavours; do
		if kver=$(tests/matrix/resolve.sh "$release" "$from" "$fl" 2>"$logs/resolve.log"); then
			lines+=("$release $from $boot $fl $kver")
		else
			show "$logs/resolve.log"
			fail "$release $from: newest $fl kernel" "not found in the $release chroot"
		fi
	done
	[ ${#lines[@]} -gt 0 ] || continue
	major=$(echo "${lines[0]}" | awk '{ split($5, v, "."); print v[1] }')
	if [ "$only_new" = 1 ] && [[ $majors == *" $major "* ]]; then
		skip "$from's kernel ($(echo "${lines[0]}" | awk '{ print $5 }'))" \
			"its major version $major is already in the matrix"
		continue
	fi
	majors+="$major "
	printf '%s\n' "${lines[@]}" >>"$kernels"
done 3< <(matrix_lines)
sed 's/^/# matrix kernel: /' "$kernels"

# --- the extension against each release's libxtables
for release in $(matrix_releases); do
	[ -n "${have_root[$release]:-}" ] || continue
	grep -q "^$release " "$kernels" || continue
	if v=$(tests/matrix/build-ext.sh "$release" "$logs/ext-$release.log"); then
		pass "$release: extension builds against iptables $v, strict warnings as errors"
	else
		show "$logs/ext-$release.log"
		fail "$release: extension builds against its iptables" "see $logs/ext-$release.log"
	fi
done

# --- headers and the module build, per kernel and flavour
while read -r release from boot fl kver <&3; do
	t=$(date +%s)
	log=$logs/build-$kver.log
	if ! tests/matrix/fetch.sh "$release" "$kver" headers 2>"$log"; then
		show "$log"
		fail "$release $kver: headers unpacked" "see $log"
		continue
	fi
	cc=$(awk '/^#define CONFIG_CC_VERSION_TEXT/ { sub(/^[^"]*"/, ""); sub(/ \(.*/, ""); print }' \
		"$(matrix_root "$release")/usr/src/linux-headers-$kver/include/generated/autoconf.h" 2>/dev/null)
	if tests/matrix/build.sh "$release" "$kver" "$log"; then
		pass "$release $kver: module builds with W=1, sparse and -Werror, no diagnostics (${cc:-gcc}, $(matrix_since "$t"))"
	else
		show "$log" 40
		fail "$release $kver: module builds with W=1, sparse and -Werror, no diagnostics" "see $log"
		continue
	fi
	if ! grep -q '^  CHECK ' "$log"; then
		skip "$release $kver: sparse over the module" \
			"$(grep -m1 -o 'C=2 specified, but.*' "$log" || echo 'kbuild ran no sparse')"
	fi
done 3<"$kernels"

# --- the extension's host suite in each release's chroot (the host's own
# release: tests/host/run.sh), and the packages built, installed (DKMS
# building for every kernel of the release) and removed there.  These use
# one CPU while a qemu guest leaves most of the other idle: they run in the
# background during the boots (MATRIX_PARALLEL=0: before them), their
# results recorded in a file ("pass|fail|skip<TAB>desc<TAB>why" and
# "say<TAB>line") and reported after the boots.
host_release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
release_checks() { # RECORD
	local rec=$1 release t rc summary ks t0
	t0=$(date +%s)
	: >"$rec"
	for release in $(matrix_releases); do
		[ -n "${have_root[$release]:-}" ] || continue
		grep -q "^$release " "$kernels" || continue
		t=$(date +%s)
		if [ "$mode" = check ] && [ "$release" = "$host_release" ]; then
			printf 'skip\t%s\t%s\n' "$release: the extension's host suite" \
				"the host's own release: tests/host/run.sh" >>"$rec"
		else
			tests/matrix/host-suite.sh "$release" >"$logs/host-$release.log" 2>&1
			rc=$?
			grep -E '^(not ok|FAIL:)' "$logs/host-$release.log" | sed 's/^/say\t/' >>"$rec"
			summary=$(grep -m1 '^# host tests:' "$logs/host-$release.log")
			if [ $rc -eq 0 ]; then
				printf 'pass\t%s\n' "$release: the extension's host suite in the $release chroot (${summary#\# host tests: })" >>"$rec"
			else
				printf 'fail\t%s\t%s\n' "$release: the extension's host suite in the $release chroot" \
					"${summary:-no summary}; see $logs/host-$release.log" >>"$rec"
			fi
			printf 'say\t# matrix timing: %s host suite: %s\n' "$release" "$(matrix_since "$t")" >>"$rec"
		fi
		ks=$(awk -v r="$release" '$1 == r { print $5 }' "$kernels")
		# shellcheck disable=SC2086  # kernel releases, one word each
		tests/matrix/pkg.sh "$release" $ks >"$logs/pkg-$release.log" 2>&1
		rc=$?
		grep -E '^(not ok|FAIL:|# matrix timing)' "$logs/pkg-$release.log" | sed 's/^/say\t/' >>"$rec"
		if [ $rc -eq 0 ]; then
			printf 'pass\t%s\n' "$release: packages built, installed (DKMS for $(wc -w <<<"$ks") kernels), removed ($(grep -c '^ok' "$logs/pkg-$release.log") checks)" >>"$rec"
		else
			printf 'fail\t%s\t%s\n' "$release: packages built, installed, removed" "see $logs/pkg-$release.log" >>"$rec"
		fi
	done
	matrix_since "$t0" >"$rec.done"
}

# report_release_checks RECORD: its lines as TAP lines of this run.
report_release_checks() {
	local what desc why
	[ -f "$1.done" ] || fail "release checks" "they ended before recording all results ($1)"
	while IFS=$'\t' read -r what desc why; do
		case $what in
		pass) pass "$desc" ;;
		fail) fail "$desc" "$why" ;;
		skip) skip "$desc" "$why" ;;
		say) echo "$desc" ;;
		esac
	done <"$1"
}

rec=$logs/release-checks.txt
rm -f "$rec" "$rec.done"
# (the images first: fetch.sh would wait for a chroot the checks hold)
while read -r release from boot fl kver <&3; do
	[ -f "/boot/vmlinuz-$kver" ] && continue
	case $mode:" ${boot//,/ } " in check:*" $fl "* | full:*) ;; *) continue ;; esac
	tests/matrix/fetch.sh "$release" "$kver" image 2>"$logs/image-$kver.log" ||
		{ show "$logs/image-$kver.log"; fail "$kver: kernel image unpacked" "see $logs/image-$kver.log"; }
done 3<"$kernels"
t_rel=$(date +%s)
if [ "${MATRIX_PARALLEL:-1}" = 1 ]; then
	release_checks "$rec" &
	rel_pid=$!
else
	release_checks "$rec"
	report_release_checks "$rec"
	rel_pid=""
fi

# --- boots
boot_one() { # RELEASE KVER VARIANT
	local release=$1 kver=$2 variant=$3 t rc
	t=$(date +%s)
	if [ "$variant" = ours ] && [ ! -f "$MATRIX_MODULES/$kver/kernel/xt_connlimit.ko" ]; then
		fail "$kver $variant: e2e" "the module did not build"
		return
	fi
	if ! tests/matrix/fetch.sh "$release" "$kver" image 2>"$logs/image-$kver.log"; then
		show "$logs/image-$kver.log"
		fail "$kver: kernel image unpacked" "see $logs/image-$kver.log"
		return
	fi
	TESTBED_MODULES=$MATRIX_MODULES TESTBED_BACKENDS=$backends \
		tests/qemu/run-suite.sh "$kver" "$variant"
	rc=$?
	echo "# matrix timing: $release $kver $variant e2e: $(matrix_since "$t") (exit $rc)"
	[ $rc -eq 0 ] || failed=1
}

while read -r release from boot fl kver <&3; do
	case $mode:" ${boot//,/ } " in
	check:*" $fl "*) ;;
	full:*) ;;
	*) continue ;;
	esac
	if [ -f "/boot/vmlinuz-$kver" ]; then
		skip "$kver: e2e in qemu" "installed on this machine: booted by tests/run-all.sh"
		continue
	fi
	boot_one "$release" "$kver" ours
	# the differential run: the same cases on the kernel's own module
	mods=$(tests/qemu/kernel-path.sh modules "$kver" 2>/dev/null)
	if [ -z "$mods" ] || compgen -G "$mods/kernel/net/netfilter/xt_connlimit.ko*" >/dev/null; then
		boot_one "$release" "$kver" intree
	else
		skip "$kver intree: e2e" "the kernel has no xt_connlimit module of its own"
	fi
done 3<"$kernels"

if [ -n "$rel_pid" ]; then
	wait "$rel_pid"
	echo "# matrix timing: release checks (host suites, packages): $(cat "$rec.done" 2>/dev/null), beside the boots, which ended $(matrix_since "$t_rel") after they began"
	report_release_checks "$rec"
fi
echo "# matrix timing: all $(matrix_since "$t_all")"
exit $failed
