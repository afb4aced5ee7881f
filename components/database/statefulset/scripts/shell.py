"""Shell fragments the job scripts share: error handling and bounded waits for the
postgres-image scripts and for the AWS CLI image's, the connection gate of a restore, and
the names of the dumps."""

# Shared by the postgres-image scripts. Client programs run under `timeout`: a server that
# accepts TCP and never answers would otherwise hold them until the Job's deadline, and
# PGCONNECT_TIMEOUT bounds only the connection. Short statements also carry server-side
# timeouts, so a lock held elsewhere fails them instead of queueing them.
POSTGRES_COMMON = r"""set -eu
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
CONNECTION_GATE = r"""GATE="$BACKUP_DIR/.connection-limit"
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
# Before anything else: a restore killed earlier may have left the database closed, and
# its session alive (its pod lost with the node): that session is ended first, so its
# transaction rolls back and its locks go before the app is let in again.
repair_database() {
  [ -f "$GATE" ] || return 0
  wait_for_database "$SCRATCH_DATABASE"
  end_restore_sessions "$PGDATABASE" || fail "a restore that was cut off left a session in" \
    "$PGDATABASE that could not be ended within ${STATEMENT_SECONDS}s; nothing was changed"
  reopen_database || fail "a restore that was cut off left $PGDATABASE refusing connections" \
    "(connection limit 0), and it could not be set back to $(cat "$GATE"); as the" \
    "superuser: ALTER DATABASE $PGDATABASE CONNECTION LIMIT $(cat "$GATE"); nothing was changed"
}
"""


# Dumps are named <database>-<UTC time>.dump. A dump counts only once it has been shown
# restorable, and its <dump>.verified record says so; retention orders dumps by the
# sequence number in that record (the order the runs made them, whatever the clock said),
# never deletes the newest verified one, and counts only verified ones. Files of other
# names (a dump copied in by hand) and dumps without our .sha256 are never pruned.
DUMP_NAMES = r"""dump_names() {
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


# Object storage scripts run in the AWS CLI image. Each call is bounded (`timeout`, the
# CLI's own connect and read timeouts, bounded retries), so an unreachable bucket fails
# the job within minutes. Each dump's checksum is an object of its own beside it
# (<dump>.sha256), not metadata: some S3-compatible stores change the case of metadata
# headers, and the CLI then cannot find them.
S3_COMMON = r"""set -eu
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
