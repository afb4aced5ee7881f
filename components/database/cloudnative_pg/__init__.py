"""The cloudnative-pg engine: a CloudNativePG Cluster (cluster) from its settings
(settings), its spec (spec), WAL archiving and base backups through the Barman Cloud
plugin (backup), PostgreSQL parameters and schedules (rules), its network policy
(network) and alert rules (alert_rules); engine maps PostgresDatabase's inputs onto it."""

from .cluster import declare_cnpg_cluster
from .engine import CloudNativePg
from .settings import CnpgImport, CnpgSettings

__all__ = ["CloudNativePg", "CnpgImport", "CnpgSettings", "declare_cnpg_cluster"]
