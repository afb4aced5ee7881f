"""What the database's job pods run: the backup, upload, download and restore scripts.

Every script is POSIX sh using only the tools of the image it runs in (the official
`postgres` image, or the AWS CLI image for object storage), reads its settings from
environment variables, and says what went wrong in one line before it exits non-zero.
Every wait is bounded in wall-clock time by a variable the job sets (jobs.py),
and the bound is in the message. The test suite runs these exact texts, taken from the
rendered objects, against a real PostgreSQL server and a real S3 API.

What a restore guarantees and what a backup's "verified" means is in
docs/backups-and-restore.md.
"""

# Shared by the postgres-image scripts. Client programs run under `timeout`: a server that
# accepts TCP and never answers would otherwise hold them until the Job's deadline, and
# PGCONNECT_TIMEOUT bounds only the connection. Short statements also carry server-side
# timeouts, so a lock held elsewhere fails them instead of queueing them.
_POSTGRES_COMMON = r"""set -eu
fail() {
  echo "$0: $*" >&2
  exit 1
}
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
STATEMENT_SECONDS=${STATEMENT_SECONDS:-60}
tmp=${TMPDIR:-/tmp}
sql() {
  PGOPTIONS="-c statement_timeout=${STATEMENT_SECONDS}s -c lock_timeout=${STATEMENT_SECONDS}s" \
    timeout "$((STATEMENT_SECONDS + PGCONNECT_TIMEOUT + 5))" \
    psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}
# Until the role can log in (not merely until the server answers: on a first start or a
# password rotation the role or its new password may come a moment later).
wait_for_database() {
  started=$(date +%s)
  until error=$(sql --dbname="${1:-$PGDATABASE}" -c 'SELECT 1' 2>&1 > /dev/null); do
    if [ "$(($(date +%s) - started))" -ge "$WAIT_SECONDS" ]; then
      fail "could not log in to the database ${1:-$PGDATABASE} at $PGHOST:$PGPORT as" \
        "$PGUSER within" \
        "${WAIT_SECONDS}s (each attempt bounded to $((STATEMENT_SECONDS + PGCONNECT_TIMEOUT))s):" \
        "$(printf '%s' "${error:-no answer}" | tail -n 1)"
    fi
    sleep 2
  done
}
# One backup or restore at a time on the volume. flock is held by the open file, so a run
# that is killed (or its pod deleted) releases it at once; nothing is left to clean up.
lock_volume() {
  exec 9>> "$BACKUP_DIR/.lock"
  started=$(date +%s)
  until flock -n 9; do
    if [ "$(($(date +%s) - started))" -ge "$VOLUME_LOCK_SECONDS" ]; then
      fail "another backup or restore has held $BACKUP_DIR/.lock for over" \
        "${VOLUME_LOCK_SECONDS}s; nothing was changed, run this again once it is done"
    fi
    sleep 1
  done
}
"""

# While a restore runs, the database takes no connection but the superuser's: its owner
# sets its connection limit to 0 (ALTER DATABASE, which an owner may do, from inside it),
# so the app's writers cannot reconnect and make objects the table locks do not cover (new
# tables, large objects). The restore's own session, connected already, stays. The limit
# is committed on its own, before the restore's transaction, so it is set back afterwards
# through the scratch database (the app's role cannot log in to its database meanwhile).
# The previous limit is recorded on the volume first: a run killed before it could set it
# back leaves that record, and the next backup or restore, under the volume lock, sets
# the limit back before anything else.
_GATE = r"""GATE="$BACKUP_DIR/.connection-limit"
reopen_database() {
  [ -f "$GATE" ] || return 0
  previous=$(cat "$GATE" 2> /dev/null) || previous=""
  case "$previous" in
    "" | *[!0-9-]* | ?*-*) previous=-1 ;;
  esac
  now=$(sql --dbname="$SCRATCH_DATABASE" -v db="$PGDATABASE" -v previous="$previous" \
    -f - <<'SQL'
SELECT pg_catalog.format('ALTER DATABASE %I CONNECTION LIMIT %s', datname, :'previous')
  FROM pg_catalog.pg_database WHERE datname = :'db' AND datconnlimit = 0 \gexec
SELECT datconnlimit FROM pg_catalog.pg_database WHERE datname = :'db';
SQL
  ) || return 1
  [ "$now" = "$previous" ] || [ "$now" != 0 ] || return 1
  rm -f "$GATE"
  echo "$PGDATABASE takes connections again (connection limit $now)"
}
# Before anything else: a restore killed earlier may have left the database closed.
repair_database() {
  [ -f "$GATE" ] || return 0
  wait_for_database "$SCRATCH_DATABASE"
  reopen_database || fail "a restore that was cut off left $PGDATABASE refusing connections" \
    "(connection limit 0), and it could not be set back to $(cat "$GATE"); as the" \
    "superuser: ALTER DATABASE $PGDATABASE CONNECTION LIMIT $(cat "$GATE"); nothing was changed"
}
"""

# The restore, shared by the restore Job and by a backup's proof that its dump restores.
# pg_restore --single-transaction writes one BEGIN and one COMMIT around everything, and no
# BEGIN/COMMIT of its own around the large objects (pg_backup_archiver.c), so the whole
# restore is one transaction from the first DROP to the last GRANT; psql sends nothing
# after an input that ends early, and the server rolls the transaction back. Right after
# pg_restore's fixed SET lines (which set lock_timeout to 0) the prelude goes in: it ends
# the role's other sessions and takes ACCESS EXCLUSIVE locks on every table and view the
# role owns, so the app's writers wait (or time out) until the restore commits or rolls
# back, and it logs its transaction id, which the script looks up afterwards
# (txid_status) instead of trusting psql's exit code. Then DROP OWNED removes everything
# the role owns, so objects made since the dump go too; the superuser's extensions stay.
_RESTORE = r"""gate_sql() {
  cat <<'SQL'
DO $webapp$
BEGIN
  EXECUTE pg_catalog.format('ALTER DATABASE %I CONNECTION LIMIT 0',
    pg_catalog.current_database());
END
$webapp$;
SQL
}
restore_prelude() {
  cat <<'SQL'
DO $webapp$
DECLARE
  lock_seconds int := pg_catalog.current_setting('webapp.lock_seconds')::int;
  deadline timestamptz := pg_catalog.clock_timestamp() + lock_seconds * interval '1 second';
  relations text;
BEGIN
  IF pg_catalog.current_setting('server_version_num')::int >= 140000 THEN
    -- A killed client's backend stops within seconds, even in a long statement.
    PERFORM pg_catalog.set_config('client_connection_check_interval', '5s', true);
  END IF;
  SELECT pg_catalog.string_agg(c.oid::pg_catalog.regclass::text, ', ') INTO relations
    FROM pg_catalog.pg_class c
    WHERE c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
      AND c.relkind IN ('r', 'p', 'v');
  LOOP
    -- The activity view is a snapshot per transaction unless cleared: without this, every
    -- round (and the last sweep below) would see only the sessions of the first.
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    PERFORM pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
      WHERE datname = pg_catalog.current_database() AND usename = current_user
        AND pid <> pg_catalog.pg_backend_pid();
    BEGIN
      PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
      IF relations IS NOT NULL THEN
        EXECUTE 'LOCK TABLE ' || relations || ' IN ACCESS EXCLUSIVE MODE';
      END IF;
      EXIT;
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
      IF pg_catalog.clock_timestamp() > deadline THEN
        RAISE EXCEPTION 'other sessions kept the tables locked for over % s', lock_seconds;
      END IF;
    END;
  END LOOP;
  -- A session that logged in while the limit was being committed.
  PERFORM pg_catalog.pg_stat_clear_snapshot();
  PERFORM pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
    WHERE datname = pg_catalog.current_database() AND usename = current_user
      AND pid <> pg_catalog.pg_backend_pid();
  PERFORM pg_catalog.set_config('lock_timeout', lock_seconds || 's', true);
  PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
  RAISE NOTICE 'restore transaction % in backend %',
    pg_catalog.txid_current(), pg_catalog.pg_backend_pid();
  PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
END
$webapp$;
DROP OWNED BY CURRENT_USER CASCADE;
SQL
}
with_prelude() {
  while IFS= read -r line; do
    case "$line" in
      "BEGIN;" | "SET "* | "SELECT pg_catalog.set_config("* | "" | "--"* | "\\restrict "*)
        printf '%s\n' "$line"
        ;;
      *)
        restore_prelude
        printf '%s\n' "$line"
        break
        ;;
    esac
  done
  cat
}
# restore_list <dump> <list file>: the dump's entries, less those an owner cannot restore
# over a live database: pg_dump creates extensions IF NOT EXISTS, but only an extension's
# owner may comment on it, and those the superuser made stay the superuser's.
restore_list() {
  timeout "$STATEMENT_SECONDS" pg_restore --list "$1" > "$2.all" || return 1
  grep -vE '^[0-9]+; [0-9]+ [0-9]+ COMMENT - EXTENSION ' "$2.all" > "$2" || true
}
# collisions <list file>: the objects the dump creates that exist in the connected
# database under another owner: DROP OWNED leaves them, and the restore's CREATE would
# fail (a schema the superuser made for the app, say). Each entry of the list names the
# system catalog of its object (an OID fixed in every database), its schema and its tag;
# every catalog a dump's CREATE can collide in is looked up: schemas; tables, views,
# sequences, materialized views, indexes and foreign tables with the types (a table's row
# type shares its name); functions, procedures and aggregates by their argument types;
# large objects by OID; collations, conversions, text search configurations and
# dictionaries, statistics objects, event triggers, publications, foreign-data wrappers
# and servers by name. Extensions are created IF NOT EXISTS, and constraints, triggers,
# rules, policies, defaults and grants belong to an object above. A collision the list
# cannot show (an operator, a cast) still only fails the restore's one transaction.
collisions() {
  # <id>; <catalog> <oid> <KIND> <schema or -> <tag> <owner>
  entry='^[0-9]+; ([0-9]+) [0-9]+ [A-Z][A-Z ]*[A-Z] ([^ ]+) (.*) [^ ]*$'
  entries=$(sed -n -E "s/$entry/\1|\2|\3/p" "$1")
  sql -v entries="$entries" -f - <<'SQL'
WITH entry AS (
  SELECT pg_catalog.split_part(e, '|', 1)::oid AS catalog,
      pg_catalog.split_part(e, '|', 2) AS nsp, pg_catalog.split_part(e, '|', 3) AS tag
    FROM pg_catalog.unnest(pg_catalog.string_to_array(:'entries', E'\n')) e
    WHERE e LIKE '%|%|%'
), me AS (
  SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user
), named (catalog, nsp, name, owner, kind) AS (
  SELECT 'pg_class'::regclass::oid, relnamespace, relname, relowner, '' FROM pg_class
  UNION ALL SELECT 'pg_class'::regclass::oid, typnamespace, typname, typowner, 'type '
    FROM pg_type
  UNION ALL SELECT 'pg_type'::regclass::oid, typnamespace, typname, typowner, 'type '
    FROM pg_type
  UNION ALL SELECT 'pg_type'::regclass::oid, relnamespace, relname, relowner, '' FROM pg_class
  UNION ALL SELECT 'pg_proc'::regclass::oid, pronamespace,
      proname || '(' || pg_catalog.oidvectortypes(proargtypes) || ')', proowner, 'function '
    FROM pg_proc
  UNION ALL SELECT 'pg_collation'::regclass::oid, collnamespace, collname, collowner,
      'collation ' FROM pg_collation
  UNION ALL SELECT 'pg_conversion'::regclass::oid, connamespace, conname, conowner,
      'conversion ' FROM pg_conversion
  UNION ALL SELECT 'pg_ts_config'::regclass::oid, cfgnamespace, cfgname, cfgowner,
      'text search configuration ' FROM pg_ts_config
  UNION ALL SELECT 'pg_ts_dict'::regclass::oid, dictnamespace, dictname, dictowner,
      'text search dictionary ' FROM pg_ts_dict
  UNION ALL SELECT 'pg_statistic_ext'::regclass::oid, stxnamespace, stxname, stxowner,
      'statistics ' FROM pg_statistic_ext
), global (catalog, name, owner, kind) AS (
  SELECT 'pg_namespace'::regclass::oid, nspname, nspowner, 'schema ' FROM pg_namespace
    WHERE nspname <> 'public'
  UNION ALL SELECT 'pg_largeobject'::regclass::oid, oid::text, lomowner, 'large object '
    FROM pg_largeobject_metadata
  UNION ALL SELECT 'pg_event_trigger'::regclass::oid, evtname, evtowner, 'event trigger '
    FROM pg_event_trigger
  UNION ALL SELECT 'pg_publication'::regclass::oid, pubname, pubowner, 'publication '
    FROM pg_publication
  UNION ALL SELECT 'pg_foreign_data_wrapper'::regclass::oid, fdwname, fdwowner,
      'foreign-data wrapper ' FROM pg_foreign_data_wrapper
  UNION ALL SELECT 'pg_foreign_server'::regclass::oid, srvname, srvowner, 'server '
    FROM pg_foreign_server
)
SELECT pg_catalog.string_agg(DISTINCT found, ', ') FROM (
  SELECT pg_catalog.format('%s%s.%s belongs to %s', n.kind, entry.nsp, n.name,
      pg_catalog.pg_get_userbyid(n.owner))
    FROM entry JOIN named n ON n.catalog = entry.catalog AND n.name = entry.tag
      JOIN pg_namespace s ON s.oid = n.nsp AND s.nspname = entry.nsp
    WHERE n.owner <> (SELECT oid FROM me)
  UNION ALL
  SELECT pg_catalog.format('%s%s belongs to %s', g.kind, g.name,
      pg_catalog.pg_get_userbyid(g.owner))
    FROM entry JOIN global g ON g.catalog = entry.catalog AND g.name = entry.tag
    WHERE g.owner <> (SELECT oid FROM me)
) collisions (found);
SQL
}
# The restore's sessions carry this name, so that the script can end them from outside
# (through the scratch database) whatever state its psql is in.
RESTORE_APP=webapp-restore
# end_restore_sessions <database>: ends every session of the restore in <database> and
# waits until none is left, within one statement (STATEMENT_SECONDS); a session still
# committing its first statement (the connection limit) is gone afterwards, not racing
# what follows. The activity view is read afresh on each round (it is a snapshot per
# transaction otherwise).
end_restore_sessions() {
  left=$(sql --dbname="$SCRATCH_DATABASE" -v db="$1" -v app="$RESTORE_APP" \
    -v seconds="$((STATEMENT_SECONDS > 1 ? STATEMENT_SECONDS - 1 : 0))" -f - <<'SQL'
SELECT pg_catalog.set_config('webapp.restore_db', :'db', false),
  pg_catalog.set_config('webapp.restore_app', :'app', false),
  pg_catalog.set_config('webapp.restore_seconds', :'seconds', false) \g /dev/null
DO $webapp$
DECLARE
  deadline timestamptz := pg_catalog.clock_timestamp()
    + pg_catalog.current_setting('webapp.restore_seconds')::int * interval '1 second';
BEGIN
  LOOP
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    PERFORM pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
      WHERE datname = pg_catalog.current_setting('webapp.restore_db')
        AND application_name = pg_catalog.current_setting('webapp.restore_app')
        AND usename = current_user;
    EXIT WHEN NOT FOUND OR pg_catalog.clock_timestamp() > deadline;
    PERFORM pg_catalog.pg_sleep(0.1);
  END LOOP;
END
$webapp$;
SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity
  WHERE datname = :'db' AND application_name = :'app' AND usename = current_user;
SQL
  ) && [ "$left" = 0 ]
}
# restore_into <database> <dump> <list file> <seconds> [gate]: one transaction (with
# "gate", the database closed to new connections first); afterwards
# $outcome is what the database says became of it: committed, rolled back, none (it never
# began) or unknown; $restore_error is the last error line, if any. The pipeline runs in
# the background so that a trapped SIGTERM interrupts the wait at once ($restoring is its
# job while it runs; see the restore script's stop()).
restore_into() {
  rm -f "$tmp/pg_restore.rc" "$tmp/psql.rc"
  {
    if [ "${5:-}" = gate ]; then gate_sql; fi
    {
      pg_restore --single-transaction --no-owner --use-list="$3" --file=- "$2"
      echo "$?" > "$tmp/pg_restore.rc"
    } | with_prelude
  } | {
    rc=0
    PGAPPNAME="$RESTORE_APP" PGOPTIONS="-c webapp.lock_seconds=$LOCK_SECONDS" timeout "$4" \
      psql -X -q -At -v ON_ERROR_STOP=1 -o /dev/null --dbname="$1" 2> "$tmp/restore.log" \
      || rc=$?
    echo "$rc" > "$tmp/psql.rc"
  } &
  restoring=$!
  # A stop that came before the line above.
  if [ -n "${stopped:-}" ]; then stop_restore; fi
  wait "$restoring" || true
  # Interrupted by a stop: the trap has ended the restore's session; wait for the rest.
  wait "$restoring" 2> /dev/null || true
  restoring=""
  status=$(cat "$tmp/psql.rc" 2> /dev/null) || status=""
  grep -v 'NOTICE:  restore transaction' "$tmp/restore.log" >&2 || true
  restore_error=$(grep -E 'ERROR|FATAL|error' "$tmp/restore.log" | tail -n 1) || true
  if [ -n "${stopped:-}" ]; then
    restore_error="stopped by SIGTERM: the Job's deadline passed or its pod was deleted"
  elif [ "$status" = 124 ]; then
    restore_error="it did not finish within ${4}s"
  elif [ "$(cat "$tmp/pg_restore.rc" 2> /dev/null)" != 0 ] && [ -z "$restore_error" ]; then
    restore_error="pg_restore could not read the whole dump"
  fi
  end_restore_sessions "$1" || true
  found=$(sed -n 's/.*NOTICE:  restore transaction \([0-9]*\) in backend \([0-9]*\).*/\1 \2/p' \
    "$tmp/restore.log")
  xid=${found% *}
  pid=${found#* }
  if [ -z "$found" ]; then
    outcome=none
    return
  fi
  # A cut-off client's backend may still be inside the transaction: end it, then ask
  # (through the scratch database: transaction ids and sessions are the server's).
  started=$(date +%s)
  while :; do
    outcome=$(sql --dbname="$SCRATCH_DATABASE" -c "SELECT pg_terminate_backend(pid)
      FROM pg_stat_activity WHERE pid = $pid AND usename = current_user
        AND backend_xid::text::bigint = $xid % 4294967296" \
      -c "SELECT txid_status($xid)" 2> /dev/null | tail -n 1) || outcome=unknown
    case "$outcome" in
      committed) return ;;
      aborted) outcome="rolled back"; return ;;
    esac
    if [ "$(($(date +%s) - started))" -ge "$STATEMENT_SECONDS" ]; then
      outcome=unknown
      return
    fi
    sleep 1
  done
}
"""

# Dumps are named <database>-<UTC time>.dump. A dump counts only once it has been shown
# restorable, and its <dump>.verified record says so; retention orders dumps by the
# sequence number in that record (the order the runs made them, whatever the clock said),
# never deletes the newest verified one, and counts only verified ones. Files of other
# names (a dump copied in by hand) and dumps without our .sha256 are never pruned.
_DUMP_NAMES = r"""dump_names() {
  grep -E "^${1:-}${PGDATABASE}-[0-9]{8}T[0-9]{6}Z\.dump$" | sort
}
# latest_first [prefix]: of the names on stdin, the backups' dumps, latest name first,
# then every other name ending in .dump (a dump copied in by hand).
latest_first() {
  names=$(grep -E '\.dump$') || true
  printf '%s\n' "$names" | dump_names "${1:-}" | sort -r
  printf '%s\n' "$names" | grep -vE "^${1:-}${PGDATABASE}-[0-9]{8}T[0-9]{6}Z\.dump$" \
    | grep . || true
}
"""

# Everything is written to a .partial file and renamed into place only once complete and
# read back, so a full disk or a kill leaves nothing a restore or retention would pick up;
# nothing is deleted before the new dump is complete and verified. Under the volume lock
# no other run is writing, so .partial files are a killed run's; a restore's download is
# left alone until it is older than a restore may take.
BACKUP_SCRIPT = (
    _POSTGRES_COMMON
    + _GATE
    + _RESTORE
    + _DUMP_NAMES
    + r"""last_sequence() {
  for record in "$BACKUP_DIR"/*.dump.verified "$BACKUP_DIR"/*.dump.unverified; do
    [ -f "$record" ] && sed -n 's/^sequence \([0-9][0-9]*\)$/\1/p' "$record"
  done | sort -n | tail -n 1
}
# prune [flagged]: newest first by sequence, the newest KEEP verified dumps stay, and a
# flagged dump stays only among the newest KEEP flagged ones and while fewer than KEEP
# verified dumps are newer; a dump without a record stays while fewer than KEEP verified
# ones are newer. With "flagged" (a run that failed after flagging its dump) only
# flagged dumps may go.
prune() {
  ls -1 "$BACKUP_DIR" | dump_names | while read -r name; do
    [ -f "$BACKUP_DIR/$name.sha256" ] || continue
    kind=none
    sequence=""
    for record in verified unverified; do
      [ -f "$BACKUP_DIR/$name.$record" ] || continue
      kind=$record
      sequence=$(sed -n 's/^sequence \([0-9][0-9]*\)$/\1/p' "$BACKUP_DIR/$name.$record")
      break
    done
    [ "$kind" != unverified ] || kind=flagged
    echo "${sequence:-0} $name $kind"
  done | sort -k1,1nr -k2,2r | {
    kept=0
    flagged=0
    while read -r sequence name kind; do
      case "$kind" in
        verified)
          if [ "$kept" -lt "$KEEP" ]; then kept=$((kept + 1)); continue; fi
          ;;
        flagged)
          if [ "$kept" -lt "$KEEP" ] && [ "$flagged" -lt "$KEEP" ]; then
            flagged=$((flagged + 1))
            continue
          fi
          ;;
        *) if [ "$kept" -lt "$KEEP" ]; then continue; fi ;;
      esac
      [ -z "${1:-}" ] || [ "$kind" = "$1" ] || continue
      rm -f -- "$BACKUP_DIR/$name"
      rm -f -- "$BACKUP_DIR/$name.sha256" "$BACKUP_DIR/$name.verified" \
        "$BACKUP_DIR/$name.unverified"
      echo "removed $name (sequence $sequence, $kind)"
    done
  }
  # Records of a dump removed by a run cut off halfway through the lines above.
  for record in "$BACKUP_DIR"/*.dump.sha256 "$BACKUP_DIR"/*.dump.verified \
      "$BACKUP_DIR"/*.dump.unverified; do
    [ -f "$record" ] && [ ! -f "${record%.*}" ] && rm -f -- "$record"
  done
  return 0
}
# store_dump <verified|unverified> <record>: the new dump, its checksum and its record
# written beside it as .partial files, read back, then renamed into place together; a kill
# between the renames leaves a dump its EXIT trap removes whole.
store_dump() {
  sum=$(sha256sum "$partial" | cut -d' ' -f1)
  checksum="$sum  $name"
  { printf '%s\n' "$checksum" > "$BACKUP_DIR/$name.sha256.partial" \
    && printf '%s\n' "$2" > "$BACKUP_DIR/$name.$1.partial" \
    && [ "$(cat "$BACKUP_DIR/$name.sha256.partial")" = "$checksum" ] \
    && [ "$(cat "$BACKUP_DIR/$name.$1.partial")" = "$2" ]; } 2> "$tmp/backup.err" \
    || full_or "cannot write the checksum beside the new dump; nothing was deleted"
  moved=yes
  mv "$partial" "$BACKUP_DIR/$name"
  mv "$BACKUP_DIR/$name.sha256.partial" "$BACKUP_DIR/$name.sha256"
  mv "$BACKUP_DIR/$name.$1.partial" "$BACKUP_DIR/$name.$1"
  moved=""
  trap - EXIT
}
full_or() {
  if df -P "$BACKUP_DIR" | awk 'NR == 2 && $4 < 1024 { found = 1 } END { exit !found }' \
      || grep -q 'No space left' "$tmp/backup.err" 2> /dev/null; then
    fail "the backup volume $BACKUP_DIR is full; nothing was deleted, the earlier dumps" \
      "are kept; make room for $((KEEP + 1)) dumps (webapp:backupStorageSize) or keep" \
      "fewer (webapp:backupRetain)"
  fi
  fail "$@"
}
lock_volume
rm -f "$BACKUP_DIR"/*.partial
if [ -d "$BACKUP_DIR/restore" ]; then
  find "$BACKUP_DIR/restore" -mindepth 1 -maxdepth 1 -mmin "+$((RESTORE_DEADLINE_SECONDS / 60))" \
    -exec rm -rf {} + || true
fi
repair_database
wait_for_database
[ "$SCRATCH_DATABASE" != "$PGDATABASE" ] \
  || fail "the scratch database may not be $PGDATABASE itself; nothing was changed"
sql --dbname="$SCRATCH_DATABASE" -c 'SELECT 1' > /dev/null \
  || fail "cannot connect to the scratch database $SCRATCH_DATABASE, where every dump is" \
    "restored before it counts; the database pod's start-up hook creates it: restart that" \
    "pod; nothing was changed"
# Names are to the second: a run right after another (a manual backup after the night's)
# takes the next second's name rather than fail; a clock set back keeps the name taken.
for attempt in 1 2 3; do
  name="${PGDATABASE}-$(date -u +%Y%m%dT%H%M%SZ).dump"
  [ -e "$BACKUP_DIR/$name" ] || break
  sleep 1
done
[ ! -e "$BACKUP_DIR/$name" ] || fail "$BACKUP_DIR/$name exists already; nothing was changed"
partial="$BACKUP_DIR/$name.partial"
moved=""
trap 'rm -f "$BACKUP_DIR/$name".*partial; [ -z "$moved" ] || rm -f "$BACKUP_DIR/$name"*' EXIT
timeout "$DUMP_SECONDS" pg_dump --format=custom --lock-wait-timeout="${LOCK_SECONDS}s" \
  --file="$partial" 2> "$tmp/backup.err" || {
  status=$?
  cat "$tmp/backup.err" >&2
  [ "$status" -ne 124 ] || fail "pg_dump did not finish within ${DUMP_SECONDS}s; nothing" \
    "was deleted, the earlier dumps are kept"
  full_or "pg_dump failed (see above); nothing was deleted, the earlier dumps are kept"
}
restore_list "$partial" "$tmp/backup.list" \
  || fail "the new dump cannot be read back; nothing was deleted, the earlier dumps are kept"
clashes=$(collisions "$tmp/backup.list") \
  || fail "cannot compare the new dump with $PGDATABASE; nothing was deleted"
[ -z "$clashes" ] || fail "the new dump could not be restored over $PGDATABASE: $clashes" \
  "(DROP OWNED BY $PGUSER keeps them, so the restore's CREATE would fail); have the" \
  "superuser give them to $PGUSER (ALTER ... OWNER TO $PGUSER); nothing was deleted, the" \
  "earlier dumps are kept"
# Extensions only a superuser may create: the live database has them (the superuser made
# them, and the restore's CREATE EXTENSION IF NOT EXISTS passes them by), but if the
# scratch database lacks one the trial restore would fail and say only "permission
# denied". Such a dump is not shown restorable, yet it may well be good: it is kept,
# flagged by a <dump>.unverified record that says why, and counts for nothing.
extensions=$(sed -n 's/^[0-9]*; [0-9]* [0-9]* EXTENSION - \([^ ]*\) .*$/\1/p' "$tmp/backup.list")
missing=$(sql --dbname="$SCRATCH_DATABASE" -v extensions="$extensions" -f - <<'SQL'
SELECT pg_catalog.string_agg(wanted, ', ' ORDER BY wanted)
  FROM pg_catalog.unnest(pg_catalog.string_to_array(:'extensions', E'\n')) wanted
  WHERE wanted <> ''
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = wanted)
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_available_extension_versions v
      JOIN pg_catalog.pg_available_extensions a USING (name)
      WHERE v.name = wanted AND v.version = a.default_version
        AND (v.trusted OR NOT v.superuser));
SQL
) || fail "cannot look up the new dump's extensions in $SCRATCH_DATABASE; nothing was deleted"
if [ -n "$missing" ]; then
  sequence=$(($(last_sequence) + 1))
  reason="not verified: it needs the extension(s) $missing, which only a superuser may create,
and the scratch database $SCRATCH_DATABASE lacks them
sequence $sequence
made $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  store_dump unverified "$reason"
  # Flagged dumps count for nothing, but every night's must not pile up on the volume.
  prune flagged
  fail "the new dump $name uses the extension(s) $missing, which only a superuser may" \
    "create, and the scratch database $SCRATCH_DATABASE lacks them, so the dump could not" \
    "be shown restorable. It is kept, flagged ($name.unverified, sequence $sequence): it" \
    "counts for nothing and is not uploaded; flagged dumps beyond the newest $KEEP, or" \
    "older than the newest $KEEP verified ones, are removed, no other dump was deleted." \
    "To have dumps verified again, as the superuser:" \
    "psql -d $SCRATCH_DATABASE -c 'CREATE EXTENSION <name>' for each of $missing"
fi
started=$(date +%s)
restore_into "$SCRATCH_DATABASE" "$partial" "$tmp/backup.list" "$VERIFY_SECONDS"
[ "$outcome" = committed ] || fail "the new dump does not restore into the scratch" \
  "database $SCRATCH_DATABASE (${restore_error:-see above}); it is not kept, nothing was" \
  "deleted, the earlier dumps are kept"
took=$(($(date +%s) - started))
sql --dbname="$SCRATCH_DATABASE" -c 'DROP OWNED BY CURRENT_USER CASCADE' > /dev/null \
  || echo "could not empty the scratch database $SCRATCH_DATABASE; the next backup does" >&2
sequence=$(($(last_sequence) + 1))
store_dump verified "sequence $sequence
made $(date -u +%Y-%m-%dT%H:%M:%SZ)
restored into $SCRATCH_DATABASE in ${took}s"
prune
echo "backup written and verified: $name ($(wc -c < "$BACKUP_DIR/$name") bytes, sha256" \
  "$sum, sequence $sequence, restored into $SCRATCH_DATABASE in ${took}s)"
"""
)

# Object storage scripts run in the AWS CLI image. Each call is bounded (`timeout`, the
# CLI's own connect and read timeouts, bounded retries), so an unreachable bucket fails
# the job within minutes. Each dump's checksum is an object of its own beside it
# (<dump>.sha256), not metadata: some S3-compatible stores change the case of metadata
# headers, and the CLI then cannot find them.
_S3_COMMON = r"""set -eu
fail() {
  echo "$0: $*" >&2
  exit 1
}
if [ -n "${CREDENTIALS_FROM:-}" ] \
    && { [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; }; then
  fail "the Secret $CREDENTIALS_FROM lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY" \
    "(or does not exist); create it as docs/backups-and-restore.md's 'Off-cluster" \
    "copies' shows"
fi
s3_path=${BUCKET_URL#s3://}
bucket=${s3_path%%/*}
prefix=${s3_path#"$bucket"}
prefix=${prefix#/}
if [ -n "$prefix" ]; then prefix="${prefix%/}/"; fi
bound="each call bounded to ${S3_CALL_SECONDS}s, a copy to ${S3_COPY_SECONDS}s"
s3() {
  timeout "$S3_CALL_SECONDS" aws --cli-connect-timeout 10 --cli-read-timeout 60 "$@"
}
s3_copy() {
  timeout "$S3_COPY_SECONDS" aws --cli-connect-timeout 10 --cli-read-timeout 60 s3 cp \
    --only-show-errors "$@"
}
"""

# After a successful dump: every verified dump on the volume that the bucket lacks is
# copied (so a day whose upload failed is caught up later), in the order the volume's
# runs made them, checked by reading the stored bytes back, and only then marked
# complete: its .verified record, then its .sha256 object last. The bucket keeps an order
# of its own: a new volume (a re-created stack, a new claim) numbers its runs from 1
# again, so the volume's sequence would rank the bucket's older dumps above the new ones
# and the pruning would delete each new dump right after its upload. Each uploaded
# record gets a "bucket-sequence" line, one above the highest in the bucket (an object
# an earlier version uploaded ranks by its sequence). Then the bucket is pruned like the
# volume, by that order, counting only verified dumps, never the dump just uploaded;
# objects without a .sha256 (an upload cut off, a dump copied in by hand) are neither
# counted nor deleted. A failed upload deletes nothing. The bucket is listed once, its
# records are read in one copy and the old dumps deleted in one request per thousand
# objects: each CLI call costs its start-up, and a bucket holds many dumps.
UPLOAD_SCRIPT = (
    _S3_COMMON
    + _DUMP_NAMES
    + r"""work="${TMPDIR:-/tmp}/upload"
rm -rf "$work"
mkdir -p "$work/records"
# bucket_order <key>: the dump's place in the bucket's order, from its .verified record.
bucket_order() {
  record="$work/records/${1#"$prefix"}.verified"
  [ -f "$record" ] || return 1
  value=$(sed -n 's/^bucket-sequence \([0-9][0-9]*\)$/\1/p' "$record")
  [ -n "$value" ] || value=$(sed -n 's/^sequence \([0-9][0-9]*\)$/\1/p' "$record")
  printf '%s\n' "$value" | tail -n 1
}
keys=$(s3 s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix$PGDATABASE-" \
  --query 'Contents[].Key' --output text) \
  || fail "cannot list s3://$bucket/$prefix ($bound); nothing was uploaded, the local" \
    "dumps are kept"
stored=$(printf '%s\n' $keys)
if printf '%s\n' "$stored" | grep -q '\.dump\.verified$'; then
  s3_copy --recursive "s3://$bucket/$prefix" "$work/records" --exclude '*' \
    --include "$PGDATABASE-*.dump.verified" \
    || fail "cannot read the dumps' records in s3://$bucket/$prefix ($bound); nothing was" \
      "uploaded, the local dumps are kept"
fi
highest=0
for key in $(printf '%s\n' "$stored" | dump_names "$prefix"); do
  printf '%s\n' "$stored" | grep -qxF "$key.verified" || continue
  order=$(bucket_order "$key") || fail "cannot read s3://$bucket/$key.verified ($bound);" \
    "nothing was uploaded, the local dumps are kept"
  if [ "${order:-0}" -gt "$highest" ]; then highest=$order; fi
done
for name in $(ls -1 "$BACKUP_DIR" | dump_names); do
  [ -f "$BACKUP_DIR/$name.verified" ] && [ -f "$BACKUP_DIR/$name.sha256" ] || continue
  sequence=$(sed -n 's/^sequence \([0-9][0-9]*\)$/\1/p' "$BACKUP_DIR/$name.verified")
  echo "${sequence:-0} $name"
done | sort -k1,1n -k2,2 > "$work/volume.order"
uploaded=0
just_uploaded=""
for name in $(cut -d' ' -f2 "$work/volume.order"); do
  if printf '%s\n' "$stored" | grep -qxF "$prefix$name.sha256"; then continue; fi
  file="$BACKUP_DIR/$name"
  sum=$(cut -d' ' -f1 "$file.sha256")
  s3_copy "$file" "s3://$bucket/$prefix$name" \
    || fail "uploading $name to s3://$bucket/$prefix failed ($bound); the local dumps are kept"
  copy=$(s3_copy "s3://$bucket/$prefix$name" - | sha256sum | cut -d' ' -f1)
  [ "$copy" = "$sum" ] || fail "s3://$bucket/$prefix$name does not match the dump (sha256" \
    "$copy, not $sum; $bound)"
  highest=$((highest + 1))
  record="$work/records/$name.verified"
  { cat "$file.verified" && echo "bucket-sequence $highest"; } > "$record" \
    || fail "cannot write $record"
  s3_copy "$record" "s3://$bucket/$prefix$name.verified" \
    || fail "cannot write s3://$bucket/$prefix$name.verified ($bound)"
  s3_copy "$file.sha256" "s3://$bucket/$prefix$name.sha256" \
    || fail "cannot write s3://$bucket/$prefix$name.sha256 ($bound)"
  echo "uploaded $name to s3://$bucket/$prefix ($(wc -c < "$file") bytes, sha256 $sum," \
    "bucket-sequence $highest)"
  uploaded=$((uploaded + 1))
  just_uploaded="$prefix$name"
  stored=$(printf '%s\n' "$stored" "$prefix$name" "$prefix$name.verified" \
    "$prefix$name.sha256")
done
echo "$uploaded dump(s) uploaded"
for key in $(printf '%s\n' "$stored" | dump_names "$prefix"); do
  printf '%s\n' "$stored" | grep -qxF "$key.sha256" || continue
  order=""
  if printf '%s\n' "$stored" | grep -qxF "$key.verified"; then
    order=$(bucket_order "$key") || fail "cannot read s3://$bucket/$key.verified ($bound)"
  fi
  echo "${order:-0} $key ${order:+verified}"
done | sort -k1,1nr -k2,2r > "$work/bucket.order"
kept=0
: > "$work/removed"
while read -r order key verified; do
  if [ "$kept" -lt "$KEEP" ] || [ "$key" = "$just_uploaded" ]; then
    if [ -n "$verified" ]; then kept=$((kept + 1)); fi
    continue
  fi
  echo "$order $key" >> "$work/removed"
done < "$work/bucket.order"
# A dump's three objects go in one request, which S3 carries out in no set order; one cut
# off may leave a record without its dump, deleted by the next run with the rest of the
# records whose dump is gone, or a dump without its checksum, which counts for nothing.
{
  cut -d' ' -f2 "$work/removed" | while read -r key; do
    printf '%s\n' "$key" "$key.verified" "$key.sha256"
  done
  printf '%s\n' "$stored" | sed -nE 's/\.dump\.(sha256|verified)$/.dump/p' \
    | dump_names "$prefix" | while read -r key; do
      printf '%s\n' "$stored" | grep -qxF "$key" \
        || printf '%s\n' "$stored" | grep -xF -e "$key.sha256" -e "$key.verified"
    done
} | split -l 999 - "$work/delete."
for batch in "$work"/delete.*; do
  [ -f "$batch" ] || continue
  sed 's/[\\"]/\\&/g; s/.*/{"Key":"&"}/' "$batch" | paste -sd, - \
    | sed 's/.*/{"Objects":[&],"Quiet":true}/' > "$batch.json"
  failed=$(s3 s3api delete-objects --bucket "$bucket" --delete "file://$batch.json" \
    --query 'Errors[].Key' --output text) \
    || fail "cannot delete the old dumps in s3://$bucket/$prefix ($bound)"
  [ -z "$failed" ] || [ "$failed" = None ] \
    || fail "cannot delete $(printf '%s ' $failed)in s3://$bucket ($bound)"
done
while read -r order key; do
  echo "removed s3://$bucket/$key (bucket order $order)"
done < "$work/removed"
"""
)

# Fetches a dump from the bucket into this restore's own directory on the backup volume
# (RESTORE_DIR, named after the Job), checked against the checksum stored beside it,
# before the restore container runs; nothing else on the volume is touched.
DOWNLOAD_SCRIPT = (
    _S3_COMMON
    + _DUMP_NAMES
    + r"""key=${RESTORE_FROM#"s3://$bucket/"}
name=${key##*/}
dir="$BACKUP_DIR/$RESTORE_DIR"
target="$dir/$name"
rm -rf "$dir"
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
if ! s3_copy "s3://$bucket/$key.sha256" "$target.sha256"; then
  # The URLs webapp:restoreFrom may take: the dumps with their checksum under the prefix.
  folder=${key%"$name"}
  dumps=""
  if keys=$(s3 s3api list-objects-v2 --bucket "$bucket" --prefix "$folder" \
      --query 'Contents[].Key' --output text); then
    stored=$(printf '%s\n' $keys)
    for stored_key in $(printf '%s\n' "$stored" | latest_first "$folder"); do
      printf '%s\n' "$stored" | grep -qxF "$stored_key.sha256" || continue
      dumps="${dumps:+$dumps, }s3://$bucket/$stored_key"
    done
  fi
  if [ -n "$dumps" ]; then
    dumps="the dumps there with their checksum, the latest first: $dumps; set"
    dumps="$dumps webapp:restoreFrom to one of them"
  else
    dumps="there is no dump with its checksum in s3://$bucket/$folder"
  fi
  fail "cannot read s3://$bucket/$key.sha256 ($bound), the checksum every uploaded dump" \
    "has beside it ($dumps); for a dump copied in by hand, write one:" \
    "sha256sum <dump> | aws s3 cp - s3://$bucket/$key.sha256; nothing was restored"
fi
s3_copy "s3://$bucket/$key" "$target.partial" \
  || fail "downloading $RESTORE_FROM failed ($bound); nothing was restored"
expected=$(cut -d' ' -f1 "$target.sha256")
sum=$(sha256sum "$target.partial" | cut -d' ' -f1)
[ -n "$expected" ] && [ "$sum" = "$expected" ] \
  || fail "$RESTORE_FROM does not match the checksum stored beside it; nothing was restored"
mv "$target.partial" "$target"
trap - EXIT
echo "downloaded $RESTORE_FROM ($(wc -c < "$target") bytes)"
"""
)

# One transaction (see _RESTORE). The final line is what the database says afterwards:
# "nothing was changed" only when the restore's transaction rolled back or never began.
# A download made for this Job is removed when it ends, whatever the outcome.
RESTORE_SCRIPT = (
    _POSTGRES_COMMON
    + _GATE
    + _RESTORE
    + _DUMP_NAMES
    + r"""# A stop (SIGTERM: the Job's deadline passed or its pod was deleted; SIGKILL follows
# once the pod's grace period is over). Before the restore began the run ends with nothing
# changed. During it, the restore's session is ended, so its transaction rolls back, and
# the flow below asks what became of it and opens the database again at once; from the
# stop on, each statement is bounded by STOP_SECONDS so that all of it fits in the grace
# period. After it, the flow is on its way to opening the database already.
stopped=""
restoring=""
locked=""
phase=before
stop_restore() {
  end_restore_sessions "$PGDATABASE" > /dev/null 2>&1 || true
  # pg_restore and the shells of the pipeline (timeout keeps psql in a group of its own;
  # psql ends with its session).
  trap '' TERM
  kill -TERM 0 2> /dev/null || true
  trap stop TERM
}
stop() {
  stopped=yes
  STATEMENT_SECONDS=${STOP_SECONDS:-5}
  case "$phase" in
    before)
      if [ -n "$locked" ] && [ -f "$GATE" ]; then reopen_database > /dev/null 2>&1 || true; fi
      fail "stopped by SIGTERM before the restore began; nothing was changed"
      ;;
    restoring)
      if [ -n "$restoring" ]; then stop_restore; fi
      ;;
  esac
}
trap stop TERM
lock_volume
locked=yes
if [ -n "${RESTORE_DIR:-}" ]; then trap 'rm -rf "$BACKUP_DIR/$RESTORE_DIR"' EXIT; fi
file="$BACKUP_DIR/$RESTORE_FILE"
if [ ! -f "$file" ]; then
  # The names webapp:restoreFrom may take: the dumps in the volume's top directory.
  dumps=""
  for name in $(ls -1 "$BACKUP_DIR" | grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*\.dump$' \
      | latest_first); do
    [ -f "$BACKUP_DIR/$name" ] || continue
    if [ -f "$BACKUP_DIR/$name.verified" ]; then
      name="$name (verified)"
    elif [ -f "$BACKUP_DIR/$name.unverified" ]; then
      name="$name (flagged: not verified)"
    elif [ ! -f "$BACKUP_DIR/$name.sha256" ]; then
      name="$name (no checksum)"
    fi
    dumps="${dumps:+$dumps, }$name"
  done
  if [ -n "$dumps" ]; then
    dumps="it holds, the latest first: $dumps; set webapp:restoreFrom to one of them"
  else
    dumps="it holds no dump"
  fi
  fail "no dump $RESTORE_FILE on the backup volume ($dumps); nothing was changed"
fi
if [ -f "$file.sha256" ]; then
  expected=$(cut -d' ' -f1 "$file.sha256")
  [ -n "$expected" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$expected" ] \
    || fail "$file does not match its checksum; nothing was changed"
fi
restore_list "$file" "$tmp/restore.list" \
  || fail "$file cannot be read as a dump; nothing was changed"
repair_database
wait_for_database
clashes=$(collisions "$tmp/restore.list") \
  || fail "cannot compare $RESTORE_FILE with $PGDATABASE; nothing was changed"
[ -z "$clashes" ] || fail "$RESTORE_FILE cannot be restored over $PGDATABASE: $clashes" \
  "(DROP OWNED BY $PGUSER keeps them, so the restore's CREATE would fail); have the" \
  "superuser give them to $PGUSER (ALTER ... OWNER TO $PGUSER); nothing was changed"
sql --dbname="$SCRATCH_DATABASE" -c 'SELECT 1' > /dev/null \
  || fail "cannot connect to the scratch database $SCRATCH_DATABASE, through which the" \
    "restore opens $PGDATABASE again once it is done; the database pod's start-up hook" \
    "creates it: restart that pod; nothing was changed"
limit=$(sql -c 'SELECT datconnlimit FROM pg_database WHERE datname = current_database()') \
  || fail "cannot read the connection limit of $PGDATABASE; nothing was changed"
{ printf '%s\n' "$limit" > "$GATE.partial" && [ "$(cat "$GATE.partial")" = "$limit" ] \
  && mv "$GATE.partial" "$GATE"; } \
  || fail "cannot record the connection limit of $PGDATABASE in $GATE (is the volume" \
    "full?); nothing was changed"
phase=restoring
restore_into "$PGDATABASE" "$file" "$tmp/restore.list" "$RESTORE_SECONDS" gate
phase=after
# The database is opened again whatever became of the restore; if it cannot be, the
# last line says so instead of "nothing was changed".
if reopened=$(reopen_database 2>&1); then
  echo "$reopened"
  unchanged="nothing was changed"
  closed=""
else
  unchanged="the data was not changed"
  closed="; but $PGDATABASE still refuses every role's connections except the superuser's"
  closed="$closed (connection limit 0, was $limit): the next backup or restore sets it back,"
  closed="$closed or as the superuser: ALTER DATABASE $PGDATABASE CONNECTION LIMIT $limit"
fi
case "$outcome" in
  committed)
    [ -z "$closed" ] || fail "restored $RESTORE_FILE into $PGDATABASE (transaction $xid" \
      "committed)$closed"
    echo "restored $RESTORE_FILE into $PGDATABASE (transaction $xid committed)"
    ;;
  "rolled back")
    fail "restoring $RESTORE_FILE failed (${restore_error:-see above}); $unchanged:" \
      "transaction $xid rolled back$closed"
    ;;
  none)
    fail "restoring $RESTORE_FILE failed before it began (${restore_error:-see above});" \
      "$unchanged$closed"
    ;;
  *)
    fail "restoring $RESTORE_FILE failed (${restore_error:-see above}), and whether" \
      "transaction $xid committed could not be checked within ${STATEMENT_SECONDS}s; ask" \
      "the database: SELECT txid_status($xid)$closed"
    ;;
esac
"""
)
