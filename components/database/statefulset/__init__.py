"""The statefulset engine: PostgreSQL as a StatefulSet of one (server), its roles and
pg_hba (roles), the data owner check (owner), server logs (server_logs: ServerLogs), the
exporter, its Service and alert rules (metrics: Metrics), dump backups and restores as
Jobs (backups: Backups, jobs, backup_scripts) and its network policy (network).

Nothing is imported here: the modules PostgresDatabase and the other engine share
(database/parts.py) import the input types from their modules without running the rest
of the engine."""
