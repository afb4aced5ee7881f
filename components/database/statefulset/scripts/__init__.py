"""What the database's job pods run: the backup (backup.py), upload (upload.py), download
and restore (restore.py) scripts, built from shared fragments (shell.py) and the one
transaction a restore runs in (restore_transaction.py).

Every script is POSIX sh using only the tools of the image it runs in (the official
`postgres` image, or the AWS CLI image for object storage), reads its settings from
environment variables, and says what went wrong in one line before it exits non-zero.
Every wait is bounded in wall-clock time by a variable the job sets (waits.py),
and the bound is in the message. The test suite runs these exact texts, taken from the
rendered objects, against a real PostgreSQL server and a real S3 API.

What a restore guarantees and what a backup's "verified" means is in
docs/backups-and-restore.md.
"""

from .backup import BACKUP_SCRIPT
from .restore import DOWNLOAD_SCRIPT, RESTORE_SCRIPT
from .upload import UPLOAD_SCRIPT

__all__ = ["BACKUP_SCRIPT", "DOWNLOAD_SCRIPT", "RESTORE_SCRIPT", "UPLOAD_SCRIPT"]
