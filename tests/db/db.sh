#!/bin/sh
# db.sh: the chat service's database: the throwaway cluster script
# (scripts/pg-tmp, as root and as a normal user), the migration command
# (sql/wsrouter-migrate: idempotent, refuses changed migrations, rolls back
# a failing one, safe when run twice at once), then test_db, the database
# layer's own checks, on the migrated database. Its TAP lines are counted
# here as ours.

. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
wsr_need psql
: "${TEST_DB:=$top_builddir/tests/db/test_db}"
[ -x "$TEST_DB" ] || skip_all "missing $TEST_DB"
PGTMP=$top_srcdir/scripts/pg-tmp
MIGRATE=$top_srcdir/sql/wsrouter-migrate
wsr_init

PGDIR=$WSR_DIR/pg
NB_DIR=
# Stop the clusters, then lib.sh's cleanup (which removes WSR_DIR).
db_cleanup() {
	_rc=$?
	"$PGTMP" stop "$PGDIR" >/dev/null 2>&1
	if [ -n "$NB_DIR" ]; then
		runuser -u nobody -- "$PGTMP" stop "$NB_DIR" >/dev/null 2>&1
	fi
	if [ "$_rc" -ne 0 ] || [ "$tap_failed" -ne 0 ]; then
		[ -f "$PGDIR/postgres.log" ] &&
		    tap_diag "postgres.log:" "$(tail -n 40 "$PGDIR/postgres.log")"
	fi
	(exit "$_rc")
	wsr_cleanup
}
trap db_cleanup EXIT
# The postgres user must reach the cluster's folder when we are root.
chmod 755 "$WSR_DIR"

# --- pg-tmp ---------------------------------------------------------------

if ! URL=$("$PGTMP" start "$PGDIR" 2>"$WSR_DIR/start.err"); then
	grep -q 'not installed' "$WSR_DIR/start.err" &&
	    skip_all "PostgreSQL is not installed (scripts/deps)"
	tap_fail "pg-tmp start"
	tap_diag "$(cat "$WSR_DIR/start.err")"
	exit 1
fi
like "$URL" '^postgresql://wsrouter@127\.0\.0\.1:[0-9]+/wsrouter$' \
    "pg-tmp start prints the URL"
PORT=${URL##*:}
PORT=${PORT%%/*}
st=$("$PGTMP" status "$PGDIR")
like "$st" "^running $PORT [0-9]+\$" "pg-tmp status: running, port, pid"
PID=${st##* }
is "$("$PGTMP" url "$PGDIR")" "$URL" "pg-tmp url"
is "$("$PGTMP" start "$PGDIR")" "$URL" "pg-tmp start again: the same URL"
is "$(psql -X -At "$URL" -c 'SELECT current_user, current_database()')" \
    "wsrouter|wsrouter" "role and database wsrouter"
is "$(psql -X -At "$URL" -c 'SHOW listen_addresses')" "127.0.0.1" \
    "it listens on 127.0.0.1 only"
is "$(psql -X -At "$URL" -c 'SHOW TimeZone')" "UTC" "its time zone is UTC"
if [ "$(id -u)" -eq 0 ]; then
	is "$(stat -c %U "$PGDIR/data")" postgres \
	    "as root: the data belongs to postgres"
	is "$(ps -o user= -p "$PID" | tr -d ' ')" postgres \
	    "as root: the server runs as postgres"
else
	is "$(stat -c %U "$PGDIR/data")" "$(id -un)" \
	    "as a user: the data is ours"
fi
ok "the server logs to DIR/postgres.log" test -s "$PGDIR/postgres.log"
"$PGTMP" start "$PGDIR" 1 >/dev/null 2>&1
is "$?" 1 "pg-tmp start on another port while running: refused"
"$PGTMP" frob "$PGDIR" >/dev/null 2>&1
is "$?" 2 "pg-tmp with an unknown command: usage, exit 2"
out=$(PG_BINDIR=$WSR_DIR "$PGTMP" start "$WSR_DIR/other" 2>&1)
like "$out" 'has no initdb' "pg-tmp: a PG_BINDIR without the programs: said"
if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 700 "$WSR_DIR/private"
	out=$("$PGTMP" start "$WSR_DIR/private/pg" 2>&1)
	is "$?" 1 "as root, a folder postgres cannot reach: refused"
	like "$out" 'not reachable by the postgres user' "and said why"
fi

# A normal user (when we are root and the scripts are readable to one).
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 &&
    runuser -u nobody -- test -x "$PGTMP" 2>/dev/null; then
	NB_DIR=$WSR_DIR/nobody
	mkdir -p "$NB_DIR"
	chown nobody "$NB_DIR"
	nb_url=$(cd / && runuser -u nobody -- "$PGTMP" start "$NB_DIR" \
	    2>"$WSR_DIR/nobody.err")
	like "$nb_url" '^postgresql://wsrouter@127\.0\.0\.1:[0-9]+/wsrouter$' \
	    "pg-tmp as a normal user: started"
	[ -n "$nb_url" ] || tap_diag "$(cat "$WSR_DIR/nobody.err")"
	is "$(stat -c %U "$NB_DIR/data" 2>/dev/null)" nobody \
	    "as a normal user: the data is the user's"
	is "$(psql -X -At "$nb_url" -c 'SELECT 1' 2>&1)" 1 \
	    "as a normal user: it answers"
	(cd / && runuser -u nobody -- "$PGTMP" stop "$NB_DIR") >/dev/null
	is "$?" 0 "as a normal user: stopped"
	NB_DIR=
else
	tap_ok "# SKIP pg-tmp as a normal user: not root, or no nobody"
fi

# --- wsrouter-migrate -------------------------------------------------------

nmig=$(ls "$top_srcdir"/sql/[0-9][0-9][0-9]_*.sql | wc -l)
out=$("$MIGRATE" -d "$URL" --status 2>&1)
is "$?" 0 "--status on a new database"
like "$out" '^001_initial\.sql pending' "--status: 001 is pending"
out=$("$MIGRATE" -d "$URL" 2>&1)
is "$?" 0 "migrate: applied"
like "$out" 'applied 001_initial\.sql' "migrate says what it applied"
tables=$(psql -X -At "$URL" -c "SELECT count(to_regclass(t)) FROM
    unnest(ARRAY['chat_sessions', 'chat_messages', 'ws_connections',
    'safety_escalations', 'schema_migrations']) AS t")
is "$tables" 5 "the four tables and schema_migrations exist"
out=$("$MIGRATE" -d "$URL" 2>&1)
is "$?" 0 "migrate again: fine"
like "$out" 'nothing to apply' "migrate again: says nothing was applied"
is "$(psql -X -At "$URL" -c 'SELECT count(*) FROM schema_migrations')" \
    "$nmig" "one schema_migrations row per migration"
out=$("$MIGRATE" -d "$URL" --status 2>&1)
like "$out" "^$nmig applied, 0 pending, 0 changed\$" "--status: all applied"

# Scratch databases for the failure cases.
for d in m1 m2 m3 m4; do
	psql -X -q "$URL" -c "CREATE DATABASE $d" || tap_fail "create $d"
done
murl=${URL%/wsrouter}

mig=$WSR_DIR/mig
mkdir -p "$mig"
cp "$top_srcdir"/sql/[0-9]*.sql "$mig"/
"$MIGRATE" -d "$murl/m1" --dir "$mig" >/dev/null 2>&1
printf '\n-- edited after it was applied\n' >>"$mig/001_initial.sql"
out=$("$MIGRATE" -d "$murl/m1" --dir "$mig" 2>&1)
is "$?" 1 "a changed migration: refused"
like "$out" 'changed.*001_initial\.sql' "the refusal names the file"
out=$("$MIGRATE" -d "$murl/m1" --dir "$mig" --status 2>&1)
is "$?" 1 "--status with a changed migration: exit 1"
like "$out" '001_initial\.sql changed' "--status says which"

cp "$top_srcdir"/sql/[0-9]*.sql "$mig"/
cat >"$mig/900_bad.sql" <<'EOF'
CREATE TABLE should_not_exist (a integer);
SELECT 1 / 0;
EOF
out=$("$MIGRATE" -d "$murl/m1" --dir "$mig" 2>&1)
is "$?" 1 "a failing migration: exit 1"
like "$out" 'rolled back' "and says it was rolled back"
is "$(psql -X -At "$murl/m1" -c "SELECT to_regclass('should_not_exist')
    IS NULL, count(*) FROM schema_migrations WHERE version = 900")" "t|0" \
    "nothing of it stayed: no table, no row"
rm "$mig/900_bad.sql"
cat >"$mig/901_extra.sql" <<'EOF'
CREATE TABLE extra (a integer);
EOF
out=$("$MIGRATE" -d "$murl/m1" --dir "$mig" 2>&1)
is "$(printf '%s\n' "$out" | grep -c '^wsrouter-migrate: applied ')" 1 \
    "a new migration: only it is applied"
like "$out" 'applied 901_extra\.sql' "901_extra.sql"
out=$("$MIGRATE" -d "$murl/m1" 2>&1)
like "$out" 'warning:.*901_extra\.sql' \
    "a database with migrations we lack: a warning"
printf 'SELECT 1;\n' >"$mig/9_bad_name.sql"
"$MIGRATE" -d "$murl/m1" --dir "$mig" >/dev/null 2>&1
is "$?" 1 "a badly named migration file: refused"
rm "$mig/9_bad_name.sql"

# Four runs at once on a new database: each migration applied once.
for i in 1 2 3 4; do
	"$MIGRATE" -d "$murl/m2" >"$WSR_DIR/conc$i.out" 2>&1 &
	eval "conc_pid$i=$!"
done
fails=0
for i in 1 2 3 4; do
	eval "wait \$conc_pid$i" || fails=$((fails + 1))
done
is "$fails" 0 "four concurrent runs: all succeed"
is "$(cat "$WSR_DIR"/conc*.out | grep -c 'applied 001_initial')" 1 \
    "four concurrent runs: 001 applied by exactly one"
is "$(psql -X -At "$murl/m2" -c 'SELECT count(*), count(DISTINCT version)
    FROM schema_migrations')" "$nmig|$nmig" \
    "four concurrent runs: one row per migration"

out=$(env -u CHAT_DATABASE_URL -u DATABASE_URL "$MIGRATE" 2>&1)
is "$?" 1 "no database given: exit 1"
like "$out" 'no database' "and says so"
out=$(CHAT_DATABASE_URL="$murl/m3" DATABASE_URL="$murl/nonesuch" \
    "$MIGRATE" 2>&1)
is "$?" 0 "CHAT_DATABASE_URL is used before DATABASE_URL"
out=$(env -u CHAT_DATABASE_URL DATABASE_URL="$murl/m4" "$MIGRATE" 2>&1)
is "$?" 0 "DATABASE_URL without CHAT_DATABASE_URL"
is "$(psql -X -At "$murl/m4" -c 'SELECT count(*) FROM schema_migrations')" \
    "$nmig" "DATABASE_URL's database was migrated"
out=$("$MIGRATE" -d "postgresql://wsrouter@127.0.0.1:1/x" 2>&1)
is "$?" 1 "an unreachable server: exit 1"
like "$out" 'could not connect' "and says so"
"$MIGRATE" --bogus >/dev/null 2>&1
is "$?" 2 "an unknown option: exit 2"

# --- the database layer ----------------------------------------------------

# Renumber test_db's TAP lines as ours; its diagnostics pass through.
CHAT_DATABASE_URL=$URL PG_TMP=$PGTMP PG_TMP_DIR=$PGDIR \
    "$TEST_DB" >"$WSR_DIR/test_db.out" 2>"$WSR_DIR/test_db.err"
rc=$?
plan=
while IFS= read -r line; do
	case $line in
	"ok "*)		tap_ok "test_db: $(echo "$line" |
			    sed 's/^ok [0-9]* *-\{0,1\} *//')" ;;
	"not ok "*)	tap_fail "test_db: $(echo "$line" |
			    sed 's/^not ok [0-9]* *-\{0,1\} *//')" ;;
	1..*)		plan=${line#1..}; plan=${plan%% *} ;;
	"Bail out!"*)	tap_fail "test_db: $line" ;;
	*)		echo "$line" ;;
	esac
done <"$WSR_DIR/test_db.out"
is "$rc" 0 "test_db exits 0"
ok "test_db printed its plan" test -n "$plan"
[ -s "$WSR_DIR/test_db.err" ] && tap_diag "test_db stderr:" \
    "$(tail -n 20 "$WSR_DIR/test_db.err")"

# --- stopping ---------------------------------------------------------------

is "$("$PGTMP" stop "$PGDIR")" stopped "pg-tmp stop"
"$PGTMP" stop "$PGDIR" >/dev/null
is "$?" 0 "pg-tmp stop again: fine"
"$PGTMP" status "$PGDIR" >/dev/null
is "$?" 3 "pg-tmp status when stopped: exit 3"
is "$("$PGTMP" url "$PGDIR")" "$URL" "pg-tmp url when stopped: the last URL"
psql -X -At "$URL" -c 'SELECT 1' >/dev/null 2>&1
is "$?" 2 "nothing answers after the stop"

tap_done
