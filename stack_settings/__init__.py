"""The stack's configuration, read and checked in one place before any resource is
declared; the components in components/ never read config.

Every project key is declared (type, default, description) in Pulumi.yaml; that file is
the single list of known keys, and its defaults are the examples in fix-it commands.
Each bad value becomes one sentence that names the key, the value, what is allowed and
the `pulumi config set` command that fixes it. All problems are reported together, as a
`pulumi.RunError`, which the CLI shows without a Python traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .app import AppSettings, read_app
from .app_rename import refuse_app_rename
from .cluster import ClusterSettings, cluster_options, kubernetes_provider, read_cluster
from .database import (
    DatabaseSettings,
    read_backups,
    read_database,
    read_metrics,
    refuse_engine_switch,
    refuse_major_upgrade_into_the_same_archive,
    refuse_storage_class_change,
    refuse_storage_shrink,
    remind_of_nodes,
)
from .namespace import NamespaceSettings, read_namespace, settle_namespace
from .namespace_move import hold_the_ingress_during_a_move, refuse_namespace_move
from .observability import ObservabilitySettings, read_observability
from .reader import PROJECT, ConfigError, Reader, check_keys, present_config_keys
from .retained import refuse_other_stacks_objects


@dataclass(frozen=True)
class Settings:
    stack: str
    cluster: ClusterSettings
    namespace: NamespaceSettings
    app: AppSettings
    database: DatabaseSettings
    observability: ObservabilitySettings


def load_settings() -> Settings:
    stack = pulumi.get_stack()
    reader = Reader(pulumi.Config(PROJECT), stack)
    check_keys(reader, present_config_keys())
    namespace = read_namespace(reader)
    app = read_app(reader)
    backups, metrics = read_backups(reader), read_metrics(reader)
    database = read_database(reader, backups, metrics, f"{app.name}-db" if app else "app-db")
    cluster = read_cluster(reader)
    observability = read_observability(reader, backups, metrics)
    # The quota is checked against the workload once the workload is known, whatever
    # else is wrong, so one run reports every problem.
    settled = (
        settle_namespace(reader, namespace, app, database)
        if namespace is not None and app is not None and database is not None
        else None
    )
    if reader.errors or settled is None or cluster is None or observability is None:
        raise ConfigError("\n".join(reader.errors))
    return Settings(
        stack=stack,
        cluster=cluster,
        namespace=settled,
        app=hold_the_ingress_during_a_move(settled, app, cluster),
        database=database,
        observability=observability,
    )


__all__ = [
    "AppSettings",
    "ClusterSettings",
    "ConfigError",
    "DatabaseSettings",
    "NamespaceSettings",
    "ObservabilitySettings",
    "Settings",
    "cluster_options",
    "kubernetes_provider",
    "load_settings",
    "refuse_app_rename",
    "refuse_engine_switch",
    "refuse_major_upgrade_into_the_same_archive",
    "refuse_namespace_move",
    "refuse_other_stacks_objects",
    "refuse_storage_class_change",
    "refuse_storage_shrink",
    "remind_of_nodes",
]
