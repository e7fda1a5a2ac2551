#!/bin/sh
# echo.sh: the echo benchmark. For each server (wsrouter with the C echo
# handler, and Node's ws as the reference) and each run: start it fresh on
# CPU 0, drive it from CPU 1 with the load generator (closed loop, 64-byte
# messages), and record one JSON line. Then a markdown table of medians,
# with ratios against node-ws. Results go to bench/results/.
set -eu

prog=echo.sh
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(dirname "$here")
top_builddir=${top_builddir:-$top_srcdir}
NODE=${NODE:-node}
SPAWN_FCGI=${SPAWN_FCGI:-spawn-fcgi}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

conns=100
duration=10
warmup=1
runs=3
size=64
threads=16
servers=wsrouter,wsrouter-nokeepalive,node-ws
resdir=$here/results

usage() {
	cat >&2 <<EOF
usage: $0 [-c conns] [-d seconds] [-m size] [-o dir] [-r runs]
          [-s servers] [-t threads] [-w seconds]
  -c CONNS    connections (default $conns)
  -d SECONDS  measured seconds per run (default $duration)
  -w SECONDS  warmup per run, not measured (default $warmup)
  -r RUNS     runs per server (default $runs); the table shows medians
  -m SIZE     message size in bytes (default $size)
  -t THREADS  echo handler threads, and the pool's concurrency (default $threads)
  -s LIST     servers, comma-separated (default $servers):
              wsrouter              router + bench/handler, FastCGI keepalive on
              wsrouter-nokeepalive  the same, a new FastCGI connection per message
              node-ws               Node's ws echoing in-process
  -o DIR      where results go (default bench/results)
Environment: top_builddir (a configured build tree; default the source
tree), NODE, SPAWN_FCGI.
EOF
	exit 1
}

while getopts c:d:hm:o:r:s:t:w: opt; do
	case $opt in
	c) conns=$OPTARG ;;
	d) duration=$OPTARG ;;
	m) size=$OPTARG ;;
	o) resdir=$OPTARG ;;
	r) runs=$OPTARG ;;
	s) servers=$OPTARG ;;
	t) threads=$OPTARG ;;
	w) warmup=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

need taskset "$SPAWN_FCGI" "$NODE" ss make

# Build what is needed, and nothing else (other parts may be mid-change).
need_build
say "building loadgen, wsrouter and the echo handler"
make -s -C "$top_builddir/lib" >/dev/null
make -s -C "$top_builddir/router" wsrouter >/dev/null
make -s -C "$top_builddir/handlers" sdk/libwsh.a >/dev/null
make -s -C "$top_builddir/bench" loadgen handler >/dev/null
LOADGEN=$top_builddir/bench/loadgen
if grep -q '^WSR_CFLAGS.*fsanitize' "$top_builddir/Makefile"; then
	say "warning: the build uses sanitizers; the numbers will be low"
fi
need_ws
pick_cpus "the server and the load generator"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsr-bench.XXXXXX")
started=""

cleanup() {
	# shellcheck disable=SC2086
	[ -z "$started" ] || stop_pids $started
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/servers.sh
. "$here/servers.sh"

mkdir -p "$resdir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$resdir/echo-$stamp.jsonl
md=$resdir/echo-$stamp.md

"$NODE" "$here/report.js" meta \
    scenario=echo date="$stamp" \
    wsrouter_rev="$(revision)" \
    wsrouter_version="$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" \
    cflags="$(sed -n 's/^CFLAGS = //p' "$top_builddir/Makefile")" \
    node="$("$NODE" --version)" \
    ws="$("$NODE" -p "require('$here/node_modules/ws/package.json').version")" \
    libwebsockets="$(pkg-config --modversion libwebsockets 2>/dev/null | tr -d -)" \
    libfcgi="$(dpkg-query -W -f '${Version}' libfcgi0ldbl 2>/dev/null || echo unknown)" \
    kernel="$(uname -r)" \
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    ncpu="$ncpu" server_cpu="$server_cpu" load_cpu="$load_cpu" \
    loadavg_before="$(cut -d' ' -f1-3 /proc/loadavg)" \
    conns="$conns" duration="$duration" warmup="$warmup" msg_size="$size" \
    runs="$runs" handler_threads="$threads" pool_concurrency="$threads" \
    >"$out"

say "results: $out"
run=1
while [ $run -le "$runs" ]; do
	# Alternate the order, so that drifting noise is shared out.
	list=$(echo "$servers" | tr , ' ')
	if [ $((run % 2)) -eq 0 ]; then
		list=$(for s in $list; do echo "$s"; done | sed -n '1!G;h;$p')
	fi
	for name in $list; do
		port=$(free_port)
		rm -f "$tmp"/*.log
		BENCH_THREADS=$threads start_server "$name" "$port"
		rc=0
		taskset -c $load_cpu "$LOADGEN" -u "127.0.0.1:$port" -p /ws \
		    -c "$conns" -d "$duration" -w "$warmup" -m "$size" \
		    -l "$name" -C "$server_pids" echo \
		    >"$tmp/line" 2>"$tmp/loadgen.err" || rc=$?
		early=""
		for p in $started; do
			kill -0 "$p" 2>/dev/null && continue
			st=0
			wait "$p" || st=$?
			early="$early $p"
			say "warning: $name process $p ended during the run, status $st" \
			    "$([ $st -gt 128 ] && echo "(signal $((st - 128)))")"
		done
		# shellcheck disable=SC2086
		stop_pids $started
		started=""
		if [ ! -s "$tmp/line" ]; then
			cat "$tmp/loadgen.err" >&2
			die "loadgen gave no result for $name (exit $rc)"
		fi
		cat "$tmp/line" >>"$out"
		"$NODE" "$here/report.js" line "$run" <"$tmp/line" >&2
		if [ $rc -ne 0 ] || [ -s "$tmp/loadgen.err" ] || [ -n "$early" ]; then
			sed 's/^/  loadgen: /' "$tmp/loadgen.err" >&2
			for log in "$tmp"/*.log; do
				[ -s "$log" ] || continue
				kept=$resdir/echo-$stamp-$name-run$run-$(basename "$log")
				cp "$log" "$kept"
				say "  log kept: $kept"
			done
		fi
	done
	run=$((run + 1))
done

"$NODE" "$here/report.js" table "$out" >"$md"
cat "$md"
say "table: $md"
