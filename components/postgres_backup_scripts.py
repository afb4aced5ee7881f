"""What the database's job pods run: the backup, upload, download and restore scripts.

Every script is POSIX sh using only the tools of the image it runs in (the official
`postgres` image, or the AWS CLI image for object storage), reads its settings from
environment variables, and says what went wrong in one line before it exits non-zero.
The test suite runs these exact texts, taken from the rendered objects, against a real
PostgreSQL server and a real S3 API.
"""

# Shared by the job scripts: a database that does not answer fails the job after a bounded
# wait, with a sentence that says where it looked.
_WAIT_FOR_DATABASE = r"""fail() {
  echo "$0: $*" >&2
  exit 1
}
waited=0
until pg_isready -q -t 5; do
  if [ "$waited" -ge "${WAIT_SECONDS:-300}" ]; then
    fail "the database at $PGHOST:$PGPORT did not accept connections within ${waited}s"
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
# volume sized for KEEP dumps never fills up for good. The dump goes to a partial file
# that is read back and renamed only when complete, with its checksum beside it.
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
# unreachable bucket fails the job within minutes.
_S3_COMMON = r"""set -eu
fail() {
  echo "$0: $*" >&2
  exit 1
}
s3_path=${BUCKET_URL#s3://}
bucket=${s3_path%%/*}
prefix=${s3_path#"$bucket"}
prefix=${prefix#/}
if [ -n "$prefix" ]; then prefix="${prefix%/}/"; fi
s3() {
  aws --cli-connect-timeout 10 --cli-read-timeout 120 "$@"
}
"""

# After a successful dump: the copy is verified by size and by the checksum stored with
# it, then the bucket is pruned to the same retention. A failed upload fails the job and
# deletes nothing local.
UPLOAD_SCRIPT = (
    _S3_COMMON
    + _DUMP_NAMES
    + r"""name=$(ls -1 "$BACKUP_DIR" | dump_names | tail -n 1)
[ -n "$name" ] || fail "no dump in $BACKUP_DIR to upload"
file="$BACKUP_DIR/$name"
sum=$(sha256sum "$file" | cut -d' ' -f1)
size=$(wc -c < "$file" | tr -d ' ')
s3 s3 cp "$file" "s3://$bucket/$prefix$name" --metadata "sha256=$sum" --only-show-errors \
  || fail "uploading $name to s3://$bucket/$prefix failed; the local dumps are kept"
stored=$(s3 s3api head-object --bucket "$bucket" --key "$prefix$name" \
  --query '[ContentLength, Metadata.sha256]' --output text) \
  || fail "cannot read back s3://$bucket/$prefix$name"
[ "$stored" = "$(printf '%s\t%s' "$size" "$sum")" ] \
  || fail "s3://$bucket/$prefix$name does not match the dump (stored: $stored)"
echo "uploaded $name to s3://$bucket/$prefix ($size bytes, sha256 $sum)"
keys=$(s3 s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix$PGDATABASE-" \
  --query 'Contents[].Key' --output text) || fail "cannot list s3://$bucket/$prefix"
for key in $(printf '%s\n' $keys | dump_names "$prefix" | head -n "-$KEEP"); do
  s3 s3api delete-object --bucket "$bucket" --key "$key" > /dev/null \
    || fail "cannot delete s3://$bucket/$key"
  echo "removed s3://$bucket/$key"
done
"""
)

# Fetches a dump from the bucket into the backup volume, checked against the checksum
# stored with it, before the restore container runs.
DOWNLOAD_SCRIPT = (
    _S3_COMMON
    + r"""key=${RESTORE_FROM#"s3://$bucket/"}
name=${key##*/}
mkdir -p "$BACKUP_DIR/restore"
target="$BACKUP_DIR/restore/$name"
rm -f "$target" "$target.partial" "$target.sha256"
expected=$(s3 s3api head-object --bucket "$bucket" --key "$key" --query 'Metadata.sha256' \
  --output text) || fail "cannot find $RESTORE_FROM"
s3 s3 cp "s3://$bucket/$key" "$target.partial" --only-show-errors \
  || fail "downloading $RESTORE_FROM failed"
actual=$(sha256sum "$target.partial" | cut -d' ' -f1)
if [ "$expected" != "$actual" ]; then
  rm -f "$target.partial"
  fail "$RESTORE_FROM does not match the checksum stored with it; nothing was restored"
fi
mv "$target.partial" "$target"
printf '%s  %s\n' "$actual" "$name" > "$target.sha256"
echo "downloaded $RESTORE_FROM ($(wc -c < "$target") bytes, sha256 $actual)"
"""
)

# One transaction: a restore cut short (eviction, deadline, restart) rolls back and leaves
# the database exactly as it was. The app's other sessions are ended first, since they
# hold locks the restore needs; the app reconnects and waits until the restore commits.
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
psql -X -q -At -v ON_ERROR_STOP=1 -c "SELECT count(pg_terminate_backend(pid))
  FROM pg_stat_activity WHERE datname = current_database() AND usename = current_user
  AND pid <> pg_backend_pid()" > /dev/null
pg_restore --single-transaction --clean --if-exists --no-owner --exit-on-error \
  --dbname="$PGDATABASE" "$file" || fail "restoring $RESTORE_FILE failed; nothing was changed"
echo "restored $RESTORE_FILE into $PGDATABASE"
"""
)
