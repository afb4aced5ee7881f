"""The NetworkPolicy of a PostgresDatabase's server: its clients, the backup jobs and the
namespace Prometheus scrapes from."""

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.common import namespace_peer, object_meta, pod_peer, tcp_port
from ..parts import EXPORTER_PORT, POSTGRES_PORT, DatabaseParts


def network_policy(
    db: DatabaseParts,
    admitted: Sequence[pulumi.Input[Mapping[str, str]]],
    scraper_namespace: pulumi.Input[str] | None,
) -> None:
    """Port 5432 for the listed pods only (the clients, the backup jobs), and the
    exporter's port for the namespace Prometheus scrapes from."""
    rules = [
        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=[pod_peer(labels)], ports=[tcp_port(POSTGRES_PORT)]
        )
        for labels in admitted
    ]
    if scraper_namespace is not None:
        rules.append(
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[namespace_peer(scraper_namespace)], ports=[tcp_port(EXPORTER_PORT)]
            )
        )
    k8s.networking.v1.NetworkPolicy(
        f"{db.name}-netpol",
        metadata=object_meta(db.labels, db.namespace, db.name),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(db.selector)),
            policy_types=["Ingress"],
            ingress=rules,
        ),
        opts=db.opts(),
    )
