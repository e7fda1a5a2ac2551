#!/bin/sh
# nginx.sh: deploy/nginx-wsrouter.conf.example passes `nginx -t` inside a
# minimal nginx.conf with a throwaway certificate, a broken copy does not,
# and a real nginx running it carries wss:// through to a WebSocket server
# while it refuses the management API's paths.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/deploy/tap.sh"

nginx=${NGINX:-$(command -v nginx || true)}
[ -n "$nginx" ] && [ -x "$nginx" ] || nginx=/usr/sbin/nginx
[ -x "$nginx" ] || tap_skip_all "nginx not found"
command -v openssl >/dev/null 2>&1 || tap_skip_all "openssl not found"
py=${PYTHON3:-/usr/bin/python3}

example=$top_srcdir/deploy/nginx-wsrouter.conf.example
chmod 755 "$tmp"

tap_plan 9

# A self-signed certificate for the example's paths.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -days 1 -subj /CN=chat.example.com \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >"$tmp/openssl.out" 2>&1
rc=$?
[ $rc -eq 0 ] || tap_diag "$tmp/openssl.out"
tap_ok $rc "openssl makes a self-signed certificate"

# Free loopback ports: https, http, and the WebSocket server behind.
set -- $("$py" -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
https_port=$1 http_port=$2 backend_port=$3

# site FILE: the example with our certificate, loopback ports and backend.
site() {
	sed -e "s|/etc/ssl/certs/chat.example.com.pem|$tmp/cert.pem|" \
	    -e "s|/etc/ssl/private/chat.example.com.key|$tmp/key.pem|" \
	    -e "s|^\([ 	]*\)listen 443 ssl;|\1listen 127.0.0.1:$https_port ssl;|" \
	    -e "s|^\([ 	]*\)listen 80;|\1listen 127.0.0.1:$http_port;|" \
	    -e '/listen \[::\]/d' \
	    -e "s|server 127.0.0.1:8080;|server 127.0.0.1:$backend_port;|" \
	    "$example" >"$1"
}

# conf NAME SITE [MAIN]: a minimal nginx.conf around SITE, all files in
# $tmp, with MAIN added to the main context.
conf() {
	cat >"$tmp/$1" <<CONF
${3:-}
pid $tmp/nginx.pid;
error_log $tmp/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $tmp/body;
	proxy_temp_path $tmp/proxy;
	fastcgi_temp_path $tmp/fastcgi;
	uwsgi_temp_path $tmp/uwsgi;
	scgi_temp_path $tmp/scgi;
	include $2;
}
CONF
}

# The environment variable NGINX means inherited sockets to nginx (and
# makes it stay in the foreground): the test harness sets it to the path.
ngx() { env -u NGINX "$nginx" -p "$tmp" -e "$tmp/error.log" "$@"; }

site "$tmp/site.conf"
conf nginx.conf "$tmp/site.conf"
grep -q "listen 127.0.0.1:$https_port ssl;" "$tmp/site.conf" &&
    grep -q "server 127.0.0.1:$backend_port;" "$tmp/site.conf" &&
    ! grep -q 'listen 443\|/etc/ssl' "$tmp/site.conf"
tap_ok $? "the example's ports and certificate paths are where expected"

ngx -t -q -c "$tmp/nginx.conf" >"$tmp/t.out" 2>&1
rc=$?
[ $rc -eq 0 ] || { tap_diag "$tmp/t.out"; tap_diag "$tmp/error.log"; }
tap_ok $rc "nginx -t accepts the example"

# The same with one semicolon gone must fail, or the check above is void.
sed 's/proxy_buffering off;/proxy_buffering off/' "$tmp/site.conf" \
    >"$tmp/broken.conf"
conf broken-nginx.conf "$tmp/broken.conf"
ngx -t -q -c "$tmp/broken-nginx.conf" >/dev/null 2>&1
tap_ok $((! $?)) "nginx -t rejects a broken copy"

# The management API is on its own address and never proxied.
! grep -n 'proxy_pass.*\(9001\|api\.sock\|unix:\)' "$example"
tap_ok $? "no proxy_pass reaches the management API"

# Live: a WebSocket echo server behind nginx, and a wss:// client.
if ! "$py" -c 'import websockets' 2>/dev/null ||
    ! command -v curl >/dev/null 2>&1; then
	for d in "wss:// through nginx" "/@connections refused" \
	    "/metrics refused" "http redirects"; do
		tap_skip "$d" "python3 websockets or curl not found"
	done
	exit $((tap_failed != 0))
fi

cat >"$tmp/backend.py" <<'PY'
import asyncio, json, sys, websockets

async def echo(ws, path):
    async for msg in ws:
        await ws.send(json.dumps({
            "echo": msg, "path": path,
            "proto": ws.request_headers.get("X-Forwarded-Proto", ""),
        }))

async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1])):
        await asyncio.sleep(60)

asyncio.run(main())
PY
"$py" "$tmp/backend.py" "$backend_port" 2>"$tmp/backend.err" &
backend_pid=$!
at_exit "kill $backend_pid 2>/dev/null"

# In the foreground, as our child, so that we stop exactly it.
conf run-nginx.conf "$tmp/site.conf" "daemon off;"
env -u NGINX "$nginx" -p "$tmp" -e "$tmp/error.log" \
    -c "$tmp/run-nginx.conf" >"$tmp/start.out" 2>&1 &
nginx_pid=$!
at_exit "kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null"

cat >"$tmp/client.py" <<'PY'
import asyncio, ssl, sys, websockets

async def main():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    url = "wss://127.0.0.1:%s/ws" % sys.argv[1]
    for attempt in range(50):
        try:
            async with websockets.connect(url, ssl=ctx, open_timeout=2) as ws:
                await ws.send("hello")
                print(await asyncio.wait_for(ws.recv(), 5))
                return
        except (OSError, websockets.exceptions.InvalidStatusCode):
            await asyncio.sleep(0.1)
    sys.exit("no connection")

asyncio.run(main())
PY
out=$(timeout 20 "$py" "$tmp/client.py" "$https_port" 2>"$tmp/client.err")
rc=$?
case "$out" in
*'"echo": "hello"'*'"path": "/ws"'*'"proto": "https"'*) ;;
*) rc=1 ;;
esac
if [ $rc -ne 0 ]; then
	echo "# client said: $out"
	tap_diag "$tmp/client.err" "$tmp/backend.err" "$tmp/error.log"
fi
tap_ok $rc "a wss:// client reaches the WebSocket server through nginx"

code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 \
    -X POST -d '{}' "https://127.0.0.1:$https_port/@connections/abc")
[ "$code" = 404 ]
tap_ok $? "POST /@connections/ID is refused by nginx (got $code)"

code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 \
    "https://127.0.0.1:$https_port/metrics")
[ "$code" = 404 ]
tap_ok $? "GET /metrics is refused by nginx (got $code)"

loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 \
    "http://127.0.0.1:$http_port/ws")
[ "$loc" = "301 https://127.0.0.1/ws" ]
tap_ok $? "plain http redirects to https ($loc)"

[ $tap_failed -eq 0 ]
