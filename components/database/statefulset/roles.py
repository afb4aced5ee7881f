"""What runs inside the database server's pod: the roles it keeps, its client
authentication, and the start-up hook that keeps roles and passwords in line with the
Secret.

The hook is POSIX sh using only the tools of the official `postgres` image, reads its
settings from environment variables, and says what it did in one line. The test suite runs
this exact text, taken from the rendered objects, against a real PostgreSQL server; the
job scripts are in scripts/.
"""

SUPERUSER = "postgres"
"""The one superuser: used by nothing routine, and refused on every TCP connection."""
EXPORTER_ROLE = "exporter"
"""The metrics exporter's role: `pg_monitor` only."""
RESERVED_ROLES = (SUPERUSER, EXPORTER_ROLE)
# Backups dump as the app's role, the database's owner: up to PostgreSQL 18 no read-only
# role (pg_read_all_data included) may read large objects, so a backup role short of the
# owner fails on the first large object. pg_dump reads in a read-only transaction.
# Exists only while a stack deployed with the old layout (the app's role as the bootstrap
# superuser) is being moved to the new one; see SYNC_ROLES_SCRIPT.
UPGRADE_ROLE = "webapp_layout_upgrade"

SCRATCH_SUFFIX = "_restore_check"


def scratch_database(database: str) -> str:
    """The database every new dump is restored into before it counts: owned by the app's
    role (which may not create databases), made by the start-up hook, within 63 bytes."""
    return database[: 63 - len(SCRATCH_SUFFIX)] + SCRATCH_SUFFIX


# Only processes inside the database container reach the socket (its directory is an
# emptyDir of that container alone); every network client needs a password, and the
# superuser has none that works over the network.
PG_HBA_CONF = f"""\
# TYPE  DATABASE  USER          ADDRESS     METHOD
local   all       all                       trust
host    all       {SUPERUSER:<13} 0.0.0.0/0   reject
host    all       {SUPERUSER:<13} ::/0        reject
host    all       all           0.0.0.0/0   scram-sha-256
host    all       all           ::/0        scram-sha-256
"""

# postStart output is discarded by the kubelet, so the hook writes to the container's
# stdout, as JSON lines like the server's own (see server_logs.py): its lines are in
# `kubectl logs`. With the logging collector on, PID 1's stdout is the collector's pipe,
# whose plain lines end up in a file, so the hook writes to the collector's stdout (the
# postmaster's child titled "logger"), or to PID 1's where there is no collector. It
# runs on every start, once the real server listens on TCP (initdb's temporary server
# does not), connects over the trusted local socket, and never fails:
# a failed postStart hook makes the kubelet kill the server, and a server that keeps its
# old passwords beats one that does not run. Passwords travel through files and psql
# variables, never a command line, and are kept out of the server log.
#
# Old layout (before the least-privilege roles): the image created the app's role as the
# bootstrap superuser, which PostgreSQL does not let anyone demote. The hook renames it to
# the superuser's name, creates the app's role anew, and hands it the database and every
# object in it. A temporary superuser marks the move as under way until it is complete, so
# a move cut short is finished on the next start.
SYNC_ROLES_SCRIPT = (
    r"""set -u
log_target() {
  postmaster=$(head -n 1 "${PGDATA:-}/postmaster.pid" 2>/dev/null) || postmaster=
  for process in ${postmaster:+/proc/[0-9]*}; do
    stat=$(cat "$process/stat" 2>/dev/null) || continue
    set -- ${stat##*) }
    if [ "${2:-}" = "$postmaster" ] \
        && tr '\000' ' ' < "$process/cmdline" 2>/dev/null | grep -q ': logger'; then
      echo "$process/fd/1"
      return
    fi
  done
  echo /proc/1/fd/1
}
log() {
  target=${HOOK_LOG:-${target:-$(log_target)}}
  message=$(printf '%s' "$*" | tr '\n\t' '  ' | tr -d '\000-\037' | sed 's/[\\"]/\\&/g')
  line='{"timestamp":"%s","pid":%s,"error_severity":"LOG","backend_type":"postgres-roles",'
  line="$line"'"message":"postgres-roles: %s"}\n'
  printf "$line" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$$" "$message" \
    >> "$target" 2>/dev/null || true
}
sql() {
  role=$1
  db=$2
  shift 2
  psql -X -v ON_ERROR_STOP=1 -q -At -h "$SOCKET_DIR" -p "$PGPORT" -U "$role" -d "$db" "$@"
}
usable_secret() {
  if [ ! -r "$1" ]; then
    log "cannot read $1; $2 keeps its current password"
    return 1
  fi
  if [ -z "$(tr -d '[:space:]' < "$1")" ]; then
    log "$1 is empty; $2 keeps its current password"
    return 1
  fi
}
move_to_new_layout() {
  sql @UPGRADE@ postgres -v app_user="$APP_USER" -v app_db="$POSTGRES_DB" <<'SQL' || return 1
BEGIN;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
  WHERE usesysid = 10 AND pid <> pg_backend_pid() \g /dev/null
SELECT format('ALTER ROLE %I RENAME TO @SUPERUSER@', rolname) FROM pg_roles
  WHERE oid = 10 AND rolname <> '@SUPERUSER@' \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER DATABASE :"app_db" OWNER TO :"app_user";
COMMIT;
SQL
  sql @UPGRADE@ "$POSTGRES_DB" -v app_user="$APP_USER" <<'SQL'
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
  WHERE usesysid = 10 AND pid <> pg_backend_pid() \g /dev/null
SET webapp.app_user = :'app_user';
DO $move$
DECLARE
  app_role text := current_setting('webapp.app_user');
  statement text;
BEGIN
  FOR statement IN
    SELECT format('ALTER SCHEMA %I OWNER TO %I', nspname, app_role)
      FROM pg_namespace
      WHERE nspowner = 10 AND nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    UNION ALL
    SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, app_role)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
          AND d.objid = c.oid AND (d.deptype = 'e'
            OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
    UNION ALL
    SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, app_role)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proowner = 10 AND p.prokind IN ('f', 'p', 'w')
        AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
          AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER AGGREGATE %s OWNER TO %I', p.oid::regprocedure, app_role)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proowner = 10 AND p.prokind = 'a'
        AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
          AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, app_role)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typowner = 10 AND t.typtype IN ('e', 'd', 'r', 'm', 'c')
        AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
        AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
          AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER STATISTICS %I.%I OWNER TO %I', n.nspname, s.stxname, app_role)
      FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
      WHERE s.stxowner = 10 AND n.nspname NOT LIKE 'pg\_%'
    UNION ALL
    SELECT format('ALTER LARGE OBJECT %s OWNER TO %I', oid, app_role)
      FROM pg_largeobject_metadata WHERE lomowner = 10
  LOOP
    EXECUTE statement;
  END LOOP;
END
$move$;
SQL
}
# Roles and passwords come first and on their own: a grant that fails (an image too old
# for a built-in role) must not hold back a password rotation.
roles_sql() {
  cat <<'SQL'
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET log_min_duration_statement = -1;
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY[:'app_user', '@EXPORTER@']) r
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE :"app_user" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
ALTER ROLE @EXPORTER@ WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;
SQL
  synced=""
  for pair in "$APP_USER=$APP_PASSWORD_FILE" "@EXPORTER@=$EXPORTER_PASSWORD_FILE" \
      "@SUPERUSER@=$SUPERUSER_PASSWORD_FILE"; do
    role=${pair%%=*}
    file=${pair#*=}
    if usable_secret "$file" "$role"; then
      printf '\\set new_password `cat %s`\n' "'$file'"
      printf 'ALTER ROLE "%s" WITH PASSWORD :'"'"'new_password'"'"';\n' "$role"
      synced="$synced $role"
    fi
  done
  printf '\\echo passwords set for:%s\n' "${synced:- none}"
}
# The scratch database is the app's alone: nobody else may connect to it.
grants_sql() {
  cat <<'SQL'
GRANT pg_monitor TO @EXPORTER@;
ALTER DATABASE :"app_db" OWNER TO :"app_user";
SELECT format('CREATE DATABASE %I OWNER %I', :'scratch_db', :'app_user')
  WHERE :'scratch_db' <> :'app_db'
    AND NOT EXISTS (SELECT FROM pg_database WHERE datname = :'scratch_db') \gexec
ALTER DATABASE :"scratch_db" OWNER TO :"app_user";
REVOKE ALL ON DATABASE :"scratch_db" FROM PUBLIC;
SQL
}

tries=0
until pg_isready -q -h 127.0.0.1 -p "$PGPORT" -U "$APP_USER" -d postgres; do
  tries=$((tries + 1))
  if [ "$tries" -ge "${WAIT_TRIES:-300}" ]; then
    log "the server did not accept TCP connections in time; roles were not checked"
    exit 0
  fi
  sleep 2
done

state_query="SELECT (SELECT count(*) FROM pg_roles WHERE rolname = '@SUPERUSER@')
  || ' ' || (SELECT count(*) FROM pg_roles WHERE rolname = '@UPGRADE@')
  || ' ' || (SELECT count(*) FROM pg_roles WHERE rolname = current_user AND oid = 10)"
state=$(sql @SUPERUSER@ postgres -c "$state_query" 2>/dev/null \
  || sql "$APP_USER" postgres -c "$state_query" 2>/dev/null || echo unknown)
case "$state" in
  "0 0 1")
    log "old layout: $APP_USER is the superuser; moving to a separate superuser"
    sql "$APP_USER" postgres -c 'CREATE ROLE @UPGRADE@ SUPERUSER LOGIN' > /dev/null \
      && state="0 1 1"
    ;;
esac
case "$state" in
  ?" 1 "?)
    if move_to_new_layout && sql @SUPERUSER@ postgres -c 'DROP ROLE @UPGRADE@'; then
      log "moved to the new layout: $APP_USER owns $POSTGRES_DB and is no superuser"
    else
      log "the move to the new layout did not finish; it is tried again on the next start"
    fi
    ;;
esac

run_script() {
  script="$SOCKET_DIR/$1.sql"
  "$1_sql" > "$script"
  sql @SUPERUSER@ postgres -v app_user="$APP_USER" -v app_db="$POSTGRES_DB" \
    -v scratch_db="$SCRATCH_DATABASE" -f "$script" 2>&1
  status=$?
  rm -f "$script"
  return $status
}
if result=$(run_script roles); then
  log "roles checked; $result"
else
  log "roles not checked: $result"
fi
if result=$(run_script grants); then
  log "grants checked: $APP_USER owns $POSTGRES_DB and $SCRATCH_DATABASE, @EXPORTER@ has" \
    "pg_monitor"
else
  log "grants not checked: $result"
fi
exit 0
""".replace("@SUPERUSER@", SUPERUSER)
    .replace("@EXPORTER@", EXPORTER_ROLE)
    .replace("@UPGRADE@", UPGRADE_ROLE)
)
