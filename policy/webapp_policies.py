"""Policies every Kubernetes stack built like the webapp stack must pass.

Importable without the Pulumi CLI: this module only defines policy objects; `__main__.py`
hands them to the `PolicyPack`, whose constructor blocks serving the engine.

What the engine hands a policy, and why the code below is written the way it is:
- `args.props` are the resource's inputs in camelCase, as the Kubernetes provider sees them.
  They arrive through a protobuf Struct, so every number is a float (`replicas: 3.0`) and
  nested values are read-only `Mapping`/`Sequence` proxies, not `dict`/`list`.
- During `pulumi preview` a value computed from another resource is unknown; reading it
  raises `UnknownValueError`, which the SDK turns into an advisory "can't run during
  preview" note. The check then runs for real during `pulumi up`, when values are known.
  So checked fields are read plainly, but fields only used to word a message are read
  with `_known()`, and `key in mapping` is avoided (it reads the value).
- Secret values are already unwrapped: a Secret-marked env literal is still plaintext in
  the pod spec, which is exactly what rule 7 is about.
- Messages name the resource and the field, never a value: a violation message ends up
  in CI logs, so it must not echo a credential.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "webapp-kubernetes"

ALLOW_LOAD_BALANCER_ANNOTATION = "webapp.dev/allow-load-balancer"
"""Put `webapp.dev/allow-load-balancer: "true"` on a Service to approve type LoadBalancer."""

ALLOW_LOAD_BALANCER_CONFIG = "allowLoadBalancer"
"""Policy config knob (boolean, default false) that approves every LoadBalancer Service."""

# --------------------------------------------------------------------------------------
# Reading props
# --------------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is an object, else an empty one (absent and null read the same)."""
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    """`value` as a list if it is an array, else empty. Strings are Sequences too."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def _get(value: Any, *path: str) -> Any:
    """The value at `path`, or None if any step is absent. Raises UnknownValueError if a
    step is unknown during preview, so a check never passes on a value nobody knows."""
    for key in path:
        value = _mapping(value).get(key)
        if value is None:
            return None
    return value


def _known(value: Any, *path: str) -> Any:
    """Like `_get`, but an unknown value reads as None: for wording messages only."""
    try:
        return _get(value, *path)
    except UnknownValueError:
        return None


def _has(mapping: Mapping[str, Any], key: str) -> bool:
    """Whether `key` is set, without reading its (possibly unknown) value."""
    return any(existing == key for existing in mapping)


def _is_number(value: Any) -> bool:
    # bool is an int subclass; `hostNetwork: true` must not read as the number 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def kind_of(resource_type: str) -> str | None:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`; None for non-Kubernetes types."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    return parts[2]


def _resource_label(resource_type: str, name: str) -> str:
    return f'{kind_of(resource_type) or resource_type} "{name}"'


# A CloudNativePG Cluster: the operator creates its pods (and their PodDisruptionBudget), so
# the pack never sees them; the policies that apply to its pods check the Cluster's own
# fields instead (imageName, resources, seccompProfile, enablePDB).
CNPG_CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"


# --------------------------------------------------------------------------------------
# Pod templates and containers: the one place that knows where each kind keeps its pods
# --------------------------------------------------------------------------------------

# Path from the object to its pod template (metadata + spec). A Pod is its own template.
# `*Patch` kinds are partial objects and deliberately not listed.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}

# Kinds whose pods are meant to run to completion: probes make no sense for them.
RUN_TO_COMPLETION_KINDS = frozenset({"Job", "CronJob"})

INIT_CONTAINERS = "initContainers"
CONTAINERS = "containers"
EPHEMERAL_CONTAINERS = "ephemeralContainers"
ALL_CONTAINER_LISTS = (INIT_CONTAINERS, CONTAINERS, EPHEMERAL_CONTAINERS)


@dataclass(frozen=True)
class PodTemplate:
    kind: str
    path: str
    """Dotted path of the template in the object ("" for a Pod), for messages."""
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]

    @property
    def spec_path(self) -> str:
        return f"{self.path}.spec" if self.path else "spec"

    @property
    def labels(self) -> Mapping[str, Any]:
        return _mapping(_get(self.metadata, "labels"))


@dataclass(frozen=True)
class ContainerRef:
    list_name: str
    index: int
    container: Mapping[str, Any]
    where: str
    """`spec.template.spec.containers[0] ("web")`: names the container in messages."""

    @property
    def security_context(self) -> Mapping[str, Any]:
        return _mapping(_get(self.container, "securityContext"))

    @property
    def is_sidecar(self) -> bool:
        # A native sidecar (init container with restartPolicy Always) runs for the pod's
        # whole life, so it is held to the rules of regular containers.
        return (
            self.list_name == INIT_CONTAINERS and _get(self.container, "restartPolicy") == "Always"
        )


def pod_template(resource_type: str, props: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
    CronJob) or Pod; None for every other type or a workload without one."""
    kind = kind_of(resource_type)
    if kind not in POD_TEMPLATE_PATHS:
        return None
    path = POD_TEMPLATE_PATHS[kind]
    template = _get(props, *path) if path else props
    spec = _get(template, "spec")
    if not isinstance(spec, Mapping):
        return None
    return PodTemplate(
        kind=kind,
        path=".".join(path),
        metadata=_mapping(_get(template, "metadata")),
        spec=spec,
    )


def containers(
    template: PodTemplate, lists: Sequence[str] = ALL_CONTAINER_LISTS
) -> Iterator[ContainerRef]:
    for list_name in lists:
        for index, container in enumerate(_items(_get(template.spec, list_name))):
            container = _mapping(container)
            name = _known(container, "name")
            label = f' ("{name}")' if isinstance(name, str) else ""
            where = f"{template.spec_path}.{list_name}[{index}]{label}"
            yield ContainerRef(list_name, index, container, where)


# --------------------------------------------------------------------------------------
# 1. Pod Security "restricted"
# --------------------------------------------------------------------------------------

# Pod Security Standards "restricted": the only volume types allowed; hostPath (the node's
# filesystem) is the one that matters most, but nfs, iscsi etc. are refused as well.
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "secret",
        "emptyDir",
        "persistentVolumeClaim",
        "projected",
        "downwardAPI",
        "csi",
        "ephemeral",
    }
)
ALLOWED_SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
# The one capability "restricted" lets a container add back after dropping ALL.
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
HOST_NAMESPACE_FIELDS = ("hostNetwork", "hostPID", "hostIPC")


def _pod_security_problems(template: PodTemplate) -> Iterator[str]:
    spec = template.spec
    spec_path = template.spec_path
    pod_sc = _mapping(_get(spec, "securityContext"))

    # Host namespaces let a pod see and reach everything on its node.
    for field in HOST_NAMESPACE_FIELDS:
        if _get(spec, field) is True:
            yield f"{spec_path}.{field} is true; pods must not share the node's namespaces"

    for index, volume in enumerate(_items(_get(spec, "volumes"))):
        volume = _mapping(volume)
        name = _known(volume, "name")
        for source in volume:
            if source == "name" or source in RESTRICTED_VOLUME_TYPES:
                continue
            what = "a hostPath (the node's filesystem)" if source == "hostPath" else source
            yield (
                f'{spec_path}.volumes[{index}] ("{name}") uses {what}; Pod Security '
                f"restricted allows only {', '.join(sorted(RESTRICTED_VOLUME_TYPES))}"
            )

    pod_user = _get(pod_sc, "runAsUser")
    if _is_number(pod_user) and pod_user == 0:
        yield f"{spec_path}.securityContext.runAsUser is 0 (root)"
    pod_seccomp = _get(pod_sc, "seccompProfile", "type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP_TYPES:
        yield (
            f"{spec_path}.securityContext.seccompProfile.type is {pod_seccomp}; "
            "use RuntimeDefault or Localhost"
        )

    for ref in containers(template):
        yield from _container_security_problems(ref, pod_sc)


def _container_security_problems(ref: ContainerRef, pod_sc: Mapping[str, Any]) -> Iterator[str]:
    sc = ref.security_context
    where = f"{ref.where}.securityContext"

    if _get(sc, "privileged") is True:
        yield f"{where}.privileged is true"
    # Unset means allowed: setuid binaries could regain root, so it must be false explicitly.
    if _get(sc, "allowPrivilegeEscalation") is not False:
        yield f"{where}.allowPrivilegeEscalation must be false"

    # The container's own setting wins over the pod's, so judge the effective value.
    run_as_non_root = _get(sc, "runAsNonRoot")
    if run_as_non_root is None:
        run_as_non_root = _get(pod_sc, "runAsNonRoot")
    if run_as_non_root is not True:
        yield (
            f"{where}.runAsNonRoot must be true (set it on the container or on the pod's "
            "securityContext)"
        )
    user = _get(sc, "runAsUser")
    if _is_number(user) and user == 0:
        yield f"{where}.runAsUser is 0 (root)"

    seccomp = _get(sc, "seccompProfile", "type")
    if seccomp is None:
        seccomp = _get(pod_sc, "seccompProfile", "type")
    if seccomp not in ALLOWED_SECCOMP_TYPES:
        shown = "unset" if seccomp is None else seccomp
        yield (
            f"{where}.seccompProfile.type is {shown} (container and pod); use RuntimeDefault "
            "or Localhost"
        )

    capabilities = _mapping(_get(sc, "capabilities"))
    if "ALL" not in _items(_get(capabilities, "drop")):
        yield f"{where}.capabilities.drop must contain ALL"
    added = [
        cap for cap in _items(_get(capabilities, "add")) if cap not in ALLOWED_ADDED_CAPABILITIES
    ]
    if added:
        yield (
            f"{where}.capabilities.add has {', '.join(map(str, added))}; only NET_BIND_SERVICE "
            "may be added"
        )

    # A hostPort binds the node's own interface, bypassing Services and NetworkPolicies.
    for index, port in enumerate(_items(_get(ref.container, "ports"))):
        host_port = _get(port, "hostPort")
        if _is_number(host_port) and host_port != 0:
            yield f"{ref.where}.ports[{index}].hostPort is set; pods must not bind node ports"


def _cnpg_seccomp_problem(props: Mapping[str, Any]) -> str | None:
    """The operator's containers are non-root, read-only and drop every capability; the
    seccomp profile is the Cluster's to set."""
    seccomp_type = _get(props, "spec", "seccompProfile", "type")
    if seccomp_type not in ALLOWED_SECCOMP_TYPES:
        return (
            "spec.seccompProfile.type is not set to one of "
            f"{', '.join(sorted(ALLOWED_SECCOMP_TYPES))}"
        )
    return None


def validate_pod_security(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CNPG_CLUSTER_TYPE:
        problem = _cnpg_seccomp_problem(args.props)
        if problem:
            report_violation(f"{_resource_label(args.resource_type, args.name)}: {problem}", None)
        return
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    label = _resource_label(args.resource_type, args.name)
    for problem in _pod_security_problems(template):
        report_violation(f"{label}: {problem}", None)


pod_security_restricted = ResourceValidationPolicy(
    name="pod-security-restricted",
    description=(
        'Pod templates pass Pod Security "restricted": non-root, no privilege escalation, '
        "capabilities dropped, seccomp on, no host namespaces, hostPath volumes or hostPorts."
    ),
    validate=validate_pod_security,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps=(
        "Set on the pod: securityContext {runAsNonRoot: true, runAsUser: <non-zero>, "
        "seccompProfile: {type: RuntimeDefault}}; on every container, init and ephemeral "
        "container: securityContext {allowPrivilegeEscalation: false, capabilities: "
        "{drop: [ALL]}}. Remove hostNetwork/hostPID/hostIPC, hostPath volumes and hostPorts."
    ),
)

# --------------------------------------------------------------------------------------
# 2. Resource requests and limits
# --------------------------------------------------------------------------------------

REQUIRED_RESOURCES = (
    ("requests", "cpu"),
    ("requests", "memory"),
    ("limits", "cpu"),
    ("limits", "memory"),
)


def _missing_resources(resources: Mapping[str, Any]) -> list[str]:
    return [
        f"resources.{section}.{name}"
        for section, name in REQUIRED_RESOURCES
        if not _has(_mapping(_get(resources, section)), name)
    ]


def validate_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CNPG_CLUSTER_TYPE:
        # Each instance's pod gets the Cluster's resources.
        missing = _missing_resources(_mapping(_get(args.props, "spec", "resources")))
        if missing:
            label = _resource_label(args.resource_type, args.name)
            report_violation(f"{label}: spec has no {', '.join(missing)}", None)
        return
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    label = _resource_label(args.resource_type, args.name)
    # Ephemeral containers are exempt: the API forbids resources on them.
    for ref in containers(template, (INIT_CONTAINERS, CONTAINERS)):
        missing = _missing_resources(_mapping(_get(ref.container, "resources")))
        if missing:
            report_violation(f"{label}: {ref.where} has no {', '.join(missing)}", None)


container_resources_required = ResourceValidationPolicy(
    name="container-resources-required",
    description=(
        "Every container and init container sets cpu and memory requests and limits, so the "
        "scheduler can place it and a namespace ResourceQuota accepts it."
    ),
    validate=validate_resources,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Set resources.requests.cpu, resources.requests.memory, resources.limits.cpu and "
        "resources.limits.memory on every container and init container."
    ),
)

# --------------------------------------------------------------------------------------
# 3. Readiness and liveness probes
# --------------------------------------------------------------------------------------

REQUIRED_PROBES = ("readinessProbe", "livenessProbe")


def _is_long_running(template: PodTemplate) -> bool:
    if template.kind in RUN_TO_COMPLETION_KINDS:
        return False
    # A bare Pod that is never restarted is a one-off task, like a Job's pod.
    return not (
        template.kind == "Pod" and _get(template.spec, "restartPolicy") in ("Never", "OnFailure")
    )


def validate_probes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    template = pod_template(args.resource_type, args.props)
    if template is None or not _is_long_running(template):
        return
    label = _resource_label(args.resource_type, args.name)
    for ref in containers(template, (INIT_CONTAINERS, CONTAINERS)):
        # Ordinary init containers run to completion before the pod starts: no probes.
        if ref.list_name == INIT_CONTAINERS and not ref.is_sidecar:
            continue
        missing = [
            probe
            for probe in REQUIRED_PROBES
            if not isinstance(_get(ref.container, probe), Mapping)
        ]
        if missing:
            report_violation(f"{label}: {ref.where} has no {' and no '.join(missing)}", None)


container_probes_required = ResourceValidationPolicy(
    name="container-probes-required",
    description=(
        "Every container of a long-running workload (not a Job or CronJob) has a readiness "
        "probe (traffic only to pods that can serve) and a liveness probe (hung pods restart)."
    ),
    validate=validate_probes,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Add readinessProbe and livenessProbe to every container (and native sidecar); add a "
        "startupProbe too if the process starts slowly."
    ),
)

# --------------------------------------------------------------------------------------
# 4. Pinned images
# --------------------------------------------------------------------------------------

# OCI digest: algorithm ":" encoded, e.g. sha256:<64 hex>.
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")


def image_problem(image: Any) -> str | None:
    """Why `image` is not pinned, or None if it has a digest or a tag other than latest."""
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    if "@" in image:
        digest = image.split("@", 1)[1]
        return None if _DIGEST.match(digest) else f"has a malformed digest in {image}"
    # The tag follows the last ":" of the last path part; an earlier ":" is a registry port.
    last_part = image.rsplit("/", 1)[-1]
    if ":" not in last_part or not last_part.rsplit(":", 1)[1]:
        return f"image {image} has no tag, so it pulls :latest"
    if last_part.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses the :latest tag"
    return None


def validate_image_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CNPG_CLUSTER_TYPE:
        # Without imageName the operator runs its own default, which moves with the operator.
        image = _get(args.props, "spec", "imageName")
        problem = "has no spec.imageName" if image is None else image_problem(image)
        if problem:
            label = _resource_label(args.resource_type, args.name)
            report_violation(f"{label}: {problem}; pin a version tag or digest", None)
        return
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    label = _resource_label(args.resource_type, args.name)
    for ref in containers(template):
        problem = image_problem(_get(ref.container, "image"))
        if problem:
            report_violation(f"{label}: {ref.where} {problem}; pin a version tag or digest", None)


image_tag_pinned = ResourceValidationPolicy(
    name="image-tag-pinned",
    description=(
        "Every container image is pinned to a version tag or a digest: :latest or no tag "
        "changes what runs without a change to the stack."
    ),
    validate=validate_image_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Use image:<version> (e.g. postgres:17.6-bookworm) or image@sha256:<digest>.",
)

# --------------------------------------------------------------------------------------
# 5. LoadBalancer Services need approval
# --------------------------------------------------------------------------------------


def validate_load_balancer(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if kind_of(args.resource_type) != "Service":
        return
    if _get(args.props, "spec", "type") != "LoadBalancer":
        return
    # Annotations are strings in Kubernetes; only the exact "true" approves.
    if _get(args.props, "metadata", "annotations", ALLOW_LOAD_BALANCER_ANNOTATION) == "true":
        return
    # The CLI fills in the schema default (false); `is True` also refuses a stray "true".
    if args.get_config().get(ALLOW_LOAD_BALANCER_CONFIG) is True:
        return
    report_violation(
        f"{_resource_label(args.resource_type, args.name)}: spec.type is LoadBalancer, which "
        f"exposes it outside the cluster; approve it with the annotation "
        f'{ALLOW_LOAD_BALANCER_ANNOTATION}: "true" or the policy config '
        f"{ALLOW_LOAD_BALANCER_CONFIG}: true",
        None,
    )


no_unapproved_load_balancer = ResourceValidationPolicy(
    name="no-unapproved-load-balancer",
    description=(
        "A Service of type LoadBalancer (public address, cost) needs explicit approval: the "
        f'annotation {ALLOW_LOAD_BALANCER_ANNOTATION}: "true" or policy config '
        f"{ALLOW_LOAD_BALANCER_CONFIG}: true."
    ),
    validate=validate_load_balancer,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    config_schema=PolicyConfigSchema(
        properties={
            ALLOW_LOAD_BALANCER_CONFIG: {
                "type": "boolean",
                "default": False,
                "description": "Approve every LoadBalancer Service of the stack.",
            }
        }
    ),
    remediation_steps=(
        "Use ClusterIP behind an Ingress, or annotate the Service with "
        f'{ALLOW_LOAD_BALANCER_ANNOTATION}: "true" once exposing it is intended.'
    ),
)

# --------------------------------------------------------------------------------------
# 6. PodDisruptionBudgets for multi-replica workloads (stack policy)
# --------------------------------------------------------------------------------------

PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget"
PDB_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet"})
HPA_KIND = "HorizontalPodAutoscaler"


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label-selector semantics: matchLabels and matchExpressions must all hold.
    In policy/v1 an empty selector selects every pod of the namespace; a null one none."""
    if not isinstance(selector, Mapping):
        return False
    match_labels = _mapping(_get(selector, "matchLabels"))
    if any(labels.get(key) != match_labels[key] for key in match_labels):
        return False
    for expression in _items(_get(selector, "matchExpressions")):
        key = _get(expression, "key")
        operator = _get(expression, "operator")
        values = _items(_get(expression, "values"))
        present = _has(labels, key)
        if operator == "In":
            ok = present and labels.get(key) in values
        elif operator == "NotIn":
            ok = not present or labels.get(key) not in values
        elif operator == "Exists":
            ok = present
        elif operator == "DoesNotExist":
            ok = not present
        else:
            ok = False
        if not ok:
            return False
    return True


def _pdb_limits_disruption(pdb: PolicyResource) -> bool:
    # With neither field set the disruption controller allows every eviction.
    spec = _mapping(_get(pdb.props, "spec"))
    return _has(spec, "minAvailable") or _has(spec, "maxUnavailable")


def _hpa_min_replicas(resources: Sequence[PolicyResource]) -> dict[tuple[Any, str, Any], float]:
    """(namespace, kind, name) of each HPA target -> the largest minReplicas aimed at it."""
    targets: dict[tuple[Any, str, Any], float] = {}
    for resource in resources:
        if kind_of(resource.resource_type) != HPA_KIND:
            continue
        target = _mapping(_get(resource.props, "spec", "scaleTargetRef"))
        key = (
            _get(resource.props, "metadata", "namespace"),
            _get(target, "kind"),
            _get(target, "name"),
        )
        min_replicas = _get(resource.props, "spec", "minReplicas")
        # minReplicas defaults to 1.
        min_replicas = min_replicas if _is_number(min_replicas) else 1
        targets[key] = max(targets.get(key, 0), min_replicas)
    return targets


def validate_pdb_coverage(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    pdbs = [r for r in resources if r.resource_type == PDB_TYPE and _pdb_limits_disruption(r)]
    hpa_min = _hpa_min_replicas(resources)
    for cluster in resources:
        if cluster.resource_type != CNPG_CLUSTER_TYPE:
            continue
        # The operator makes the Cluster's PodDisruptionBudgets (one for the primary, one
        # for the replicas) unless spec.enablePDB is false.
        instances = _get(cluster.props, "spec", "instances")
        instances = instances if _is_number(instances) else 1  # CNPG's default
        if instances > 1 and _get(cluster.props, "spec", "enablePDB") is False:
            report_violation(
                f"{_resource_label(cluster.resource_type, cluster.name)} runs {int(instances)} "
                "instances with spec.enablePDB false, so the operator makes no "
                "PodDisruptionBudget for them",
                cluster.urn,
            )
    for workload in resources:
        kind = kind_of(workload.resource_type)
        if kind not in PDB_WORKLOAD_KINDS:
            continue
        template = pod_template(workload.resource_type, workload.props)
        if template is None:
            continue
        namespace = _get(workload.props, "metadata", "namespace")
        replicas = _get(workload.props, "spec", "replicas")
        replicas = replicas if _is_number(replicas) else 1  # Kubernetes' default
        autoscaled = hpa_min.get((namespace, kind, _get(workload.props, "metadata", "name")), 0)
        if max(replicas, autoscaled) <= 1:
            continue
        covered = any(
            _get(pdb.props, "metadata", "namespace") == namespace
            and selector_matches(_get(pdb.props, "spec", "selector"), template.labels)
            for pdb in pdbs
        )
        if covered:
            continue
        why = (
            f"runs {int(replicas)} replicas"
            if replicas > 1
            else f"is autoscaled with minReplicas {int(autoscaled)}"
        )
        report_violation(
            f"{_resource_label(workload.resource_type, workload.name)} {why} in namespace "
            f"{namespace or '(provider default)'} but no policy/v1 PodDisruptionBudget with "
            "minAvailable or maxUnavailable selects its pod template labels "
            f"({template.path}.metadata.labels)",
            workload.urn,
        )


pdb_for_multi_replica_workloads = StackValidationPolicy(
    name="pdb-for-multi-replica-workloads",
    description=(
        "Every Deployment or StatefulSet with more than one replica (or an HPA minReplicas "
        "above one) has a policy/v1 PodDisruptionBudget in its namespace selecting its pods, "
        "so node drains and upgrades keep it available; a CloudNativePG Cluster of several "
        "instances keeps the operator's budgets (enablePDB not false)."
    ),
    validate=validate_pdb_coverage,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Add a policy/v1 PodDisruptionBudget in the workload's namespace with "
        "selector.matchLabels equal to its selector labels and minAvailable or maxUnavailable; "
        "on a CloudNativePG Cluster, remove spec.enablePDB: false."
    ),
)

# --------------------------------------------------------------------------------------
# 7. Credentials stay in Secrets
# --------------------------------------------------------------------------------------

# Words of a name (FOO_BAR, foo-bar, fooBar all split into FOO, BAR) that mark a credential.
# Whole words, so MAX_TOKENS or PASSPORT_ID are not mistaken for one.
_CREDENTIAL_WORD = re.compile(r"^(?:\w*PASSWORD\w*|\w*PASSWD\w*|PASS|\w*SECRET\w*|\w*TOKEN)$")
_CREDENTIAL_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY")})
_CREDENTIAL_COMPOUNDS = frozenset({"APIKEY", "PRIVATEKEY", "SECRETKEY"})
# scheme://user:password@ - a password embedded in a URL or DSN. A `$(VAR)` (expanded by
# Kubernetes from another env var) or `${VAR}` in its place holds no secret.
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:(?P<password>[^\s/@]+)@")
_VARIABLE_REFERENCE = re.compile(r"^(?:\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\})$")
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if word]


def looks_like_credential_name(name: str) -> bool:
    words = _name_words(name)
    if any(_CREDENTIAL_WORD.match(word) or word in _CREDENTIAL_COMPOUNDS for word in words):
        return True
    return any(pair in _CREDENTIAL_PAIRS for pair in pairwise(words))


def _names_a_file(name: str) -> bool:
    return _name_words(name)[-1:] == ["FILE"]


def _credential_name_problem(name: str, read_value: Callable[[], Any]) -> str | None:
    """Why a key or variable called `name` must not hold a literal, or None. `*_FILE` with an
    absolute path names a mounted Secret file, which is the fix, not the problem. The value
    is read only for `*_FILE` names: an unknown value elsewhere must not stop the check."""
    if not looks_like_credential_name(name):
        return None
    if _names_a_file(name):
        value = read_value()
        if isinstance(value, str) and value.startswith("/"):
            return None
        return "must hold the absolute path of a mounted Secret file"
    return "looks like a credential"


def value_problem(value: Any) -> str | None:
    """Why a literal value holds a credential whatever its name, or None."""
    if not isinstance(value, str):
        return None
    for match in _URL_WITH_PASSWORD.finditer(value):
        if not _VARIABLE_REFERENCE.match(match.group("password")):
            return "holds a URL with an embedded password (scheme://user:password@)"
    if _PEM_PRIVATE_KEY.search(value):
        return "holds a PEM private key"
    return None


@dataclass(frozen=True)
class _Literal:
    where: str
    name: Any
    read_value: Callable[[], Any]
    judge_value: bool = True


def _literal_problems(literals: Sequence[_Literal]) -> Iterator[str]:
    """Names first, values last: during preview a value may be unknown, and reading it
    stops this check for the resource (it runs again during `up`), so no name goes unjudged
    because of some other entry's unknown value."""
    named: set[str] = set()
    for literal in literals:
        if isinstance(literal.name, str):
            problem = _credential_name_problem(literal.name, literal.read_value)
            if problem:
                named.add(literal.where)
                yield f"{literal.where} {problem}"
    for literal in literals:
        if literal.judge_value and literal.where not in named:
            problem = value_problem(literal.read_value())
            if problem:
                yield f"{literal.where} {problem}"


def _configmap_literals(props: Mapping[str, Any]) -> list[_Literal]:
    literals = []
    for section in ("data", "binaryData"):
        entries = _mapping(_get(props, section))
        for key in entries:
            # binaryData is base64: only its keys can be judged.
            read = partial(_get, entries, key)
            literals.append(_Literal(f"{section}.{key}", key, read, section == "data"))
    return literals


def _env_literals(template: PodTemplate) -> list[_Literal]:
    literals = []
    for ref in containers(template):
        for index, entry in enumerate(_items(_get(ref.container, "env"))):
            entry = _mapping(entry)
            # valueFrom (secretKeyRef, ...) is the right way; only literals are judged.
            if not _has(entry, "value"):
                continue
            name = _get(entry, "name")
            where = f"{ref.where}.env[{index}] ({name}) literal value"
            literals.append(_Literal(where, name, partial(_get, entry, "value")))
    return literals


def validate_no_plaintext_credentials(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    label = _resource_label(args.resource_type, args.name)
    if kind_of(args.resource_type) == "ConfigMap":
        for problem in _literal_problems(_configmap_literals(args.props)):
            report_violation(f"{label}: {problem}; keep credentials in a Secret", None)
        return
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return
    for problem in _literal_problems(_env_literals(template)):
        report_violation(
            f"{label}: {problem}; use valueFrom.secretKeyRef or a *_FILE path to a mounted Secret",
            None,
        )


no_plaintext_credentials = ResourceValidationPolicy(
    name="no-plaintext-credentials",
    description=(
        "Credentials (passwords, secrets, tokens, API or private keys, URLs with a password) "
        "are not in ConfigMaps or literal env values, which anyone who can read the object "
        "sees in plaintext; they come from Secrets."
    ),
    validate=validate_no_plaintext_credentials,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps=(
        "Move the value into a Secret and read it with env[].valueFrom.secretKeyRef or "
        "envFrom.secretRef, or mount the Secret and pass its path in a *_FILE variable. "
        "Compose URLs as scheme://user:$(PASSWORD_VAR)@host from a secret-backed variable."
    ),
)

# --------------------------------------------------------------------------------------
# The pack's contents
# --------------------------------------------------------------------------------------

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    pod_security_restricted,
    container_resources_required,
    container_probes_required,
    image_tag_pinned,
    no_unapproved_load_balancer,
    no_plaintext_credentials,
]
STACK_POLICIES: list[StackValidationPolicy] = [pdb_for_multi_replica_workloads]
ALL_POLICIES: list[Policy] = [*RESOURCE_POLICIES, *STACK_POLICIES]
