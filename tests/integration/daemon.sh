#!/bin/sh
# daemon.sh: the router as a daemon: config check (-t), start-up, health
# and metrics over curl, SIGHUP reload (good and bad), SIGTERM exit.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
wsr_need spawn-fcgi wsrouter testhandler curl
wsr_init

# upgrade PATH: print the HTTP status of a WebSocket upgrade request.
upgrade() {
	"$CURL" -s -m 2 -o /dev/null -w '%{http_code}' --http1.1 \
	    -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	    -H 'Sec-WebSocket-Version: 13' \
	    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	    "http://127.0.0.1:$WSR_PORT$1"
}

wsr_pool main || exit 1
endpoints='endpoint /ws {
	route $default main
}'
{ wsr_pool_conf main; echo "$endpoints"; } | wsr_config

out=$("$WSROUTER" -t -c "$WSR_CONF" 2>&1)
is "$?" 0 "-t accepts a valid config"
is "$out" "wsrouter: the configuration file $WSR_CONF is valid" "-t says so"

bad=$WSR_DIR/bad.conf
cat >"$bad" <<EOF
listen 127.0.0.1:$WSR_PORT
no_such_key 1
pool p {
	address unix:$WSR_DIR/main.sock
}
endpoint /ws {
	route \$default missing_pool
}
EOF
out=$("$WSROUTER" -t -c "$bad" 2>&1)
is "$?" 1 "-t rejects an invalid config"
like "$out" "^$bad:2: no_such_key: " "the unknown key is reported with file and line"
like "$out" "^$bad:7: route: " "the unknown pool is reported too"
is "$(printf '%s\n' "$out" | grep -c "^$bad:")" 2 "one line per error"

ok "the router starts and /healthz answers 200" wsr_start_router
is "$(upgrade /ws)" 101 "an upgrade on /ws switches protocols"
st=$(upgrade /new)
if [ "$st" != 101 ]; then tap_ok "an upgrade on an unknown path is refused ($st)"; else tap_fail "an upgrade on an unknown path is refused"; fi

is "$(wsr_api GET /metrics)" 200 "/metrics answers 200"
like "$(cat "$WSR_DIR/api.body")" '^wsrouter_queue_drops_total(\{[^}]*\})? 0$' \
    "/metrics has wsrouter_queue_drops_total"

# Reload with a new endpoint.
{ wsr_pool_conf main; echo "$endpoints"; echo 'endpoint /new {
	route $default main
}'; } | wsr_config
kill -HUP "$WSR_ROUTER_PID"
if wsr_wait 5 sh -c "[ \"\$(\"$CURL\" -s -m 2 -o /dev/null -w '%{http_code}' --http1.1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:$WSR_PORT/new)\" = 101 ]"; then
	tap_ok "SIGHUP adds the new endpoint"
else
	tap_fail "SIGHUP adds the new endpoint"
fi
ok "the router still runs after SIGHUP" wsr_alive "$WSR_ROUTER_PID"

# A broken config on reload keeps the old one.
echo 'this is not a config {' | wsr_config
kill -HUP "$WSR_ROUTER_PID"
sleep 0.5
ok "a bad config on SIGHUP does not stop the router" wsr_alive "$WSR_ROUTER_PID"
is "$(wsr_api GET /healthz)" 200 "/healthz after a bad reload"
is "$(upgrade /new)" 101 "the old config still serves /new"
like "$(cat "$WSR_LOG")" "$WSR_CONF:$(wc -l <"$WSR_CONF" | tr -d ' '): " \
    "the reload error names the file and line"

wsr_stop_router TERM
is "$WSR_ROUTER_EXIT" 0 "SIGTERM: the router exits 0"
tap_done
