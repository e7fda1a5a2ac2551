# websocketd.sh: starting websocketd (Debian's) for the benchmark driver,
# with bench/ref/wsd-worker as its program; sourced by it.
# shellcheck shell=sh disable=SC2034,SC2154,SC3045
#
# start_websocketd PORT: websocketd on 127.0.0.1:PORT, pinned to
# $server_cpu with the workers it forks; log in "$tmp/websocketd-wsd.log";
# sets started, server_pids (websocketd: its forked workers are counted
# as its descendants), server_path and server_proto.
#
# websocketd runs its one program for a connection on any path, so /ws
# works as it is. One worker process per connection, talking over three
# pipes: each connection holds four descriptors of websocketd's, so under
# this machine's open-file limit of 20,000 it stops near 5,000 connections.
# Its log level is "error": the default, "access", logs every connection,
# and even at "error" it logs two lines per closed connection (reading the
# worker's closed pipes), so the log is kept out of the measurement's way
# in $tmp.
#
# Environment (optional):
#   BENCH_WSD_MAXFORKS  websocketd's --maxforks, the most workers at once
#                       (0: no limit, the default); connections beyond it
#                       are refused
#   WEBSOCKETD          the program (websocketd)
#   WSD_WORKER          the worker (top_builddir/bench/ref/wsd-worker)

start_websocketd() {
	WEBSOCKETD=${WEBSOCKETD:-websocketd}
	WSD_WORKER=${WSD_WORKER:-$top_builddir/bench/ref/wsd-worker}
	need "$WEBSOCKETD"
	[ -x "$WSD_WORKER" ] || die "no $WSD_WORKER: build bench/ref/wsd-worker first"
	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
		exec taskset -c "$server_cpu" "$WEBSOCKETD" --port "$1" \
		    --address 127.0.0.1 --loglevel error \
		    --maxforks "${BENCH_WSD_MAXFORKS:-0}" "$WSD_WORKER"
	) >"$tmp/websocketd-wsd.log" 2>&1 &
	started=$!
	server_pids=$!
	server_path=/ws
	server_proto=ws
	wait_port "$1" ||
		die "websocketd did not listen on port $1: $(cat "$tmp/websocketd-wsd.log")"
}
