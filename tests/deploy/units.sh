#!/bin/sh
# units.sh: the systemd units, sysusers.d and tmpfiles.d files of deploy/,
# as generated for installation, are accepted by systemd's own tools; and
# those tools do reject broken files here, so that a pass means something.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/deploy/tap.sh"

sa=${SYSTEMD_ANALYZE:-$(command -v systemd-analyze || true)}
deploy_src=$top_srcdir/deploy
deploy_build=$top_builddir/deploy
pool='wsrouter-pool@.service'

tap_plan 16

# 1: the units as make install would install them.
make -s -C "$deploy_build" wsrouter.service "$pool" >"$tmp/make.out" 2>&1
rc=$?
[ $rc -eq 0 ] || tap_diag "$tmp/make.out"
tap_ok $rc "the units are generated from their .in files"

# 2: every @VAR@ was substituted.
if grep -n '@[A-Za-z_]*@' "$deploy_build/wsrouter.service" \
    "$deploy_build/$pool" >"$tmp/subst.out" 2>&1; then
	tap_diag "$tmp/subst.out"
	tap_ok 1 "no @VARIABLE@ is left in the units"
else
	tap_ok 0 "no @VARIABLE@ is left in the units"
fi

# A copy in which the programs exist on this machine: the router just
# built (or true(1) before it is), spawn-fcgi if installed.
units=$tmp/units
mkdir -p "$units"
router=${WSROUTER:-}
[ -n "$router" ] && [ -x "$router" ] || router=$(command -v true)
spawn=$(command -v spawn-fcgi || command -v true)
sed -e "s|^\(Exec[A-Za-z]*=[-+!@:]*\)/[^ ]*/wsrouter |\1$router |" \
    "$deploy_build/wsrouter.service" >"$units/wsrouter.service"
sed -e "s|^\(Exec[A-Za-z]*=[-+!@:]*\)/[^ ]*/spawn-fcgi |\1$spawn |" \
    "$deploy_build/$pool" >"$units/$pool"

# The man pages the units name, where man(1) finds them.
mkdir -p "$tmp/man/man5" "$tmp/man/man8"
cp "$top_srcdir/docs/wsrouter.8" "$tmp/man/man8/" 2>/dev/null
cp "$top_srcdir/docs/wsrouter.conf.5" "$tmp/man/man5/" 2>/dev/null
if command -v man >/dev/null 2>&1 && [ -f "$tmp/man/man8/wsrouter.8" ]; then
	man_opt=--man=yes
	man_note=", its man pages found"
else
	man_opt=--man=no
	man_note=", man pages not checked"
fi

# verify UNIT...: passes when systemd-analyze exits 0 and says nothing
# (it only warns about unknown keys and bad values, with exit 0).
verify() {
	MANPATH="$tmp/man:" SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER= \
	    "$sa" verify $man_opt "$@" >"$tmp/verify.out" 2>&1
	rc=$?
	[ $rc -eq 0 ] && [ ! -s "$tmp/verify.out" ]
}

# Can systemd-analyze run in this environment at all?
cat >"$tmp/probe.service" <<'UNIT'
[Unit]
Description=probe
[Service]
ExecStart=/bin/true
UNIT
can_verify=no
if [ -n "$sa" ] && [ -x "$sa" ]; then
	if MANPATH="$tmp/man:" "$sa" verify --man=no "$tmp/probe.service" \
	    >"$tmp/probe.out" 2>&1; then
		can_verify=yes
	else
		why="systemd-analyze verify fails on a trivial unit here"
		tap_diag "$tmp/probe.out"
	fi
else
	why="systemd-analyze not found"
fi

if [ $can_verify = yes ]; then
	# 3, 4: a unit with an error, and one with only a warning.
	printf '[Service]\nExecStart=relative/path\n' >"$tmp/broken.service"
	verify "$tmp/broken.service"
	tap_ok $((! $?)) "a unit with a relative ExecStart= is rejected"
	printf '[Service]\nExecStart=/bin/true\nNoSuchKey=1\n' \
	    >"$tmp/warn.service"
	verify "$tmp/warn.service"
	tap_ok $((! $?)) "a unit with an unknown key is rejected"

	# 5, 6: ours.
	verify "$units/wsrouter.service"
	rc=$?
	[ $rc -eq 0 ] || tap_diag "$tmp/verify.out"
	tap_ok $rc "wsrouter.service verifies$man_note"
	verify "$units/wsrouter-pool@echo.service"
	rc=$?
	[ $rc -eq 0 ] || tap_diag "$tmp/verify.out"
	tap_ok $rc "wsrouter-pool@echo.service verifies$man_note"
else
	for d in "a broken unit is rejected" "a unit with a warning is rejected" \
	    "wsrouter.service verifies" "wsrouter-pool@echo.service verifies"; do
		tap_skip "$d" "$why"
	done
fi

# 7-11: what the units promise.
svc=$deploy_build/wsrouter.service
grep -q '^ExecStartPre=[^ ]*/wsrouter -t -c ' "$svc"
tap_ok $? "wsrouter.service checks the configuration before starting"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$svc"
tap_ok $? "wsrouter.service reloads with SIGHUP"

# TimeoutStopSec must outlast the default shutdown_timeout of 30s.
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s*$/\1/p' "$svc")
[ -n "$stop" ] && [ "$stop" -gt 30 ]
tap_ok $? "TimeoutStopSec (${stop:-unset}) is longer than shutdown_timeout"

exec_pool=$(grep '^ExecStart=' "$deploy_build/$pool")
case "$exec_pool" in
*' -s /run/wsrouter/%i.sock '*)
	case "$exec_pool" in
	*' -p '*|*' -a '*) rc=1 ;;
	*) rc=0 ;;
	esac ;;
*)	rc=1 ;;
esac
[ $rc -eq 0 ] || echo "# $exec_pool"
tap_ok $rc "the pool unit binds a unix socket and no TCP port"

grep -q '^Restart=always$' "$deploy_build/$pool" &&
    grep -q '^PartOf=wsrouter.service$' "$deploy_build/$pool"
tap_ok $? "the pool unit restarts its handler and is part of the router"

# 12-14: users and the runtime directory, created in a scratch root.
if command -v systemd-sysusers >/dev/null 2>&1 &&
    command -v systemd-tmpfiles >/dev/null 2>&1; then
	root=$tmp/root
	mkdir -p "$root/etc"
	systemd-sysusers --root="$root" "$deploy_src/sysusers/wsrouter.conf" \
	    >"$tmp/sysusers.out" 2>&1 &&
	    grep -q '^wsrouter:' "$root/etc/passwd" &&
	    grep -q '^wsrouter-handler:' "$root/etc/passwd"
	rc=$?
	[ $rc -eq 0 ] || tap_diag "$tmp/sysusers.out"
	tap_ok $rc "sysusers.d creates the wsrouter and wsrouter-handler users"

	systemd-tmpfiles --root="$root" --create \
	    "$deploy_src/tmpfiles/wsrouter.conf" >"$tmp/tmpfiles.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		uid=$(sed -n 's/^wsrouter:x:\([0-9]*\):.*/\1/p' "$root/etc/passwd")
		set -- $(stat -c '%a %u' "$root/run/wsrouter" 2>/dev/null)
		[ "${1:-}" = 770 ] && [ "${2:-}" = "$uid" ] || rc=1
	fi
	[ $rc -eq 0 ] || tap_diag "$tmp/tmpfiles.out"
	tap_ok $rc "tmpfiles.d creates /run/wsrouter 0770 for the wsrouter user"

	printf 'd /run/x 0770 no-such-user no-such-user -\n' >"$tmp/bad.conf"
	systemd-tmpfiles --root="$root" --create "$tmp/bad.conf" \
	    >/dev/null 2>&1
	tap_ok $((! $?)) "systemd-tmpfiles rejects an unknown user here"
else
	for d in "sysusers.d" "tmpfiles.d" "tmpfiles rejects"; do
		tap_skip "$d" "systemd-sysusers or systemd-tmpfiles not found"
	done
fi

# 15, 16: the pool unit's own command line, with its variables filled in
# as systemd would, serves the echo example on a socket of mode 0660.
echo_bin=${HANDLERS:-$top_builddir/handlers}/examples/echo
cmd=$(sed -n 's/^ExecStart=//p' "$deploy_build/$pool" | sed \
    -e "s|/run/wsrouter/%i.sock|$tmp/echo.sock|" \
    -e "s|\${POOL_BINARY}|$echo_bin|" -e 's|\$POOL_ARGS||')
prog=${cmd%% *}
if [ -x "$prog" ] && [ -x "$echo_bin" ] &&
    command -v cgi-fcgi >/dev/null 2>&1; then
	case "$cmd" in
	*'$'*|*%*) echo "# not expanded: $cmd" ;;
	esac
	$cmd >"$tmp/pool.out" 2>&1 &
	pool_pid=$!
	at_exit "kill $pool_pid 2>/dev/null; wait $pool_pid 2>/dev/null"
	n=50
	while [ $n -gt 0 ] && [ ! -S "$tmp/echo.sock" ]; do
		sleep 0.1
		n=$((n - 1))
	done
	mode=$(stat -c %a "$tmp/echo.sock" 2>/dev/null)
	[ "$mode" = 660 ]
	rc=$?
	[ $rc -eq 0 ] || tap_diag "$tmp/pool.out"
	tap_ok $rc "the pool command makes its socket with mode 0660 (${mode:-none})"

	out=$(printf 'hi there' | env -i REQUEST_METHOD=POST CONTENT_LENGTH=8 \
	    WS_EVENT=MESSAGE WS_MESSAGE_TYPE=text WS_CONNECTION_ID=abc \
	    WS_REQUEST_ID=r1 WS_ROUTE_KEY='$default' WS_ENDPOINT=/ws \
	    timeout 5 cgi-fcgi -bind -connect "$tmp/echo.sock" 2>&1)
	case "$out" in
	*'TEXT 8'*'hi there'*) rc=0 ;;
	*) rc=1; echo "$out" | tap_diag ;;
	esac
	tap_ok $rc "the pool command serves the handler over FastCGI"
else
	tap_skip "the pool command's socket" "spawn-fcgi, cgi-fcgi or the echo example missing"
	tap_skip "the pool command serves" "spawn-fcgi, cgi-fcgi or the echo example missing"
fi

[ $tap_failed -eq 0 ]
