"""Where the stack goes: the cluster's settings and the one Kubernetes provider every
object goes through."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes as k8s

from .reader import Reader, fails, present
from .values import DNS_SUBDOMAIN, render_directory


@dataclass(frozen=True)
class ClusterSettings:
    # None: the kubeconfig's current context.
    context: str | None
    # A directory to write manifests to instead of applying them; None applies them.
    render_yaml_to: str | None
    domain: str


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
    if None in (context, render_yaml_to, domain):
        return None
    return ClusterSettings(
        context=present(context) or None,
        render_yaml_to=present(render_yaml_to) or None,
        domain=present(domain),
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
    )
