"""The restore's one transaction, shared by the restore Job and by a backup's trial restore
into the scratch database."""

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
RESTORE_TRANSACTION = r"""gate_sql() {
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
  -- After the dump's own SET lines, which turn this off.
  PERFORM pg_catalog.set_config('idle_in_transaction_session_timeout',
    pg_catalog.current_setting('webapp.idle_seconds') || 's', true);
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
# large objects by OID (pg_dump 17 lists them in groups, "<first>..<last>": every large
# object of another owner in that range counts); collations, conversions, text search
# configurations and dictionaries, statistics objects, event triggers, publications,
# foreign-data wrappers and servers by name. Extensions are created IF NOT EXISTS, and
# constraints, triggers, rules, policies, defaults and grants belong to an object above. A
# collision the list cannot show (an operator, a cast) still only fails the restore's one
# transaction.
collisions() {
  # <id>; <catalog> <oid> <KIND> <schema or -> <tag> <owner>
  entry='^[0-9]+; ([0-9]+) [0-9]+ [A-Z][A-Z ]*[A-Z] ([^ ]+) (.*) [^ ]*$'
  # psql reads the entries from a file, not from an argument: a schema of a few hundred
  # tables lists more than the kernel takes in one argument (128 KiB).
  sed -n -E "s/$entry/\1|\2|\3/p" "$1" > "$1.entries"
  sql -v entries_file="$1.entries" -f - <<'SQL'
\set entries `cat :'entries_file'`
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
  UNION ALL
  SELECT pg_catalog.format('large object %s belongs to %s', l.oid,
      pg_catalog.pg_get_userbyid(l.lomowner))
    FROM entry JOIN pg_catalog.pg_largeobject_metadata l
      ON entry.catalog = 'pg_largeobject'::regclass::oid
        AND entry.tag ~ '^[0-9]+\.\.[0-9]+$'
        AND l.oid BETWEEN pg_catalog.split_part(entry.tag, '..', 1)::oid
          AND pg_catalog.split_part(entry.tag, '..', 2)::oid
    WHERE l.lomowner <> (SELECT oid FROM me)
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
    # The server ends the restore's session, and so its transaction and locks, when its
    # client is gone without a word (a node lost, a network cut): idle in the transaction
    # for IDLE_SECONDS, or a connection whose keepalives go unanswered for about a minute;
    # and psql gives up on a server gone the same way, so the script goes on to find out
    # what became of the transaction (its own keepalives, in the connection string).
    PGAPPNAME="$RESTORE_APP" PGOPTIONS="-c webapp.lock_seconds=$LOCK_SECONDS \
-c webapp.idle_seconds=$IDLE_SECONDS -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 \
-c tcp_keepalives_count=3" timeout "$4" \
      psql -X -q -At -v ON_ERROR_STOP=1 -o /dev/null 2> "$tmp/restore.log" \
      --dbname="dbname=$1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3" \
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
