"""NetworkPolicy peers and ports, and the DNS egress every pod needs."""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s


def pod_peer(labels: pulumi.Input[Mapping[str, str]]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """The pods of this namespace that carry `labels`."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
    )


def namespace_peer(namespace: pulumi.Input[str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Every pod of another namespace, by the name label Kubernetes sets on namespaces."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        )
    )


def tcp_port(port: pulumi.Input[int]) -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)


# DNS over UDP, and over TCP for answers too large for one UDP datagram.
DNS_PORTS = (("UDP", 53), ("TCP", 53))


def dns_egress_rule() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress for name lookups: a default-deny policy blocks them otherwise.

    Port 53 is open to any destination because where a pod's queries go differs by
    cluster, and most of those places match no peer a policy could name in advance:
    CoreDNS/kube-dns pods, NodeLocal DNSCache on the node (the link-local 169.254.20.10,
    or in iptables mode the kube-dns ClusterIP, which reaches the policy untranslated and
    differs between clusters), GKE Cloud DNS at the metadata server 169.254.169.254. Pod
    selectors match none of the node-local cases. Every other port stays closed."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        ports=[
            k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=port)
            for protocol, port in DNS_PORTS
        ],
    )
