"""Startup, readiness and liveness probes, with one tuning for every workload."""

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

PROBE_PERIOD_SECONDS = 10
PROBE_TIMEOUT_SECONDS = 5
# Startup may include initdb or crash recovery; allow up to five minutes before liveness
# takes over, so a slow start is not mistaken for a hung process.
STARTUP_FAILURE_THRESHOLD = 30
LIVENESS_FAILURE_THRESHOLD = 6
READINESS_FAILURE_THRESHOLD = 3


@dataclass(frozen=True)
class Probes:
    startup: k8s.core.v1.ProbeArgs
    readiness: k8s.core.v1.ProbeArgs
    liveness: k8s.core.v1.ProbeArgs


def _probes(**check: object) -> Probes:
    def probe(failure_threshold: int) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            period_seconds=PROBE_PERIOD_SECONDS,
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            failure_threshold=failure_threshold,
            **check,  # type: ignore[arg-type]
        )

    return Probes(
        startup=probe(STARTUP_FAILURE_THRESHOLD),
        readiness=probe(READINESS_FAILURE_THRESHOLD),
        liveness=probe(LIVENESS_FAILURE_THRESHOLD),
    )


def http_probes(
    port_name: str, health_path: pulumi.Input[str], readiness_path: pulumi.Input[str]
) -> Probes:
    """Startup and liveness ask "is the process alive?"; readiness asks "can it serve
    now?" and may check dependencies such as the database."""
    alive = _probes(http_get=k8s.core.v1.HTTPGetActionArgs(path=health_path, port=port_name))
    ready = _probes(http_get=k8s.core.v1.HTTPGetActionArgs(path=readiness_path, port=port_name))
    return Probes(startup=alive.startup, readiness=ready.readiness, liveness=alive.liveness)


def exec_probes(command: Sequence[pulumi.Input[str]]) -> Probes:
    return _probes(exec_=k8s.core.v1.ExecActionArgs(command=list(command)))
