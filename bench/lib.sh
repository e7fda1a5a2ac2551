# lib.sh: what the benchmark scripts share, sourced by each once it has
# set prog (its name, for messages), top_srcdir, top_builddir and NODE.
# shellcheck shell=sh disable=SC2034,SC2154

die() {
	echo "$prog: $*" >&2
	exit 1
}
say() {
	echo "$prog: $*" >&2
}

# need TOOL...: die naming the first one that is not there.
need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool is needed"
	done
}

# need_build: a configured build tree in top_builddir.
need_build() {
	[ -f "$top_builddir/Makefile" ] ||
		die "no configured build in $top_builddir: run autoreconf -fi && ./configure first"
}

# need_ws: the ws and socket.io modules in bench/node_modules, from
# package-lock.json.
need_ws() {
	bench_dir=$top_srcdir/bench
	if [ ! -f "$bench_dir/node_modules/ws/package.json" ] ||
	    [ ! -f "$bench_dir/node_modules/socket.io/package.json" ]; then
		say "installing ws and socket.io into bench/node_modules"
		(cd "$bench_dir" && npm ci --no-audit --no-fund >/dev/null)
	fi
}

# pick_cpus WHO: sets ncpu, and server_cpu and load_cpu (0 and 1, or both
# 0 with a warning that WHO share the one CPU).
pick_cpus() {
	ncpu=$(nproc)
	if [ "$ncpu" -ge 2 ]; then
		server_cpu=0
		load_cpu=1
	else
		say "warning: one CPU; $1 share it"
		server_cpu=0
		load_cpu=0
	fi
}

# stop_pids PID...: SIGTERM, up to 3 s each, then SIGKILL; reap them.
stop_pids() {
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "$@"; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 30 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# Print a free loopback TCP port.
free_port() {
	"$NODE" -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# wait_port PORT: up to 10 s for a listener on it.
wait_port() {
	i=0
	while [ $i -lt 100 ]; do
		if [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The revision measured: the short commit, "+changes" when router/,
# handlers/ or lib/ differ from it.
revision() {
	rev=$(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git -C "$top_srcdir" status --porcelain -- router handlers lib 2>/dev/null)" ]; then
		rev="$rev+changes"
	fi
	echo "$rev"
}
