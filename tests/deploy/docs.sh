#!/bin/sh
# docs.sh: the man pages are clean for mandoc and man(1), and they keep up
# with the specifications: every directive of docs/configuration.md is in
# wsrouter.conf(5); every close code, error frame and handshake refusal of
# docs/handler-contract.md, and every management API path the router
# serves, is in wsrouter(8); every variable, error frame and close code of
# the chat handler is in wsrouter-chat(8); the options of wsrouter-migrate
# and of wsrouter-fakellm, and the fake's endpoints, are in their pages.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/deploy/tap.sh"

docs=$top_srcdir/docs
page8=$docs/wsrouter.8
page5=$docs/wsrouter.conf.5
chat8=$docs/wsrouter-chat.8
migrate8=$docs/wsrouter-migrate.8
fake1=$docs/wsrouter-fakellm.1

# The pages docs/Makefile.am installs.
pages=$(sed -n '/^dist_man_MANS/,/[^\\]$/p' "$docs/Makefile.am" |
    sed 's/^dist_man_MANS *=//; s/\\//g')
npages=$(echo $pages | wc -w)

tap_plan $((npages + 13))

# mandoc's checker, warnings and worse.
for name in $pages; do
	page=$docs/$name
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -T lint -W warning "$page" >"$tmp/lint.out" 2>&1
		rc=$?
		[ $rc -eq 0 ] || tap_diag "$tmp/lint.out"
		tap_ok $rc "mandoc -T lint finds no warning in $name"
	else
		tap_skip "mandoc lint $name" "mandoc not found"
	fi
done

# man(1) formats every page without complaint.
if command -v man >/dev/null 2>&1; then
	rc=0
	[ "$npages" -ge 6 ] || rc=1
	for name in $pages; do
		page=$docs/$name
		MANWIDTH=80 man --warnings -l "$page" >"$tmp/man.out" \
		    2>"$tmp/man.err" || rc=1
		[ -s "$tmp/man.err" ] && rc=1
		grep -q 'SYNOPSIS\|DESCRIPTION' "$tmp/man.out" || rc=1
		[ $rc -eq 0 ] || { echo "# $page"; tap_diag "$tmp/man.err"; break; }
	done
	tap_ok $rc "man -l formats all $npages pages without warnings"
else
	tap_skip "man -l" "man not found"
fi

# every configuration key has its own entry in wsrouter.conf(5).
keys=$(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' "$docs/configuration.md" | sort -u)
missing=""
for k in $keys; do
	grep -q "^\.It Ic $k\( \|$\)" "$page5" || missing="$missing $k"
done
[ -n "$keys" ] && [ -z "$missing" ]
tap_ok $? "wsrouter.conf(5) describes every directive${missing:+; missing:$missing}"

# every close code of the contract is in wsrouter(8).
codes=$(sed -n '/^## Close codes/,/^## /s/^| \([0-9][0-9]*\) |.*/\1/p' \
    "$docs/handler-contract.md")
missing=""
for c in $codes 4401 4500; do
	grep -q "$c" "$page8" || missing="$missing $c"
done
[ -n "$codes" ] && [ -z "$missing" ]
tap_ok $? "wsrouter(8) lists every close code${missing:+; missing:$missing}"

# every error frame code.
errs=$(sed -n '/^## Errors the client sees/,/^## /s/^| `\([a-z_]*\)`.*/\1/p' \
    "$docs/handler-contract.md")
missing=""
for e in $errs; do
	grep -q "$e" "$page8" || missing="$missing $e"
done
[ -n "$errs" ] && [ -z "$missing" ]
tap_ok $? "wsrouter(8) lists every error frame${missing:+; missing:$missing}"

# every handshake refusal status.
statuses=$(sed -n '/^## Handshake refusals/,/^## /s/^| \([0-9][0-9][0-9]\) |.*/\1/p' \
    "$docs/handler-contract.md")
missing=""
for st in $statuses; do
	grep -q "^\.It $st\$" "$page8" || missing="$missing $st"
done
[ -n "$statuses" ] && [ -z "$missing" ]
tap_ok $? "wsrouter(8) lists every handshake refusal ($(echo $statuses))${missing:+; missing:$missing}"

# the management API paths the router's source serves.
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

# the command-line options the router accepts.
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

# Every CHAT_* variable the chat handler reads has its entry.
chatsrc=$top_srcdir/handlers/chat
vars=$(grep -ho '"CHAT_[A-Z_]*"' "$chatsrc/config.c" "$chatsrc/main.c" |
    tr -d '"' | sort -u)
missing=""
for v in $vars; do
	grep -q "^\.It Ev \(.* \)\{0,1\}$v\( \|$\)" "$chat8" ||
	    missing="$missing $v"
done
[ -n "$vars" ] && [ -z "$missing" ]
tap_ok $? "wsrouter-chat(8) describes every CHAT_ variable${missing:+; missing:$missing}"

# Every error frame the handler sends has its entry, and every one of
# docs/chat-protocol.md is named.
sent=$( { grep -o 'send_error(ev, "[a-z_]*"' "$chatsrc/main.c" |
    sed 's/.*"\([a-z_]*\)"/\1/'
    grep -o '"upstream_[a-z_]*"' "$chatsrc/main.c" | tr -d '"'; } |
    sort -u)
spec=$(sed -n '/^## Errors/,/^## /s/^| `\([a-z_]*\)`.*/\1/p' \
    "$docs/chat-protocol.md" | grep -vx error)
missing=""
for e in $sent; do
	grep -q "^\.It Li $e\$" "$chat8" || missing="$missing $e"
done
for e in $spec; do
	grep -qw "$e" "$chat8" || missing="$missing $e"
done
[ -n "$sent" ] && [ -n "$spec" ] && [ -z "$missing" ]
tap_ok $? "wsrouter-chat(8) lists every error frame${missing:+; missing:$missing}"

# Every close code of docs/chat-protocol.md.
codes=$(sed -n '/^## Connecting/,/^## /s/^| *\([0-9][0-9]*\) |.*/\1/p' \
    "$docs/chat-protocol.md")
missing=""
for c in $codes; do
	grep -q "^\.It $c\$" "$chat8" || missing="$missing $c"
done
[ -n "$codes" ] && [ -z "$missing" ]
tap_ok $? "wsrouter-chat(8) lists every close code ($(echo $codes))${missing:+; missing:$missing}"

# wsrouter-migrate's options and the variables it reads.
migrate=$top_srcdir/sql/wsrouter-migrate
opts=$(grep -o '^[[:space:]]*-[-a-z|]*[=*]*)' "$migrate" | tr -d ' \t)*' |
    tr '|' '\n' | sed 's/=$//' | sort -u)
envs=$(grep -o '\${[A-Z][A-Z_]*:-' "$migrate" | sed 's/\${//; s/:-//' |
    sort -u)
missing=""
for o in $opts; do
	grep -q "Fl ${o#-}\( \|$\)" "$migrate8" || missing="$missing $o"
done
for v in $envs; do
	grep -q "^\.It Ev $v\( \|$\)" "$migrate8" || missing="$missing $v"
done
[ -n "$opts" ] && [ -n "$envs" ] && [ -z "$missing" ]
tap_ok $? "wsrouter-migrate(8) lists every option and variable ($(echo $opts $envs))${missing:+; missing:$missing}"

# wsrouter-fakellm's options, as its --help gives them, and its endpoints.
fake=$top_srcdir/tools/wsrouter-fakellm
if command -v python3 >/dev/null 2>&1; then
	python3 "$fake" --help >"$tmp/fake.out" 2>&1
	rc=$?
	flags=$(grep -o -- '--[a-z][a-z-]*' "$tmp/fake.out" | sort -u)
	missing=""
	for f in $flags; do
		grep -q "Fl ${f#-}\( \|$\)" "$fake1" || missing="$missing $f"
	done
	[ $rc -eq 0 ] && [ -n "$flags" ] && [ -z "$missing" ]
	tap_ok $? "wsrouter-fakellm(1) lists every option of --help${missing:+; missing:$missing}"
else
	tap_skip "wsrouter-fakellm --help" "python3 not found"
fi
paths=$(grep -o 'path == "/[^"]*"' "$fake" | sed 's/.*"\(.*\)"/\1/' |
    sort -u)
missing=""
for p in $paths; do
	grep -q "^\.It Li [A-Z]* $p\( \|$\)" "$fake1" || missing="$missing $p"
done
[ -n "$paths" ] && [ -z "$missing" ]
tap_ok $? "wsrouter-fakellm(1) documents every endpoint ($(echo $paths))${missing:+; missing:$missing}"

[ $tap_failed -eq 0 ]
