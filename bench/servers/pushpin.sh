# pushpin.sh: starting Pushpin with its WebSocket-over-HTTP backend
# (bench/ref/pushpin-backend.js) for the benchmark driver; sourced by it.
# shellcheck shell=sh disable=SC2034,SC2154,SC3045
#
# start_pushpin PORT: writes a Pushpin configuration and routes file under
# "$tmp/pushpin" (its own run directory, IPC sockets there, no system
# service, no file outside $tmp), starts the backend and Pushpin pinned to
# $server_cpu, logs to "$tmp/pushpin-*.log", sets started, server_pids
# (the pushpin runner, whose tree is condure, zurl, pushpin-proxy and
# pushpin-handler, and the backend), server_path and server_proto, and
# returns once PORT accepts.
#
# How Pushpin 1.36 (Debian) carries the contract:
# - The client's WebSocket ends in condure. Every message goes condure ->
#   pushpin-proxy -> zurl -> an HTTP POST to the backend, whose response
#   carries the answer back the same way (echo is four processes and an
#   HTTP request per message). Stream tokens are HTTP POSTs from the backend
#   to pushpin-handler's publish port, and go handler -> proxy -> condure.
# - Pings: neither condure nor the proxy answers a client's ping. condure
#   passes it on as a zhttp ping, the proxy turns it into a PING event of a
#   WebSocket-over-HTTP request to the backend, and the client gets a pong
#   only when the backend answers with a PONG event (pushpin-backend.js
#   does). So every client ping costs a backend HTTP request. Measured
#   here: Pushpin holds 10,000 idle connections without pings (about 67 KB
#   RSS each, most of it condure's, then pushpin-proxy's), but a ping every
#   5 s on each (2,000 pings/s) is beyond the few hundred backend requests
#   per second it manages on one core: most pongs come late or never, and
#   pushpin-proxy drops a third or more of the connections.
# - The publish port answers every request with "Connection: close"
#   (simplehttpserver.cpp), so each token published is a new TCP
#   connection; the ZeroMQ inputs would avoid that but need a ZeroMQ binding
#   in the backend.
# - Limits: client_maxconn (passed to condure as --stream-maxconn; condure's
#   own default is 10000, pushpin's 50000) caps the client connections; set
#   here from PUSHPIN_MAXCONN. condure reserves memory for every slot up
#   front (about 0.5 KB each), and one process cannot have more open files
#   than the hard limit (20,000 here) anyway. client_buffer_size (8192) is condure's
#   per-connection buffer, two per connection. condure queues at most 100
#   WebSocket messages per connection (--messages-max, not settable through
#   pushpin.conf). zurl has at most 2000 backend requests open at once
#   (max_open_requests in its template). pushpin-handler limits publishing
#   to message_rate messages/s (2500 in the shipped pushpin.conf; left
#   unset here, which means no limit) and 20 subscriptions per connection
#   (connection_subscription_max). The open-file limit is raised to the
#   hard limit for every process started here.
#
# Environment (optional):
#   PUSHPIN_MAXCONN    client connections condure accepts (default 20000)
#   PUSHPIN_LOG_LEVEL  Pushpin's log level (default 1, warnings; 2 logs
#                      every request)

start_pushpin() {
	pp_port=$1
	pp_dir=$tmp/pushpin
	mkdir -p "$pp_dir/run"
	pp_backend_port=$(free_port)
	pp_publish_port=$(free_port)
	[ "$pp_backend_port" != "$pp_publish_port" ] ||
		pp_publish_port=$(free_port)

	# The shipped internal.conf, with zurl's sockets in our run directory
	# instead of a system zurl's.
	sed 's|ipc:///var/run/zurl/zurl-|ipc://{rundir}/{ipc_prefix}zurl-|' \
	    /usr/lib/pushpin/internal.conf >"$pp_dir/internal.conf" ||
		die "cannot read Pushpin's internal.conf"
	echo "* 127.0.0.1:$pp_backend_port,over_http" >"$pp_dir/routes"
	cat >"$pp_dir/pushpin.conf" <<EOF
[global]
include=$pp_dir/internal.conf
rundir=$pp_dir/run
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:$pp_port
log_level=${PUSHPIN_LOG_LEVEL:-1}
client_buffer_size=8192
client_maxconn=${PUSHPIN_MAXCONN:-20000}
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=bench-$$
upstream_key=
updates_check=off

[handler]
push_in_spec=ipc://{rundir}/{ipc_prefix}push-in
push_in_sub_specs=ipc://{rundir}/{ipc_prefix}push-in-sub
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=$pp_publish_port
push_in_http_max_headers_size=10000
push_in_http_max_body_size=1000000
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=ipc://{rundir}/{ipc_prefix}command
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
EOF

	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
		exec taskset -c "$server_cpu" "$NODE" "$here/ref/pushpin-backend.js" \
		    "$pp_backend_port" "http://127.0.0.1:$pp_publish_port/publish/"
	) >"$tmp/pushpin-backend.log" 2>&1 &
	pp_backend_pid=$!
	started=$pp_backend_pid
	wait_port "$pp_backend_port" ||
		die "the Pushpin backend did not listen: $(cat "$tmp/pushpin-backend.log")"

	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
		cd "$pp_dir" || exit 1
		exec taskset -c "$server_cpu" pushpin --config "$pp_dir/pushpin.conf" \
		    --merge-output
	) >"$tmp/pushpin-pushpin.log" 2>&1 &
	pp_pid=$!
	started="$pp_pid $pp_backend_pid"
	server_pids="$pp_pid,$pp_backend_pid"
	server_path=/ws
	server_proto=ws
	wait_port "$pp_port" ||
		die "Pushpin did not listen on port $pp_port: $(tail -n 20 "$tmp/pushpin-pushpin.log")"
	wait_port "$pp_publish_port" ||
		die "Pushpin's publish port $pp_publish_port did not open: $(tail -n 20 "$tmp/pushpin-pushpin.log")"
}
