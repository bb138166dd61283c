#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The fuzz suite of libxt_connlimit.so: cl-fuzz (cl-fuzz.c, libFuzzer with
# ASan + UBSan) over the extension's option parsing and its print, save
# and xlate output, for both families and both revisions, from options and
# from match data as a kernel hands it back.
#
#   tests/fuzz/run.sh [SECONDS]     (default 60; 0 skips the fuzzing run)
#
# Installs what it needs with tests/install-deps.sh (as root), builds with
# tests/fuzz/Makefile into build/fuzz/, then, one TAP line each:
#   - the seed corpus (tests/fuzz/corpus/) runs clean;
#   - the fuzzer runs for SECONDS, single process, from the seed corpus
#     and the working corpus build/fuzz/corpus/ (which it adds to, kept
#     between runs); a crash, leak or timeout is a "not ok" naming the
#     input saved under build/fuzz/crashes/ (replay it with
#     "CL_FUZZ_ECHO=1 build/fuzz/cl-fuzz FILE");
#   - every input of tests/fuzz/regressions/ (crashes found earlier, each
#     described in its README.md) runs clean.
# Then the line coverage of libxt_connlimit.c that the corpora reach (a
# comment line; "make -C tests/fuzz coverage" alone gives the report), the
# plan and "# fuzz tests: N passed, M failed, K skipped".  Exits 0 when
# nothing failed.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/build/fuzz
SECS=${1:-60}

case $SECS in
''|*[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS]" >&2; exit 64 ;;
esac

# tap_result, tap_skip and the TAP_* counters of the host suite
# shellcheck source=tests/host/lib.sh
. "$ROOT/tests/host/lib.sh"

finish() {
	echo "1..$TAP_N"
	echo "# fuzz tests: $TAP_PASS passed, $TAP_FAIL failed, $TAP_SKIP skipped"
	[ "$TAP_FAIL" -eq 0 ]
	exit
}

# crash_of LOG: the input libFuzzer saved, and why, from its log.
crash_of() {
	local file why
	file=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$1" | tail -n1)
	why=$(grep -m1 -E '^(cl-fuzz: |SUMMARY: |==[0-9]+==ERROR)' "$1")
	echo "${file:-no input saved} (${why:-see $1})"
}

mkdir -p "$OUT/corpus" "$OUT/crashes"
FUZZ=$OUT/cl-fuzz
OPTS=(-dict="$HERE/connlimit.dict" -max_len=512 -timeout=10
      -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes/")

if ! "$ROOT/tests/install-deps.sh" >"$OUT/install.log" 2>&1; then
	echo "# tests/install-deps.sh failed (build/fuzz/install.log);" \
	     "trying with what is installed"
fi

desc="fuzz: build cl-fuzz and the extension with ASan + UBSan (clang-14)"
if make -C "$HERE" >"$OUT/build.log" 2>&1; then
	tap_result 0 "$desc"
else
	tap_result 1 "$desc" \
		"make -C tests/fuzz failed: $(tail -n 5 "$OUT/build.log" | tr '\n' ' ')"
	finish
fi

# the seed corpus alone, once each
seeds=$(find "$HERE/corpus" -type f | wc -l)
if "$FUZZ" "${OPTS[@]}" -runs=0 "$HERE/corpus" >"$OUT/seeds.log" 2>&1; then
	tap_result 0 "fuzz: the $seeds seeds of tests/fuzz/corpus run clean"
else
	tap_result 1 "fuzz: the $seeds seeds of tests/fuzz/corpus run clean" \
		"$(crash_of "$OUT/seeds.log")"
fi

# the bounded run
desc="fuzz: ${SECS}s of libFuzzer, single process"
if [ "$SECS" -eq 0 ]; then
	tap_skip "$desc" "0 seconds asked for"
else
	log=$OUT/fuzz.log
	timeout -k 10 $((SECS + 300)) "$FUZZ" "${OPTS[@]}" \
		-max_total_time="$SECS" -print_final_stats=1 \
		"$OUT/corpus" "$HERE/corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1)
	cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, ft \2, corpus \3/p' \
		<<<"$done_line")
	if [ "$rc" -eq 0 ]; then
		stats="${runs:-?} runs, ${rate:-?} execs/s, ${cov:-no stats}"
		tap_result 0 "$desc: $stats (build/fuzz/fuzz.log)"
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		tap_result 1 "$desc" "did not stop within $((SECS + 300))s (build/fuzz/fuzz.log)"
	else
		tap_result 1 "$desc: crashed on $(crash_of "$log")" \
			"exit $rc, input saved: $(crash_of "$log")"
	fi
fi

# the regressions, one line each
for f in "$HERE"/regressions/*; do
	[ -f "$f" ] || continue
	case $f in *.md) continue ;; esac
	name=regressions/${f##*/}
	if "$FUZZ" "${OPTS[@]}" "$f" >"$OUT/regression.log" 2>&1; then
		tap_result 0 "fuzz: $name runs clean"
	else
		tap_result 1 "fuzz: $name runs clean" "$(crash_of "$OUT/regression.log")"
	fi
done

# the coverage the corpora reach (not a case)
if make -C "$HERE" coverage >"$OUT/coverage.log" 2>&1; then
	awk '$1 ~ /libxt_connlimit\.c$/ {
		printf "# libxt_connlimit.c covered by the corpora: %s of " \
		       "lines, %s of regions, %s of branches " \
		       "(build/fuzz/coverage-lines.txt)\n", $10, $4, $13 }' \
		"$OUT/coverage.txt"
else
	echo "# coverage report failed (build/fuzz/coverage.log)"
fi

finish
