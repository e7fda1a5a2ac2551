#!/bin/sh
# sdk.sh: the handler SDK, the examples and the test handler, run as real
# processes under spawn-fcgi (and php-fpm), driven with cgi-fcgi for the
# exact bytes and with fcgiprobe for timing and cancellation. TAP output.

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
: "${HANDLERS:=$top_builddir/handlers}"
: "${SPAWN_FCGI:=$(command -v spawn-fcgi)}"
: "${PYTHON3:=$(command -v python3)}"
: "${PHP_FPM:=$(PATH=/usr/sbin:$PATH command -v php-fpm8.2 php-fpm | head -n 1)}"
CGI_FCGI=$(command -v cgi-fcgi)
ECHO=$HANDLERS/examples/echo
STREAM=$HANDLERS/examples/stream
TESTH=$top_builddir/tests/handlers/testhandler
PROBE=$top_builddir/tests/handlers/fcgiprobe
# php-fpm answers "Primary script unknown" for a path with ".." in it.
PHP_SCRIPT=$(cd "$top_srcdir/handlers/examples" && pwd -P)/echo.php
PHP_CONF=$top_srcdir/handlers/examples/php-fpm-echo.conf

if [ -z "$SPAWN_FCGI" ] || [ -z "$CGI_FCGI" ]; then
	echo "1..0 # SKIP spawn-fcgi or cgi-fcgi (libfcgi-bin) not found"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/wsh-sdk.XXXXXX") || exit 1
PIDS=""
# Stop every handler started, and wait for each to exit.
stop_all() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	PIDS=""
}
cleanup() {
	stop_all
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}
check() {	# check DESCRIPTION COMMAND...: ok if the command succeeds
	d=$1
	shift
	if "$@"; then
		ok "$d"
	else
		not_ok "$d"
		return 1
	fi
}
skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}
diag() {	# TAP diagnostics go to stdout, where the driver logs them
	sed 's/^/# /' "$@"
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_for FILE: up to 5 s for a socket or file to appear.
wait_for() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -e "$1" ]
}

# wait_gone PID MS: up to MS milliseconds for a process to exit.
wait_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 / 20)) ]; do
		sleep 0.02
		i=$((i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

# spawn NAME PROG ARGS...: a handler under spawn-fcgi on $T/NAME.sock.
spawn() {
	name=$1
	shift
	"$SPAWN_FCGI" -n -s "$T/$name.sock" -M 0600 -- "$@" \
	    >"$T/$name.out" 2>"$T/$name.err" &
	eval "PID_$name=$!"
	PIDS="$PIDS $!"
	wait_for "$T/$name.sock"
}

# fcgi SOCK [NAME=VALUE...] < input: one request with cgi-fcgi, output on
# stdout. The payload comes from stdin; CONTENT_LENGTH is set from $LEN.
fcgi() {
	sock=$1
	shift
	env -i PATH="$PATH" REQUEST_METHOD=POST CONTENT_LENGTH="${LEN:-0}" \
	    "$@" "$CGI_FCGI" -bind -connect "$sock"
}

# msg SOCK JSON [NAME=VALUE...]: a MESSAGE event with that payload.
msg() {
	sock=$1
	printf '%s' "$2" >"$T/in"
	shift 2
	LEN=$(wc -c <"$T/in") fcgi "$sock" WS_EVENT=MESSAGE "$@" <"$T/in"
}

# event TEXT: the websocket-events encoding of one TEXT event.
event() {
	printf '%s %x\r\n%s\r\n' "${2:-TEXT}" ${#1} "$1"
}

# expect FILE PRINTF-FORMAT [ARGS...]: FILE holds exactly these bytes.
expect() {
	f=$1
	shift
	# shellcheck disable=SC2059
	printf "$@" >"$f.want"
	if cmp -s "$f" "$f.want"; then
		return 0
	fi
	echo "# got:"
	od -c "$f" | head -20 | diag
	echo "# want:"
	od -c "$f.want" | head -20 | diag
	return 1
}

HDR='Status: 200 OK\r\nContent-Type: application/websocket-events\r\n\r\n'

# -- the echo example -----------------------------------------------------
spawn echo "$ECHO"
check "echo: spawn-fcgi started it" test -S "$T/echo.sock"

msg "$T/echo.sock" hello WS_MESSAGE_TYPE=text >"$T/out"
check "echo: a text message comes back as one TEXT event" \
    expect "$T/out" "${HDR}TEXT 5\r\nhello\r\n"

# 300 bytes with NULs, CR and LF in them.
i=0
: >"$T/bin"
while [ $i -lt 30 ]; do
	printf '\000\001\r\n\377abc\000\200' >>"$T/bin"
	i=$((i + 1))
done
LEN=300 fcgi "$T/echo.sock" WS_EVENT=MESSAGE WS_MESSAGE_TYPE=binary \
    <"$T/bin" >"$T/out"
{ printf "${HDR}BINARY 12c\r\n"; cat "$T/bin"; printf '\r\n'; } \
    >"$T/want"
check "echo: a binary message comes back byte for byte" \
    cmp -s "$T/out" "$T/want"

fcgi "$T/echo.sock" WS_EVENT=CONNECT </dev/null >"$T/out"
check "echo: CONNECT is accepted with an empty body" \
    expect "$T/out" "$HDR"

fcgi "$T/echo.sock" </dev/null >"$T/out"
check "echo: a request without WS_EVENT gets 400" \
    grep -q '^Status: 400' "$T/out"

# Eight requests at once, on one process.
i=0
pids=""
while [ $i -lt 8 ]; do
	printf "m$i" >"$T/in$i"
	LEN=2 fcgi "$T/echo.sock" WS_EVENT=MESSAGE <"$T/in$i" >"$T/out$i" &
	pids="$pids $!"
	i=$((i + 1))
done
wait_ok=0
for p in $pids; do
	wait "$p" || wait_ok=1
done
i=0
while [ $i -lt 8 ]; do
	tr -d '\r\n' <"$T/out$i" | grep -q "TEXT 2m$i\$" || wait_ok=1
	i=$((i + 1))
done
check "echo: concurrent requests each get their own answer" \
    test $wait_ok -eq 0

t0=$(now_ms)
kill -TERM "$PID_echo"
if wait_gone "$PID_echo" 2000; then
	check "echo: an idle process exits promptly on SIGTERM" \
	    test $(($(now_ms) - t0)) -lt 1500
else
	not_ok "echo: an idle process exits promptly on SIGTERM"
fi

# A payload over WSH_MAX_PAYLOAD gets 413, without calling the handler.
spawn small "$(command -v env)" WSH_MAX_PAYLOAD=4 "$ECHO"
msg "$T/small.sock" 'too long' >"$T/out"
check "SDK: a payload over the cap gets 413" \
    grep -q '^Status: 413' "$T/out"

# Run by hand, without spawn-fcgi, a handler answers one CGI request.
printf 'by hand' | env -i WS_EVENT=MESSAGE "$ECHO" >"$T/out" 2>"$T/err"
check "SDK: started from a shell it serves one CGI request" \
    expect "$T/out" "${HDR}TEXT 7\r\nby hand\r\n"

# -- the stream example: flushed frame by frame, cancelled promptly ------
spawn stream "$STREAM" -t 2
printf '{"n":5,"interval_ms":200}' >"$T/in"
"$PROBE" -w 10 -T "$T/timing" -i "$T/in" -e WS_EVENT=MESSAGE \
    "$T/stream.sock" >"$T/out"
tr -d '\r' <"$T/out" | grep -c '^{"seq":[1-5],"n":5}$' >"$T/count"
check "stream: five numbered frames" test "$(cat "$T/count")" -eq 5
# Each frame is its own FastCGI record, arriving as it is written: the
# first well before the last (a buffered handler sends one at the end).
first=$(head -n 1 "$T/timing" | cut -d' ' -f1)
last=$(tail -n 1 "$T/timing" | cut -d' ' -f1)
records=$(wc -l <"$T/timing")
if [ "$records" -ge 5 ] && [ "$first" -lt 150 ] && [ "$last" -ge 700 ]; then
	ok "stream: frames are flushed one by one ($records records, ${first} ms to ${last} ms)"
else
	not_ok "stream: frames are flushed one by one"
	diag "$T/timing"
fi

# Cancel: hang up after two frames of a 10-second stream, on a process
# with one thread: the next request is served at once only if the stream
# stopped.
spawn stream1 "$STREAM" -t 1
printf '{"n":100,"interval_ms":100}' >"$T/in"
"$PROBE" -w 10 -c 2 -i "$T/in" -e WS_EVENT=MESSAGE "$T/stream1.sock" \
    >/dev/null
t0=$(now_ms)
printf '{"n":1}' >"$T/in"
"$PROBE" -w 10 -i "$T/in" -e WS_EVENT=MESSAGE "$T/stream1.sock" >"$T/out"
elapsed=$(($(now_ms) - t0))
if grep -q '"seq":1' "$T/out" && [ $elapsed -lt 2000 ]; then
	ok "stream: a hang-up stops the stream (next request after $elapsed ms)"
else
	not_ok "stream: a hang-up stops the stream (next request after $elapsed ms)"
fi
i=0
while ! grep -q 'cancelled after' "$T/stream1.err" && [ $i -lt 50 ]; do
	sleep 0.05
	i=$((i + 1))
done
check "stream: the handler saw the cancellation" \
    grep -q 'cancelled after 2 frames' "$T/stream1.err"

# Four 600 ms streams on a two-thread process take two rounds, not four.
printf '{"n":3,"interval_ms":300}' >"$T/in"
t0=$(now_ms)
pids=""
for i in 1 2 3 4; do
	"$PROBE" -w 10 -i "$T/in" -e WS_EVENT=MESSAGE "$T/stream.sock" \
	    >"$T/par$i" &
	pids="$pids $!"
done
wait_ok=0
for p in $pids; do
	wait "$p" || wait_ok=1
done
elapsed=$(($(now_ms) - t0))
for i in 1 2 3 4; do
	grep -q '"seq":3' "$T/par$i" || wait_ok=1
done
if [ $wait_ok -eq 0 ] && [ $elapsed -ge 1100 ] && [ $elapsed -lt 2200 ]; then
	ok "SDK: two threads serve two invocations at a time ($elapsed ms)"
else
	not_ok "SDK: two threads serve two invocations at a time ($elapsed ms)"
fi

# SIGTERM during a stream: the stream completes, then the process exits.
printf '{"n":5,"interval_ms":200}' >"$T/in"
"$PROBE" -w 10 -i "$T/in" -e WS_EVENT=MESSAGE "$T/stream.sock" \
    >"$T/out" &
probe=$!
sleep 0.3
kill -TERM "$PID_stream"
wait $probe
rc=$?
check "SIGTERM: the running stream completes" \
    test $rc -eq 0 -a "$(grep -c '"seq"' "$T/out")" -eq 5
check "SIGTERM: then the process exits" wait_gone "$PID_stream" 3000

# -- the test handler -----------------------------------------------------
spawn th "$TESTH"
fcgi "$T/th.sock" WS_EVENT=CONNECT QUERY_STRING='reject=403&reason=go+away' \
    </dev/null >"$T/out"
check "testhandler: reject=403 answers 403 with the reason" \
    expect "$T/out" \
    'Status: 403 go away\r\nContent-Type: application/websocket-events\r\n\r\n'

q='identity=alice%20b&hello=1'
fcgi "$T/th.sock" WS_EVENT=CONNECT QUERY_STRING="$q" </dev/null >"$T/out"
check "testhandler: CONNECT accepts with identity, context and hello" \
    expect "$T/out" 'Status: 200 OK\r\nContent-Type: application/websocket-events\r\nX-WS-Identity: alice b\r\nX-WS-Context: {"via":"testhandler","q":"%s"}\r\n\r\nTEXT 2a\r\n{"type":"connection","status":"connected"}\r\n' "$q"

msg "$T/th.sock" '{"type":"whoami"}' WS_CONNECTION_ID=c0nn WS_REQUEST_ID=r1 WS_ROUTE_KEY=whoami WS_ENDPOINT=/ws WS_IDENTITY=alice WS_CONTEXT='{"a":1}' >"$T/out"
w='{"type":"whoami","connection_id":"c0nn","request_id":"r1","route_key":"whoami","identity":"alice","context":{"a":1},"event":"MESSAGE","endpoint":"/ws"}'
check "testhandler: whoami reports the event" \
    expect "$T/out" "${HDR}TEXT %x\r\n%s\r\n" ${#w} "$w"

msg "$T/th.sock" '{"type":"binary","size":300}' >"$T/out"
i=0
: >"$T/want"
printf "${HDR}BINARY 12c\r\n" >>"$T/want"
while [ $i -lt 300 ]; do
	# shellcheck disable=SC2059
	printf "\\$(printf %o $((i & 255)))" >>"$T/want"
	i=$((i + 1))
done
printf '\r\n' >>"$T/want"
check "testhandler: binary sends bytes 0, 1, ... 255, 0, ..." \
    cmp -s "$T/out" "$T/want"

msg "$T/th.sock" '{"type":"ndjson","n":3}' >"$T/out"
check "testhandler: ndjson leaves the events format" \
    expect "$T/out" 'Status: 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n{"line":0}\n{"line":1}\n{"line":2}\n'

msg "$T/th.sock" '{"type":"status","code":503}' >"$T/out"
check "testhandler: status sets the status before the first frame" \
    expect "$T/out" 'Status: 503 Service Unavailable\r\nContent-Type: application/websocket-events\r\n\r\nTEXT 16\r\n{"type":"status-body"}\r\n'

msg "$T/th.sock" '{"type":"close","code":4001,"reason":"bye"}' >"$T/out"
check "testhandler: close sends a CLOSE event with code and reason" \
    expect "$T/out" "${HDR}CLOSE 5\r\n\017\241bye\r\n"

msg "$T/th.sock" '{"type":"join","channel":"room1"}' >"$T/out"
{ printf "$HDR"; event '{"type":"join","channel":"room1"}' CONTROL
  event '{"type":"joined","channel":"room1"}'; } >"$T/want"
check "testhandler: join sends the CONTROL event, then joined" \
    cmp -s "$T/out" "$T/want"

fcgi "$T/th.sock" WS_EVENT=DISCONNECT WS_CONNECTION_ID=c1 \
    WS_CLOSE_CODE=1001 WS_CLOSE_REASON='going away' \
    WS_TEST_LOG="$T/disc.log" </dev/null >/dev/null
printf '{"code":1006,"reason":""}' >"$T/in"
LEN=25 fcgi "$T/th.sock" WS_EVENT=DISCONNECT WS_CONNECTION_ID=c2 \
    WS_TEST_LOG="$T/disc.log" <"$T/in" >/dev/null
check "testhandler: DISCONNECT lines go to WS_TEST_LOG" \
    expect "$T/disc.log" 'c1 1001 going away\nc2 1006 \n'

# -- the management API client, against a stand-in for the router --------
if [ -n "$PYTHON3" ]; then
	"$PYTHON3" "$top_srcdir/tests/handlers/apistub.py" "$T/api.log" \
	    --port-file "$T/api.port" 2>"$T/api.err" &
	PIDS="$PIDS $!"
	"$PYTHON3" "$top_srcdir/tests/handlers/apistub.py" "$T/api.log" \
	    --unix "$T/api.sock" 2>"$T/apiu.err" &
	PIDS="$PIDS $!"
	wait_for "$T/api.port"
	wait_for "$T/api.sock"
	api="http://127.0.0.1:$(cat "$T/api.port")"

	msg "$T/th.sock" '{"type":"push","to":"c9","text":"hi"}' WS_CONNECTION_ID=c1 WS_API="$api" >"$T/out"
	check "API: push answers with the HTTP status" grep -q \
	    '{"type":"pushed","status":200,"count":0}' "$T/out"
	check "API: push is POST /@connections/ID, text/plain" grep -qx \
	    'POST /@connections/c9 text/plain; charset=utf-8 6869' "$T/api.log"

	msg "$T/th.sock" '{"type":"push","to":"gone","text":"x","binary":true}' WS_API="unix:$T/api.sock" >"$T/out"
	check "API: over a unix socket, binary, 410 for a gone connection" \
	    sh -c "grep -q '\"status\":410' '$T/out' && grep -qx 'POST /@connections/gone application/octet-stream 78' '$T/api.log'"

	: >"$T/api.log"
	msg "$T/th.sock" '{"type":"push","to":"c9","count":5}' WS_API="$api" >"$T/out"
	i=0
	: >"$T/want"
	while [ $i -lt 5 ]; do
		printf '{"type":"push","seq":%d}' $i | od -An -tx1 | \
		    tr -d ' \n' | sed 's|^|POST /@connections/c9 text/plain; charset=utf-8 |' >>"$T/want"
		echo >>"$T/want"
		i=$((i + 1))
	done
	check "API: count pushes numbered frames in order" \
	    cmp -s "$T/api.log" "$T/want"

	: >"$T/api.log"
	msg "$T/th.sock" '{"type":"info","to":"c9"}' WS_API="$api" >"$T/out"
	msg "$T/th.sock" '{"type":"kick","to":"c9","code":4000}' WS_API="$api" >>"$T/out"
	msg "$T/th.sock" '{"type":"publish","channel":"room 1","text":"x"}' WS_API="$api" >>"$T/out"
	check "API: info, close and publish" sh -c "
	    grep -q '{\"type\":\"info\",\"status\":200,\"body\":{\"connection_id\":\"c9\"}}' '$T/out' &&
	    grep -q '{\"type\":\"kicked\",\"status\":204}' '$T/out' &&
	    grep -q '{\"type\":\"published\",\"status\":200}' '$T/out' &&
	    printf 'GET /@connections/c9 - -\nDELETE /@connections/c9?code=4000 - -\nPOST /@channels/room%%201 text/plain; charset=utf-8 78\n' | cmp -s - '$T/api.log'"

	msg "$T/th.sock" '{"type":"push","to":"c9","text":"x"}' WS_API="unix:$T/nothing-here.sock" >"$T/out"
	check "API: -1 when the router cannot be reached" \
	    grep -q '"status":-1' "$T/out"
else
	for d in push push-unix count info-close-publish unreachable \
	    push-request; do
		skip "API $d: python3 not found"
	done
fi

# -- standalone, with -s: our own socket, mode 0600, removed on exit ----
"$TESTH" -s "unix:$T/sa.sock" -t 2 2>"$T/sa.err" &
sa=$!
PIDS="$PIDS $sa"
wait_for "$T/sa.sock"
msg "$T/sa.sock" 'plain text' >"$T/out"
mode=$(stat -c %a "$T/sa.sock" 2>/dev/null)
kill -TERM $sa
wait_gone $sa 3000
if expect "$T/out" "${HDR}TEXT a\r\nplain text\r\n" && [ "$mode" = 600 ] &&
    [ ! -e "$T/sa.sock" ]; then
	ok "standalone: -s unix:PATH serves, mode 0600, removed on SIGTERM"
else
	not_ok "standalone: -s unix:PATH serves, mode 0600, removed on SIGTERM"
fi

# -- standalone on TCP: -s 127.0.0.1:PORT --------------------------------
port=""
[ -n "$PYTHON3" ] && port=$("$PYTHON3" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
if [ -n "$port" ]; then
	"$ECHO" -s "127.0.0.1:$port" -t 1 2>"$T/tcp.err" &
	tcp=$!
	PIDS="$PIDS $tcp"
	i=0
	while ! grep -q serving "$T/tcp.err" && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	printf 'over tcp' | env -i REQUEST_METHOD=POST CONTENT_LENGTH=8 \
	    WS_EVENT=MESSAGE "$CGI_FCGI" -bind -connect "127.0.0.1:$port" \
	    >"$T/out"
	check "standalone: -s 127.0.0.1:PORT serves over TCP" \
	    expect "$T/out" "${HDR}TEXT 8\r\nover tcp\r\n"
	"$ECHO" -s "127.0.0.1:$port" 2>"$T/tcp2.err"
	check "standalone: a port in use is an error, not a crash" \
	    sh -c "test $? -eq 1 && grep -q 'Address already in use' '$T/tcp2.err'"
else
	skip "standalone TCP: python3 not found"
	skip "standalone TCP: python3 not found"
fi

# -- the PHP example under php-fpm ----------------------------------------
if [ -n "$PHP_FPM" ] && [ -x "$PHP_FPM" ]; then
	WSH_PHP_LISTEN="$T/php.sock" "$PHP_FPM" -F -R -y "$PHP_CONF" \
	    >"$T/php.out" 2>"$T/php.err" &
	PIDS="$PIDS $!"
	wait_for "$T/php.sock"
	msg "$T/php.sock" 'hello php' SCRIPT_FILENAME="$PHP_SCRIPT" \
	    WS_MESSAGE_TYPE=text >"$T/out"
	check "php-fpm: echo.php answers a text message with one TEXT event" \
	    expect "$T/out" \
	    'Content-Type: application/websocket-events\r\n\r\nTEXT 9\r\nhello php\r\n' ||
	    diag "$T/php.err"
	LEN=300 fcgi "$T/php.sock" SCRIPT_FILENAME="$PHP_SCRIPT" \
	    WS_EVENT=MESSAGE WS_MESSAGE_TYPE=binary <"$T/bin" >"$T/out"
	{ printf 'Content-Type: application/websocket-events\r\n\r\n'
	  printf 'BINARY 12c\r\n'; cat "$T/bin"; printf '\r\n'; } >"$T/want"
	check "php-fpm: echo.php echoes binary byte for byte" \
	    cmp -s "$T/out" "$T/want"
else
	skip "php-fpm: not found"
	skip "php-fpm: not found"
fi

# -- the installed archive exports only wsh_ names -----------------------
if command -v nm >/dev/null 2>&1; then
	nm -g --defined-only "$HANDLERS/sdk/libwsh.a" 2>/dev/null | \
	    awk 'NF == 3 && $3 !~ /^wsh_/ { print $3 }' >"$T/syms"
	check "libwsh.a defines no global symbol outside wsh_" \
	    test ! -s "$T/syms"
	[ -s "$T/syms" ] && diag "$T/syms"
else
	skip "nm not found"
fi

# Stop everything, then look for sanitizer reports (ASan, LSan at exit,
# UBSan) in the handlers' logs.
stop_all
if grep -l -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$T"/*.err \
    >"$T/san" 2>/dev/null; then
	not_ok "no sanitizer report in the handlers' logs"
	for f in $(cat "$T/san"); do
		head -n 30 "$f" | diag
	done
else
	ok "no sanitizer report in the handlers' logs"
fi

echo "1..$n"
exit $((failed > 0))
