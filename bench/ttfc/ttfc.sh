#!/bin/sh
# ttfc.sh: the time-to-first-chunk benchmark of the chat stack. For each run
# and scenario (many concurrent streams, and one stream as the baseline):
# start the fake model server, the chat handler and the router fresh, with
# one throwaway PostgreSQL cluster for the whole session; have client.js
# send every user's message at the same moment, round after round; and
# record how long the first chunk of each answer took to get from the fake
# model to the client. Results go to bench/results/.
set -eu

prog=ttfc.sh
here=$(cd "$(dirname "$0")" && pwd)
bench=$(dirname "$here")
top_srcdir=$(dirname "$bench")
top_builddir=${top_builddir:-$top_srcdir}
NODE=${NODE:-node}
PYTHON3=${PYTHON3:-python3}
SPAWN_FCGI=${SPAWN_FCGI:-spawn-fcgi}
# shellcheck source=bench/lib.sh
. "$bench/lib.sh"

users=50
rounds=10
base_rounds=20
warmup=1
runs=3
tokens=50
tps=20
delay=200
threads=64
keepalive=on
fake_cpu=load
niceness=0
resdir=$bench/results

usage() {
	cat >&2 <<EOF
usage: $0 [-b rounds] [-c users] [-d ms] [-F cpu] [-k tokens] [-K on|off]
          [-N nice] [-n rounds] [-o dir] [-p tps] [-r runs] [-t threads]
          [-w rounds]
  -c USERS    concurrent streams: users, one connection each (default $users)
  -n ROUNDS   measured rounds of the concurrent scenario (default $rounds)
  -b ROUNDS   measured rounds of the one-stream baseline (default $base_rounds)
  -w ROUNDS   warmup rounds before each, not measured (default $warmup)
  -r RUNS     runs (default $runs); the summary shows medians over runs
  -k TOKENS   tokens per answer from the fake model (default $tokens)
  -p TPS      the fake model's tokens per second (default $tps)
  -d MS       the fake model's delay before the first token (default $delay)
  -t THREADS  chat handler threads, and the pool's concurrency (default $threads)
  -K on|off   FastCGI keepalive of the chat pool (default $keepalive)
  -F CPU      where the fake model runs: "load" (with the client, default),
              "server" (with the stack), or a CPU number
  -N NICE     run the stack, the fake model and the client at this nice
              level (default $niceness; below 0 needs root): on a shared
              machine, -10 keeps other work from stalling the measurement
  -o DIR      where results go (default bench/results)
Environment: top_builddir (a configured build tree; default the source
tree), NODE, PYTHON3, SPAWN_FCGI, PG_BINDIR (see scripts/pg-tmp).
EOF
	exit 1
}

while getopts b:c:d:F:hk:K:N:n:o:p:r:t:w: opt; do
	case $opt in
	b) base_rounds=$OPTARG ;;
	c) users=$OPTARG ;;
	d) delay=$OPTARG ;;
	F) fake_cpu=$OPTARG ;;
	k) tokens=$OPTARG ;;
	K) keepalive=$OPTARG ;;
	N) niceness=$OPTARG ;;
	n) rounds=$OPTARG ;;
	o) resdir=$OPTARG ;;
	p) tps=$OPTARG ;;
	r) runs=$OPTARG ;;
	t) threads=$OPTARG ;;
	w) warmup=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

for v in "$users" "$rounds" "$base_rounds" "$warmup" "$runs" "$tokens" \
    "$delay" "$threads"; do
	case $v in
	''|*[!0-9]*) die "not a number: $v" ;;
	esac
done
case $keepalive in
on|off) ;;
*) usage ;;
esac
case $niceness in
-[0-9]|-1[0-9]|-20|[0-9]|1[0-9]) ;;
*) die "-N: a nice level from -20 to 19" ;;
esac
if [ "$runs" -lt 1 ] || [ "$runs" -gt 20 ]; then
	die "-r: 1 to 20 runs"
fi
if [ "$users" -lt 1 ] || [ "$users" -gt 1000 ]; then
	die "-c: 1 to 1000 users"
fi
for v in "$rounds" "$base_rounds"; do
	if [ "$v" -lt 1 ] || [ "$v" -gt 1000 ]; then
		die "-n, -b: 1 to 1000 rounds"
	fi
done
if [ "$warmup" -gt 1000 ] || [ "$tokens" -lt 1 ]; then
	die "-w: at most 1000 rounds; -k: at least one token"
fi

need taskset nice "$SPAWN_FCGI" "$NODE" "$PYTHON3" ss make psql od

# Build what is needed, and nothing else (other parts may be mid-change).
need_build
say "building wsrouter and wsrouter-chat"
make -s -C "$top_builddir/lib" >/dev/null
make -s -C "$top_builddir/router" wsrouter >/dev/null
make -s -C "$top_builddir/handlers" chat/wsrouter-chat >/dev/null
WSROUTER=$top_builddir/router/wsrouter
CHAT=$top_builddir/handlers/chat/wsrouter-chat
FAKELLM=$top_srcdir/tools/wsrouter-fakellm
PG_TMP=$top_srcdir/scripts/pg-tmp
MIGRATE=$top_srcdir/sql/wsrouter-migrate
LEXICON=$top_srcdir/handlers/chat/safety-lexicon.txt
if grep -q '^WSR_CFLAGS.*fsanitize' "$top_builddir/Makefile"; then
	say "warning: the build uses sanitizers; the numbers will be high"
fi
if grep -q '^WSR_CFLAGS.*-O0' "$top_builddir/Makefile"; then
	say "warning: a debug build (-O0, from --enable-debug); the numbers will be high"
fi
need_ws
pick_cpus "the stack and the client"
case $fake_cpu in
load) fake_cpu=$load_cpu ;;
server) fake_cpu=$server_cpu ;;
*[!0-9]*|'') die "-F: load, server or a CPU number" ;;
esac

# The cluster's folder must be reachable by the postgres user (pg-tmp).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsr-ttfc.XXXXXX")
chmod 755 "$tmp"
started=""
pg_started=""

cleanup() {
	# shellcheck disable=SC2086
	[ -z "$started" ] || stop_pids $started
	started=""
	if [ -n "$pg_started" ]; then
		"$PG_TMP" stop "$tmp/pg" >/dev/null 2>&1 ||
			say "warning: the PostgreSQL cluster in $tmp/pg did not stop"
		pg_started=""
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The PostgreSQL cluster: one for the session, on the stack's CPU (its
# server processes inherit the affinity), migrated once.
say "starting a throwaway PostgreSQL cluster"
pg_started=yes
db_url=$(nice -n "$niceness" taskset -c $server_cpu "$PG_TMP" start "$tmp/pg" 2>"$tmp/pg-tmp.err" |
	tail -n 1) || true
case $db_url in
postgresql://*) ;;
*) cat "$tmp/pg-tmp.err" >&2; die "the PostgreSQL cluster did not start" ;;
esac
"$MIGRATE" -d "$db_url" >"$tmp/migrate.log" 2>&1 ||
	{ cat "$tmp/migrate.log" >&2; die "the migrations failed"; }

pg_pid=$(sed -n 1p "$tmp/pg/data/postmaster.pid" 2>/dev/null || true)
case $pg_pid in
''|*[!0-9]*) die "no postmaster.pid in $tmp/pg/data" ;;
esac
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

# start_stack PORT: the fake model, the chat handler and the router, fresh.
# Sets started (space-separated pids, for stop_pids) and fake_url.
start_stack() {
	port=$1
	rm -f "$tmp/fake.port" "$tmp/chat.sock"
	nice -n "$niceness" taskset -c "$fake_cpu" "$PYTHON3" "$FAKELLM" --listen 127.0.0.1:0 \
	    --port-file "$tmp/fake.port" --tokens "$tokens" --tps "$tps" \
	    --first-token-delay-ms "$delay" >"$tmp/fakellm.log" 2>&1 &
	fpid=$!
	started="$fpid"
	i=0
	while [ ! -s "$tmp/fake.port" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$tmp/fake.port" ] ||
		die "the fake model did not start: $(cat "$tmp/fakellm.log")"
	fake_url=http://127.0.0.1:$(cat "$tmp/fake.port")

	CHAT_JWT_ALG=HS256 CHAT_JWT_SECRET=$secret CHAT_DATABASE_URL=$db_url \
	    CHAT_DB_TIMEOUT=5s CHAT_LLM_PROVIDER=openai CHAT_LLM_URL=$fake_url \
	    CHAT_LLM_MODEL=fake-model CHAT_LLM_CONNECT_TIMEOUT=5s \
	    CHAT_LLM_FIRST_TOKEN_TIMEOUT=30s CHAT_LLM_STALL_TIMEOUT=30s \
	    CHAT_SAFETY_LEXICON=$LEXICON CHAT_LOG_LEVEL=warn \
	    WSH_THREADS=$threads nice -n "$niceness" \
	    taskset -c $server_cpu "$SPAWN_FCGI" -n -s "$tmp/chat.sock" \
	    -M 0600 -- "$CHAT" >"$tmp/handler.log" 2>&1 &
	hpid=$!
	started="$hpid $fpid"
	i=0
	while [ ! -S "$tmp/chat.sock" ] && [ $i -lt 100 ]; do
		kill -0 "$hpid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$tmp/chat.sock" ] ||
		die "the chat handler did not start: $(cat "$tmp/handler.log")"

	cat >"$tmp/wsrouter.conf" <<EOF
listen 127.0.0.1:$port
log_level warn
shutdown_timeout 2s

pool chat {
    address unix:$tmp/chat.sock
    concurrency $threads
    queue 1024
    keepalive $keepalive
    first_byte_timeout 30s
    idle_timeout 60s
}

endpoint /ws {
    route_selection type
    route \$connect chat
    route \$disconnect chat
    route \$default chat
}
EOF
	"$WSROUTER" -t -c "$tmp/wsrouter.conf" >/dev/null ||
		die "wsrouter rejects the benchmark configuration"
	nice -n "$niceness" taskset -c $server_cpu "$WSROUTER" \
	    -c "$tmp/wsrouter.conf" \
	    >"$tmp/router.log" 2>&1 &
	rpid=$!
	started="$rpid $hpid $fpid"
	wait_port "$port" || die "wsrouter did not listen on port $port: $(cat "$tmp/router.log")"
}

mkdir -p "$resdir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
day=$(date -u +%Y%m%d)
out=$resdir/ttfc-$stamp.jsonl
samples=$resdir/ttfc-$stamp-samples.jsonl
if [ "$niceness" = 0 ]; then
	txt=$resdir/ttfc-$day.txt
else
	txt=$resdir/ttfc-$day-nice$niceness.txt
fi
: >"$samples"

"$NODE" "$bench/report.js" meta \
    scenario=ttfc date="$stamp" \
    wsrouter_rev="$(revision)" \
    wsrouter_version="$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" \
    cflags="$(sed -n 's/^CFLAGS = //p' "$top_builddir/Makefile")" \
    debug="$(grep -q '^WSR_CFLAGS.*-O0' "$top_builddir/Makefile" && echo yes || echo no)" \
    node="$("$NODE" --version)" \
    ws="$("$NODE" -p "require('$bench/node_modules/ws/package.json').version")" \
    python="$("$PYTHON3" -c 'import platform; print(platform.python_version())')" \
    postgres="$(psql -d "$db_url" -XAtc 'SHOW server_version' 2>/dev/null | cut -d' ' -f1)" \
    libwebsockets="$(pkg-config --modversion libwebsockets 2>/dev/null | tr -d -)" \
    libfcgi="$(dpkg-query -W -f '${Version}' libfcgi0ldbl 2>/dev/null || echo unknown)" \
    libcurl="$(pkg-config --modversion libcurl 2>/dev/null || echo unknown)" \
    kernel="$(uname -r)" \
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    ncpu="$ncpu" server_cpu="$server_cpu" load_cpu="$load_cpu" fake_cpu="$fake_cpu" \
    loadavg_before="$(cut -d' ' -f1-3 /proc/loadavg)" \
    users="$users" rounds="$rounds" base_rounds="$base_rounds" warmup="$warmup" \
    runs="$runs" tokens="$tokens" tps="$tps" first_token_delay_ms="$delay" \
    handler_threads="$threads" pool_concurrency="$threads" keepalive="$keepalive" \
    nice="$niceness" \
    >"$out"

say "results: $out"
failed=0
run=1
while [ $run -le "$runs" ]; do
	# Alternate the order, so that drifting noise is shared out.
	list="concurrent baseline"
	[ $((run % 2)) -eq 1 ] || list="baseline concurrent"
	for scen in $list; do
		if [ "$scen" = concurrent ]; then
			c=$users
			n=$rounds
		else
			c=1
			n=$base_rounds
		fi
		port=$(free_port)
		start_stack "$port"
		say "run $run: $scen, $c stream(s), $n rounds"
		rc=0
		TTFC_JWT_SECRET=$secret nice -n "$niceness" \
		    taskset -c $load_cpu "$NODE" \
		    "$here/client.js" -u "ws://127.0.0.1:$port/ws" -f "$fake_url" \
		    -c "$c" -n "$n" -w "$warmup" -l "$scen" -t "r$run$scen" \
		    -T 60 -s "$tmp/samples" -C "$rpid,$hpid,$pg_pid" -P "$fpid" \
		    -H "$hz" >"$tmp/line" 2>"$tmp/client.err" || rc=$?
		early=""
		for p in $started; do
			kill -0 "$p" 2>/dev/null && continue
			st=0
			wait "$p" || st=$?
			early="$early $p"
			say "warning: process $p of the stack ended during the run, status $st"
		done
		# shellcheck disable=SC2086
		stop_pids $started
		started=""
		if [ ! -s "$tmp/line" ]; then
			cat "$tmp/client.err" >&2
			for log in router handler fakellm; do
				say "--- $log log"
				tail -n 20 "$tmp/$log.log" >&2 || true
			done
			die "the client gave no result for run $run, $scen (exit $rc)"
		fi
		"$NODE" -e 'const l = JSON.parse(require("fs").readFileSync(0, "utf8"));
l.run = Number(process.argv[1]); process.stdout.write(JSON.stringify(l) + "\n");' \
		    "$run" <"$tmp/line" >>"$out"
		sed "s/^{/{\"run\":$run,/" "$tmp/samples" >>"$samples"
		tail -n 1 "$out" | "$NODE" "$here/report.js" line >&2
		if [ $rc -ne 0 ] || [ -n "$early" ]; then
			failed=$((failed + 1))
			sed 's/^/  client: /' "$tmp/client.err" >&2
			for log in router handler fakellm; do
				[ -s "$tmp/$log.log" ] || continue
				cp "$tmp/$log.log" "$resdir/ttfc-$stamp-$scen-run$run-$log.log"
				say "  $log log kept: $resdir/ttfc-$stamp-$scen-run$run-$log.log"
			done
		fi
		rm -f "$tmp/router.log" "$tmp/handler.log" "$tmp/fakellm.log" \
		    "$tmp/samples"
	done
	run=$((run + 1))
done

"$NODE" "$here/report.js" summary "$out" >"$txt"
cat "$txt"
say "summary: $txt"
say "every sample: $samples"
[ $failed -eq 0 ] || die "$failed of the measurements had errors (see above)"
