#!/bin/sh
# docs.sh: the man pages are clean for mandoc and man(1), and they keep up
# with the specifications: every directive of docs/configuration.md is in
# wsrouter.conf(5); every close code, error frame and handshake refusal of
# docs/handler-contract.md, and every management API path the router
# serves, is in wsrouter(8).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/deploy/tap.sh"

docs=$top_srcdir/docs
page8=$docs/wsrouter.8
page5=$docs/wsrouter.conf.5

tap_plan 9

# 1, 2: mandoc's checker, warnings and worse.
for page in "$page8" "$page5"; do
	name=$(basename "$page")
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -T lint -W warning "$page" >"$tmp/lint.out" 2>&1
		rc=$?
		[ $rc -eq 0 ] || tap_diag "$tmp/lint.out"
		tap_ok $rc "mandoc -T lint finds no warning in $name"
	else
		tap_skip "mandoc lint $name" "mandoc not found"
	fi
done

# 3: man(1) formats both without complaint.
if command -v man >/dev/null 2>&1; then
	rc=0
	for page in "$page8" "$page5"; do
		MANWIDTH=80 man --warnings -l "$page" >"$tmp/man.out" \
		    2>"$tmp/man.err" || rc=1
		[ -s "$tmp/man.err" ] && rc=1
		grep -q 'SYNOPSIS\|DESCRIPTION' "$tmp/man.out" || rc=1
		[ $rc -eq 0 ] || { echo "# $page"; tap_diag "$tmp/man.err"; break; }
	done
	tap_ok $rc "man -l formats both pages without warnings"
else
	tap_skip "man -l" "man not found"
fi

# 4: every configuration key has its own entry in wsrouter.conf(5).
keys=$(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' "$docs/configuration.md" | sort -u)
missing=""
for k in $keys; do
	grep -q "^\.It Ic $k\( \|$\)" "$page5" || missing="$missing $k"
done
[ -n "$keys" ] && [ -z "$missing" ]
tap_ok $? "wsrouter.conf(5) describes every directive${missing:+; missing:$missing}"

# 5: every close code of the contract is in wsrouter(8).
codes=$(sed -n '/^## Close codes/,/^## /s/^| \([0-9][0-9]*\) |.*/\1/p' \
    "$docs/handler-contract.md")
missing=""
for c in $codes 4401 4500; do
	grep -q "$c" "$page8" || missing="$missing $c"
done
[ -n "$codes" ] && [ -z "$missing" ]
tap_ok $? "wsrouter(8) lists every close code${missing:+; missing:$missing}"

# 6: every error frame code.
errs=$(sed -n '/^## Errors the client sees/,/^## /s/^| `\([a-z_]*\)`.*/\1/p' \
    "$docs/handler-contract.md")
missing=""
for e in $errs; do
	grep -q "$e" "$page8" || missing="$missing $e"
done
[ -n "$errs" ] && [ -z "$missing" ]
tap_ok $? "wsrouter(8) lists every error frame${missing:+; missing:$missing}"

# 7: every handshake refusal status.
statuses=$(sed -n '/^## Handshake refusals/,/^## /s/^| \([0-9][0-9][0-9]\) |.*/\1/p' \
    "$docs/handler-contract.md")
missing=""
for st in $statuses; do
	grep -q "^\.It $st\$" "$page8" || missing="$missing $st"
done
[ -n "$statuses" ] && [ -z "$missing" ]
tap_ok $? "wsrouter(8) lists every handshake refusal ($(echo $statuses))${missing:+; missing:$missing}"

# 8: the management API paths the router's source serves.
mgmt=$top_srcdir/router/mgmt.c
if [ -f "$mgmt" ]; then
	paths=$(grep -o '"/[@a-z][@a-z]*' "$mgmt" | tr -d '"' | sort -u)
	missing=""
	for p in $paths; do
		grep -q -- "$p" "$page8" || missing="$missing $p"
	done
	[ -n "$paths" ] && [ -z "$missing" ]
	tap_ok $? "wsrouter(8) documents every API path ($(echo $paths))${missing:+; missing:$missing}"
else
	tap_skip "API paths in wsrouter(8)" "router/mgmt.c not written yet"
fi

# 9: the command-line options the router accepts.
router=${WSROUTER:-$top_builddir/router/wsrouter}
if [ -x "$router" ]; then
	"$router" -V >"$tmp/v.out" 2>&1
	rc=$?
	grep -q '^\.Fl V' "$page8" && grep -q '^\.Fl t' "$page8" || rc=1
	grep -q 'wsrouter' "$tmp/v.out" || rc=1
	[ $rc -eq 0 ] || tap_diag "$tmp/v.out"
	tap_ok $rc "wsrouter -V answers and the page lists -V and -t"
else
	tap_skip "wsrouter -V" "the router is not built"
fi

[ $tap_failed -eq 0 ]
