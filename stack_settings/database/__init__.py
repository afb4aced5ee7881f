"""The database's settings, laid out as components/database is: the database's own keys
and the checks across them (settings), its backups (backups) with their object storage
(object_storage), its metrics (metrics), the engine's keys beside them (engine: dbEngine
and the cloudnative-pg engine's own keys; api_server: the API server's addresses), the
guards against an engine switch or a major upgrade into the same archive
(engine_guards), the guards that keep a volume change from deleting
data (volume_guards), and the reminder that each instance needs a node (placement)."""

from .backups import read_backups
from .engine import EngineSettings, read_engine
from .engine_guards import (
    image_major,
    refuse_engine_switch,
    refuse_major_upgrade_into_the_same_archive,
)
from .metrics import read_metrics
from .placement import remind_of_nodes
from .settings import DatabaseSettings, read_database
from .volume_guards import refuse_storage_class_change, refuse_storage_shrink

__all__ = [
    "DatabaseSettings",
    "EngineSettings",
    "image_major",
    "read_backups",
    "read_database",
    "read_engine",
    "read_metrics",
    "refuse_engine_switch",
    "refuse_major_upgrade_into_the_same_archive",
    "refuse_storage_class_change",
    "refuse_storage_shrink",
    "remind_of_nodes",
]
