"""The database's way to the Kubernetes API server (issue 17, point 5): as narrow as the
stack allows. With webapp:apiServerCidrs the CloudNativePG instances reach those addresses
only on the API ports; without, any address on them, and never the same port opened to
any address twice. Checked with the NetworkPolicy evaluator over the rendered policies;
every setting a test relies on is set here."""

from __future__ import annotations

from typing import Any

import pytest

from stack_settings import ConfigError
from tests.harness import ProgramRun, run_main
from tests.netpol import Destination, Pod, egress_allowed, ingress_allowed

CNPG = {
    "webapp:dbEngine": "cloudnative-pg",
    "webapp:backupBucket": "s3://webapp-test-backups/api",
    "webapp:backupS3CredentialsSecret": "webapp-backup-s3",
    "webapp:acceptNoOffClusterBackups": "false",
}
# Object storage on a port of its own, so 443 is the API server's alone.
OWN_STORAGE_PORT = {"webapp:backupS3Endpoint": "https://objects.test.example:9000"}
API_SERVER = "10.20.0.10"
ELSEWHERE = "198.51.100.9"
API_PORTS = (443, 6443)


def _run(overrides: dict[str, str]) -> ProgramRun:
    return run_main("prod", {**CNPG, "webapp:backupS3Endpoint": "", **overrides})


def _policies(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.manifest() for r in run.kubernetes() if r.manifest()["kind"] == "NetworkPolicy"]


def _instance(run: ProgramRun) -> Pod:
    cluster = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "webapp-db-cluster")
    return Pod(cluster.manifest()["metadata"]["namespace"], {"cnpg.io/cluster": "webapp-db"})


def _reaches(run: ProgramRun, address: str, port: int) -> bool:
    return egress_allowed(_policies(run), _instance(run), Destination(ip=address), "TCP", port)


def test_named_api_server_addresses_are_the_only_ones_on_the_api_ports() -> None:
    run = _run({**OWN_STORAGE_PORT, "webapp:apiServerCidrs": f"{API_SERVER}/32, 10.20.0.11"})
    for port in API_PORTS:
        assert _reaches(run, API_SERVER, port), port
        assert _reaches(run, "10.20.0.11", port), port
        assert not _reaches(run, ELSEWHERE, port), port
    assert not _reaches(run, API_SERVER, 8443)
    # The object store keeps its own way out.
    assert _reaches(run, ELSEWHERE, 9000)


def test_without_addresses_any_address_on_the_api_ports() -> None:
    run = _run({**OWN_STORAGE_PORT, "webapp:apiServerCidrs": ""})
    for port in API_PORTS:
        assert _reaches(run, ELSEWHERE, port), port
    assert not _reaches(run, ELSEWHERE, 8443)


def _rules_to_anywhere(run: ProgramRun, port: int) -> int:
    (policy,) = [p for p in _policies(run) if p["metadata"]["name"] == "webapp-db-cluster"]
    return sum(
        1
        for rule in policy["spec"]["egress"]
        if any(entry.get("port") == port for entry in rule.get("ports") or [])
        and any((peer.get("ipBlock") or {}).get("cidr") == "0.0.0.0/0" for peer in rule["to"])
    )


def test_port_443_is_opened_to_any_address_once() -> None:
    """Object storage on 443 already opens it to any address: the API rule leaves it out."""
    run = _run({"webapp:apiServerCidrs": ""})
    assert _rules_to_anywhere(run, 443) == 1
    assert _rules_to_anywhere(run, 6443) == 1
    assert _reaches(run, API_SERVER, 443) and _reaches(run, API_SERVER, 6443)


def test_a_bad_address_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:apiServerCidrs": "10.20.0.10/33"})
    assert str(raised.value) == (
        "webapp:apiServerCidrs is '10.20.0.10/33', but it must be empty or comma-separated "
        "CIDRs of the API server such as 10.0.0.10/32,10.0.0.11/32 (docs/networking.md: API "
        "server egress); fix it with: pulumi config set --stack prod webapp:apiServerCidrs ''"
    )


def _admitted_from(run: ProgramRun, address: str, port: int) -> bool:
    return ingress_allowed(_policies(run), Destination(ip=address), _instance(run), "TCP", port)


def test_the_api_server_reaches_the_status_port_for_cnpg_status() -> None:
    """`kubectl cnpg status` reads each instance's status through the API server's
    pods/proxy (CNPG internal/plugin/resources/instance.go): the connection to port 8000
    comes from the API server's address, not from cnpg-system. Named addresses get 8000
    and nothing else; elsewhere stays shut out."""
    run = _run({**OWN_STORAGE_PORT, "webapp:apiServerCidrs": f"{API_SERVER}/32"})
    assert _admitted_from(run, API_SERVER, 8000)
    assert not _admitted_from(run, API_SERVER, 5432)
    assert not _admitted_from(run, ELSEWHERE, 8000)
