#!/bin/sh
# run.sh: the one entry point to the benchmarks: run.sh SCENARIO [options].
# Scenarios: all (the suite: echo, stream, idle and scale against wsrouter
# and the reference servers, see suite.sh -h), echo (wsrouter against Node
# ws only, see echo.sh -h), ttfc (the chat stack's time to first chunk, see
# ttfc/ttfc.sh -h), selftest (the load generator's own protocol checks).
set -eu

here=$(cd "$(dirname "$0")" && pwd)

usage() {
	echo "usage: $0 all [options] | echo [options] | ttfc [options] | selftest" >&2
	echo "       $0 all -h    for the suite's options" >&2
	echo "       $0 echo -h   for the echo options" >&2
	echo "       $0 ttfc -h   for the time-to-first-chunk options" >&2
	exit 1
}

[ $# -ge 1 ] || usage
scenario=$1
shift
case $scenario in
all)
	exec "$here/suite.sh" "$@"
	;;
echo)
	exec "$here/echo.sh" "$@"
	;;
ttfc)
	exec "$here/ttfc/ttfc.sh" "$@"
	;;
selftest)
	exec "$here/selftest.sh" "$@"
	;;
*)
	usage
	;;
esac
