# wsrouter.sh: starting wsrouter for the benchmark driver, with the
# benchmark handler (bench/handler) under spawn-fcgi; sourced by it.
# shellcheck shell=sh disable=SC2034,SC2154,SC3045
#
# start_wsrouter PORT              one router, FastCGI keepalive on
# start_wsrouter_nokeepalive PORT  the same, a new FastCGI connection per
#                                  request (the router's default)
# start_wsrouter_multi PORT        BENCH_ROUTERS router processes sharing
#                                  PORT with reuseport, and one handler
#
# Every process is pinned to $server_cpu. The handler listens on a unix
# socket (mode 0600) in $tmp; each router's pool points at it and routes
# $default there (no $connect route: opening a connection costs the
# handler nothing). Logs: "$tmp/NAME-handler.log", "$tmp/NAME-router.log"
# ("-routerN.log" for multi). server_pids and started both list the
# routers and the handler. Shell variables set here start with wsr_.
#
# Environment (optional):
#   BENCH_THREADS        handler threads, and the pool concurrency of a
#                        single router (16; a stream run wants one per
#                        concurrent stream, e.g. 256)
#   BENCH_ROUTERS        router processes of wsrouter-multi (4); their pool
#                        concurrency is BENCH_THREADS / BENCH_ROUTERS each,
#                        so that kept-alive FastCGI connections never
#                        outnumber the handler's threads
#   BENCH_PING_INTERVAL  the routers' ping_interval (30s, their default)
#   WSROUTER             the router (top_builddir/router/wsrouter)
#   BENCH_HANDLER        the handler (top_builddir/bench/handler)
#
# Connections: a router has no connection limit of its own; libwebsockets
# sizes its descriptor table from the open-file limit, so the router is
# started with the limit raised to the hard limit (20,000 here: about
# 19,900 WebSocket connections per process).

# wsr_handler NAME THREADS: start the handler on "$tmp/NAME.sock" and wait
# up to 30 s for the socket (spawn-fcgi has been seen to take 11 s to bind
# it when others kept the server CPU busy). Sets wsr_sock and wsr_hpid.
wsr_handler() {
	WSROUTER=${WSROUTER:-$top_builddir/router/wsrouter}
	BENCH_HANDLER=${BENCH_HANDLER:-$top_builddir/bench/handler}
	[ -x "$WSROUTER" ] || die "no $WSROUTER: build router/wsrouter first"
	[ -x "$BENCH_HANDLER" ] || die "no $BENCH_HANDLER: build bench/handler first"
	wsr_sock=$tmp/$1.sock
	rm -f "$wsr_sock"
	WSH_THREADS=$2 taskset -c "$server_cpu" "$SPAWN_FCGI" -n \
	    -s "$wsr_sock" -M 0600 -- "$BENCH_HANDLER" \
	    >"$tmp/$1-handler.log" 2>&1 &
	wsr_hpid=$!
	started="$started $wsr_hpid"
	wsr_i=0
	while [ ! -S "$wsr_sock" ] && kill -0 "$wsr_hpid" 2>/dev/null &&
	    [ $wsr_i -lt 300 ]; do
		sleep 0.1
		wsr_i=$((wsr_i + 1))
	done
	if [ ! -S "$wsr_sock" ]; then
		kill -0 "$wsr_hpid" 2>/dev/null ||
			die "$1: the handler exited: $(cat "$tmp/$1-handler.log")"
		die "$1: no handler socket after 30 s: $(cat "$tmp/$1-handler.log")"
	fi
}

# wsr_config FILE PORT KEEPALIVE CONCURRENCY REUSEPORT INSTANCE: write a
# router configuration and check it with wsrouter -t.
wsr_config() {
	cat >"$1" <<EOF
listen 127.0.0.1:$2
reuseport $5
instance $6
log_level warn
ping_interval ${BENCH_PING_INTERVAL:-30s}

pool bench {
    address unix:$wsr_sock
    concurrency $4
    keepalive $3
}

endpoint /ws {
    route \$default bench
}
EOF
	"$WSROUTER" -t -c "$1" >/dev/null ||
		die "wsrouter rejects the benchmark configuration $1"
}

# wsr_router CONF LOG: start one router with the open-file limit raised
# to the hard limit. Sets wsr_rpid.
wsr_router() {
	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
		exec taskset -c "$server_cpu" "$WSROUTER" -c "$1"
	) >"$2" 2>&1 &
	wsr_rpid=$!
	started="$started $wsr_rpid"
}

# wsr_start NAME PORT KEEPALIVE: one router and the handler.
wsr_start() {
	wsr_threads=${BENCH_THREADS:-16}
	wsr_handler "$1" "$wsr_threads"
	wsr_config "$tmp/$1.conf" "$2" "$3" "$wsr_threads" off bench
	wsr_router "$tmp/$1.conf" "$tmp/$1-router.log"
	server_pids="$wsr_rpid,$wsr_hpid"
	server_path=/ws
	server_proto=ws
	wait_port "$2" ||
		die "$1 did not listen on port $2: $(cat "$tmp/$1-router.log")"
}

start_wsrouter() {
	wsr_start wsrouter "$1" on
}

start_wsrouter_nokeepalive() {
	wsr_start wsrouter-nokeepalive "$1" off
}

# Returns once all BENCH_ROUTERS listeners are on the port.
start_wsrouter_multi() {
	wsr_threads=${BENCH_THREADS:-16}
	wsr_routers=${BENCH_ROUTERS:-4}
	wsr_conc=$((wsr_threads / wsr_routers))
	[ "$wsr_conc" -ge 1 ] || wsr_conc=1
	wsr_handler wsrouter-multi "$wsr_threads"
	server_pids=$wsr_hpid
	wsr_n=1
	while [ $wsr_n -le "$wsr_routers" ]; do
		wsr_config "$tmp/wsrouter-multi-$wsr_n.conf" "$1" on \
		    "$wsr_conc" on "bench-r$wsr_n"
		wsr_router "$tmp/wsrouter-multi-$wsr_n.conf" \
		    "$tmp/wsrouter-multi-router$wsr_n.log"
		server_pids="$wsr_rpid,$server_pids"
		wsr_n=$((wsr_n + 1))
	done
	server_path=/ws
	server_proto=ws
	wsr_i=0
	while [ "$(wsr_listeners "$1")" -lt "$wsr_routers" ] &&
	    [ $wsr_i -lt 100 ]; do
		sleep 0.1
		wsr_i=$((wsr_i + 1))
	done
	[ "$(wsr_listeners "$1")" -ge "$wsr_routers" ] ||
		die "wsrouter-multi: not all $wsr_routers routers listen on port $1: $(cat "$tmp"/wsrouter-multi-router*.log)"
}

# wsr_listeners PORT: how many sockets listen on PORT (one per router
# with reuseport).
wsr_listeners() {
	ss -Hltn "sport = :$1" 2>/dev/null | wc -l
}
