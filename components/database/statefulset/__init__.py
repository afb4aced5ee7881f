"""The statefulset engine (engine, its side of the seam): PostgreSQL as a StatefulSet of
one (server), its roles and pg_hba (roles), the data owner check (owner), server logs
(server_logs), the exporter, its Service and alert rules (metrics), dump backups and
restores as Jobs (backups, jobs, waits, scripts/) and its network policy (network). Its
inputs are in database/args.py."""

from .backups import backups
from .metrics import alert_rules, exporter_container, metrics_service
from .network import network_policy
from .server import claim, credentials_secret, passwords, server_config, services, statefulset

__all__ = [
    "alert_rules",
    "backups",
    "claim",
    "credentials_secret",
    "exporter_container",
    "metrics_service",
    "network_policy",
    "passwords",
    "server_config",
    "services",
    "statefulset",
]
