"""Runs deployment/__main__.py under Pulumi mocks and checks the settings it declares.

The program runs in this process under the project's mock engine (tools/mock_engine.py),
which gives every run its own root stack, mocks and config and ends a failed run's
leftover tasks, as it does for the webapp program's runs; a monitor of its own records
every `new_resource` call.

The recorded inputs are the properties as sent to the engine, secrets marked where they
sit: the mock's own deserialisation would mark the whole enclosing top-level property
secret and hide which value is the secret one.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from google.protobuf import json_format
from pulumi.runtime import rpc

from tests.harness import RecordingMonitor, run

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT_DIR = REPO_ROOT / "deployment"
PROGRAM = DEPLOYMENT_DIR / "__main__.py"
EXAMPLE_STACK_FILE = DEPLOYMENT_DIR / "Pulumi.settings.yaml"
PROJECT = "webapp-deployments"
STACK = "settings"
DEPLOYMENT_SETTINGS = "pulumiservice:index:DeploymentSettings"
DRIFT_SCHEDULE = "pulumiservice:index:DriftSchedule"
TTL_SCHEDULE = "pulumiservice:index:TtlSchedule"
SECRET_MARK = "__secret__"


def placeholder_kubeconfig(cluster: str) -> str:
    """Stand-in for the `secure:` kubeconfig values a test cannot decrypt."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}:6443"}}],
            "users": [{"name": f"{cluster}-user", "user": {"token": f"{cluster}-placeholder"}}],
            "contexts": [
                {"name": cluster, "context": {"cluster": cluster, "user": f"{cluster}-user"}}
            ],
            "current-context": cluster,
        },
        sort_keys=False,
    )


KUBECONFIG_DEV = placeholder_kubeconfig("dev-cluster")
KUBECONFIG_PROD = placeholder_kubeconfig("prod-cluster")


def example_config() -> tuple[dict[str, str], list[str]]:
    """The example stack file's config as the engine passes it, plus the secret kubeconfigs."""
    document = yaml.safe_load(EXAMPLE_STACK_FILE.read_text(encoding="utf-8"))
    config: dict[str, str] = {}
    for key, value in (document.get("config") or {}).items():
        assert not isinstance(value, dict), f"{key}: the example must hold no `secure:` values"
        # The engine hands every value over as a string (JSON for non-strings).
        config[key] = value if isinstance(value, str) else json.dumps(value)
    config[f"{PROJECT}:kubeconfigDev"] = KUBECONFIG_DEV
    config[f"{PROJECT}:kubeconfigProd"] = KUBECONFIG_PROD
    secret_keys = [f"{PROJECT}:kubeconfigDev", f"{PROJECT}:kubeconfigProd"]
    return config, secret_keys


def run_program(
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    *,
    changes: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Run the program in a child process; `changes` sets (or with None, removes) keys."""
    base_config, base_secrets = example_config()
    config = dict(base_config if config is None else config)
    secret_keys = list(base_secrets if secret_keys is None else secret_keys)
    for key, value in (changes or {}).items():
        full_key = f"{PROJECT}:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    mocks = _RecordingMocks()
    monitor = _WireMonitor(mocks)
    error = None
    try:
        run(
            STACK,
            lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
            config,
            secret_keys,
            monitor,
            project=PROJECT,
        )
    except Exception as exc:  # any failure is reported to the test, which judges it
        error = {
            "type": type(exc).__name__,
            "is_run_error": isinstance(exc, pulumi.RunError),
            "message": str(exc),
        }
    registered = {record.name: record for record in monitor.registrations}
    for registration in mocks.registrations:
        record = registered.get(registration["name"])
        registration["urn"] = record.urn if record else None
        registration["dependencies"] = record.dependencies if record else []
    # As JSON, the way the engine's wire form reads.
    return json.loads(json.dumps({"resources": mocks.registrations, "error": error}))


def settings_by_stack(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    declared = [r for r in run["resources"] if r["type"] == DEPLOYMENT_SETTINGS]
    by_stack = {r["inputs"]["stack"]: r["inputs"] for r in declared}
    assert len(by_stack) == len(declared), "two DeploymentSettings target the same stack"
    return by_stack


def without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_MARK in value:
            return "<secret>"
        return {k: without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


@pytest.fixture(scope="module")
def example_run() -> dict[str, Any]:
    run = run_program()
    assert run["error"] is None, run["error"]
    return run


@pytest.fixture(scope="module")
def stacks(example_run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return settings_by_stack(example_run)


# ---------------------------------------------------------------------------------------
# The example configuration
# ---------------------------------------------------------------------------------------


def test_settings_for_dev_and_prod_only(example_run: dict[str, Any], stacks: dict) -> None:
    types = sorted(r["type"] for r in example_run["resources"])
    assert types == sorted([DEPLOYMENT_SETTINGS] * 2 + [DRIFT_SCHEDULE] * 2)
    assert sorted(stacks) == ["dev", "prod"]
    names = sorted(r["name"] for r in example_run["resources"] if r["type"] == DEPLOYMENT_SETTINGS)
    assert names == ["webapp-dev", "webapp-prod"]
    for inputs in stacks.values():
        assert inputs["organization"] == "my-org"
        assert inputs["project"] == "webapp"


def test_source_is_the_repository_root_on_main(stacks: dict[str, dict[str, Any]]) -> None:
    for stack, inputs in stacks.items():
        git = inputs["sourceContext"]["git"]
        assert git["branch"] == "main", stack
        # Root of the repository: the folder is left out, as Pulumi Cloud expects.
        assert "repoDir" not in git, stack
        # The GitHub app supplies URL and credentials; the package says to leave them out.
        assert "repoUrl" not in git and "gitAuth" not in git, stack
        vcs = inputs["vcs"]
        assert vcs["provider"] == "github" and vcs["repository"] == "my-org/webapp", stack
        assert "github" not in inputs, f"{stack}: the deprecated `github` block is used"


def test_only_dev_deploys_on_push(stacks: dict[str, dict[str, Any]]) -> None:
    assert stacks["dev"]["vcs"]["deployCommits"] is True
    assert stacks["prod"]["vcs"]["deployCommits"] is False


def test_pull_requests_are_previewed_on_both_stacks(stacks: dict[str, dict[str, Any]]) -> None:
    for stack, inputs in stacks.items():
        assert inputs["vcs"]["previewPullRequests"] is True, stack
        # Review stacks are off unless a dedicated template stack is configured.
        assert inputs["vcs"]["pullRequestTemplate"] is False, stack


def test_each_stack_gets_its_own_kubeconfig_as_a_secret(stacks: dict) -> None:
    expected = {"dev": KUBECONFIG_DEV, "prod": KUBECONFIG_PROD}
    for stack, inputs in stacks.items():
        context = inputs["operationContext"]
        env = context["environmentVariables"]
        data = env["WEBAPP_KUBECONFIG_DATA"]
        assert isinstance(data, dict) and SECRET_MARK in data, f"{stack}: not a secret"
        assert data[SECRET_MARK] == expected[stack]
        # KUBECONFIG is a path; the first pre-run command writes the secret to it.
        assert env["KUBECONFIG"].startswith("/")
        write, *rest = context["preRunCommands"]
        assert '"$WEBAPP_KUBECONFIG_DATA"' in write and '> "$KUBECONFIG"' in write
        assert "make test" in rest
        # No kubeconfig text anywhere outside a secret.
        visible = json.dumps(without_secrets(inputs))
        assert "placeholder" not in visible and "clusters" not in visible, stack


def test_base64_kubeconfig_is_decoded(tmp_path: Path) -> None:
    encoded = base64.b64encode(KUBECONFIG_DEV.encode()).decode()
    run = run_program(changes={"kubeconfigDev": encoded})
    assert run["error"] is None, run["error"]
    env = settings_by_stack(run)["dev"]["operationContext"]["environmentVariables"]
    assert env["WEBAPP_KUBECONFIG_DATA"][SECRET_MARK] == KUBECONFIG_DEV


def test_review_stacks_use_a_dedicated_template_on_the_dev_cluster() -> None:
    run = run_program(changes={"reviewTemplateStack": "pr"})
    assert run["error"] is None, run["error"]
    stacks = settings_by_stack(run)
    assert sorted(stacks) == ["dev", "pr", "prod"]
    template = stacks["pr"]
    assert template["vcs"]["pullRequestTemplate"] is True
    assert template["vcs"]["deployCommits"] is False
    assert stacks["dev"]["vcs"]["pullRequestTemplate"] is False
    env = template["operationContext"]["environmentVariables"]
    assert env["WEBAPP_KUBECONFIG_DATA"] == {SECRET_MARK: KUBECONFIG_DEV}


# ---------------------------------------------------------------------------------------
# Drift detection and review stacks' time to live
# ---------------------------------------------------------------------------------------


def of_type(run: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in run["resources"] if r["type"] == type_]


def drift_by_stack(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schedules = of_type(run, DRIFT_SCHEDULE)
    by_stack = {r["inputs"]["stack"]: r for r in schedules}
    assert len(by_stack) == len(schedules), "two drift schedules for one stack"
    return by_stack


def test_drift_is_detected_on_dev_and_prod_and_only_reported(example_run: dict) -> None:
    schedules = drift_by_stack(example_run)
    assert sorted(schedules) == ["dev", "prod"]
    settings = {r["inputs"]["stack"]: r for r in of_type(example_run, DEPLOYMENT_SETTINGS)}
    for stack, schedule in schedules.items():
        inputs = schedule["inputs"]
        assert inputs["organization"] == "my-org" and inputs["project"] == "webapp"
        assert inputs["scheduleCron"] == "0 5 * * *"
        assert inputs["autoRemediate"] is False, stack
        # Pulumi Cloud refuses a schedule for a stack without deployment settings.
        assert settings[stack]["urn"] in schedule["dependencies"], stack


def test_dev_may_remediate_drift_but_prod_never(tmp_path: Path) -> None:
    run = run_program(changes={"driftAutoRemediateDev": "true", "driftSchedule": "30 */6 * * *"})
    assert run["error"] is None, run["error"]
    schedules = drift_by_stack(run)
    assert schedules["dev"]["inputs"]["autoRemediate"] is True
    assert schedules["prod"]["inputs"]["autoRemediate"] is False
    assert {s["inputs"]["scheduleCron"] for s in schedules.values()} == {"30 */6 * * *"}


def test_the_review_template_gets_no_drift_detection() -> None:
    run = run_program(changes={"reviewTemplateStack": "pr"})
    assert run["error"] is None, run["error"]
    assert sorted(drift_by_stack(run)) == ["dev", "prod"]


def test_review_stacks_get_a_time_to_live() -> None:
    assert of_type(run_program(), TTL_SCHEDULE) == []
    ttls = json.dumps(["pr-42=2026-12-31T00:00:00Z", "pr-7=2027-01-15T12:30:00Z"])
    run = run_program(changes={"reviewTemplateStack": "pr", "reviewStackTtls": ttls})
    assert run["error"] is None, run["error"]
    schedules = {r["inputs"]["stack"]: r["inputs"] for r in of_type(run, TTL_SCHEDULE)}
    assert schedules == {
        "pr-42": {
            "organization": "my-org",
            "project": "webapp",
            "stack": "pr-42",
            "timestamp": "2026-12-31T00:00:00Z",
            "deleteAfterDestroy": True,
        },
        "pr-7": {
            "organization": "my-org",
            "project": "webapp",
            "stack": "pr-7",
            "timestamp": "2027-01-15T12:30:00Z",
            "deleteAfterDestroy": True,
        },
    }


def package_input_names(module: str, args_class: str) -> set[str]:
    """The wire names of a resource's inputs, read from the installed pulumi-pulumiservice
    (its Args class's getters) without importing it into this process."""
    spec = importlib.util.find_spec("pulumi_pulumiservice")
    assert spec and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations)), f"{module}.py").read_text()
    body = source.split(f"class {args_class}:", 1)[1].split("\nclass ", 1)[0]
    names = set()
    for explicit, python_name in re.findall(
        r'@pulumi\.getter(?:\(name="(\w+)"\))?\s+def (\w+)\(self\)', body
    ):
        names.add(explicit or python_name)
    return names


def test_the_inputs_checked_are_the_package_s() -> None:
    assert package_input_names("drift_schedule", "DriftScheduleArgs") == {
        "organization",
        "project",
        "stack",
        "scheduleCron",
        "autoRemediate",
    }
    assert package_input_names("ttl_schedule", "TtlScheduleArgs") == {
        "organization",
        "project",
        "stack",
        "timestamp",
        "deleteAfterDestroy",
    }


# ---------------------------------------------------------------------------------------
# Bad configuration: one clear sentence per problem, as a pulumi.RunError
# ---------------------------------------------------------------------------------------

SETTINGS_FIX = f"pulumi config set --stack {STACK}"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"repository": "https://github.com/my-org/webapp.git"},
            f"{PROJECT}:repository is 'https://github.com/my-org/webapp.git', but it must be "
            f"a GitHub repository written owner/name; fix it with: {SETTINGS_FIX} "
            f"{PROJECT}:repository my-org/webapp",
            id="repository-url",
        ),
        pytest.param(
            {"organization": None},
            f"{PROJECT}:organization is not set, but it must be the name of a Pulumi Cloud "
            f"organization (letters, digits, '-', '_', '.'); fix it with: {SETTINGS_FIX} "
            f"{PROJECT}:organization my-org",
            id="organization-missing",
        ),
        pytest.param(
            {"reviewTemplateStack": "dev"},
            f"{PROJECT}:reviewTemplateStack is 'dev', but it must be a dedicated stack (not "
            "dev or prod) because every review stack copies its template's config, or empty "
            f"for no review stacks; fix it with: {SETTINGS_FIX} {PROJECT}:reviewTemplateStack pr",
            id="review-template-dev",
        ),
        pytest.param(
            {"repoDir": "../elsewhere"},
            f"{PROJECT}:repoDir is '../elsewhere', but it must be a folder relative to the "
            f"repository root, or empty for the root; fix it with: {SETTINGS_FIX} "
            f"{PROJECT}:repoDir ''",
            id="repo-dir-outside",
        ),
        pytest.param(
            {"kubeconfigDev": "not: [a, kubeconfig]"},
            f"{PROJECT}:kubeconfigDev is not a usable kubeconfig, but it must be the "
            "kubeconfig of the dev cluster (YAML or base64) with a current-context, stored as "
            f"a secret; fix it with: {SETTINGS_FIX} --secret {PROJECT}:kubeconfigDev -- "
            '"$(cat dev.kubeconfig)"',
            id="kubeconfig-garbage",
        ),
        pytest.param(
            {"driftSchedule": "0 25 * * *"},
            f"{PROJECT}:driftSchedule is '0 25 * * *', but it must be a cron schedule of five "
            "fields (minute hour day-of-month month day-of-week, in UTC) such as '0 5 * * *', "
            "and its hour field '25' is not within 0-23; fix it with: "
            f"{SETTINGS_FIX} {PROJECT}:driftSchedule '0 5 * * *'",
            id="drift-hour",
        ),
        pytest.param(
            {"driftSchedule": "@daily"},
            f"{PROJECT}:driftSchedule is '@daily', but it must be a cron schedule of five "
            "fields (minute hour day-of-month month day-of-week, in UTC) such as '0 5 * * *', "
            f"and it has 1 field; fix it with: {SETTINGS_FIX} {PROJECT}:driftSchedule "
            "'0 5 * * *'",
            id="drift-macro",
        ),
        pytest.param(
            {"driftSchedule": "0 5 * * FRY"},
            f"{PROJECT}:driftSchedule is '0 5 * * FRY', but it must be a cron schedule of five "
            "fields (minute hour day-of-month month day-of-week, in UTC) such as '0 5 * * *', "
            "and its day-of-week field 'FRY' is no day-of-week; fix it with: "
            f"{SETTINGS_FIX} {PROJECT}:driftSchedule '0 5 * * *'",
            id="drift-name",
        ),
        pytest.param(
            {"driftSchedule": "*/0 * * * *"},
            f"{PROJECT}:driftSchedule is '*/0 * * * *', but it must be a cron schedule of five "
            "fields (minute hour day-of-month month day-of-week, in UTC) such as '0 5 * * *', "
            "and its minute field '*/0' has a step of 0; fix it with: "
            f"{SETTINGS_FIX} {PROJECT}:driftSchedule '0 5 * * *'",
            id="drift-step",
        ),
        pytest.param(
            {"driftSchedule": "0 5 * * FRI-MON"},
            f"{PROJECT}:driftSchedule is '0 5 * * FRI-MON', but it must be a cron schedule of "
            "five fields (minute hour day-of-month month day-of-week, in UTC) such as "
            "'0 5 * * *', and its day-of-week field 'FRI-MON' has a range that runs backwards; "
            f"fix it with: {SETTINGS_FIX} {PROJECT}:driftSchedule '0 5 * * *'",
            id="drift-backwards",
        ),
        pytest.param(
            {"driftAutoRemediateDev": "yes"},
            f"{PROJECT}:driftAutoRemediateDev is 'yes', but it must be true (run pulumi up on "
            "dev when drift is found) or false (report it); fix it with: "
            f"{SETTINGS_FIX} {PROJECT}:driftAutoRemediateDev false",
            id="remediate-not-boolean",
        ),
        pytest.param(
            {"reviewStackTtls": '["pr-42 2026-12-31"]'},
            f'{PROJECT}:reviewStackTtls[0] is "pr-42 2026-12-31", but it must be <review '
            "stack>=<UTC time> such as pr-42=2026-12-31T00:00:00Z; fix it with: "
            f"{SETTINGS_FIX} --path '{PROJECT}:reviewStackTtls[0]' pr-42=2026-12-31T00:00:00Z",
            id="ttl-format",
        ),
        pytest.param(
            {"reviewStackTtls": '["pr-42=2026-02-30T00:00:00Z"]'},
            f'{PROJECT}:reviewStackTtls[0] is "pr-42=2026-02-30T00:00:00Z", but it must be '
            "<review stack>=<UTC time> such as pr-42=2026-12-31T00:00:00Z; fix it with: "
            f"{SETTINGS_FIX} --path '{PROJECT}:reviewStackTtls[0]' pr-42=2026-12-31T00:00:00Z",
            id="ttl-no-such-day",
        ),
        pytest.param(
            {"reviewStackTtls": '["pr-42=2026-12-31T00:00:00Z", "prod=2026-12-31T00:00:00Z"]'},
            f'{PROJECT}:reviewStackTtls[1] is "prod=2026-12-31T00:00:00Z", but a time to live '
            "destroys and deletes its stack, so it must name a review stack, never dev or prod; "
            f"fix it with: pulumi config rm --stack {STACK} --path "
            f"'{PROJECT}:reviewStackTtls[1]'",
            id="ttl-prod",
        ),
        pytest.param(
            {"reviewStackTtls": '["pr-1=2026-12-31T00:00:00Z", "pr-1=2027-01-31T00:00:00Z"]'},
            f'{PROJECT}:reviewStackTtls[1] is "pr-1=2027-01-31T00:00:00Z", but pr-1 has a '
            f"time to live already; fix it with: pulumi config rm --stack {STACK} --path "
            f"'{PROJECT}:reviewStackTtls[1]'",
            id="ttl-twice",
        ),
        pytest.param(
            {"reviewStackTtls": '"pr-42=2026-12-31T00:00:00Z"'},
            f"{PROJECT}:reviewStackTtls is '\"pr-42=2026-12-31T00:00:00Z\"', but it must be a "
            "list of <review stack>=<UTC time> entries such as pr-42=2026-12-31T00:00:00Z; "
            f"fix it with: {SETTINGS_FIX} {PROJECT}:reviewStackTtls "
            "'[\"pr-42=2026-12-31T00:00:00Z\"]'",
            id="ttl-not-a-list",
        ),
        pytest.param(
            {"reviewTemplateStak": "pr"},
            f"{PROJECT}:reviewTemplateStak is set, but it is not a setting of this program "
            f"(did you mean {PROJECT}:reviewTemplateStack? every setting is listed in "
            f"deployment/Pulumi.yaml); remove it with: pulumi config rm --stack {STACK} "
            f"{PROJECT}:reviewTemplateStak",
            id="unknown-key",
        ),
    ],
)
def test_bad_config_is_one_clear_run_error(changes: dict, expected: str) -> None:
    run = run_program(changes=changes)
    assert run["error"] is not None, "the program accepted a bad value"
    assert run["error"]["is_run_error"], run["error"]
    assert run["error"]["message"] == expected
    assert run["resources"] == [], "nothing may be declared from a bad configuration"


def test_plaintext_kubeconfig_is_refused_without_echoing_it() -> None:
    config, secret_keys = example_config()
    secret_keys.remove(f"{PROJECT}:kubeconfigProd")
    run = run_program(config, secret_keys)
    assert run["error"] is not None and run["error"]["is_run_error"]
    message = run["error"]["message"]
    assert message.startswith(f"{PROJECT}:kubeconfigProd is stored in plain text, but ")
    assert f"--secret {PROJECT}:kubeconfigProd" in message
    assert "prod-cluster" not in message, "the error message leaks the kubeconfig"


def test_all_problems_are_reported_together() -> None:
    run = run_program(changes={"organization": "bad org", "branch": "-x"})
    lines = run["error"]["message"].splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == [
        f"{PROJECT}:organization",
        f"{PROJECT}:branch",
    ]


# ---------------------------------------------------------------------------------------
# The recording mocks: what the program registered, in wire form.
# ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Inputs as JSON, a secret becoming {SECRET_MARK: value} so its secrecy is visible."""
    if rpc.is_rpc_secret(value):
        return {SECRET_MARK: _plain(rpc.unwrap_rpc_secret(value))}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _WireMonitor(RecordingMonitor):
    """Keeps each registration's properties in wire form, nested secrets in place."""

    def __init__(self, mocks: _RecordingMocks) -> None:
        super().__init__(mocks)  # type: ignore[arg-type]
        mocks.monitor = self
        self.wire: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.wire[request.name] = json_format.MessageToDict(request.object)
        return super().RegisterResource(request)


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.monitor: _WireMonitor | None = None
        self.registrations: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        assert self.monitor is not None
        wire = self.monitor.wire[args.name]
        self.registrations.append({"type": args.typ, "name": args.name, "inputs": _plain(wire)})
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, None]:
        return {}, None
