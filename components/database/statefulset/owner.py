"""The init container that stops a database whose data another uid owns, saying so in
one line, before the server would refuse it with a lock-step of crash loops."""

import pulumi_kubernetes as k8s

from ..._shared.common import container_security_context, resource_requirements
from ..parts import DATA_MOUNT, PGDATA, DatabaseParts
from .server_logs import PREPARE_RESOURCES

# PostgreSQL runs only as the uid that owns PGDATA, and a restricted pod cannot change a
# file's owner: a new uid for existing data is a dump and a restore, not a setting.
DATA_OWNER_SCRIPT = r"""set -eu
if [ -s "$PGDATA/PG_VERSION" ]; then
  owner=$(stat -c %u "$PGDATA")
  if [ "$owner" != "$(id -u)" ]; then
    echo "the database's data in $PGDATA belongs to uid $owner, but the server runs as uid" \
      "$(id -u), and PostgreSQL runs only as the owner of its data: set the database's" \
      "userId to $owner (webapp:dbUserId), or move the data with a dump and a restore" >&2
    exit 1
  fi
fi
"""


def data_owner_check(db: DatabaseParts) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name="check-data-owner",
        image=db.image,
        command=["/bin/sh", "-c", DATA_OWNER_SCRIPT],
        env=[k8s.core.v1.EnvVarArgs(name="PGDATA", value=PGDATA)],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_MOUNT, read_only=True)
        ],
        resources=resource_requirements(PREPARE_RESOURCES),
        security_context=container_security_context(),
    )
