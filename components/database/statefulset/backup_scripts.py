"""What the database's job pods run: the backup, upload, download and restore scripts.

Every script is POSIX sh using only the tools of the image it runs in (the official
`postgres` image, or the AWS CLI image for object storage), reads its settings from
environment variables, and says what went wrong in one line before it exits non-zero.
The test suite runs these exact texts, taken from the rendered objects, against a real
PostgreSQL server and a real S3 API.
"""

# Shared by the job scripts: wait, boundedly, until the role can log in (not merely until
# the server answers: on a first start or a password rotation the role or its new password
# may come a moment later), then fail with a sentence that says what went wrong.
_WAIT_FOR_DATABASE = r"""fail() {
  echo "$0: $*" >&2
  exit 1
}
waited=0
until error=$(psql -X -q -At -c 'SELECT 1' 2>&1 > /dev/null); do
  if [ "$waited" -ge "${WAIT_SECONDS:-300}" ]; then
    fail "could not log in to the database at $PGHOST:$PGPORT as $PGUSER within ${waited}s:" \
      "$(printf '%s' "$error" | tail -n 1)"
  fi
  sleep 2
  waited=$((waited + 2))
done
"""

# Dumps are named <database>-<UTC time>.dump, so names sort by age; files of other names
# (a dump copied in by hand) are never pruned.
_DUMP_NAMES = r"""dump_names() {
  grep -E "^${1:-}${PGDATABASE}-[0-9]{8}T[0-9]{6}Z\.dump$" | sort
}
"""

# Room is made before the dump (one fewer than KEEP, never fewer than one good dump), so a
# volume sized for KEEP dumps never fills up for good; leftovers of an earlier restore go
# too. The dump goes to a partial file that is read back and renamed only when complete,
# with its checksum beside it.
BACKUP_SCRIPT = (
    "set -eu\n"
    + _WAIT_FOR_DATABASE
    + _DUMP_NAMES
    + r"""prune_to() {
  excess=$(($(ls -1 "$BACKUP_DIR" | dump_names | wc -l) - $1))
  if [ "$excess" -gt 0 ]; then
    ls -1 "$BACKUP_DIR" | dump_names | head -n "$excess" | while read -r old; do
      rm -f -- "$BACKUP_DIR/$old" "$BACKUP_DIR/$old.sha256"
      echo "removed $old"
    done
  fi
}
rm -f "$BACKUP_DIR"/*.partial
rm -rf "$BACKUP_DIR/restore"
room=$((KEEP - 1))
if [ "$room" -lt 1 ]; then room=1; fi
prune_to "$room"
name="${PGDATABASE}-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$BACKUP_DIR/$name.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --file="$partial" \
  || fail "pg_dump failed (see above); the earlier dumps are kept"
pg_restore --list "$partial" > /dev/null || fail "the new dump cannot be read back"
sum=$(sha256sum "$partial" | cut -d' ' -f1)
mv "$partial" "$BACKUP_DIR/$name"
printf '%s  %s\n' "$sum" "$name" > "$BACKUP_DIR/$name.sha256"
trap - EXIT
prune_to "$KEEP"
echo "backup written: $name ($(wc -c < "$BACKUP_DIR/$name") bytes, sha256 $sum)"
"""
)

# Object storage scripts run in the AWS CLI image. Timeouts and retries are bounded, so an
# unreachable bucket fails the job within minutes. Each dump's checksum is an object of
# its own beside it (<dump>.sha256), not metadata: some S3-compatible stores change the
# case of metadata headers, and the CLI then cannot find them.
_S3_COMMON = r"""set -eu
fail() {
  echo "$0: $*" >&2
  exit 1
}
if [ -n "${CREDENTIALS_FROM:-}" ] \
    && { [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; }; then
  fail "the Secret $CREDENTIALS_FROM lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY" \
    "(or does not exist); create it as docs/backups-and-restore.md, 'Off-cluster copies', shows"
fi
s3_path=${BUCKET_URL#s3://}
bucket=${s3_path%%/*}
prefix=${s3_path#"$bucket"}
prefix=${prefix#/}
if [ -n "$prefix" ]; then prefix="${prefix%/}/"; fi
s3() {
  aws --cli-connect-timeout 10 --cli-read-timeout 120 "$@"
}
"""

# After a successful dump: every dump on the volume that the bucket lacks is copied (so a
# day whose upload failed is caught up later), verified by reading the stored bytes back
# and comparing checksums, and only then marked complete by its .sha256 object; then the
# bucket is pruned to the same retention. A failed upload fails the job and deletes
# nothing local.
UPLOAD_SCRIPT = (
    _S3_COMMON
    + _DUMP_NAMES
    + r"""keys=$(s3 s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix$PGDATABASE-" \
  --query 'Contents[].Key' --output text) \
  || fail "cannot list s3://$bucket/$prefix; nothing was uploaded, the local dumps are kept"
stored=$(printf '%s\n' $keys)
uploaded=0
for name in $(ls -1 "$BACKUP_DIR" | dump_names); do
  if printf '%s\n' "$stored" | grep -qxF "$prefix$name.sha256"; then continue; fi
  file="$BACKUP_DIR/$name"
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  s3 s3 cp "$file" "s3://$bucket/$prefix$name" --only-show-errors \
    || fail "uploading $name to s3://$bucket/$prefix failed; the local dumps are kept"
  copy=$(s3 s3 cp "s3://$bucket/$prefix$name" - | sha256sum | cut -d' ' -f1) \
    || fail "cannot read back s3://$bucket/$prefix$name"
  [ "$copy" = "$sum" ] \
    || fail "s3://$bucket/$prefix$name does not match the dump (sha256 $copy, not $sum)"
  printf '%s  %s\n' "$sum" "$name" \
    | s3 s3 cp - "s3://$bucket/$prefix$name.sha256" --only-show-errors \
    || fail "cannot write s3://$bucket/$prefix$name.sha256"
  echo "uploaded $name to s3://$bucket/$prefix ($(wc -c < "$file") bytes, sha256 $sum)"
  uploaded=$((uploaded + 1))
done
echo "$uploaded dump(s) uploaded"
keys=$(s3 s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix$PGDATABASE-" \
  --query 'Contents[].Key' --output text) || fail "cannot list s3://$bucket/$prefix"
for key in $(printf '%s\n' $keys | dump_names "$prefix" | head -n "-$KEEP"); do
  for object in "$key.sha256" "$key"; do
    s3 s3api delete-object --bucket "$bucket" --key "$object" > /dev/null \
      || fail "cannot delete s3://$bucket/$object"
  done
  echo "removed s3://$bucket/$key"
done
"""
)

# Fetches a dump from the bucket into the backup volume, checked against the checksum
# stored beside it, before the restore container runs.
DOWNLOAD_SCRIPT = (
    _S3_COMMON
    + r"""key=${RESTORE_FROM#"s3://$bucket/"}
name=${key##*/}
mkdir -p "$BACKUP_DIR/restore"
target="$BACKUP_DIR/restore/$name"
rm -f "$BACKUP_DIR/restore/"*
s3 s3 cp "s3://$bucket/$key.sha256" "$target.sha256" --only-show-errors \
  || fail "cannot read s3://$bucket/$key.sha256, the checksum every uploaded dump has" \
    "beside it; for a dump copied in by hand, write one: sha256sum <dump> | s3 cp - ..."
s3 s3 cp "s3://$bucket/$key" "$target" --only-show-errors \
  || fail "downloading $RESTORE_FROM failed"
(cd "$BACKUP_DIR/restore" && sha256sum -c --status "$name.sha256") || {
  rm -f "$target"
  fail "$RESTORE_FROM does not match the checksum stored beside it; nothing was restored"
}
echo "downloaded $RESTORE_FROM ($(wc -c < "$target") bytes)"
"""
)

# One transaction, sent by the script only once the whole dump has gone through: a restore
# that fails or is cut off (eviction, deadline, restart) rolls back and leaves the
# database exactly as it was. It first drops everything the app's role owns, so tables
# added since the dump go too, then recreates the dump's objects; extensions the
# superuser made stay as they are. The app's sessions are ended first, since they hold
# locks the restore needs; the app reconnects and waits until the restore commits.
RESTORE_SCRIPT = (
    "set -eu\n"
    + _WAIT_FOR_DATABASE
    + r"""file="$BACKUP_DIR/$RESTORE_FILE"
if [ ! -f "$file" ]; then
  echo "no dump $file; the backup volume holds:" >&2
  ls -1R "$BACKUP_DIR" >&2
  exit 1
fi
if [ -f "$file.sha256" ]; then
  (cd "$(dirname "$file")" && sha256sum -c --status "$(basename "$file").sha256") \
    || fail "$file does not match its checksum; nothing was restored"
fi
list="${TMPDIR:-/tmp}/restore.list"
pg_restore --list "$file" > "$list" || fail "$file cannot be read as a dump; nothing was restored"
# pg_dump creates extensions IF NOT EXISTS, but only an extension's owner may comment on
# it, and those the superuser made stay the superuser's.
grep -vE '^[0-9]+; [0-9]+ [0-9]+ COMMENT - EXTENSION ' "$list" > "$list.kept" || true
psql -X -q -At -v ON_ERROR_STOP=1 -c "SELECT count(pg_terminate_backend(pid))
  FROM pg_stat_activity WHERE datname = current_database() AND usename = current_user
  AND pid <> pg_backend_pid()" > /dev/null || fail "cannot end the app's sessions"
# psql would commit nothing at the end of a cut-off input (the server rolls back an open
# transaction), and says so by not printing the marker that follows the COMMIT.
result=$({
  echo "BEGIN;"
  echo "DROP OWNED BY CURRENT_USER CASCADE;"
  pg_restore --no-owner --use-list="$list.kept" --file=- "$file" \
    && printf "COMMIT;\nSELECT 'restore committed';\n"
} | psql -X -q -At -v ON_ERROR_STOP=1 --dbname="$PGDATABASE") \
  || fail "restoring $RESTORE_FILE failed; nothing was changed"
[ "$(printf '%s\n' "$result" | tail -n 1)" = "restore committed" ] \
  || fail "restoring $RESTORE_FILE did not finish; nothing was changed"
rm -rf "$BACKUP_DIR/restore"
echo "restored $RESTORE_FILE into $PGDATABASE"
"""
)
