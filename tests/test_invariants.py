"""Invariants over every pod template and every value the program hands out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from tests.harness import ProgramRun, Registration, fake_password, pod_templates

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "csi",
    "ephemeral",
}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def _templates(run: ProgramRun) -> list[tuple[Registration, dict[str, Any]]]:
    templates = list(pod_templates(run))
    assert templates, "the program declared no pods"
    return templates


def test_every_pod_passes_pod_security_restricted(stack_run: ProgramRun) -> None:
    for record, template in _templates(stack_run):
        spec = template["spec"]
        pod = spec.get("securityContext") or {}
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        for volume in spec.get("volumes") or []:
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUME_TYPES, f"{record.name}: volume {volume['name']}"
        for container in _containers(spec):
            where = f"{record.name}/{container['name']}"
            context = container.get("securityContext") or {}
            run_as_non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
            assert run_as_non_root is True, where
            assert context.get("runAsUser", pod.get("runAsUser")) not in (0, None), where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert not context.get("privileged"), where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
            assert seccomp in ("RuntimeDefault", "Localhost"), where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert not any(port.get("hostPort") for port in container.get("ports") or []), where


def test_every_pod_runs_as_a_uid_that_clashes_with_no_node_user(stack_run: ProgramRun) -> None:
    """Host users have low uids; a container escaping as one of them would get their
    files. Pods run as 10000 or more, and no container overrides it lower."""
    for record, template in _templates(stack_run):
        spec = template["spec"]
        assert spec["securityContext"]["runAsUser"] >= 10000, record.name
        for container in _containers(spec):
            uid = (container.get("securityContext") or {}).get("runAsUser")
            assert uid is None or uid >= 10000, f"{record.name}/{container['name']}"


def test_every_container_has_requests_and_limits(stack_run: ProgramRun) -> None:
    for record, template in _templates(stack_run):
        for container in _containers(template["spec"]):
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind) or {}), (
                    f"{record.name}/{container['name']} lacks {kind}"
                )


def _sidecar_names(run: ProgramRun) -> set[str]:
    """The user's own containers (webapp:sidecars): the input has no probes, their health
    is theirs to define."""
    return {sidecar["name"] for sidecar in json.loads(run.config.get("webapp:sidecars") or "[]")}


def test_every_long_running_container_has_probes(stack_run: ProgramRun) -> None:
    sidecars = _sidecar_names(stack_run)
    for record, template in _templates(stack_run):
        if record.manifest()["kind"] in ("Job", "CronJob"):
            continue
        for container in template["spec"]["containers"]:
            if container["name"] in sidecars:
                continue
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container.get(probe), f"{record.name}/{container['name']} lacks {probe}"


def test_no_pod_gets_an_api_token(stack_run: ProgramRun) -> None:
    for record, template in _templates(stack_run):
        assert template["spec"].get("automountServiceAccountToken") is False, record.name


def test_service_target_ports_exist_on_the_selected_pods(stack_run: ProgramRun) -> None:
    """A named targetPort that no container declares leaves the Service without
    endpoints."""
    pods = [
        (template["metadata"]["labels"], template["spec"]) for _, template in _templates(stack_run)
    ]
    for record in stack_run.of_type("kubernetes:core/v1:Service"):
        spec = record.manifest()["spec"]
        selected = [pod for labels, pod in pods if spec["selector"].items() <= labels.items()]
        port_names = {
            port.get("name")
            for pod in selected
            for c in pod["containers"]
            for port in c.get("ports") or []
        }
        for port in spec["ports"]:
            assert port["targetPort"] in port_names, f"{record.name}: {port['targetPort']}"


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def _readings(text: str) -> list[str]:
    """The text itself and, where it is base64 (as Secret data is), what it decodes to."""
    try:
        return [text, base64.b64decode(text, validate=True).decode()]
    except (binascii.Error, UnicodeDecodeError):
        return [text]


def _carries(text: str, passwords: list[str]) -> bool:
    return any(p in reading for reading in _readings(text) for p in passwords)


def _under_secret(path: str, secret_paths: set[str]) -> bool:
    return any(
        path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in secret_paths
    )


def _generated_passwords(run: ProgramRun) -> list[str]:
    names = [r.name for r in run.of_type("random:index/randomPassword:RandomPassword")]
    assert names, "the program generated no password"
    return [fake_password(name) for name in names]


def test_generated_secrets_appear_only_in_secret_values(stack_run: ProgramRun) -> None:
    """A generated password may travel only as a secret input (which the engine encrypts
    in state) and only into a Secret: never a ConfigMap, an env literal, an annotation."""
    passwords = _generated_passwords(stack_run)
    for record in stack_run.registrations:
        for path, text in _strings(record.inputs):
            if _carries(text, passwords):
                assert record.type == "kubernetes:core/v1:Secret", f"{record.name}: {path}"
                assert _under_secret(path, record.secret_paths), f"{record.name}: {path}"


def test_generated_secrets_appear_only_in_secret_outputs(stack_run: ProgramRun) -> None:
    passwords = _generated_passwords(stack_run)
    for name, output in stack_run.outputs.items():
        if any(_carries(text, passwords) for _, text in _strings(output.value)):
            assert output.secret, f"stack output {name} carries a password in plaintext"
    for urn, (outputs, secret_paths) in stack_run.component_outputs.items():
        for path, text in _strings(outputs):
            if _carries(text, passwords):
                assert _under_secret(path, secret_paths), f"{urn}: {path}"


def test_generated_secrets_never_reach_the_log(stack_run: ProgramRun) -> None:
    passwords = _generated_passwords(stack_run)
    assert not [m for m in stack_run.logs if any(p in m for p in passwords)]


def test_no_secret_in_config_maps_or_env_literals(stack_run: ProgramRun) -> None:
    """Credentials reach pods from Secrets only, whatever their value."""
    suspicious = ("PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "KEY")
    for record in stack_run.of_type("kubernetes:core/v1:ConfigMap"):
        for key in record.manifest().get("data") or {}:
            assert not any(word in key.upper() for word in suspicious), f"{record.name}: {key}"
    for record, template in _templates(stack_run):
        for container in _containers(template["spec"]):
            for env in container.get("env") or []:
                if any(word in env["name"].upper() for word in suspicious):
                    assert "value" not in env or env["name"].endswith("_FILE"), (
                        f"{record.name}/{container['name']}: {env['name']} is a literal"
                    )
