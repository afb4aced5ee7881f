"""The database's way to the Kubernetes API server (issue 17, point 5): as narrow as the
stack allows. With webapp:apiServerCidrs the CloudNativePG instances reach those addresses
only on the API ports; without, any address on them, and never the same port opened to
any address twice. Checked with the NetworkPolicy evaluator over the rendered policies;
every setting a test relies on is set here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
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


ALLOWED = (
    "it must be the API server's addresses as comma-separated CIDRs such as "
    "10.0.0.10/32,10.0.0.11/32 (a bare address is a /32), or empty for any address on the API "
    "ports (docs/networking.md: API server egress)"
)
READ_FROM_THE_CLUSTER = (
    "get endpointslice -n default -l kubernetes.io/service-name=kubernetes -o "
    "jsonpath='{range .items[*].endpoints[*]}{.addresses[0]},{end}')\""
)


def _refusal(value: str, overrides: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        _run({"webapp:apiServerCidrs": value, **(overrides or {})})
    return str(raised.value)


def test_a_bad_address_is_fixed_with_the_api_servers_own_never_any_address() -> None:
    """The empty value would open the API ports to any address: the fix reads the
    `kubernetes` Service's endpoints from the stack's cluster instead."""
    assert _refusal("10.20.0.10/33") == (
        f"webapp:apiServerCidrs is '10.20.0.10/33', but {ALLOWED}; fix it with: pulumi config "
        'set --stack prod webapp:apiServerCidrs "$(kubectl ' + READ_FROM_THE_CLUSTER
    )
    # The stack's own cluster, where it names a context.
    assert _refusal("any", {"webapp:kubeContext": "prod-eu"}).endswith(
        'webapp:apiServerCidrs "$(kubectl --context prod-eu ' + READ_FROM_THE_CLUSTER
    )


def test_the_fix_command_sets_addresses_the_program_takes(tmp_path: Path) -> None:
    """The fix is run as a shell would run it, with a kubectl that answers as the
    jsonpath does on a dual-stack cluster (client-go's jsonpath on two EndpointSlices:
    every address, each followed by a comma), and the value it sets is accepted."""
    fix = _refusal("10.20.0.10/33").split("; fix it with: ", 1)[1]
    (tmp_path / "kubectl").write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$(dirname "$0")/kubectl.args"\n'
        f"printf '{API_SERVER},10.20.0.11,fd00::10,'\n"
    )
    (tmp_path / "pulumi").write_text('#!/bin/sh\nfor last; do :; done; printf %s "$last"\n')
    for tool in ("kubectl", "pulumi"):
        (tmp_path / tool).chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", fix],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "kubectl.args").read_text().split()[:7] == [
        "get",
        "endpointslice",
        "-n",
        "default",
        "-l",
        "kubernetes.io/service-name=kubernetes",
        "-o",
    ]
    run = _run({**OWN_STORAGE_PORT, "webapp:apiServerCidrs": done.stdout})
    assert _reaches(run, API_SERVER, 6443) and _reaches(run, "10.20.0.11", 6443)
    assert not _reaches(run, ELSEWHERE, 6443)


@pytest.mark.parametrize(
    ("value", "fixed"),
    [
        ("10.20.0.10 10.20.0.11", "10.20.0.10/32,10.20.0.11/32"),
        # As `kubectl get endpoints kubernetes` lists them, with the port.
        ("172.18.0.2:6443", "172.18.0.2/32"),
        ("[fd00::10]:6443;10.20.0.10", "fd00::10/128,10.20.0.10/32"),
    ],
)
def test_addresses_written_another_way_are_fixed_as_written(value: str, fixed: str) -> None:
    assert _refusal(value) == (
        f"webapp:apiServerCidrs is '{value}', but {ALLOWED}; fix it with: pulumi config set "
        f"--stack prod webapp:apiServerCidrs {fixed}"
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


@pytest.mark.parametrize(
    ("value", "fixed", "network"),
    [
        ("10.20.0.10/24", "10.20.0.10/32", "10.20.0.0/24"),
        ("10.20.0.11/32,10.20.0.10/16", "10.20.0.11/32,10.20.0.10/32", "10.20.0.0/16"),
        ("fd00::10/64", "fd00::10/128", "fd00::/64"),
    ],
)
def test_an_address_with_its_subnet_s_prefix_is_refused_not_widened(
    value: str, fixed: str, network: str
) -> None:
    """10.20.0.10/24 would open the API ports to the whole subnet; the fix is the address
    alone, and the sentence names the network for a stack that means it."""
    bad = next(part for part in value.split(",") if not part.endswith(("/32", "/128")))
    assert _refusal(value) == (
        f"webapp:apiServerCidrs is '{value}', but {bad} has host bits set, so it is no "
        f"network: it must be the address alone as {fixed.split(',')[-1]}, or its network as "
        f"{network}, and the value comma-separated CIDRs such as 10.0.0.10/32,10.0.0.11/32; "
        f"fix it with: pulumi config set --stack prod webapp:apiServerCidrs {fixed}"
    )
    run = _run({**OWN_STORAGE_PORT, "webapp:apiServerCidrs": fixed})
    assert not _reaches(run, "10.20.0.12", 6443)


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "10.20.0.10/32,0.0.0.0/0"])
def test_any_address_is_refused_with_the_api_servers_own(value: str) -> None:
    """Wider than the empty value: the listed addresses are also admitted to the status
    port, so any address would let every host reach it."""
    assert _refusal(value) == (
        f"webapp:apiServerCidrs is '{value}', but that is any address: the database pods "
        "could reach every host on the API ports 443 and 6443, and every host their status "
        "port 8000; it must be the API server's addresses (empty is any address on the API "
        "ports only); fix it with: pulumi config set --stack prod webapp:apiServerCidrs "
        '"$(kubectl ' + READ_FROM_THE_CLUSTER
    )
    # What the refusal saves the stack from.
    blocks = {"webapp:apiServerCidrs": ""}
    assert not _admitted_from(_run({**OWN_STORAGE_PORT, **blocks}), ELSEWHERE, 8000)
