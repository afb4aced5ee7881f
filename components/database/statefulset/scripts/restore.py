"""A restore: the download of a dump from the bucket, and the restore itself."""

from .restore_transaction import RESTORE_TRANSACTION
from .shell import CONNECTION_GATE, DUMP_NAMES, POSTGRES_COMMON, S3_COMMON

# Fetches a dump from the bucket into this restore's own directory on the backup volume
# (RESTORE_DIR, named after the Job), checked against the checksum stored beside it,
# before the restore container runs; nothing else on the volume is touched.
DOWNLOAD_SCRIPT = (
    S3_COMMON
    + DUMP_NAMES
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


# One transaction (restore_transaction.py). The final line is what the database says afterwards:
# "nothing was changed" only when the restore's transaction rolled back or never began.
# A download made for this Job is removed when it ends, whatever the outcome.
RESTORE_SCRIPT = (
    POSTGRES_COMMON
    + CONNECTION_GATE
    + RESTORE_TRANSACTION
    + DUMP_NAMES
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
# Flushed before the limit goes to 0: a node that loses power must not keep the closed
# database and lose the record the next run opens it with.
{ printf '%s\n' "$limit" > "$GATE.partial" && [ "$(cat "$GATE.partial")" = "$limit" ] \
  && sync "$GATE.partial" && mv "$GATE.partial" "$GATE" && sync "$BACKUP_DIR"; } \
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
