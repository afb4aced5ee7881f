"""The off-cluster copy: verified dumps uploaded to the bucket, and the bucket's retention."""

from .shell import DUMP_NAMES, S3_COMMON

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
# objects without a .sha256 (an upload cut off) or without a .verified record (a dump
# copied in by hand with its checksum, or uploaded before the records) are neither
# counted nor deleted. A failed upload deletes nothing. The bucket is listed once, its
# records are read in one copy and the old dumps deleted in one request per thousand
# objects: each CLI call costs its start-up, and a bucket holds many dumps.
UPLOAD_SCRIPT = (
    S3_COMMON
    + DUMP_NAMES
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
  # Without its record the dump is none of the runs' (copied in by hand with its checksum
  # to be restored, or uploaded by a version before the records): neither counted nor
  # deleted.
  [ -n "$verified" ] || continue
  if [ "$kept" -lt "$KEEP" ] || [ "$key" = "$just_uploaded" ]; then
    kept=$((kept + 1))
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
