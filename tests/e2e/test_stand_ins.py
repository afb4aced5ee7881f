"""The stand-ins' own failures reach the tests (they need no control plane: a script plays
`kubectl get --watch`). A stand-in that breaks, or whose watch fails, is a `fatal` error,
which fails the test that used the cluster (conftest.py) and every wait on the workloads
(checks.assert_ready); a refusal it retries (an instance pod the API server refused) holds
only until the stand-in handles the object cleanly; an object deleted while the stand-in
acted on it is no error."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.control_plane import Kubectl
from tests.e2e.ingress_admission import overlap
from tests.e2e.stand_ins import CnpgOperatorStandIn, Errors, StandInRefusalError, Watch


class ScriptedKubectl(Kubectl):
    """`kubectl get ... --watch -o json`: writes `documents`; then, with `status` 0, blocks
    as a watch does, else exits with `status`."""

    def __init__(self, documents: list[dict], status: int = 0, stderr: str = "") -> None:
        super().__init__(Path("/nonexistent"), "none")
        self.script = "\n".join(
            [
                "import json, sys, time",
                f"for d in json.loads({json.dumps(json.dumps(documents))}):",
                "    print(json.dumps(d), flush=True)",
                f"sys.stderr.write({stderr!r})",
                f"time.sleep(60) if {status} == 0 else sys.exit({status})",
            ]
        )

    def base(self) -> list[str]:
        return [sys.executable, "-c", self.script, "--"]


def _pod(name: str) -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "ns"}}


def _watch(kubectl: Kubectl, handle: Callable[[dict], None], done: Callable[[], bool]) -> Errors:
    """Runs one watch until `done` (or 20 s), then stops it."""
    errors = Errors()
    watch = Watch(kubectl, "pods", handle, errors)
    watch.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not done() and not errors.fatal:
        time.sleep(0.05)
    watch.stop()
    return errors


def test_an_error_the_stand_in_does_not_expect_is_fatal_and_names_the_object() -> None:
    def handle(obj: dict) -> None:
        raise KeyError("status")

    errors = _watch(ScriptedKubectl([_pod("a")]), handle, lambda: False)
    assert len(errors.fatal) == 1 and "Pod ns/a" in errors.fatal[0]
    assert "KeyError: 'status'" in errors.fatal[0]


def test_a_failed_watch_is_fatal_with_what_kubectl_said() -> None:
    said = "error: the server doesn't have a resource type"
    errors = _watch(ScriptedKubectl([], 1, said), print, lambda: False)
    assert errors.fatal and said in errors.fatal[0]


def test_a_refusal_holds_until_the_object_is_handled_cleanly_and_a_vanished_one_is_none() -> None:
    calls: list[str] = []

    def handle(obj: dict) -> None:
        name = obj["metadata"]["name"]
        calls.append(name)
        if name == "gone":
            raise AssertionError('Error from server (NotFound): pods "gone" not found')
        if calls.count(name) == 1:
            raise StandInRefusalError(f"the API server refused instance pod {name}: quota")

    # "refused" twice: refused, then handled; "stuck" once: still refused at the end.
    documents = [_pod("refused"), _pod("gone"), _pod("refused"), _pod("stuck")]
    errors = _watch(ScriptedKubectl(documents), handle, lambda: len(calls) == len(documents))
    assert errors.fatal == []
    assert list(errors.refusals) == ["Pod ns/stuck"]
    assert "refused instance pod stuck: quota" in errors.describe()


class ClustersKubectl(Kubectl):
    """`kubectl get clusters.postgresql.cnpg.io -n <namespace>`: the Clusters given."""

    def __init__(self, clusters: list[dict]) -> None:
        super().__init__(Path("/nonexistent"), "none")
        self.clusters = clusters

    def items(self, *args: str) -> list[dict]:
        return self.clusters


def test_an_edited_cluster_is_unsettled_until_the_operator_stand_in_acts_on_it() -> None:
    """CNPG's Ready condition does not say which spec it is about; the stand-in's record
    of the generation it acted on does, and the waits on the workloads read it."""
    cluster = {"metadata": {"name": "db", "uid": "u1", "generation": 1}, "spec": {}}
    operator = CnpgOperatorStandIn(ClustersKubectl([cluster]))
    assert operator.unsettled("ns") == ["cluster/db: generation 1 not acted on (last None)"]
    operator.settle(cluster)
    assert operator.unsettled("ns") == []
    cluster["metadata"]["generation"] = 2  # an edit: the API server's new generation
    assert operator.unsettled("ns") == ["cluster/db: generation 2 not acted on (last 1)"]
    operator.settle(cluster)
    assert operator.unsettled("ns") == []


def _ingress(namespace: str, name: str, host: str | None, path: str | None) -> dict:
    rule: dict = {"http": {"paths": [{"path": path} if path is not None else {}]}}
    if host is not None:
        rule["host"] = host
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"rules": [rule]}}


def test_the_ingress_admission_stand_in_refuses_only_a_host_and_path_served_elsewhere() -> None:
    served = [_ingress("old", "webapp", "app.example.com", "/")]
    assert overlap(_ingress("new", "webapp", "app.example.com", "/"), served) == (
        'host "app.example.com" and path "/" is already defined in ingress old/webapp'
    )
    # An update of the Ingress itself, another path or another host is no overlap.
    assert overlap(_ingress("old", "webapp", "app.example.com", "/"), served) is None
    assert overlap(_ingress("new", "webapp", "app.example.com", "/api"), served) is None
    assert overlap(_ingress("new", "webapp", "other.example.com", "/"), served) is None
    # ingress-nginx names an empty host "_" and an empty path "/".
    assert overlap(_ingress("b", "x", None, None), [_ingress("a", "y", None, "/")]) == (
        'host "_" and path "/" is already defined in ingress a/y'
    )
