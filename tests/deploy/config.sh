#!/bin/sh
# config.sh: deploy/wsrouter.conf.example names every directive of
# docs/configuration.md, and the router's own check (wsrouter -t) accepts
# it and the quick start's configuration, and rejects broken copies with
# FILE:LINE: KEY: messages.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/deploy/tap.sh"

example=$top_srcdir/deploy/wsrouter.conf.example
reference=$top_srcdir/docs/configuration.md
router=${WSROUTER:-$top_builddir/router/wsrouter}

tap_plan 6

# 1: every key of the reference's tables appears in the example, set or
# commented out.
keys=$(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' "$reference" | sort -u)
missing=""
for k in $keys; do
	grep -Eq "^[[:space:]]*#?[[:space:]]*$k([[:space:]]|$)" "$example" ||
	    missing="$missing $k"
done
[ -n "$keys" ] && [ -z "$missing" ]
tap_ok $? "the example shows every directive ($(echo $keys | wc -w) keys)${missing:+; missing:$missing}"

if [ ! -x "$router" ]; then
	for d in "example is valid" "unknown key" "unknown pool" \
	    "quick start config is valid" "-t exit status"; do
		tap_skip "$d" "the router is not built"
	done
	[ $tap_failed -eq 0 ]
	exit
fi

# check FILE: run wsrouter -t, output in $tmp/t.out, status in $rc.
check() {
	"$router" -t -c "$1" >"$tmp/t.out" 2>&1
	rc=$?
}

# 2: the example as shipped.
check "$example"
[ $rc -eq 0 ] && grep -q "is valid" "$tmp/t.out"
rc=$?
[ $rc -eq 0 ] || tap_diag "$tmp/t.out"
tap_ok $rc "wsrouter -t accepts the example"

# 3: an unknown key is reported with its file and line.
{ cat "$example"; echo "no_such_directive 1"; } >"$tmp/bad.conf"
line=$(wc -l <"$tmp/bad.conf" | tr -d ' ')
check "$tmp/bad.conf"
[ $rc -eq 1 ] && grep -q "^$tmp/bad.conf:$line: no_such_directive: " "$tmp/t.out"
rc=$?
[ $rc -eq 0 ] || tap_diag "$tmp/t.out"
tap_ok $rc "an unknown key is reported as FILE:$line: KEY: and exit 1"

# 4: a route to a pool that does not exist.
sed 's/^\([[:space:]]*route stream\) stream/\1 no_such_pool/' "$example" \
    >"$tmp/pool.conf"
check "$tmp/pool.conf"
[ $rc -eq 1 ] && grep -q "^$tmp/pool.conf:[0-9]*: route: " "$tmp/t.out"
rc=$?
[ $rc -eq 0 ] || tap_diag "$tmp/t.out"
tap_ok $rc "a route to an unknown pool is an error"

# 5: what scripts/quickstart runs.
if "$top_srcdir/scripts/quickstart" --print-config >"$tmp/quick.conf" \
    2>"$tmp/quick.err"; then
	check "$tmp/quick.conf"
	[ $rc -eq 0 ] || { tap_diag "$tmp/t.out"; tap_diag "$tmp/quick.conf"; }
else
	rc=1
	tap_diag "$tmp/quick.err"
fi
tap_ok $rc "wsrouter -t accepts the quick start's configuration"

# 6: a file that does not exist.
check "$tmp/does-not-exist.conf"
[ $rc -eq 1 ]
tap_ok $? "wsrouter -t exits 1 for a missing file"

[ $tap_failed -eq 0 ]
