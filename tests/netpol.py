"""A small evaluator of Kubernetes NetworkPolicy egress and ingress, following the API's
semantics.

A pod is isolated for egress when any policy of its namespace selects it and lists
"Egress" in policyTypes; an isolated pod may send a packet only if some egress rule of
some selecting policy admits it (rules add up, nothing denies). A rule admits a packet
when one of its ports matches (no ports: every port) and one of its peers matches (no
peers: every destination). A peer's pod and namespace selectors match pods only; an
ipBlock matches addresses that are not a pod's, such as a node-local cache, a Service's
ClusterIP that reaches the policy untranslated, or a link-local metadata server.

Ingress is the mirror image: a pod is isolated for ingress when a policy of its namespace
selects it with "Ingress" in policyTypes, and then receives a packet only if some ingress
rule admits the packet's source (a pod, or an address outside the cluster).

Named ports are not modelled: a rule naming a port by name raises instead of guessing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str]
    # Kubernetes labels every namespace with its own name; other labels can be added.
    namespace_labels: Mapping[str, str] = field(default_factory=dict)

    def all_namespace_labels(self) -> dict[str, str]:
        return {NAMESPACE_NAME_LABEL: self.namespace, **self.namespace_labels}


@dataclass(frozen=True)
class Destination:
    """Either a pod or an address that belongs to no pod."""

    pod: Pod | None = None
    ip: str | None = None

    def __post_init__(self) -> None:
        if (self.pod is None) == (self.ip is None):
            raise ValueError("a destination is either a pod or an address")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels and matchExpressions must all hold; empty selects all."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = set(expression.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {operator!r}")
    return True


def _port_matches(entry: Mapping[str, Any], protocol: str, port: int) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        if not wanted.isdigit():
            raise NotImplementedError(f"named port {wanted!r} is not modelled")
        wanted = int(wanted)
    end = entry.get("endPort", wanted)
    return wanted <= port <= end


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, destination: Destination) -> bool:
    if "ipBlock" in peer:
        if destination.ip is None:
            return False
        address = ipaddress.ip_address(destination.ip)
        block = peer["ipBlock"]
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
    if destination.pod is None:
        return False
    pod = destination.pod
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], pod.all_namespace_labels()):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), pod.labels)


def _rule_admits(
    rule: Mapping[str, Any],
    policy_namespace: str,
    destination: Destination,
    protocol: str,
    port: int,
) -> bool:
    ports = rule.get("ports") or []
    if ports and not any(_port_matches(entry, protocol, port) for entry in ports):
        return False
    peers = rule.get("to") or []
    return not peers or any(_peer_matches(p, policy_namespace, destination) for p in peers)


def _is_egress_policy(spec: Mapping[str, Any]) -> bool:
    # Without policyTypes, Egress applies only when the policy has egress rules.
    types = spec.get("policyTypes")
    return "Egress" in types if types else bool(spec.get("egress"))


def egress_allowed(
    policies: Iterable[Mapping[str, Any]],
    source: Pod,
    destination: Destination,
    protocol: str,
    port: int,
) -> bool:
    """Whether `source` may send `protocol`/`port` to `destination` under `policies`
    (NetworkPolicy manifests; those of other namespaces do not apply to the source)."""
    selecting = [
        policy
        for policy in policies
        if policy["kind"] == "NetworkPolicy"
        and policy["metadata"]["namespace"] == source.namespace
        and _is_egress_policy(policy["spec"])
        and selector_matches(policy["spec"].get("podSelector"), source.labels)
    ]
    if not selecting:
        return True
    return any(
        _rule_admits(rule, policy["metadata"]["namespace"], destination, protocol, port)
        for policy in selecting
        for rule in policy["spec"].get("egress") or []
    )


def _is_ingress_policy(spec: Mapping[str, Any]) -> bool:
    # Without policyTypes, a policy always applies to ingress.
    types = spec.get("policyTypes")
    return "Ingress" in types if types else True


def ingress_allowed(
    policies: Iterable[Mapping[str, Any]],
    source: Destination,
    target: Pod,
    protocol: str,
    port: int,
) -> bool:
    """Whether `target` may receive `protocol`/`port` from `source` (a pod or an address)
    under `policies`; only those of the target's namespace apply."""
    selecting = [
        policy
        for policy in policies
        if policy["kind"] == "NetworkPolicy"
        and policy["metadata"]["namespace"] == target.namespace
        and _is_ingress_policy(policy["spec"])
        and selector_matches(policy["spec"].get("podSelector"), target.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports") or []
            if ports and not any(_port_matches(entry, protocol, port) for entry in ports):
                continue
            peers = rule.get("from") or []
            namespace = policy["metadata"]["namespace"]
            if not peers or any(_peer_matches(p, namespace, source) for p in peers):
                return True
    return False
