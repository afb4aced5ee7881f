"""Building blocks every component shares: labels, metadata, Secrets, container
resources, security contexts, probes, pod specs, network policy peers.

Kept in one place so that a hardening rule (Pod Security "restricted", probe tuning,
label conventions) is written once and every workload gets it. How the package meets the
engine and other languages (type tokens, inputs) is in package.py.
"""

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

MANAGED_BY = "pulumi"
# The explicit allow the policy pack looks for on a LoadBalancer Service.
ALLOW_LOAD_BALANCER_ANNOTATION = "webapp.dev/allow-load-balancer"
SKIP_AWAIT = "pulumi.com/skipAwait"
# A rollout starts this share of the replicas at once (rounded up, as Kubernetes does)
# and never goes below the desired count.
DEFAULT_MAX_SURGE = "25%"

PROBE_PERIOD_SECONDS = 10
PROBE_TIMEOUT_SECONDS = 5
# Startup may include initdb or crash recovery; allow up to five minutes before liveness
# takes over, so a slow start is not mistaken for a hung process.
STARTUP_FAILURE_THRESHOLD = 30
LIVENESS_FAILURE_THRESHOLD = 6
READINESS_FAILURE_THRESHOLD = 3


def surge_pods(replicas: int, max_surge: str | int) -> int:
    """Extra pods a rollout of `replicas` may start, rounded up as Kubernetes does."""
    if isinstance(max_surge, str) and max_surge.endswith("%"):
        return math.ceil(replicas * int(max_surge[:-1]) / 100)
    return int(max_surge)


def selector_labels(app: str, instance: str, component: str) -> dict[str, str]:
    """Labels that identify one component instance's pods. `instance` is the component's
    resource name, so two instances never select each other's pods. Never change them on
    a live workload: the selector is immutable and a change forces a replacement."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def standard_labels(app: str, instance: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(app, instance, component),
        "app.kubernetes.io/part-of": app,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def object_meta(
    labels: Mapping[str, str],
    namespace: pulumi.Input[str] | None = None,
    name: str | None = None,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Object metadata; leave `name` unset to let the provider auto-name the object, which
    makes it replaced (and its users rolled) whenever its content changes."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(labels),
        annotations=dict(annotations) if annotations else None,
    )


def secret_data(values: Mapping[str, pulumi.Input[str]]) -> dict[str, pulumi.Output[str]]:
    """A Secret's `data`, base64-encoded and marked secret. `stringData` is avoided: the
    API server folds it into `data`, and under server-side apply that shows up as a
    difference on every `pulumi up`."""
    return {
        key: pulumi.Output.secret(
            pulumi.Output.from_input(value).apply(
                lambda text: base64.b64encode(text.encode()).decode()
            )
        )
        for key, value in values.items()
    }


def connection_url(user: str, password: str, host: str, port: int, database: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


class ContainerResources(TypedDict):
    """CPU and memory of a container, as Kubernetes quantities."""

    cpu_request: pulumi.Input[str]
    """CPU the container is guaranteed, such as 250m."""
    cpu_limit: pulumi.Input[str]
    """CPU the container may use at most, such as 1."""
    memory_request: pulumi.Input[str]
    """Memory the container is guaranteed, such as 256Mi."""
    memory_limit: pulumi.Input[str]
    """Memory the container may use at most (it is killed beyond), such as 512Mi."""


def resource_requirements(resources: ContainerResources) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": resources["cpu_request"], "memory": resources["memory_request"]},
        limits={"cpu": resources["cpu_limit"], "memory": resources["memory_limit"]},
    )


# Sidecar and job sizes are fixed: they do little work whatever the database's size.
EXPORTER_RESOURCES = ContainerResources(
    cpu_request="50m", cpu_limit="200m", memory_request="64Mi", memory_limit="128Mi"
)
BACKUP_RESOURCES = ContainerResources(
    cpu_request="100m", cpu_limit="500m", memory_request="128Mi", memory_limit="512Mi"
)


def pod_security_context(user_id: pulumi.Input[int]) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod Security "restricted" at pod level. fsGroup makes volumes writable by the
    non-root user; OnRootMismatch skips the recursive chown/chmod on every start, which
    is slow on large volumes and can leave PGDATA with modes postgres refuses."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user_id,
        run_as_group=user_id,
        fs_group=user_id,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    """Pod Security "restricted" at container level, plus a read-only root filesystem:
    every writable path is an explicit emptyDir or volume."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


@dataclass(frozen=True)
class Probes:
    startup: k8s.core.v1.ProbeArgs
    readiness: k8s.core.v1.ProbeArgs
    liveness: k8s.core.v1.ProbeArgs


def _probes(**check: object) -> Probes:
    def probe(failure_threshold: int) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            period_seconds=PROBE_PERIOD_SECONDS,
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            failure_threshold=failure_threshold,
            **check,  # type: ignore[arg-type]
        )

    return Probes(
        startup=probe(STARTUP_FAILURE_THRESHOLD),
        readiness=probe(READINESS_FAILURE_THRESHOLD),
        liveness=probe(LIVENESS_FAILURE_THRESHOLD),
    )


def http_probes(
    port_name: str, health_path: pulumi.Input[str], readiness_path: pulumi.Input[str]
) -> Probes:
    """Startup and liveness ask "is the process alive?"; readiness asks "can it serve
    now?" and may check dependencies such as the database."""
    alive = _probes(http_get=k8s.core.v1.HTTPGetActionArgs(path=health_path, port=port_name))
    ready = _probes(http_get=k8s.core.v1.HTTPGetActionArgs(path=readiness_path, port=port_name))
    return Probes(startup=alive.startup, readiness=ready.readiness, liveness=alive.liveness)


def exec_probes(command: Sequence[pulumi.Input[str]]) -> Probes:
    return _probes(exec_=k8s.core.v1.ExecActionArgs(command=list(command)))


def hardened_pod_spec(
    *,
    user_id: pulumi.Input[int],
    containers: Sequence[k8s.core.v1.ContainerArgs],
    init_containers: Sequence[k8s.core.v1.ContainerArgs] = (),
    volumes: Sequence[k8s.core.v1.VolumeArgs] = (),
    service_account_name: pulumi.Input[str] | None = None,
    termination_grace_period_seconds: pulumi.Input[int] | None = None,
    topology_spread_constraints: Sequence[k8s.core.v1.TopologySpreadConstraintArgs] = (),
    restart_policy: str | None = None,
    image_pull_secrets: Sequence[pulumi.Input[str]] = (),
) -> k8s.core.v1.PodSpecArgs:
    """A pod spec that passes Pod Security "restricted" and carries no API credentials:
    none of our workloads talks to the Kubernetes API. Service links are off because
    the injected *_PORT variables collide with app settings and slow pod start in busy
    namespaces."""
    return k8s.core.v1.PodSpecArgs(
        security_context=pod_security_context(user_id),
        automount_service_account_token=False,
        enable_service_links=False,
        service_account_name=service_account_name,
        termination_grace_period_seconds=termination_grace_period_seconds,
        image_pull_secrets=[
            k8s.core.v1.LocalObjectReferenceArgs(name=name) for name in image_pull_secrets
        ]
        or None,
        init_containers=list(init_containers) or None,
        containers=list(containers),
        volumes=list(volumes) or None,
        topology_spread_constraints=list(topology_spread_constraints) or None,
        restart_policy=restart_policy,
    )


def empty_dir_volume(name: str, size_limit: str, in_memory: bool = False) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=name,
        empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
            medium="Memory" if in_memory else None, size_limit=size_limit
        ),
    )


def topology_spread(
    selector: Mapping[str, str],
) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Spread a workload's pods over nodes and, where nodes carry zone labels, zones.
    ScheduleAnyway: a preference, so a small or single-zone cluster still runs every
    pod. `pod-template-hash` keeps a rollout's new pods spread among themselves."""
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            topology_key=topology_key,
            max_skew=1,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
            match_label_keys=["pod-template-hash"],
        )
        for topology_key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


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
