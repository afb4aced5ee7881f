"""Runs what the program renders into a pod, outside a cluster: a container's script with
the environment Kubernetes would give it, its Secret and ConfigMap volumes written out as
files, and the pod's in-cluster names pointed at servers on 127.0.0.1.

Everything comes from the rendered objects (scripts, variables, Secret data, mounted
files); the caller says only where the cluster's places are on this machine.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import ProgramRun, Registration
from tests.servers import owned_dir, unprivileged_ids


@dataclass
class RenderedPod:
    """One pod template of a workload, with the Secrets and ConfigMaps of its run."""

    run: ProgramRun
    workload: Registration
    template: dict[str, Any]
    # Secrets that exist in the cluster but not in the program (a user's own), by name.
    outside_secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, run: ProgramRun, workload: Registration, **kwargs: Any) -> RenderedPod:
        spec = workload.manifest()["spec"]
        template = (
            spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
        )
        return cls(run, workload, template, **kwargs)

    def containers(self) -> list[dict[str, Any]]:
        """Init containers first, in the order the kubelet runs them."""
        spec = self.template["spec"]
        return (spec.get("initContainers") or []) + spec["containers"]

    def container(self, name: str) -> dict[str, Any]:
        (found,) = [c for c in self.containers() if c["name"] == name]
        return found

    def _named(self, type_: str, name: str) -> dict[str, Any]:
        for record in self.run.of_type(type_):
            if record.manifest()["metadata"]["name"] == name:
                return record.manifest()
        raise KeyError(f"no {type_} named {name} in the rendered objects")

    def secret(self, name: str) -> dict[str, str]:
        if name in self.outside_secrets:
            return self.outside_secrets[name]
        data = self._named("kubernetes:core/v1:Secret", name).get("data") or {}
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    def config_map(self, name: str) -> dict[str, str]:
        return self._named("kubernetes:core/v1:ConfigMap", name).get("data") or {}

    def env(self, container: dict[str, Any]) -> dict[str, str]:
        """The container's variables as the kubelet resolves them."""
        resolved: dict[str, str] = {}
        for item in container.get("env") or []:
            if "value" in item:
                resolved[item["name"]] = item["value"]
                continue
            source = item["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                resolved[item["name"]] = self.secret(ref["name"])[ref["key"]]
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                resolved[item["name"]] = self.config_map(ref["name"])[ref["key"]]
            else:
                raise NotImplementedError(f"{item['name']}: {source}")
        return resolved

    def write_volumes(self, container: dict[str, Any], root: Path) -> dict[str, Path]:
        """Writes the container's Secret and ConfigMap volumes under `root`, with the
        items and file modes the kubelet would; returns mount path -> local directory."""
        volumes = {v["name"]: v for v in self.template["spec"].get("volumes") or []}
        places: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            if "secret" in volume:
                source, data = volume["secret"], self.secret(volume["secret"]["secretName"])
            elif "configMap" in volume:
                source, data = volume["configMap"], self.config_map(volume["configMap"]["name"])
            else:
                continue
            directory = owned_dir(root / mount["name"])
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                path = directory / item["path"]
                path.write_text(data[item["key"]])
                path.chmod(source.get("defaultMode", 0o644) | 0o400)
                owned_file(path)
            places[mount["mountPath"]] = directory
        return places


def owned_file(path: Path) -> Path:
    """Hands a file the test wrote to the user the scripts run as."""
    uid, gid = unprivileged_ids()
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    return path


def relocate(env: dict[str, str], places: dict[str, Path | str]) -> dict[str, str]:
    """Points every variable that names a path under a mount (or an in-cluster place) at
    its stand-in on this machine."""
    moved = {}
    for key, value in env.items():
        for place, local in sorted(places.items(), key=lambda item: -len(item[0])):
            if value == place or value.startswith(place.rstrip("/") + "/"):
                value = str(local) + value[len(place.rstrip("/")) :]
                break
        moved[key] = value
    return moved


def script(container: dict[str, Any]) -> str:
    """The shell script a container runs: `command: [/bin/sh, -c, <script>]`."""
    command = container["command"]
    assert command[:2] == ["/bin/sh", "-c"], command
    return command[2]


def post_start_script(container: dict[str, Any]) -> str:
    command = container["lifecycle"]["postStart"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"], command
    return command[2]
