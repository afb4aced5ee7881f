"""Pod specs: the hardened pod, its volumes, spreading and a rollout's surge."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s

from .quantity import parse_quantity
from .security import pod_security_context

# A rollout starts this share of the replicas at once (rounded up, as Kubernetes does)
# and never goes below the desired count.
DEFAULT_MAX_SURGE = "25%"


def surge_pods(replicas: int, max_surge: str | int) -> int:
    """Extra pods a rollout of `replicas` may start, rounded up as Kubernetes does."""
    if isinstance(max_surge, str) and max_surge.endswith("%"):
        return math.ceil(replicas * int(max_surge[:-1]) / 100)
    return int(max_surge)


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


@dataclass(frozen=True)
class PodDemand:
    """`count` pods of one spec at the most a component runs at once (a rollout's surge
    included): what a namespace's quota must hold, read from the spec the component
    declares rather than from a model of it."""

    count: int
    spec: k8s.core.v1.PodSpecArgs
    # The pods as a message names them: "2 app pods", "the database".
    what: str


def _amount(container: k8s.core.v1.ContainerArgs, kind: str, resource: str) -> Decimal:
    requirements = container.resources
    values = (getattr(requirements, kind) or {}) if requirements else {}
    value = values.get(resource)
    return parse_quantity(str(value))[0] if value is not None else Decimal(0)


def _restartable(container: k8s.core.v1.ContainerArgs) -> bool:
    """An init container that keeps running beside the others: a native sidecar."""
    return container.restart_policy == "Always"


def pod_amount(spec: k8s.core.v1.PodSpecArgs, kind: str, resource: str) -> Decimal:
    """What a quota charges a pod for: `kind` (requests or limits) of `resource`, as the
    API server counts it: the containers' and the sidecars' sum, or, if that is more, an
    init container beside the sidecars started before it (init containers run one at a
    time, before the others; a sidecar is an init container that keeps running)."""
    sidecars = Decimal(0)
    steps = []
    for init in spec.init_containers or []:
        amount = _amount(init, kind, resource)
        if _restartable(init):
            sidecars += amount
        else:
            steps.append(sidecars + amount)
    containers = sum((_amount(c, kind, resource) for c in spec.containers or []), Decimal(0))
    return max([containers + sidecars, *steps])


def pod_containers(spec: k8s.core.v1.PodSpecArgs) -> str:
    """The containers a quota counts in a pod, as a message names them: the containers, the
    sidecars and the init containers."""
    inits = spec.init_containers or []
    names = [str(c.name) for c in spec.containers or []]
    names += [f"{c.name} (sidecar)" for c in inits if _restartable(c)]
    names += [f"{c.name} (init)" for c in inits if not _restartable(c)]
    return ", ".join(names)
