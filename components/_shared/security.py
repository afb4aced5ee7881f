"""Pod Security "restricted" for every pod and container the package declares."""

import pulumi
import pulumi_kubernetes as k8s


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
