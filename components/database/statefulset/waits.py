"""How long each job may take and each of its waits may last: the variables the job
scripts read, the Jobs' deadlines, and a stopped restore's grace period."""

BACKUP_DEADLINE_SECONDS = 3 * 3600
RESTORE_DEADLINE_SECONDS = 6 * 3600
# Every wait of the job scripts, in seconds (docs/backups-and-restore.md lists them). The
# waits of a backup's dump step and of a restore add up to less than their Job's deadline,
# so a step that hangs fails with its own message instead of the Job being killed
# mid-sentence. The upload's are bounded per call (a copy to S3_COPY_SECONDS): catching
# up several dumps may reach the deadline, and a copy it cuts off has no .sha256 object,
# so it counts for nothing and the next run uploads it again.
WAITS = {
    # A connection attempt; then the login loop as a whole: long enough for a restart of
    # the server, short enough that an outage shows up as a failed job.
    "PGCONNECT_TIMEOUT": 10,
    "WAIT_SECONDS": 300,
    # A short statement (a check, a lookup), client- and server-side.
    "STATEMENT_SECONDS": 60,
    # Taking the database's locks: the app's tables for a restore, pg_dump's share locks.
    "LOCK_SECONDS": 60,
    # A restore's session idle inside its transaction: its client is gone (the server then
    # rolls it back and frees the tables); pg_restore never pauses this long between
    # statements.
    "IDLE_SECONDS": 300,
}
BACKUP_WAITS = {
    **WAITS,
    # A backup yields to a restore or backup that holds the volume.
    "VOLUME_LOCK_SECONDS": 600,
    "DUMP_SECONDS": 3600,
    "VERIFY_SECONDS": 3600,
    "RESTORE_DEADLINE_SECONDS": RESTORE_DEADLINE_SECONDS,
}
RESTORE_WAITS = {
    **WAITS,
    # A restore waits for a running backup to finish.
    "VOLUME_LOCK_SECONDS": 3600,
    "RESTORE_SECONDS": 3 * 3600 + 1800,
    # Each statement after a SIGTERM (the deadline, the pod deleted): ending the restore's
    # session, asking what became of its transaction, opening the database again.
    "STOP_SECONDS": 5,
}
# What a stopped restore has before SIGKILL. It takes four steps (ending its sessions from
# the trap and once more after the pipeline, asking about its transaction, setting the
# connection limit back), each at most STOP_SECONDS of attempts plus one attempt's client
# bound (STOP_SECONDS + PGCONNECT_TIMEOUT + 5): 4 * 25 s at worst.
RESTORE_GRACE_SECONDS = 120
S3_WAITS = {"S3_CALL_SECONDS": 120, "S3_COPY_SECONDS": 3600}
