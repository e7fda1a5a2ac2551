# servers.sh: start_server NAME PORT, the one way the suite starts a server
# under test. Each server's start function lives in bench/servers/*.sh
# (start_NAME, with "-" in NAME as "_"); this file sources them all.
# Before the call the caller sets here, top_srcdir, top_builddir, tmp,
# server_cpu, NODE, SPAWN_FCGI and prog. The start function pins every
# process to server_cpu, sets started (pids for stop_pids), server_pids
# (comma-separated roots of the process trees measured, for loadgen -C),
# and may change server_path (/ws) and server_proto (ws, or eio for
# socket.io); it returns once the port accepts.
# shellcheck shell=sh disable=SC2034,SC2154

for f in "$here"/servers/*.sh; do
	# shellcheck source=/dev/null
	. "$f"
done

# The servers the suite knows, in the order of its tables.
SERVERS_ALL="wsrouter node-ws socketio websocketd pushpin"

start_server() {
	server_path=/ws
	server_proto=ws
	server_pids=""
	started=""
	fn=start_$(echo "$1" | tr - _)
	command -v "$fn" >/dev/null 2>&1 || die "unknown server: $1"
	"$fn" "$2"
}
