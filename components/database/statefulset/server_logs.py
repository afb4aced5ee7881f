"""PostgreSQL's log as JSON lines on the database container's stdout, where `kubectl logs`
and a cluster's log agent read it.

`log_destination = jsonlog` works only through the logging collector, which writes files:
`<log_directory>/<log_filename>`, with `.log` replaced by `.json`. The log directory is an
emptyDir, and before the server starts an init container puts a symlink to /dev/stdout
at every name the JSON file can get (one per hour of the day: the collector moves to the
next file every hour). The postmaster opens the first file when it starts the collector,
before it redirects its own stdout into the collector's pipe, so the link resolves to the
container's stdout (a pipe the runtime hands the container, owned by its user); the
collector opens each later one through its own stdout, the same pipe.

Should the collector itself die, the postmaster starts a new one with stdout pointing at
/dev/null, and the links then resolve to the collector's own pipe or to /dev/null: JSON
lines land in the plain log file beside the link (a real file, since a link there would
loop) or are lost, until the next container start. Each plain file is truncated when its
hour comes round again, so the volume cannot fill up. That collector keeps its own pipe
open through the link, so it outlives the postmaster at shutdown; in a pod the kernel ends
it with the container's PID 1, the postmaster.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.package import InvalidInput, whole
from ..._shared.pods import empty_dir_volume
from ..._shared.resources import ContainerResources, resource_requirements
from ..._shared.security import container_security_context
from ..args import DEFAULT_SLOW_STATEMENT_MS, ServerLogs

LOG_DIRECTORY = "/var/log/postgresql"
# One file per hour of the day, reused (and truncated) the next day.
LOG_FILENAME = "postgresql-%H.log"
LOG_VOLUME = "logs"
# The init container is done in a moment; it needs little, and less than the server, so
# it does not raise the pod's share of the namespace quota.
PREPARE_RESOURCES = ContainerResources(
    cpu_request="10m", cpu_limit="100m", memory_request="16Mi", memory_limit="32Mi"
)


def jsonlog_file(log_filename: str) -> str:
    """The name PostgreSQL gives the JSON log: `.log` replaced by `.json`, else `.json`
    appended (src/backend/postmaster/syslogger.c, logfile_getname)."""
    stem = log_filename.removesuffix(".log")
    return f"{stem}.json"


def jsonlog_files(log_filename: str = LOG_FILENAME) -> list[str]:
    """Every name the JSON log can get from a log_filename whose only escape is %H."""
    return [jsonlog_file(log_filename.replace("%H", f"{hour:02d}")) for hour in range(24)]


def _slow_statement_ms(value: Any) -> int:
    if value < -1:
        raise InvalidInput(
            "PostgresDatabase input 'logs.slowStatementMs' must be -1 (no slow statement "
            f"log) or a whole number of milliseconds from 0, not {value}"
        )
    return value


def server_settings(logs: ServerLogs | None) -> dict[str, pulumi.Input[str]]:
    """Server settings, passed as `-c name=value` arguments."""
    slow_ms = whole(
        (logs or {}).get("slow_statement_ms", DEFAULT_SLOW_STATEMENT_MS),
        "PostgresDatabase input 'logs.slowStatementMs'",
    )
    if isinstance(slow_ms, pulumi.Output):
        slow: pulumi.Input[str] = slow_ms.apply(lambda value: str(_slow_statement_ms(value)))
    else:
        slow = str(_slow_statement_ms(slow_ms))
    return {
        "logging_collector": "on",
        "log_destination": "jsonlog",
        "log_directory": LOG_DIRECTORY,
        "log_filename": LOG_FILENAME,
        # Hourly files, truncated when their hour comes round: see the docstring.
        "log_rotation_age": "60",
        "log_rotation_size": "0",
        "log_truncate_on_rotation": "on",
        "log_min_duration_statement": slow,
        # A slow statement's bind parameters can hold personal data or secrets; the
        # statement text with $1, $2 is enough to find it.
        "log_parameter_max_length": "0",
        "log_connections": "on",
        "log_disconnections": "on",
        # Waits longer than deadlock_timeout (1 s) are logged with who holds the lock.
        "log_lock_waits": "on",
    }


def server_args(logs: ServerLogs | None) -> list[pulumi.Input[str]]:
    return [
        arg
        for name, value in server_settings(logs).items()
        for arg in (
            "-c",
            pulumi.Output.concat(name, "=", value)
            if isinstance(value, pulumi.Output)
            else f"{name}={value}",
        )
    ]


PREPARE_SCRIPT = r"""set -eu
for name in $JSONLOG_FILES; do
  ln -sfn /dev/stdout "$LOG_DIRECTORY/$name"
done
echo "JSON log files in $LOG_DIRECTORY link to the server's stdout"
"""


def prepare_container(image: pulumi.Input[str]) -> k8s.core.v1.ContainerArgs:
    """The init container that links the JSON log file to the server's stdout."""
    return k8s.core.v1.ContainerArgs(
        name="prepare-logs",
        image=image,
        command=["/bin/sh", "-c", PREPARE_SCRIPT],
        env=[
            k8s.core.v1.EnvVarArgs(name="LOG_DIRECTORY", value=LOG_DIRECTORY),
            k8s.core.v1.EnvVarArgs(name="JSONLOG_FILES", value=" ".join(jsonlog_files())),
        ],
        volume_mounts=[log_mount()],
        resources=resource_requirements(PREPARE_RESOURCES),
        security_context=container_security_context(),
    )


def log_mount() -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=LOG_VOLUME, mount_path=LOG_DIRECTORY)


def log_volume() -> k8s.core.v1.VolumeArgs:
    # Holds the link and the plain log file, which stays nearly empty (see above).
    return empty_dir_volume(LOG_VOLUME, "64Mi")
