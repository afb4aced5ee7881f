"""The README and the docs/ pages are what a newcomer follows: they must match what the
project does."""

from __future__ import annotations

import re

import yaml

from tests.harness import ROOT, ProgramRun, project_file
from tests.test_kubernetes_schema import NEWEST_SUPPORTED, OLDEST_SUPPORTED
from tools import config_reference

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
OPERATIONS = (DOCS / "operations.md").read_text()
CI_CD = (DOCS / "ci-cd.md").read_text()


def test_configuration_reference_is_generated_from_pulumi_yaml() -> None:
    """docs/configuration.md is Pulumi.yaml's declarations, current, and nothing else."""
    expected = config_reference.render(project_file())
    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current == expected, (
        "docs/configuration.md is out of date with Pulumi.yaml: run `make docs`"
    )
    for key, spec in (project_file()["config"] or {}).items():
        (row,) = [line for line in current.splitlines() if line.startswith(f"| `webapp:{key}` |")]
        assert spec["description"].replace("|", "\\|") in row, key
        # A list is called one, declared type or not (webapp:sidecars has none).
        if isinstance(spec.get("default"), list):
            assert row.split(" | ")[1].startswith("array of "), row


def test_ci_runs_the_readme_test_command() -> None:
    assert re.search(r"^```sh\nmake test +# ", README, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_readme_names_the_supported_kubernetes_versions() -> None:
    assert f"{OLDEST_SUPPORTED} to {NEWEST_SUPPORTED}" in README


def _preview_role() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", CI_CD, re.S)
    roles = [
        document
        for block in blocks
        for document in yaml.safe_load_all(block)
        if isinstance(document, dict) and document.get("kind") == "ClusterRole"
    ]
    assert len(roles) == 1, "docs/ci-cd.md must show one ClusterRole for the read-only kubeconfigs"
    return roles[0]


def _resource(api_version: str, kind: str) -> tuple[str, str]:
    """(API group, plural resource name) of a kind, as RBAC names it."""
    group = api_version.rpartition("/")[0]
    plural = kind.lower()
    if plural.endswith("y"):
        plural = plural[:-1] + "ies"
    elif plural.endswith("s"):
        plural += "es"
    else:
        plural += "s"
    return group, plural


def test_documented_preview_role_reads_what_the_program_manages_and_no_more(
    dev_run: ProgramRun, prod_run: ProgramRun
) -> None:
    granted: set[tuple[str, str]] = set()
    for rule in _preview_role()["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    # Reading Secrets would hand PR code the database password.
    assert not {r for _, r in granted} & {"secrets", "*"}
    managed = {
        _resource(record.manifest()["apiVersion"], record.manifest()["kind"])
        for run in (dev_run, prod_run)
        for record in run.kubernetes()
        if record.manifest()["kind"] != "Secret"
    }
    assert managed <= granted, f"the preview role cannot read {sorted(managed - granted)}"


# Mistakes whose full message docs/operations.md's table quotes, as the config that makes them.
MISTAKES = [
    ({"webapp:replicas": "0"}, {}),
    ({"webapp:storageSize": "10"}, {}),
    ({"webapp:appCpuLimit": "500"}, {}),
    ({"webapp:image": "MyOrg/MyApp:1.0"}, {}),
    ({"webapp:namespace": "default"}, {}),
    ({"webapp:ingressHost": "https://app.example.com/"}, {}),
    ({"webapp:replica": "3"}, {}),
    ({"webApp:replicas": "3"}, {}),
    ({}, {"webapp:ingressHost": "app.example.com"}),
    ({"webapp:secretEnv": '{"API_KEY": "x"}'}, {}),
    ({"webapp:env": '{"DATABASE_URL": "x"}'}, {}),
    ({"webapp:replicas": "12", "webapp:quotaCpu": "4"}, {}),
    ({"webapp:storageSize": "10GB"}, {}),
    ({"webapp:dbPassword": "hunter2"}, {}),
]


def _mistake_messages() -> set[str]:
    from stack_settings import ConfigError
    from tests.harness import run_main

    messages = set()
    for overrides, secret_overrides in MISTAKES:
        try:
            run_main("dev", overrides, secret_overrides=secret_overrides)
        except ConfigError as error:
            messages |= set(str(error).splitlines())
    return messages


def test_the_docs_quote_the_messages_users_actually_see() -> None:
    section = OPERATIONS.split("## What a mistake looks like", 1)[1].split("\n## ", 1)[0]
    quoted = re.findall(r"`((?:webapp|webApp):[^`]*)`", section)
    complete = [text for text in quoted if " but " in text and "..." not in text]
    assert len(complete) >= 10
    messages = _mistake_messages()
    assert [text for text in complete if text not in messages] == []
    # The CLI's own line for a declared type, as workspace.validateStackConfigValue and
    # `pulumi up` ("validating stack config: ...") word it.
    from tests.test_engine_rules import cli_accepts

    assert not cli_accepts(project_file()["config"]["replicas"], "three")
    assert (
        "`error: validating stack config: Stack 'dev' with configuration key "
        "'webapp:replicas' must be of type 'integer'`"
    ) in section
