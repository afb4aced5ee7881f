"""The NetworkPolicy of a CNPG Cluster's pods: who reaches PostgreSQL and the instance
manager, and what the pods themselves must reach.

Ports (CNPG 1.30 docs, security.md "Exposed Ports"): 5432 PostgreSQL; 8000 the instance
manager's status endpoint, which the operator polls; 9187 metrics. The operator's
namespace is admitted on 5432 as well, as CNPG's networking guide asks (the operator
must reach every cluster pod on 8000 and 5432); among workloads, only the app does. The
instance manager and the Barman Cloud sidecar talk to the Kubernetes API (they read their
Cluster, Secrets and ObjectStore, and update status), and the sidecar to the object store.
"""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from ..._shared.metadata import object_meta
from ..._shared.network import dns_egress_rule, namespace_peer
from ..object_storage import IDENTITY_ENDPOINTS, storage_port
from .settings import CnpgSettings

POSTGRES_PORT = 5432
STATUS_PORT = 8000
METRICS_PORT = 9187
# The API server behind the `kubernetes` Service (443) and its endpoints (6443 on most
# distributions, 443 on some managed ones): policies see the translated address, which no
# selector can name, only an ipBlock (docs/networking.md: API server egress, per CNI).
KUBERNETES_API_PORTS = (443, 6443)
ANY_ADDRESS = ("0.0.0.0/0", "::/0")


def _pods(selector: Mapping[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
    )


def _blocks(cidrs: tuple[str, ...]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
        for cidr in cidrs
    ]


def _anywhere() -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return _blocks(ANY_ADDRESS)


def _api_server_rule(
    settings: CnpgSettings, open_to_anywhere: set[int]
) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """The instance manager's and the sidecar's way to the API server: to its addresses
    where the stack names them, otherwise to any address on its ports, leaving out a port
    another rule already opens to any address (object storage on 443)."""
    if settings.api_server_cidrs:
        return [
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=_blocks(settings.api_server_cidrs), ports=_tcp(*KUBERNETES_API_PORTS)
            )
        ]
    ports = [port for port in KUBERNETES_API_PORTS if port not in open_to_anywhere]
    if not ports:
        return []
    return [k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=_anywhere(), ports=_tcp(*ports))]


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def declare_network_policy(
    parent: pulumi.Resource,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    client_selector: Mapping[str, str],
    settings: CnpgSettings,
) -> k8s.networking.v1.NetworkPolicy:
    """Applies to every pod of the cluster, the operator's job pods included (initdb,
    join, recovery): they carry the cluster label too and need the same ways out."""
    cluster_pods = _pods({"cnpg.io/cluster": name})
    ingress = [
        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=[_pods(client_selector), cluster_pods], ports=_tcp(POSTGRES_PORT)
        ),
        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
            from_=[namespace_peer(settings.operator_namespace), cluster_pods],
            ports=_tcp(STATUS_PORT, POSTGRES_PORT),
        ),
    ]
    if settings.api_server_cidrs:
        # `kubectl cnpg status` reads each instance's status through the API server's
        # pods/proxy, so that connection comes from the API server's own address. Without
        # its addresses no rule can name it (docs/networking.md, kubectl cnpg status).
        ingress.append(
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=_blocks(settings.api_server_cidrs), ports=_tcp(STATUS_PORT)
            )
        )
    if settings.metrics_namespace:
        ingress.append(
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[namespace_peer(settings.metrics_namespace)], ports=_tcp(METRICS_PORT)
            )
        )
    egress = [
        # Replication, and joining replicas copying the primary; status among instances.
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[cluster_pods], ports=_tcp(POSTGRES_PORT, STATUS_PORT)
        ),
        dns_egress_rule(),
    ]
    storage = settings.object_storage
    egress[1:1] = _api_server_rule(settings, {storage_port(storage)} if storage else set())
    if settings.import_from:
        egress.append(
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[_pods(settings.import_from.source_selector)],
                ports=_tcp(settings.import_from.port),
            )
        )
    if storage:
        # Object storage lives at addresses no policy can name in advance.
        egress.append(
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=_anywhere(), ports=_tcp(storage_port(storage))
            )
        )
        if storage.get("service_account_annotations"):
            egress.extend(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                        )
                    ],
                    ports=_tcp(port),
                )
                for cidr, port in IDENTITY_ENDPOINTS
            )
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-cluster-netpol",
        metadata=object_meta(labels, namespace, f"{name}-cluster"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"cnpg.io/cluster": name}),
            policy_types=["Ingress", "Egress"],
            ingress=ingress,
            egress=egress,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
