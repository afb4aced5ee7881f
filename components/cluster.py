"""The one Kubernetes provider every object goes through."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from .settings import ClusterSettings


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
