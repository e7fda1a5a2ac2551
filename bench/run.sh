#!/bin/sh
# run.sh: the one entry point to the benchmarks: run.sh SCENARIO [options].
# Scenarios: echo (see echo.sh -h), selftest (the load generator's own
# protocol checks).
set -eu

here=$(cd "$(dirname "$0")" && pwd)

usage() {
	echo "usage: $0 echo [options] | selftest" >&2
	echo "       $0 echo -h   for the echo options" >&2
	exit 1
}

[ $# -ge 1 ] || usage
scenario=$1
shift
case $scenario in
echo)
	exec "$here/echo.sh" "$@"
	;;
selftest)
	exec "$here/selftest.sh" "$@"
	;;
*)
	usage
	;;
esac
