# node.sh: starting the Node reference servers, Node's ws (node-ws) and
# socket.io v4 (socketio), for the benchmark driver; sourced by it.
# shellcheck shell=sh disable=SC2034,SC2154,SC3045
#
# start_node_ws PORT, start_socketio PORT: start the server pinned to
# $server_cpu, log to "$tmp/NAME-node.log", set started, server_pids,
# server_path and server_proto, and return once PORT accepts.
#
# Environment (optional):
#   SIO_PING_INTERVAL  socket.io: Engine.IO's ping interval in ms (25000)
#   SIO_PING_TIMEOUT   socket.io: how long to wait for the pong, ms (20000)

# node_open_files: raise the open-file limit of this shell, and so of what
# it starts next, to the hard limit, for 10k connections and more.
node_open_files() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

start_node_ws() {
	(
		node_open_files
		exec taskset -c "$server_cpu" "$NODE" "$here/ref/node-ws.js" \
		    "$1" 127.0.0.1 /ws
	) >"$tmp/node-ws-node.log" 2>&1 &
	started=$!
	server_pids=$!
	server_path=/ws
	server_proto=ws
	wait_port "$1" || die "node-ws did not listen on port $1: $(cat "$tmp/node-ws-node.log")"
}

start_socketio() {
	if [ ! -f "$here/node_modules/socket.io/package.json" ]; then
		say "installing socket.io into bench/node_modules"
		(cd "$here" && npm ci --no-audit --no-fund >/dev/null) ||
			die "npm ci in $here failed"
	fi
	(
		node_open_files
		exec taskset -c "$server_cpu" "$NODE" "$here/ref/socketio.js" \
		    "$1" 127.0.0.1
	) >"$tmp/socketio-node.log" 2>&1 &
	started=$!
	server_pids=$!
	server_path='/socket.io/?EIO=4&transport=websocket'
	server_proto=eio
	wait_port "$1" || die "socketio did not listen on port $1: $(cat "$tmp/socketio-node.log")"
}
