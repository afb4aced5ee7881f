"""A deployed stack's webapp:appName is fixed (stack_settings/app_rename.py): a new name
would declare every object anew and delete the old ones, the database's volume among them,
at the end of the update."""

from __future__ import annotations

import pytest

from stack_settings import ConfigError
from tests.harness import Mocks, RecordingMonitor, run_main

DEPLOYED = {"namespace": "webapp-dev", "databaseEngine": "statefulset", "serviceName": "webapp"}
REFUSAL = (
    "webapp:appName is 'shop', but this stack's objects are named after 'webapp', and a new "
    "name declares every object anew and deletes the old ones at the end of the update, the "
    "database's volume with its data among them; fix it with: pulumi config set --stack dev "
    "webapp:appName webapp (to rename, back up, destroy the stack and deploy it again with "
    "the new name, then restore: docs/backups-and-restore.md)"
)


def test_a_rename_of_a_deployed_stack_stops_before_anything_is_in_its_namespace() -> None:
    monitor = RecordingMonitor(Mocks(stack_outputs=DEPLOYED))
    with pytest.raises(ConfigError) as raised:
        run_main("dev", {"webapp:appName": "shop"}, monitor=monitor)
    assert str(raised.value) == REFUSAL
    namespaced = [
        r.name
        for r in monitor.registrations
        if r.type.startswith("kubernetes:") and r.type != "kubernetes:core/v1:Namespace"
    ]
    assert namespaced == []


@pytest.mark.parametrize(
    ("overrides", "outputs"),
    [
        ({}, DEPLOYED),
        ({"webapp:appName": "shop"}, {}),
        ({"webapp:appName": "shop", "webapp:renderYamlTo": "rendered/dev"}, DEPLOYED),
    ],
    ids=["same-name", "new-stack", "render"],
)
def test_a_stack_keeping_its_name_a_new_stack_and_a_render_go_on(
    overrides: dict[str, str], outputs: dict[str, str]
) -> None:
    run = run_main("dev", overrides, monitor=RecordingMonitor(Mocks(stack_outputs=outputs)))
    assert run.of_type("kubernetes:apps/v1:Deployment")
