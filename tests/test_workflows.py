"""Checks of the GitHub Actions workflows in .github/workflows.

Every workflow must validate against the GitHub workflow JSON schema that check-jsonschema
ships, and together the workflows must keep the CI/CD behaviour the README describes:
tests on every push and pull request, PR previews of dev and prod commented on the PR,
`pulumi up` of dev then of prod (behind the `production` environment) on pushes to main,
an integration run against a throwaway kind cluster, minimal permissions, one update per
stack at a time, no credential written into a workflow, read-only credentials for
everything that runs a pull request's code and write credentials only in protected
environments, and a Pulumi CLI of the SDK's version.

Self-contained on purpose: it needs no conftest.py fixtures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])

REQUIRED_JOBS = {"test", "preview", "deploy-dev", "deploy-prod", "integration"}
ACCESS_TOKEN_EXPR = "${{ secrets.PULUMI_ACCESS_TOKEN }}"
READONLY_ACCESS_TOKEN_EXPR = "${{ secrets.PULUMI_ACCESS_TOKEN_READONLY }}"
# Secrets that can change a stack or a cluster, and the environment each may live in. The
# protection of an environment is configured in the repository settings; the README says
# what it must be, and test_readme_documents_the_environments checks that it does.
READONLY_SUFFIX = "_READONLY"
PROTECTED_ENVIRONMENTS = {"dev", "production"}
PROD_WRITE_CREDENTIALS = {"KUBECONFIG_PROD"}
PULL_REQUEST_EVENTS = {"pull_request", "pull_request_target"}

# Keys (of env and with maps) whose values are credentials and so must come from secrets.
CREDENTIAL_KEY = re.compile(
    r"TOKEN|PASSWORD|PASSWD|PASSPHRASE|SECRET|CREDENTIAL|PRIVATE.?KEY|API.?KEY|KUBECONFIG",
    re.IGNORECASE,
)
# A value that is one expression reading a secret (or the job's own GitHub token).
SECRET_EXPR = re.compile(
    r"^\$\{\{\s*(secrets\s*(\.\s*[A-Za-z_][A-Za-z0-9_]*|\[[^\]]+\])|github\.token)\s*\}\}$"
)
# Shapes of real credentials that must never appear anywhere in a workflow file.
CREDENTIAL_LITERALS = {
    "Pulumi access token": re.compile(r"\bpul-[0-9a-f]{40}\b"),
    "GitHub token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "PEM private key or certificate": re.compile(r"-----BEGIN [A-Z ]+-----"),
    "inline kubeconfig credentials": re.compile(
        r"(client-key-data|client-certificate-data|certificate-authority-data)\s*:"
    ),
}


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} is not a YAML mapping"
    # YAML 1.1 reads the bare key `on` as the boolean True; GitHub reads it as "on".
    if True in document:
        document["on"] = document.pop(True)
    return document


def workflow_schema() -> dict[str, Any]:
    schema_file = (
        resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    )
    return json.loads(schema_file.read_text(encoding="utf-8"))


WORKFLOWS: dict[str, dict[str, Any]] = {path.name: load_workflow(path) for path in WORKFLOW_FILES}


def all_jobs() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every job id across all workflows, mapped to (its workflow, the job)."""
    jobs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, workflow in WORKFLOWS.items():
        for job_id, job in (workflow.get("jobs") or {}).items():
            assert job_id not in jobs, f"job id {job_id!r} is defined twice (again in {name})"
            jobs[job_id] = (workflow, job)
    return jobs


JOBS = all_jobs()


def job(job_id: str) -> dict[str, Any]:
    assert job_id in JOBS, f"no workflow defines a job {job_id!r}"
    return JOBS[job_id][1]


def workflow_of(job_id: str) -> dict[str, Any]:
    return JOBS[job_id][0]


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow's `on` as a mapping of event name to its (possibly empty) filter."""
    on = workflow.get("on")
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {event: None for event in on}
    return dict(on or {})


def steps(a_job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(a_job.get("steps") or [])


def action_name(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@", 1)[0]


def pulumi_steps(a_job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in steps(a_job) if action_name(step) == "pulumi/actions"]


def pulumi_command_steps(a_job: dict[str, Any]) -> list[dict[str, Any]]:
    """pulumi/actions steps that run a command (without one the action only installs)."""
    return [step for step in pulumi_steps(a_job) if (step.get("with") or {}).get("command")]


def single_pulumi_command(a_job: dict[str, Any]) -> dict[str, Any]:
    found = pulumi_command_steps(a_job)
    assert len(found) == 1, f"expected one pulumi/actions command step, found {len(found)}"
    return found[0]


def step_index(a_job: dict[str, Any], wanted: dict[str, Any]) -> int:
    return next(i for i, step in enumerate(steps(a_job)) if step is wanted)


def effective_env(workflow: dict[str, Any], a_job: dict[str, Any], step: dict[str, Any]) -> dict:
    """Environment a step sees: workflow env, overridden by job env, overridden by step env."""
    return {**(workflow.get("env") or {}), **(a_job.get("env") or {}), **(step.get("env") or {})}


def condition(a_job: dict[str, Any]) -> str:
    return " ".join(str(a_job.get("if", "")).split())


def needs(a_job: dict[str, Any]) -> list[str]:
    value = a_job.get("needs") or []
    return [value] if isinstance(value, str) else list(value)


def is_true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def text_of(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def matrix_stacks(a_job: dict[str, Any]) -> list[str]:
    matrix = (a_job.get("strategy") or {}).get("matrix") or {}
    stacks = list(matrix.get("stack") or [])
    stacks += [entry["stack"] for entry in matrix.get("include") or [] if "stack" in entry]
    return stacks


def runs_only_on_push_to_main(workflow: dict[str, Any], a_job: dict[str, Any]) -> bool:
    """True when the job can only run for a push to main, by its `if` or by its triggers."""
    cond = condition(a_job)
    by_condition = "github.event_name == 'push'" in cond and (
        "github.ref == 'refs/heads/main'" in cond
    )
    events = triggers(workflow)
    push_filter = events.get("push") or {}
    by_triggers = set(events) == {"push"} and push_filter.get("branches") == ["main"]
    return by_condition or by_triggers


def walk_maps(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (path, key, value) for every entry of every env and with map in a workflow."""
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if key in ("env", "with") and isinstance(value, dict):
                for inner_key, inner_value in value.items():
                    yield f"{child}.{inner_key}", str(inner_key), inner_value
            yield from walk_maps(value, child)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk_maps(item, f"{path}[{index}]")


# ---------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------


def test_there_are_workflows() -> None:
    assert WORKFLOW_FILES, f"no workflow files in {WORKFLOW_DIR}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    schema = workflow_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(load_workflow(path)), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(
        f"{path.name}: {'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors
    )


def test_required_jobs_exist() -> None:
    missing = REQUIRED_JOBS - JOBS.keys()
    assert not missing, f"missing jobs: {sorted(missing)}"


# ---------------------------------------------------------------------------------------
# Triggers and job graph
# ---------------------------------------------------------------------------------------


def test_tests_run_on_every_push_and_pull_request() -> None:
    events = triggers(workflow_of("test"))
    assert "push" in events and "pull_request" in events
    for event in ("push", "pull_request"):
        event_filter = events[event] or {}
        narrowing = {"branches", "branches-ignore", "paths", "paths-ignore", "tags"}
        assert not narrowing & event_filter.keys(), f"{event} trigger is filtered: {event_filter}"
    assert "if" not in job("test"), "the test job must not be skipped for any event"
    commands = [str(step.get("run", "")) for step in steps(job("test"))]
    assert any(re.search(r"\bmake test\b", command) for command in commands)


def test_preview_comments_on_pull_requests_for_dev_and_prod() -> None:
    preview = job("preview")
    assert "pull_request" in triggers(workflow_of("preview"))
    assert "github.event_name == 'pull_request'" in condition(preview) or set(
        triggers(workflow_of("preview"))
    ) == {"pull_request"}, "preview must run only for pull requests"
    assert sorted(matrix_stacks(preview)) == ["dev", "prod"]

    step = single_pulumi_command(preview)
    inputs = step["with"]
    assert inputs["command"] == "preview"
    assert is_true(inputs.get("comment-on-pr")), "preview must comment its result on the PR"
    assert "matrix.stack" in str(inputs.get("stack-name")), "preview must target each stack"

    # The program's packages are in venv/ before the preview runs.
    installs = [
        i
        for i, s in enumerate(steps(preview))
        if re.search(r"pip install -r requirements\.txt", str(s.get("run", "")))
    ]
    assert installs and installs[0] < step_index(preview, step)


def test_deploy_dev_runs_up_on_push_to_main_after_tests() -> None:
    deploy = job("deploy-dev")
    assert runs_only_on_push_to_main(workflow_of("deploy-dev"), deploy)
    assert "test" in needs(deploy)
    inputs = single_pulumi_command(deploy)["with"]
    assert inputs["command"] in ("up", "update")
    assert inputs["stack-name"] == "dev"


def test_deploy_prod_needs_dev_and_the_production_environment() -> None:
    deploy = job("deploy-prod")
    assert runs_only_on_push_to_main(workflow_of("deploy-prod"), deploy)
    assert "deploy-dev" in needs(deploy)
    environment = deploy.get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    assert name == "production", "prod deploys must wait for the production environment"
    inputs = single_pulumi_command(deploy)["with"]
    assert inputs["command"] in ("up", "update")
    assert inputs["stack-name"] == "prod"


def test_each_job_uses_the_kubeconfig_of_its_own_stack() -> None:
    dev, prod = text_of(job("deploy-dev")), text_of(job("deploy-prod"))
    assert "secrets.KUBECONFIG_DEV" in dev and "KUBECONFIG_PROD" not in dev
    assert "secrets.KUBECONFIG_PROD" in prod and "KUBECONFIG_DEV" not in prod

    # The preview matrix picks the secret per stack, either by name or through a matrix key.
    preview = job("preview")
    preview_text = text_of(preview)
    if "secrets.KUBECONFIG_DEV" not in preview_text:
        matrix = preview["strategy"]["matrix"]
        for entry in matrix.get("include") or []:
            keys = [k for k, v in entry.items() if str(v).startswith("KUBECONFIG_")]
            assert len(keys) == 1, f"matrix entry {entry} names no kubeconfig secret"
            assert entry[keys[0]] == f"KUBECONFIG_{entry['stack'].upper()}{READONLY_SUFFIX}"
            assert f"secrets[matrix.{keys[0]}]" in preview_text

    # The secret becomes a file that KUBECONFIG points at, before Pulumi runs.
    for job_id in ("preview", "deploy-dev", "deploy-prod"):
        a_job = job(job_id)
        writers = [
            i
            for i, s in enumerate(steps(a_job))
            if "KUBECONFIG=" in str(s.get("run", "")) and "GITHUB_ENV" in str(s.get("run", ""))
        ]
        pulumi_at = step_index(a_job, single_pulumi_command(a_job))
        assert writers and writers[0] < pulumi_at, f"{job_id} does not set KUBECONFIG first"


def _e2e_step(a_job: dict) -> int:
    (index,) = [
        i for i, s in enumerate(steps(a_job)) if re.search(r"\bmake e2e\b", str(s.get("run", "")))
    ]
    return index


def test_integration_runs_the_e2e_suite_against_a_kind_cluster() -> None:
    """The kind job runs the real-engine suite (make e2e) against its cluster with the
    Pulumi CLI it installs: WEBAPP_E2E_CONTEXT names the kind context, so the suite builds
    no toolchain and starts no control plane of its own."""
    integration = job("integration")
    all_steps = steps(integration)
    kind = [i for i, s in enumerate(all_steps) if action_name(s) == "helm/kind-action"]
    cli = [
        i
        for i, s in enumerate(all_steps)
        if action_name(s) in ("pulumi/actions", "pulumi/setup-pulumi")
    ]
    assert kind, "integration must create a kind cluster with helm/kind-action"
    assert cli, "integration must install the Pulumi CLI"
    index = _e2e_step(integration)
    assert kind[0] < index and cli[0] < index
    env = effective_env(workflow_of("integration"), integration, all_steps[index])
    # helm/kind-action names the context kind-<cluster_name>.
    cluster_name = all_steps[kind[0]]["with"]["cluster_name"]
    assert env.get("WEBAPP_E2E_CONTEXT") == f"kind-{cluster_name}"


# ---------------------------------------------------------------------------------------
# Python packages: what each job installs, and the cache key that follows it
# ---------------------------------------------------------------------------------------

PROGRAM_REQUIREMENTS = "requirements.txt"
DEV_REQUIREMENTS = "requirements-dev.txt"
MAKE_INSTALLS = re.compile(r"\bmake (test|venv)\b")
PIP_INSTALLS = re.compile(r"pip install[^\n]*?-r\s+(\S+)")


def requirement_files(path: str) -> set[str]:
    """`path` and every requirements file it includes with -r, relative to the repository."""
    files = {path}
    for line in (REPO_ROOT / path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            included = (Path(path).parent / line[3:].strip()).as_posix()
            files |= requirement_files(included)
    return files


def installed_requirements(a_job: dict[str, Any]) -> set[str]:
    """Requirements files the job's run steps install (`make test`/`make venv` install
    requirements-dev.txt, see the Makefile)."""
    files: set[str] = set()
    for step in steps(a_job):
        command = str(step.get("run", ""))
        if MAKE_INSTALLS.search(command):
            files |= requirement_files(DEV_REQUIREMENTS)
        for path in PIP_INSTALLS.findall(command):
            files |= requirement_files(path)
    return files


def test_the_makefile_installs_requirements_dev() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"pip install --quiet -r {DEV_REQUIREMENTS}" in makefile


def test_pip_caches_follow_what_each_job_installs() -> None:
    checked = 0
    for job_id, (_, a_job) in JOBS.items():
        for step in steps(a_job):
            if action_name(step) != "actions/setup-python":
                continue
            inputs = step.get("with") or {}
            if inputs.get("cache") != "pip":
                continue
            paths = set(str(inputs.get("cache-dependency-path", "")).split())
            assert paths == installed_requirements(a_job), (
                f"{job_id}: the pip cache key is {sorted(paths)} but the job installs "
                f"{sorted(installed_requirements(a_job))}"
            )
            checked += 1
    assert checked >= len(REQUIRED_JOBS)


@pytest.mark.parametrize("job_id", ["preview", "deploy-dev", "deploy-prod"])
def test_pulumi_jobs_install_only_the_program_packages(job_id: str) -> None:
    # The test tools' plugins (pulumi-pulumiservice) in the program's venv would make the
    # engine download them for every preview and update.
    assert installed_requirements(job(job_id)) == {PROGRAM_REQUIREMENTS}


# ---------------------------------------------------------------------------------------
# Safety: credentials, permissions, concurrency
# ---------------------------------------------------------------------------------------


def test_every_pulumi_command_gets_the_access_token_from_secrets() -> None:
    checked = 0
    for job_id, (workflow, a_job) in JOBS.items():
        expected = (
            READONLY_ACCESS_TOKEN_EXPR if runs_for_pull_requests(job_id) else ACCESS_TOKEN_EXPR
        )
        for step in pulumi_command_steps(a_job):
            token = effective_env(workflow, a_job, step).get("PULUMI_ACCESS_TOKEN")
            assert " ".join(str(token).split()) == expected, (
                f"{job_id}: pulumi/actions step has PULUMI_ACCESS_TOKEN={token!r}"
            )
            checked += 1
    assert checked >= 3, "expected pulumi/actions commands in preview, deploy-dev, deploy-prod"


def test_pulumi_actions_is_a_current_major_version() -> None:
    for job_id, (_, a_job) in JOBS.items():
        for step in pulumi_steps(a_job):
            ref = str(step["uses"]).split("@", 1)[1] if "@" in str(step["uses"]) else ""
            pinned_sha = re.fullmatch(r"[0-9a-f]{40}", ref) is not None
            major = re.match(r"v(\d+)", ref)
            assert pinned_sha or (major and int(major.group(1)) >= 6), (
                f"{job_id}: {step['uses']} is older than pulumi/actions v6"
            )


def test_pulumi_cli_version_is_the_sdk_version() -> None:
    """Pulumi releases the CLI and the SDK together. Unpinned, pulumi/actions installs the
    newest CLI, so a deployment could run a pair no test has seen; pinned to the SDK's
    version, a bump of one without the other fails here."""
    pins = re.findall(
        r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8"), re.M
    )
    assert len(pins) == 1, "requirements.txt must pin pulumi exactly once"
    checked = 0
    for job_id, (_, a_job) in JOBS.items():
        for step in pulumi_steps(a_job):
            version = str((step.get("with") or {}).get("pulumi-version", ""))
            assert version == pins[0], (
                f"{job_id}: pulumi/actions installs CLI {version or 'latest'}, SDK is {pins[0]}"
            )
            checked += 1
    assert checked >= 4, "expected pulumi/actions in integration, preview and both deploys"


def referenced_secrets(a_job: dict[str, Any]) -> set[str]:
    """Names of the secrets a job reads, `secrets[matrix.key]` resolved over the matrix."""
    text = text_of({k: v for k, v in a_job.items() if k != "strategy"})
    names = set(re.findall(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", text))
    matrix = (a_job.get("strategy") or {}).get("matrix") or {}
    for key in re.findall(r"secrets\[\s*matrix\.([A-Za-z_][A-Za-z0-9_]*)\s*\]", text):
        values = list(matrix.get(key) or [])
        values += [entry[key] for entry in matrix.get("include") or [] if key in entry]
        assert values, f"secrets[matrix.{key}] names no secret"
        names |= {str(value) for value in values}
    assert "secrets[" not in text.replace("secrets[matrix.", ""), "unresolved secrets[...]"
    return names - {"GITHUB_TOKEN"}


def runs_for_pull_requests(job_id: str) -> bool:
    """Whether the job can run on a pull request event, i.e. run the PR's code: the
    workflow triggers on one and neither the job's `if` nor a job it needs rules it out."""
    workflow, a_job = JOBS[job_id]
    if not PULL_REQUEST_EVENTS & triggers(workflow).keys():
        return False
    cond = condition(a_job)
    if "github.event_name == 'push'" in cond or "github.event_name != 'pull_request'" in cond:
        return False
    return all(runs_for_pull_requests(needed) for needed in needs(a_job))


def environment_name(a_job: dict[str, Any]) -> str | None:
    environment = a_job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def test_pull_request_jobs_hold_read_only_credentials_only() -> None:
    pr_jobs = [job_id for job_id in JOBS if runs_for_pull_requests(job_id)]
    assert {"test", "integration", "preview"} <= set(pr_jobs)
    for job_id in pr_jobs:
        writable = {s for s in referenced_secrets(job(job_id)) if not s.endswith(READONLY_SUFFIX)}
        assert not writable, f"{job_id} runs PR code with {sorted(writable)}"
    # The previews do read something: otherwise the check above proves nothing.
    assert {
        "PULUMI_ACCESS_TOKEN_READONLY",
        "KUBECONFIG_DEV_READONLY",
        "KUBECONFIG_PROD_READONLY",
    } <= referenced_secrets(job("preview"))


def test_write_credentials_live_only_in_protected_environments() -> None:
    holders = []
    for job_id, (_, a_job) in JOBS.items():
        writable = {s for s in referenced_secrets(a_job) if not s.endswith(READONLY_SUFFIX)}
        if not writable:
            continue
        holders.append(job_id)
        assert environment_name(a_job) in PROTECTED_ENVIRONMENTS, (
            f"{job_id} holds {sorted(writable)} outside a protected environment"
        )
        assert not runs_for_pull_requests(job_id), f"{job_id} holds {sorted(writable)} on PRs"
    assert sorted(holders) == ["deploy-dev", "deploy-prod"]


def test_prod_write_credentials_only_behind_production() -> None:
    for job_id, (_, a_job) in JOBS.items():
        prod = referenced_secrets(a_job) & PROD_WRITE_CREDENTIALS
        if prod:
            assert environment_name(a_job) == "production", f"{job_id} holds {sorted(prod)}"
    assert referenced_secrets(job("deploy-prod")) >= PROD_WRITE_CREDENTIALS


def test_every_secret_comes_from_an_environment() -> None:
    # Repository secrets reach a workflow changed on any branch; environment secrets only
    # reach jobs that name the environment and pass its protection rules.
    for job_id, (_, a_job) in JOBS.items():
        if referenced_secrets(a_job):
            assert environment_name(a_job), f"{job_id} reads secrets but names no environment"


def test_docs_document_the_environments() -> None:
    readme = (REPO_ROOT / "docs" / "ci-cd.md").read_text(encoding="utf-8")
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([a-z-]+)` \| ([^|]+) \|", readme, re.M)
    }
    used = {environment_name(a_job) for _, a_job in JOBS.values()} - {None}
    assert used <= rows.keys(), f"docs/ci-cd.md lacks environments {sorted(used - rows.keys())}"
    assert "required reviewers" in rows["production"].lower()
    for name in PROTECTED_ENVIRONMENTS:
        assert "`main`" in rows[name], f"{name}: docs/ci-cd.md must limit it to the main branch"
    for _, a_job in JOBS.values():
        for secret in referenced_secrets(a_job):
            assert f"`{secret}`" in readme, f"docs/ci-cd.md does not document the secret {secret}"


def test_no_plaintext_credentials() -> None:
    for name, workflow in WORKFLOWS.items():
        for path, key, value in walk_maps(workflow):
            if not CREDENTIAL_KEY.search(key):
                continue
            text = "" if value is None else str(value).strip()
            # Empty is allowed (e.g. an empty passphrase for throwaway local state).
            assert text == "" or SECRET_EXPR.match(text), (
                f"{name}: {path} must come from secrets, not the literal {text[:12]!r}..."
            )
    for path in WORKFLOW_FILES:
        content = path.read_text(encoding="utf-8")
        for kind, pattern in CREDENTIAL_LITERALS.items():
            assert not pattern.search(content), f"{path.name} contains a {kind}"


def test_permissions_are_minimal() -> None:
    for name, workflow in WORKFLOWS.items():
        assert workflow.get("permissions") == {"contents": "read"}, (
            f"{name}: the workflow default must be `permissions: contents: read`"
        )
    for job_id, (_, a_job) in JOBS.items():
        permissions = a_job.get("permissions")
        if permissions is None:
            continue
        assert isinstance(permissions, dict), f"{job_id}: permissions must list scopes"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        comments = any(
            is_true((s.get("with") or {}).get("comment-on-pr")) for s in pulumi_steps(a_job)
        )
        allowed = {"pull-requests"} if comments else set()
        assert writes <= allowed, f"{job_id}: needless write permissions {sorted(writes)}"
    assert job("preview").get("permissions", {}).get("pull-requests") == "write", (
        "preview needs pull-requests: write to comment on the PR"
    )


def test_updates_of_a_stack_never_run_in_parallel() -> None:
    groups = {}
    for job_id, stack in (("deploy-dev", "dev"), ("deploy-prod", "prod")):
        concurrency = job(job_id).get("concurrency")
        assert isinstance(concurrency, dict), f"{job_id} needs a concurrency group"
        group = str(concurrency["group"])
        assert stack in group, f"{job_id}: concurrency group {group!r} is not per stack"
        # Cancelling a running `pulumi up` would leave the stack locked or half-applied.
        assert not is_true(concurrency.get("cancel-in-progress", False))
        groups[job_id] = group
    assert groups["deploy-dev"] != groups["deploy-prod"]

    preview_group = str((job("preview").get("concurrency") or {}).get("group", ""))
    assert "matrix.stack" in preview_group, "preview concurrency must be per stack"


def test_integration_installs_what_the_cnpg_test_needs() -> None:
    """tests/e2e/test_cnpg_operator.py needs WEBAPP_E2E_CNPG=1, helm and kubectl-cnpg (under
    CI a skip fails the run); both tools are pinned, installed after the kind cluster and
    before the suite, and the job has time for the operator and a two-instance Cluster."""
    integration = job("integration")
    all_steps = steps(integration)
    (kind,) = [i for i, s in enumerate(all_steps) if action_name(s) == "helm/kind-action"]
    tests = _e2e_step(integration)
    (helm,) = [i for i, s in enumerate(all_steps) if action_name(s) == "azure/setup-helm"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", str(all_steps[helm]["with"]["version"]))
    (plugin,) = [i for i, s in enumerate(all_steps) if "kubectl-cnpg" in str(s.get("run", ""))]
    assert "/download/v1.30.0/kubectl-cnpg_1.30.0_" in all_steps[plugin]["run"]
    assert kind < helm < tests and kind < plugin < tests
    env = effective_env(workflow_of("integration"), integration, all_steps[tests])
    assert str(env.get("WEBAPP_E2E_CNPG")) == "1"
    assert integration["timeout-minutes"] >= 45


@pytest.mark.parametrize("job_id", ["deploy-dev", "deploy-prod"])
def test_a_deploy_outlasts_the_longest_wait_of_its_update(job_id: str) -> None:
    """A job GitHub kills mid-update leaves the stack with pending operations (`pulumi
    cancel`, then a refresh that settles them): it must outlast the Cluster's wait for its
    instances, with time for the steps around it."""
    from components.database.cloudnative_pg.cluster import READY_TIMEOUT

    assert READY_TIMEOUT.endswith("m")
    assert job(job_id)["timeout-minutes"] >= int(READY_TIMEOUT[:-1]) + 20
