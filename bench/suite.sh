#!/bin/sh
# suite.sh: the benchmark suite (bench/run.sh all): the echo, stream,
# idle and scale scenarios against wsrouter and the reference servers
# (Node ws, socket.io, websocketd, Pushpin), each run on a freshly started
# server pinned to CPU 0 with the load generator on CPU 1. One JSON line
# per run in bench/results/suite-STAMP.jsonl, the tables with ratios
# against Node ws and the targets in bench/results/suite-STAMP.md.
set -eu

prog=suite.sh
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$here")
top_builddir=${top_builddir:-$top_srcdir}
NODE=${NODE:-node}
SPAWN_FCGI=${SPAWN_FCGI:-spawn-fcgi}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

runs=2
scenarios=echo,stream,idle,scale
servers=""
quick=no
resdir=$here/results
# echo
echo_conns=100
echo_secs=10
# stream
st_streams=200
st_tokens=200
st_rate=50
# idle
idle_conns=10000
# scale
scale_conns=70000
scale_routers=5
scale_clients=5

usage() {
	cat >&2 <<EOF
usage: $0 [-q] [-n scale-conns] [-o dir] [-r runs] [-S scenarios] [-s servers]
  -r RUNS       runs per server and scenario (default $runs); tables show medians
  -S LIST       scenarios, comma-separated (default $scenarios)
  -s LIST       servers (default: $SERVERS_ALL_TEXT)
  -n CONNS      connections the scale scenario opens (default $scale_conns)
  -q            quick: one run, short durations, 1000 idle and 6000 scale
                connections; checks that everything works, measures little
  -o DIR        where results go (default bench/results)
Environment: top_builddir (a configured build tree; default the source
tree), NODE, SPAWN_FCGI.
EOF
	exit 1
}

SERVERS_ALL_TEXT="wsrouter,node-ws,socketio,websocketd,pushpin"
while getopts hn:o:qr:S:s: opt; do
	case $opt in
	n) scale_conns=$OPTARG ;;
	o) resdir=$OPTARG ;;
	q) quick=yes ;;
	r) runs=$OPTARG ;;
	S) scenarios=$OPTARG ;;
	s) servers=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
if [ $quick = yes ]; then
	runs=1
	echo_secs=3
	st_streams=50
	st_tokens=50
	idle_conns=1000
	scale_conns=6000
	scale_routers=2
	scale_clients=2
fi

# What is missing is installed (as root), then built.
if [ "$(id -u)" -eq 0 ]; then
	"$top_srcdir/scripts/deps" --bench
fi
need taskset "$SPAWN_FCGI" "$NODE" ss make websocketd pushpin
if [ ! -f "$top_builddir/Makefile" ]; then
	say "configuring an optimised build in $top_builddir"
	if [ ! -x "$top_srcdir/configure" ]; then
		(cd "$top_srcdir" && autoreconf -fi >/dev/null)
	fi
	(cd "$top_builddir" && "$top_srcdir/configure" >/dev/null)
fi
if grep -q '^CFLAGS = .*-O0' "$top_builddir/Makefile"; then
	say "warning: the build is -O0 (--enable-debug); the numbers will be low"
fi
if grep -q '^WSR_CFLAGS.*fsanitize' "$top_builddir/Makefile"; then
	say "warning: the build uses sanitizers; the numbers will be low"
fi
say "building"
make -s -C "$top_builddir/lib" >/dev/null
make -s -C "$top_builddir/router" wsrouter >/dev/null
make -s -C "$top_builddir/handlers" >/dev/null
make -s -C "$top_builddir/bench" >/dev/null
LOADGEN=$top_builddir/bench/loadgen
need_ws
pick_cpus "the servers and the load generator"

# shellcheck source=bench/servers.sh
. "$here/servers.sh"
[ -n "$servers" ] || servers=$(echo "$SERVERS_ALL" | tr ' ' ,)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsr-suite.XXXXXX")
started=""
lg_pids=""
cleanup() {
	# shellcheck disable=SC2086
	[ -z "$lg_pids" ] || kill $lg_pids 2>/dev/null || true
	# shellcheck disable=SC2086
	[ -z "$started" ] || stop_pids $started
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$resdir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$resdir/suite-$stamp.jsonl
md=$resdir/suite-$stamp.md
failures=0

pkgver() {
	dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown
}
"$NODE" "$here/report.js" meta \
    suite=yes date="$stamp" quick="$quick" runs="$runs" \
    wsrouter_rev="$(revision)" \
    wsrouter_version="$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" \
    cflags="$(sed -n 's/^CFLAGS = //p' "$top_builddir/Makefile")" \
    node="$("$NODE" --version)" \
    ws="$("$NODE" -p "require('$here/node_modules/ws/package.json').version")" \
    socketio="$("$NODE" -p "try { require('$here/node_modules/socket.io/package.json').version } catch (e) { 'missing' }")" \
    websocketd="$(pkgver websocketd)" pushpin="$(pkgver pushpin)" \
    libwebsockets="$(pkgver libwebsockets17)" libfcgi="$(pkgver libfcgi0ldbl)" \
    kernel="$(uname -r)" \
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    ncpu="$ncpu" server_cpu="$server_cpu" load_cpu="$load_cpu" \
    nofile="$(awk '/^Max open files/ { print $5 }' /proc/self/limits)" mem_total_kb="$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)" \
    loadavg_before="$(cut -d' ' -f1-3 /proc/loadavg)" \
    echo_conns="$echo_conns" echo_secs="$echo_secs" \
    stream_streams="$st_streams" stream_tokens="$st_tokens" stream_rate="$st_rate" \
    idle_conns="$idle_conns" scale_conns="$scale_conns" \
    scale_routers="$scale_routers" scale_clients="$scale_clients" \
    >"$out"
say "results: $out"

# record CASE NAME RUN RC: tag loadgen's line with the case and the run,
# append it, and keep the logs of a run that went wrong.
record() {
	if [ ! -s "$tmp/line" ]; then
		say "$1/$2 run $3: no result (loadgen exit $4)"
		sed 's/^/  loadgen: /' "$tmp/loadgen.err" >&2
		printf '{"case":"%s","server":"%s","run":%s,"complete":false,"errors":1}\n' \
		    "$1" "$2" "$3" >>"$out"
		failures=$((failures + 1))
	else
		sed "s/^{/{\"case\":\"$1\",\"run\":$3,\"loadgen_exit\":$4,/" \
		    "$tmp/line" >>"$out"
	fi
	if [ "$4" -ne 0 ] || [ -s "$tmp/loadgen.err" ]; then
		sed 's/^/  loadgen: /' "$tmp/loadgen.err" | head -20 >&2
		for log in "$tmp"/*.log; do
			[ -s "$log" ] || continue
			cp "$log" "$resdir/suite-$stamp-$1-$2-run$3-$(basename "$log")"
		done
	fi
	[ "$4" -eq 0 ] || failures=$((failures + 1))
	"$NODE" "$here/suite-report.js" brief <"$out" >&2 || true
}

# one CASE NAME RUN LOADGEN-ARGS...: a fresh server, one loadgen run.
one() {
	case_=$1 name=$2 run=$3
	shift 3
	port=$(free_port)
	rm -f "$tmp"/*.log
	start_server "$name" "$port"
	rc=0
	timeout 300 taskset -c "$load_cpu" "$LOADGEN" -u "127.0.0.1:$port" \
	    -p "$server_path" -P "$server_proto" -l "$name" -C "$server_pids" \
	    "$@" >"$tmp/line" 2>"$tmp/loadgen.err" || rc=$?
	for p in $started; do
		kill -0 "$p" 2>/dev/null ||
		    say "warning: $name process $p ended during the run"
	done
	# shellcheck disable=SC2086
	stop_pids $started
	started=""
	record "$case_" "$name" "$run" "$rc"
}

# for_servers: the server list, reversed on even runs so that drifting
# noise is shared out.
for_servers() {
	list=$(echo "$servers" | tr , ' ')
	if [ $(($1 % 2)) -eq 0 ]; then
		list=$(for s in $list; do echo "$s"; done | sed -n '1!G;h;$p')
	fi
	echo "$list"
}

has() {
	case ",$scenarios," in *",$1,"*) return 0 ;; esac
	return 1
}

run=1
while [ $run -le "$runs" ]; do
	if has echo; then
		for name in $(for_servers "$run"); do
			say "echo: $name, run $run"
			BENCH_THREADS=16 one echo "$name" "$run" -c $echo_conns \
			    -d $echo_secs -w 1 -m 64 echo
		done
	fi
	if has stream; then
		for variant in stream stream-burst; do
			spread=1
			[ $variant = stream ] || spread=0.02
			for name in $(for_servers "$run"); do
				say "$variant: $name, run $run"
				BENCH_THREADS=$((st_streams + 16)) one $variant \
				    "$name" "$run" -c $st_streams -d 120 -w 0 \
				    -X tokens=$st_tokens -X rate=$st_rate \
				    -X spread=$spread stream
			done
		done
	fi
	run=$((run + 1))
done

# Memory: one run each is enough, it hardly varies.
if has idle; then
	for name in $(for_servers 1); do
		say "idle: $name, $idle_conns connections"
		BENCH_THREADS=16 one idle "$name" 1 -c $idle_conns -d 5 -w 0 \
		    -T 120 -b 256 -X ping=2 idle
	done
fi

# Scale: several routers on one port (SO_REUSEPORT), several load
# generators, each under the per-process open file limit.
if has scale && echo ",$servers," | grep -q ',wsrouter,'; then
	say "scale: $scale_conns connections, $scale_routers routers," \
	    "$scale_clients load generators"
	port=$(free_port)
	rm -f "$tmp"/*.log
	# Both sides ping: the clients every 5 s, the routers after 10 s
	# without hearing from a client.
	BENCH_PING_INTERVAL=10s BENCH_ROUTERS=$scale_routers BENCH_THREADS=16 \
	    start_server wsrouter-multi "$port"
	per=$(((scale_conns + scale_clients - 1) / scale_clients))
	k=0
	lg_pids=""
	while [ $k -lt "$scale_clients" ]; do
		# Distinct source addresses per load generator: 127.0.0.(1+4k)...
		taskset -c "$load_cpu" "$LOADGEN" -u "127.0.0.1:$port" \
		    -p "$server_path" -l wsrouter-multi -C "$server_pids" \
		    -A $((1 + 4 * k)) -a 4 -c $per -d 20 -w 0 -T 150 -b 128 \
		    -X ping=5 idle >"$tmp/scale-$k.line" \
		    2>"$tmp/scale-$k.err" &
		lg_pids="$lg_pids $!"
		k=$((k + 1))
	done
	# The most connections established on the port while they hold.
	sleep 5
	est=0
	i=0
	while [ $i -lt 200 ]; do
		n=$(ss -Htn state established "sport = :$port" | wc -l)
		[ "$n" -le "$est" ] || est=$n
		grep -q '"conns_held"' "$tmp"/scale-*.line 2>/dev/null && break
		sleep 1
		i=$((i + 1))
	done
	rc=0
	for p in $lg_pids; do
		wait "$p" || rc=$?
	done
	lg_pids=""
	for p in $started; do
		kill -0 "$p" 2>/dev/null ||
		    say "warning: scale: process $p ended during the run"
	done
	# shellcheck disable=SC2086
	stop_pids $started
	started=""
	k=0
	while [ $k -lt "$scale_clients" ]; do
		cp "$tmp/scale-$k.line" "$tmp/line"
		cp "$tmp/scale-$k.err" "$tmp/loadgen.err"
		sed -i "s/^{/{\"established_seen\":$est,\"routers\":$scale_routers,\"client\":$k,/" \
		    "$tmp/line"
		record scale wsrouter-multi 1 "$rc"
		k=$((k + 1))
	done
fi

"$NODE" "$here/suite-report.js" table "$out" >"$md"
cat "$md"
say "table: $md"
if [ $failures -gt 0 ]; then
	say "$failures runs had errors; their logs are in $resdir"
	exit 2
fi
