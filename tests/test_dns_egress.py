"""Every pod the stacks run can resolve names wherever the cluster answers DNS, and can
reach nothing else at those places: checked with a NetworkPolicy evaluator
(tests/netpol.py) over the policies the real program renders.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import ProgramRun, pod_templates
from tests.netpol import Destination, Pod, egress_allowed, selector_matches

KUBE_DNS_POD = Pod("kube-system", {"k8s-app": "kube-dns"})
# Where a pod's DNS queries go, by cluster setup.
DNS_DESTINATIONS = {
    "kube-dns pod": Destination(pod=KUBE_DNS_POD),
    "NodeLocal DNSCache, link-local address": Destination(ip="169.254.20.10"),
    "NodeLocal DNSCache in iptables mode, kube-dns ClusterIP untranslated": Destination(
        ip="10.96.0.10"
    ),
    "GKE Cloud DNS, metadata server": Destination(ip="169.254.169.254"),
}
DNS = (("UDP", 53), ("TCP", 53))
# Other ports at the same places: the metadata server's HTTP, DNS over TLS, mDNS, the API.
OTHER_PORTS = (("TCP", 80), ("TCP", 443), ("TCP", 853), ("UDP", 5353), ("TCP", 6443))


def _policies(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.manifest() for r in run.kubernetes() if r.manifest()["kind"] == "NetworkPolicy"]


def _pods(run: ProgramRun) -> list[tuple[str, Pod]]:
    pods = []
    for record, template in pod_templates(run):
        namespace = record.manifest()["metadata"]["namespace"]
        pods.append((record.name, Pod(namespace, template["metadata"]["labels"])))
    assert pods, "the stack runs no pods"
    return pods


@pytest.mark.parametrize("where", DNS_DESTINATIONS)
def test_every_pod_resolves_names_on_udp_and_tcp(stack_run: ProgramRun, where: str) -> None:
    policies = _policies(stack_run)
    for name, pod in _pods(stack_run):
        for protocol, port in DNS:
            assert egress_allowed(policies, pod, DNS_DESTINATIONS[where], protocol, port), (
                f"{name} cannot send DNS over {protocol} to the {where}"
            )


def _open_to_every_address(policies: list[dict[str, Any]], pod: Pod) -> set[tuple[str, int]]:
    """Ports a pod's own policies open to any address on purpose (object storage, say):
    those reach the DNS places too, whatever the DNS rule does."""
    opened = set()
    for policy in policies:
        spec = policy["spec"]
        if policy["metadata"]["namespace"] != pod.namespace or not selector_matches(
            spec.get("podSelector"), pod.labels
        ):
            continue
        for rule in spec.get("egress") or []:
            everywhere = any(
                (peer.get("ipBlock") or {}).get("cidr") in ("0.0.0.0/0", "::/0")
                and not peer["ipBlock"].get("except")
                for peer in rule.get("to") or []
            )
            if everywhere:
                opened |= {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports") or []}
    return opened


@pytest.mark.parametrize("where", DNS_DESTINATIONS)
def test_dns_places_are_closed_on_other_ports(stack_run: ProgramRun, where: str) -> None:
    policies = _policies(stack_run)
    for name, pod in _pods(stack_run):
        for protocol, port in set(OTHER_PORTS) - _open_to_every_address(policies, pod):
            assert not egress_allowed(policies, pod, DNS_DESTINATIONS[where], protocol, port), (
                f"{name} may reach the {where} on {protocol} {port}"
            )


def test_the_namespace_dns_policy_opens_port_53_alone(stack_run: ProgramRun) -> None:
    # The namespace-wide policy holds nothing but the shared DNS rule: on its own, with the
    # default deny, it must admit DNS everywhere and nothing else anywhere.
    policies = [
        p
        for p in _policies(stack_run)
        if p["metadata"]["name"].endswith(("-default-deny", "-allow-dns"))
    ]
    assert len(policies) == 2, [p["metadata"]["name"] for p in policies]
    (_, pod), *_ = _pods(stack_run)
    outside = Destination(ip="93.184.216.34")
    for destination in [*DNS_DESTINATIONS.values(), outside]:
        for protocol, port in DNS:
            assert egress_allowed(policies, pod, destination, protocol, port), destination
        for protocol, port in OTHER_PORTS:
            assert not egress_allowed(policies, pod, destination, protocol, port), (
                f"the DNS rule opens {protocol} {port} to {destination}"
            )


def test_pods_are_egress_isolated(stack_run: ProgramRun) -> None:
    # Without isolation every check above would pass for the wrong reason.
    policies = _policies(stack_run)
    outside = Destination(ip="93.184.216.34")
    for name, pod in _pods(stack_run):
        assert not egress_allowed(policies, pod, outside, "TCP", 6443), name


# ---------------------------------------------------------------------------------------
# The evaluator itself
# ---------------------------------------------------------------------------------------


def _policy(spec: dict[str, Any], namespace: str = "app") -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": spec,
    }


APP = Pod("app", {"role": "web"})
DEFAULT_DENY = _policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
# The rule this project used before: kube-dns and node-local-dns pods plus 169.254.20.10.
OLD_DNS_RULE = _policy(
    {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": app}},
                    }
                    for app in ("kube-dns", "node-local-dns")
                ]
                + [{"ipBlock": {"cidr": "169.254.20.10/32"}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        ],
    }
)


def test_no_policy_means_no_isolation() -> None:
    assert egress_allowed([], APP, Destination(ip="10.0.0.1"), "TCP", 443)


def test_default_deny_refuses_dns() -> None:
    for destination in DNS_DESTINATIONS.values():
        assert not egress_allowed([DEFAULT_DENY], APP, destination, "UDP", 53)


def test_the_old_rule_missed_gke_and_the_untranslated_cluster_ip() -> None:
    policies = [DEFAULT_DENY, OLD_DNS_RULE]
    missed = {
        where
        for where, destination in DNS_DESTINATIONS.items()
        if not egress_allowed(policies, APP, destination, "UDP", 53)
    }
    assert missed == {
        "NodeLocal DNSCache in iptables mode, kube-dns ClusterIP untranslated",
        "GKE Cloud DNS, metadata server",
    }


def test_policies_of_other_namespaces_and_pods_do_not_apply() -> None:
    other_namespace = _policy({"podSelector": {}, "policyTypes": ["Egress"]}, namespace="x")
    other_pods = _policy(
        {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Egress"]}
    )
    assert egress_allowed([other_namespace, other_pods], APP, Destination(ip="1.1.1.1"), "TCP", 1)


def test_pod_peers_default_to_the_policy_namespace() -> None:
    to_db = _policy(
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}]}],
        }
    )
    assert egress_allowed([to_db], APP, Destination(pod=Pod("app", {"role": "db"})), "TCP", 5432)
    assert not egress_allowed([to_db], APP, Destination(pod=Pod("x", {"role": "db"})), "TCP", 1)
    assert not egress_allowed([to_db], APP, Destination(ip="10.0.0.5"), "TCP", 5432)


def test_ip_blocks_ports_and_expressions() -> None:
    policy = _policy(
        {
            "podSelector": {
                "matchExpressions": [{"key": "role", "operator": "In", "values": ["web"]}]
            },
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                    "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}],
                }
            ],
        }
    )
    assert egress_allowed([policy], APP, Destination(ip="10.2.3.4"), "TCP", 8050)
    assert not egress_allowed([policy], APP, Destination(ip="10.1.3.4"), "TCP", 8050)
    assert not egress_allowed([policy], APP, Destination(ip="10.2.3.4"), "TCP", 8101)
    assert not egress_allowed([policy], APP, Destination(ip="10.2.3.4"), "UDP", 8050)
    assert not egress_allowed([policy], APP, Destination(pod=APP), "TCP", 8050)
