"""The backup: a dump, shown restorable by a trial restore, then retention."""

from .restore_transaction import RESTORE_TRANSACTION
from .shell import CONNECTION_GATE, DUMP_NAMES, POSTGRES_COMMON

# Everything is written to a .partial file and renamed into place only once complete and
# read back, so a full disk or a kill leaves nothing a restore or retention would pick up;
# nothing is deleted before the new dump is complete and verified. Under the volume lock
# no other run is writing, so .partial files are a killed run's; a restore's download is
# left alone until it is older than a restore may take.
BACKUP_SCRIPT = (
    POSTGRES_COMMON
    + CONNECTION_GATE
    + RESTORE_TRANSACTION
    + DUMP_NAMES
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
# written beside it as .partial files, read back and flushed to the volume (a node that
# loses power must not leave a renamed file empty), then renamed into place: the checksum,
# the dump, the record last, so that a kill between the renames (SIGKILL, when no trap
# runs) leaves what the next run cleans up: a checksum without its dump (removed), or a
# dump without its record (which counts for nothing and is pruned as such).
store_dump() {
  sum=$(sha256sum "$partial" | cut -d' ' -f1)
  checksum="$sum  $name"
  { printf '%s\n' "$checksum" > "$BACKUP_DIR/$name.sha256.partial" \
    && printf '%s\n' "$2" > "$BACKUP_DIR/$name.$1.partial" \
    && [ "$(cat "$BACKUP_DIR/$name.sha256.partial")" = "$checksum" ] \
    && [ "$(cat "$BACKUP_DIR/$name.$1.partial")" = "$2" ]; } 2> "$tmp/backup.err" \
    || full_or "cannot write the checksum beside the new dump; nothing was deleted"
  sync "$partial" "$BACKUP_DIR/$name.sha256.partial" "$BACKUP_DIR/$name.$1.partial" \
    2> "$tmp/backup.err" || full_or "cannot flush the new dump to $BACKUP_DIR; nothing was deleted"
  moved=yes
  mv "$BACKUP_DIR/$name.sha256.partial" "$BACKUP_DIR/$name.sha256"
  mv "$partial" "$BACKUP_DIR/$name"
  mv "$BACKUP_DIR/$name.$1.partial" "$BACKUP_DIR/$name.$1"
  sync "$BACKUP_DIR" 2> /dev/null || true
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
