#!/bin/sh
# selftest.sh: check the load generator against a hostile server: every
# legal frame shape must work, every illegal one must be counted. TAP out.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$(dirname "$here")}
LOADGEN=${LOADGEN:-$top_builddir/bench/loadgen}
NODE=${NODE:-node}

if [ ! -x "$LOADGEN" ]; then
	make -s -C "$top_builddir/lib" && make -s -C "$top_builddir/bench" loadgen
fi
exec "$NODE" "$here/test/hostile-server.js" "$LOADGEN"
