"""How long each job may take and each of its waits may last: the variables the job
scripts read, the Jobs' deadlines, and a stopped restore's grace period."""

BACKUP_DEADLINE_SECONDS = 3 * 3600
RESTORE_DEADLINE_SECONDS = 6 * 3600
# Every wait of the job scripts, in seconds (docs/backups-and-restore.md lists them). Each
# job's waits add up to less than its deadline, so a step that hangs fails with its own
# message instead of the Job being killed mid-sentence.
WAITS = {
    # A connection attempt; then the login loop as a whole: long enough for a restart of
    # the server, short enough that an outage shows up as a failed job.
    "PGCONNECT_TIMEOUT": 10,
    "WAIT_SECONDS": 300,
    # A short statement (a check, a lookup), client- and server-side.
    "STATEMENT_SECONDS": 60,
    # Taking the database's locks: the app's tables for a restore, pg_dump's share locks.
    "LOCK_SECONDS": 60,
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
