"""The one Kubernetes provider every object goes through."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from .settings import ClusterSettings


def kubernetes_provider(name: str, cluster: ClusterSettings) -> k8s.Provider:
    """An explicit provider, so no object silently uses the ambient default provider
    (whatever context the kubeconfig happens to point at). In render mode it writes
    manifests to a directory instead of applying them; Secrets are written there in
    plaintext."""
    return k8s.Provider(
        name,
        context=cluster.context,
        render_yaml_to_directory=cluster.render_yaml_to,
    )
