"""Where the stack goes: the cluster's settings and the one Kubernetes provider every
object goes through."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .reader import PROJECT, Reader, fails, present
from .values import BOOLEAN_ALLOWED, DNS_SUBDOMAIN, boolean, render_directory, suggest_boolean

# The provider's own switch: a server-side apply that takes over fields another field
# manager owns instead of failing on the conflict.
PATCH_FORCE = "pulumi.com/patchForce"


@dataclass(frozen=True)
class ClusterSettings:
    # None: the kubeconfig's current context.
    context: str | None
    # A directory to write manifests to instead of applying them; None applies them.
    render_yaml_to: str | None
    domain: str
    # Take over objects that exist under the stack's names (webapp:adoptExisting).
    adopt_existing: bool = False


def read_cluster(reader: Reader) -> ClusterSettings | None:
    context = reader.read(
        "kubeContext",
        lambda raw: raw if raw == raw.strip() else fails(raw),
        "it must be empty (the kubeconfig's current context) or the name of a kubeconfig "
        "context, without surrounding spaces",
        lambda raw: raw.strip(),
    )
    render_yaml_to = reader.read(
        "renderYamlTo",
        render_directory,
        "it must be empty (apply to the cluster) or a directory to write manifests to, "
        "without surrounding spaces, not the project directory itself",
        lambda raw: raw.strip() if raw.strip() not in ("", ".", "./") else "rendered",
    )
    domain = reader.read(
        "clusterDomain",
        lambda raw: raw if DNS_SUBDOMAIN.match(raw) else fails(raw),
        "it must be a DNS domain such as cluster.local",
    )
    adopt = reader.read("adoptExisting", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    if None in (context, render_yaml_to, domain, adopt):
        return None
    return ClusterSettings(
        context=present(context) or None,
        render_yaml_to=present(render_yaml_to) or None,
        domain=present(domain),
        adopt_existing=present(adopt),
    )


def kubernetes_provider(name: str, cluster: ClusterSettings) -> k8s.Provider:
    """An explicit provider, so no object silently uses the ambient default provider
    (whatever context the kubeconfig happens to point at). In render mode it writes
    manifests to a directory instead of applying them; Secrets are written there in
    plaintext."""
    rendering = cluster.render_yaml_to is not None
    return k8s.Provider(
        name,
        # The provider refuses `context` together with `renderYamlToDirectory` when it is
        # configured; rendering talks to no cluster, so a stack's kubeContext is left out.
        context=None if rendering else cluster.context,
        render_yaml_to_directory=cluster.render_yaml_to,
        # Since pulumi-kubernetes 4.29 a create is a plain create, which fails with
        # AlreadyExists where the object exists: a namespace made beforehand for a Secret
        # the stack file names, or the namespace and database a teardown kept. The stack
        # counts on a create that applies over what exists: the namespace's apply then
        # shows another stack's field managers, which the program refuses
        # (stack_settings/retained.py), and webapp:adoptExisting takes such objects over.
        # What the plain create guards against is a create that lands on an object the
        # same update then deletes: a renamed resource (every object here keeps its URN
        # across versions: aliases, tests/test_package_aliases.py), a named object replaced
        # create-first (the provider replaces a named object delete-first on a change, and
        # the Cluster, which docs/engines.md replaces with --replace, says so itself), or a
        # deployed stack moved into another's namespace (refused unless confirmed,
        # stack_settings/namespace_move.py).
        upsert_existing_objects=True,
    )


def cluster_options(cluster: ClusterSettings, provider: k8s.Provider) -> pulumi.ResourceOptions:
    """Options of every component: the provider and, while webapp:adoptExisting is on, the
    annotation that makes each object's apply take over what already exists.

    A new stack creates an object by a server-side apply under a field manager of its
    own; where the object exists already (retained by an earlier stack, or a stack whose
    state was lost) every field the earlier manager set to another value, such as a new
    password in a Secret, is a conflict that fails `up`. Forcing takes those fields over."""
    if not cluster.adopt_existing:
        return pulumi.ResourceOptions(providers=[provider])
    pulumi.log.warn(
        f"{PROJECT}:adoptExisting is on: this update takes over every object that exists "
        "under this stack's names, overwriting what others set in them; remove it once "
        f"the update is done: pulumi config rm {PROJECT}:adoptExisting"
    )
    return pulumi.ResourceOptions(providers=[provider], transformations=[_force_apply])


def _force_apply(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    metadata = args.props.get("metadata")
    if not args.type_.startswith("kubernetes:") or metadata is None:
        return None
    forced = {PATCH_FORCE: "true"}
    if isinstance(metadata, dict):
        metadata = {
            **metadata,
            "annotations": pulumi.Output.from_input(metadata.get("annotations") or {}).apply(
                lambda annotations: {**(annotations or {}), **forced}
            ),
        }
    else:
        metadata = copy.copy(metadata)
        metadata.annotations = pulumi.Output.from_input(metadata.annotations or {}).apply(
            lambda annotations: {**(annotations or {}), **forced}
        )
    return pulumi.ResourceTransformationResult({**args.props, "metadata": metadata}, args.opts)
