#!/bin/sh
# run-fuzzers.sh: run each libFuzzer target for a bounded time on a copy of
# its seed corpus and report one TAP line per target. FUZZ_SECONDS sets the
# time per target (default 20). A crashing input is kept in tests/fuzz/ of
# the build tree.

# The targets: tests/fuzz/local.mk passes its FUZZ_NAMES.
names="${FUZZ_NAMES:-fcgi cgi route config safety llmparse}"
srcdir="${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/fuzz"
bindir="${top_builddir:-$(pwd)/..}/tests/fuzz"
secs="${FUZZ_SECONDS:-20}"

if [ -z "$FUZZ_CC" ] || [ ! -x "$bindir/fuzz_fcgi" ]; then
	echo "1..0 # SKIP fuzzers not built (configure --enable-fuzzing)"
	exit 0
fi
case "$secs" in
''|*[!0-9]*) echo "Bail out! FUZZ_SECONDS must be a number"; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/wsr-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

echo "1..$(echo $names | wc -w)"
n=0
for t in $names; do
	n=$((n + 1))
	mkdir "$work/$t"
	cp "$srcdir/corpus/$t/"* "$work/$t/"
	dict=
	[ -f "$srcdir/$t.dict" ] && dict="-dict=$srcdir/$t.dict"
	# The fuzzer stops itself after $secs; timeout(1) is the backstop.
	timeout -k 10 $((secs + 120)) "$bindir/fuzz_$t" \
	    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$work/crash-$t-" \
	    $dict "$work/$t" >"$work/$t.log" 2>&1
	rv=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
	    "$work/$t.log")
	if [ $rv -eq 0 ]; then
		echo "ok $n - fuzz_$t: ${runs:-?} runs in ${secs}s, no crash"
		continue
	fi
	echo "not ok $n - fuzz_$t exited with $rv"
	tail -n 40 "$work/$t.log" | sed 's/^/# /'
	for f in "$work"/crash-"$t"-*; do
		[ -f "$f" ] || continue
		cp "$f" "$bindir/"
		echo "# kept $bindir/$(basename "$f")"
	done
done
