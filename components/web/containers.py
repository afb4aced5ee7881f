"""The containers of the app's pod: the app's own, with its probes, settings and drain
pause, and the sidecars beside it, each under the restricted security context."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .._shared.package import InvalidInput, known, whole
from .._shared.probes import http_probes
from .._shared.resources import resource_requirements
from .._shared.security import container_security_context
from .parts import COMPONENT, DNS_LABEL, ENV_NAME, WebParts


def app_container(
    web: WebParts, config_name: pulumi.Input[str], secret_name: pulumi.Input[str] | None
) -> k8s.core.v1.ContainerArgs:
    probes = http_probes("http", web.health_path, web.readiness_path)
    sources = [
        k8s.core.v1.EnvFromSourceArgs(
            config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=config_name)
        )
    ]
    if secret_name is not None:
        sources.append(
            k8s.core.v1.EnvFromSourceArgs(
                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret_name)
            )
        )
    db = web.database
    password_ref = k8s.core.v1.EnvVarArgs(
        name="DATABASE_PASSWORD",
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=db.password_secret, key=db.password_secret_key
            )
        ),
    )
    return k8s.core.v1.ContainerArgs(
        name=COMPONENT,
        image=web.image,
        command=web.command,
        args=web.args,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=web.port)],
        env_from=sources,
        env=[password_ref] if db.password_secret is not None else None,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        resources=resource_requirements(web.resources),
        security_context=container_security_context(),
        startup_probe=probes.startup,
        readiness_probe=probes.readiness,
        liveness_probe=probes.liveness,
        # A stopping pod is removed from endpoints while it keeps serving; the pause lets
        # load balancers and kube-proxy catch up before the app gets SIGTERM. The sleep
        # action needs no shell or `sleep` binary in the image.
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=web.drain_seconds)
            )
        )
        if web.drain_seconds
        else None,
    )


def _sidecar(web: WebParts, index: int, sidecar: Any) -> k8s.core.v1.ContainerArgs:
    what = f"WebService input 'sidecars[{index}]"
    name = known(sidecar.get("name"), f"{what}.name'")
    if not isinstance(name, str) or not DNS_LABEL.match(name) or name == COMPONENT:
        raise InvalidInput(
            f"{what}.name' is {name!r}: it must be a DNS label (lowercase letters, digits "
            f"and '-', at most 63) other than {COMPONENT}"
        )
    resources = known(sidecar.get("resources"), f"{what}.resources'")
    if not sidecar.get("image") or not resources:
        raise InvalidInput(f"{what}' needs an image and resources")
    ports = [
        whole(port, f"{what}.ports'")
        for port in known(sidecar.get("ports"), f"{what}.ports'") or []
    ]
    app_port = web.port if isinstance(web.port, int) else None
    # An output port is the caller's to check; a plain one is checked here, as the stack's
    # settings check it, for programs in other languages.
    if any(
        isinstance(port, int) and (not 1024 <= port <= 65535 or port == app_port)
        for port in ports
    ):
        raise InvalidInput(
            f"{what}.ports' is {ports!r}: sidecar ports are from 1024 to 65535, none the app's"
        )
    env = known(sidecar.get("env"), f"{what}.env'") or {}
    bad_names = [key for key in env if not ENV_NAME.match(key)]
    if bad_names:
        raise InvalidInput(
            f"{what}.env' holds {bad_names[0]!r}, but variable names are letters, digits and "
            "'_', not starting with a digit"
        )
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=sidecar["image"],
        command=sidecar.get("command") or None,
        args=sidecar.get("args") or None,
        ports=[k8s.core.v1.ContainerPortArgs(container_port=port) for port in ports] or None,
        env=[k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in env.items()] or None,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        resources=resource_requirements(resources),
        security_context=container_security_context(),
    )


def sidecar_containers(web: WebParts) -> list[k8s.core.v1.ContainerArgs]:
    sidecars = known(web.inputs.get("sidecars"), "WebService input 'sidecars'") or []
    containers = [_sidecar(web, index, sidecar) for index, sidecar in enumerate(sidecars)]
    names = [container.name for container in containers]
    if len(set(names)) != len(names):
        raise InvalidInput(f"WebService input 'sidecars' names a container twice: {names}")
    return containers
