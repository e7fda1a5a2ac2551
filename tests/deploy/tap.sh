# tap.sh: TAP output for the deploy tests, sourced by each of them.
# Sets tmp to a fresh directory that is removed on exit; a test adds its
# own cleanup with at_exit.

tap_n=0
tap_failed=0
tap_cleanup=""

tap_plan() { echo "1..$1"; }

# ok CONDITION-EXIT-STATUS DESCRIPTION
tap_ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# Print a file (or stdin) as TAP diagnostics.
tap_diag() { sed 's/^/# /' "$@"; }

# Skip the whole test file.
tap_skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

at_exit() { tap_cleanup="$1; $tap_cleanup"; }

tap_exit() {
	eval "$tap_cleanup"
	rm -rf "$tmp"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsrouter-deploy.XXXXXX")
trap tap_exit EXIT
trap 'exit 1' INT TERM HUP

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
