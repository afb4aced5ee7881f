"""Pulumi Deployments settings for the webapp project's dev and prod stacks.

This is the alternative to the GitHub Actions workflow in .github/workflows/ci.yml: once
applied, Pulumi Cloud itself previews every pull request on dev and prod and runs
`pulumi up` on dev for every push to the configured branch; prod is deployed on demand
(Pulumi Cloud console or `pulumi deployment run update`). Run only one of the two systems,
otherwise every push is deployed twice: set the repository variable
PULUMI_DEPLOYMENTS_ENABLED=true so the workflow's preview and deploy jobs stand down.

The repository is reached through the Pulumi GitHub app (the `vcs` settings), which also
supplies the clone URL and credentials; the source context only names branch and folder.

Drift detection runs on a schedule for dev and prod; only dev may remediate drift by
itself (`pulumi up` without review), prod reports it. Review stacks listed in
reviewStackTtls get a time to live: Pulumi Cloud destroys and deletes them at that time.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_pulumiservice as service
import yaml

PROJECT = "webapp-deployments"
PROJECT_FILE = Path(__file__).resolve().parent / "Pulumi.yaml"

DEV, PROD = "dev", "prod"
VCS_PROVIDER = "github"

# The Kubernetes provider reads KUBECONFIG as a path, so the executor writes the secret
# kubeconfig to a file before any command runs; umask keeps the file private.
KUBECONFIG_PATH = "/tmp/webapp-kubeconfig"
KUBECONFIG_DATA_VAR = "WEBAPP_KUBECONFIG_DATA"
PRE_RUN_COMMANDS = (
    f'umask 077 && printf \'%s\\n\' "${KUBECONFIG_DATA_VAR}" > "$KUBECONFIG"',
    # The same gate as CI: a program whose unit tests fail is not deployed.
    "make test",
)

_ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_GITHUB_URL = re.compile(
    r"^(?:https://github\.com/|git@github\.com:)([^/\s]+/[^/\s]+?)(?:\.git)?/?$"
)
_BRANCH = re.compile(r"^(?!/|-)(?!.*(?:\.\.|//|@\{|\.lock$|/$|\.$))[A-Za-z0-9._/-]+$")
_REPO_DIR = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# <review stack>=<UTC time>, to the second, as Pulumi Cloud's TTL schedules take it.
_TTL_ENTRY = re.compile(r"^([A-Za-z0-9_.-]{1,100})=(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$")
TTL_EXAMPLE = "pr-42=2026-12-31T00:00:00Z"

CRON_EXAMPLE = "0 5 * * *"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# Standard five-field cron: each field's range, and names counted from its lowest value.
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _WEEKDAYS),
)
_CRON_ITEM = re.compile(r"^(\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/(\d+))?$")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the CLI prints only the message, without a traceback."""


@dataclass(frozen=True)
class StackSettings:
    stack: str
    kubeconfig: str
    deploy_commits: bool
    preview_pull_requests: bool
    pull_request_template: bool
    # None: no drift detection (a review template is never deployed itself).
    drift_auto_remediate: bool | None = None


@dataclass(frozen=True)
class Settings:
    organization: str
    project: str
    repository: str
    branch: str
    repo_dir: str | None
    stacks: tuple[StackSettings, ...]
    drift_schedule: str
    # (review stack, UTC time at which Pulumi Cloud destroys and deletes it)
    review_stack_ttls: tuple[tuple[str, str], ...] = ()


@cache
def declared_config() -> dict[str, dict[str, Any]]:
    """Config declarations of this project's Pulumi.yaml: the one list of known keys."""
    project = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    return dict(project.get("config") or {})


class _Reader:
    """Reads config (declared defaults included) and collects one sentence per bad value."""

    def __init__(self) -> None:
        self.config = pulumi.Config(PROJECT)
        self.stack = pulumi.get_stack()
        self.errors: list[str] = []

    def raw(self, key: str) -> str | None:
        value = self.config.get(key)
        if value is None:
            default = declared_config()[key].get("default")
            value = None if default is None else str(default)
        return value

    def is_secret(self, key: str) -> bool:
        return pulumi.runtime.is_config_secret(f"{PROJECT}:{key}")

    def fail(self, key: str, raw: str | None, allowed: str, example: str) -> None:
        shown = "not set" if raw is None else f"'{raw}'"
        fix = f"pulumi config set --stack {self.stack} {PROJECT}:{key} {shlex.quote(example)}"
        self.errors.append(f"{PROJECT}:{key} is {shown}, but {allowed}; fix it with: {fix}")

    def fail_entry(self, key: str, index: int, raw: object, allowed: str, fix: str) -> None:
        """One entry of a list value: the message and fix name the entry by its path."""
        path = f"{PROJECT}:{key}[{index}]"
        fix = fix.format(stack=self.stack, path=shlex.quote(path))
        self.errors.append(f"{path} is {json.dumps(raw)}, but {allowed}; fix it with: {fix}")

    def fail_secret(self, key: str, problem: str, allowed: str) -> None:
        # Never echo a kubeconfig: the message ends up in logs.
        fix = (
            f"pulumi config set --stack {self.stack} --secret {PROJECT}:{key} "
            f'-- "$(cat {key.removeprefix("kubeconfig").lower()}.kubeconfig)"'
        )
        self.errors.append(f"{PROJECT}:{key} {problem}, but {allowed}; fix it with: {fix}")

    def unknown_keys(self) -> None:
        """Catch typos: a misspelt key would otherwise be ignored in favour of a default."""
        present = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
        known = list(declared_config())
        for full_key in sorted(present):
            namespace, _, key = full_key.partition(":")
            if namespace != PROJECT or key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {PROJECT}:{close[0]}? " if close else ""
            self.errors.append(
                f"{full_key} is set, but it is not a setting of this program ({hint}every "
                f"setting is listed in deployment/Pulumi.yaml); remove it with: "
                f"pulumi config rm --stack {self.stack} {full_key}"
            )


def parse_kubeconfig(raw: str) -> str:
    """The kubeconfig as YAML text, decoded first when given base64-encoded.

    Raises ValueError unless it has clusters, users and a current-context naming one of its
    contexts: without a current context the Kubernetes provider has no cluster to talk to.
    """
    text = raw.strip()
    if _is_kubeconfig(text):
        return text + "\n"
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError("neither a kubeconfig nor base64") from error
    if not _is_kubeconfig(decoded.strip()):
        raise ValueError("not a kubeconfig")
    return decoded.strip() + "\n"


def _is_kubeconfig(text: str) -> bool:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not isinstance(document, dict):
        return False
    clusters, contexts = document.get("clusters"), document.get("contexts")
    if not (isinstance(clusters, list) and clusters and isinstance(contexts, list)):
        return False
    context_names = {c.get("name") for c in contexts if isinstance(c, dict)}
    return isinstance(document.get("users"), list) and (
        document.get("current-context") in context_names
    )


def cron_problem(expression: str) -> str | None:
    """What is wrong with a five-field cron expression (minute hour day-of-month month
    day-of-week), or None. Only the standard syntax: `*`, numbers or names, ranges, steps
    and lists; no macros such as @daily, no `?`, `L` or `#`."""
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"it has {len(fields)} field{'' if len(fields) == 1 else 's'}"
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _CRON_ITEM.match(item)
            if not match:
                return f"its {name} field '{text}' is not cron syntax"
            _, first, last, step = match.groups()
            if step is not None and int(step) == 0:
                return f"its {name} field '{text}' has a step of 0"
            numbers = []
            for value in (first, last):
                if value is None:
                    continue
                if value.isdigit():
                    number = int(value)
                elif value.upper() in names:
                    number = names.index(value.upper()) + low
                else:
                    where = f"its {name} field '{text}'"
                    if value != text:
                        where += f" has '{value}', which"
                    return f"{where} is no {name}"
                if not low <= number <= high:
                    return f"its {name} field '{text}' is not within {low}-{high}"
                numbers.append(number)
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                return f"its {name} field '{text}' has a range that runs backwards"
    return None


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _ttl_time_is_real(timestamp: str) -> bool:
    try:
        datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def load_settings() -> Settings:
    """Read and check every config value; raise one ConfigError listing all problems."""
    reader = _Reader()
    reader.unknown_keys()

    organization = reader.raw("organization")
    if organization is None or not _ORGANIZATION.match(organization):
        reader.fail(
            "organization",
            organization,
            "it must be the name of a Pulumi Cloud organization (letters, digits, '-', '_', '.')",
            "my-org",
        )

    repository = reader.raw("repository")
    if repository is None or not _REPOSITORY.match(repository):
        url = _GITHUB_URL.match(repository or "")
        reader.fail(
            "repository",
            repository,
            "it must be a GitHub repository written owner/name",
            url.group(1) if url else "my-org/webapp",
        )

    branch = reader.raw("branch") or ""
    if not _BRANCH.match(branch):
        reader.fail("branch", branch, "it must be a git branch name such as main", "main")

    raw_repo_dir = reader.raw("repoDir") or ""
    repo_dir = raw_repo_dir.strip().strip("/")
    if repo_dir in ("", "."):
        repo_dir = ""
    elif not _REPO_DIR.match(repo_dir) or ".." in repo_dir.split("/"):
        reader.fail(
            "repoDir",
            raw_repo_dir,
            "it must be a folder relative to the repository root, or empty for the root",
            "",
        )

    project = reader.raw("webappProject") or ""
    if not _NAME.match(project):
        reader.fail(
            "webappProject",
            project,
            "it must be a Pulumi project name (letters, digits, '-', '_', '.')",
            "webapp",
        )

    review_template = reader.raw("reviewTemplateStack") or ""
    if review_template in (DEV, PROD):
        # A review stack copies its template's config, namespace included, and destroying
        # it when the PR closes would delete that stack's namespace.
        reader.fail(
            "reviewTemplateStack",
            review_template,
            f"it must be a dedicated stack (not {DEV} or {PROD}) because every review stack "
            "copies its template's config, or empty for no review stacks",
            "pr",
        )
    elif review_template and not _NAME.match(review_template):
        reader.fail(
            "reviewTemplateStack",
            review_template,
            "it must be a stack name (letters, digits, '-', '_', '.') or empty",
            "pr",
        )

    drift_schedule = " ".join((reader.raw("driftSchedule") or "").split())
    problem = cron_problem(drift_schedule)
    if problem:
        reader.fail(
            "driftSchedule",
            reader.raw("driftSchedule"),
            "it must be a cron schedule of five fields (minute hour day-of-month month "
            f"day-of-week, in UTC) such as '{CRON_EXAMPLE}', and {problem}",
            CRON_EXAMPLE,
        )

    raw_remediate = reader.raw("driftAutoRemediateDev") or ""
    if raw_remediate.lower() not in ("true", "false"):
        reader.fail(
            "driftAutoRemediateDev",
            raw_remediate,
            "it must be true (run pulumi up on dev when drift is found) or false (report it)",
            "false",
        )
    remediate_dev = raw_remediate.lower() == "true"

    review_stack_ttls = _review_stack_ttls(reader, review_template)

    kubeconfigs: dict[str, str] = {}
    for stack, key in ((DEV, "kubeconfigDev"), (PROD, "kubeconfigProd")):
        allowed = (
            f"it must be the kubeconfig of the {stack} cluster (YAML or base64) with a "
            "current-context, stored as a secret"
        )
        raw = reader.raw(key)
        if raw is None:
            reader.fail_secret(key, "is not set", allowed)
            continue
        if not reader.is_secret(key):
            reader.fail_secret(key, "is stored in plain text", allowed)
            continue
        try:
            kubeconfigs[stack] = parse_kubeconfig(raw)
        except ValueError:
            reader.fail_secret(key, "is not a usable kubeconfig", allowed)

    if reader.errors:
        raise ConfigError("\n".join(reader.errors))

    assert organization is not None and repository is not None  # checked above
    stacks = [
        # Push-to-deploy only for dev; prod is deployed deliberately, never by a push, and
        # so never by a drift remediation either: its drift is reported, not undone.
        StackSettings(DEV, kubeconfigs[DEV], True, True, False, remediate_dev),
        StackSettings(PROD, kubeconfigs[PROD], False, True, False, False),
    ]
    if review_template:
        # Review stacks deploy PR code, so they get the dev cluster, never prod.
        stacks.append(StackSettings(review_template, kubeconfigs[DEV], False, False, True))
    return Settings(
        organization=organization,
        project=project,
        repository=repository,
        branch=branch,
        repo_dir=repo_dir or None,
        stacks=tuple(stacks),
        drift_schedule=drift_schedule,
        review_stack_ttls=review_stack_ttls,
    )


def _review_stack_ttls(reader: _Reader, review_template: str) -> tuple[tuple[str, str], ...]:
    """reviewStackTtls as (stack, UTC time) pairs; every problem is reported to `reader`."""
    key = "reviewStackTtls"
    raw = reader.raw(key) or "[]"
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError:
        entries = None
    if not isinstance(entries, list):
        reader.fail(
            key,
            raw,
            f"it must be a list of <review stack>=<UTC time> entries such as {TTL_EXAMPLE}",
            f"[{json.dumps(TTL_EXAMPLE)}]",
        )
        return ()
    set_entry = "pulumi config set --stack {stack} --path {path} " + TTL_EXAMPLE
    remove_entry = "pulumi config rm --stack {stack} --path {path}"
    kept: dict[str, str] = {}
    for index, entry in enumerate(entries):
        match = _TTL_ENTRY.match(entry) if isinstance(entry, str) else None
        if not match or not _ttl_time_is_real(match.group(2)):
            reader.fail_entry(
                key,
                index,
                entry,
                f"it must be <review stack>=<UTC time> such as {TTL_EXAMPLE}",
                set_entry,
            )
            continue
        stack, timestamp = match.groups()
        protected = {DEV, PROD} | ({review_template} if review_template else set())
        if stack in protected:
            reader.fail_entry(
                key,
                index,
                entry,
                "a time to live destroys and deletes its stack, so it must name a review "
                f"stack, never {_either(sorted(protected))}",
                remove_entry,
            )
        elif stack in kept:
            reader.fail_entry(
                key, index, entry, f"{stack} has a time to live already", remove_entry
            )
        else:
            kept[stack] = timestamp
    return tuple(kept.items())


def declare_deployment_settings(settings: Settings) -> dict[str, service.DeploymentSettings]:
    # Through the GitHub app the repository is known from `vcs`; the package documents that
    # repo_url and git_auth must then be left out of the git source.
    source = service.DeploymentSettingsSourceContextArgs(
        git=service.DeploymentSettingsGitSourceArgs(
            branch=settings.branch,
            repo_dir=settings.repo_dir,
        )
    )
    declared = {}
    for stack in settings.stacks:
        declared[stack.stack] = service.DeploymentSettings(
            f"{settings.project}-{stack.stack}",
            organization=settings.organization,
            project=settings.project,
            stack=stack.stack,
            source_context=source,
            # `vcs` replaces the deprecated `github` argument in pulumi-pulumiservice 1.x.
            vcs=service.DeploymentSettingsVcsArgs(
                provider=VCS_PROVIDER,
                repository=settings.repository,
                deploy_commits=stack.deploy_commits,
                preview_pull_requests=stack.preview_pull_requests,
                pull_request_template=stack.pull_request_template,
            ),
            operation_context=service.DeploymentSettingsOperationContextArgs(
                environment_variables={
                    "KUBECONFIG": KUBECONFIG_PATH,
                    KUBECONFIG_DATA_VAR: pulumi.Output.secret(stack.kubeconfig),
                },
                pre_run_commands=list(PRE_RUN_COMMANDS),
                options=service.OperationContextOptionsArgs(
                    # Several pushes queued behind a running update collapse into one.
                    skip_intermediate_deployments=True,
                ),
            ),
        )
    return declared


def declare_schedules(
    settings: Settings, deployment_settings: dict[str, service.DeploymentSettings]
) -> None:
    for stack in settings.stacks:
        if stack.drift_auto_remediate is None:
            continue
        service.DriftSchedule(
            f"{settings.project}-{stack.stack}-drift",
            organization=settings.organization,
            project=settings.project,
            stack=stack.stack,
            schedule_cron=settings.drift_schedule,
            auto_remediate=stack.drift_auto_remediate,
            # Pulumi Cloud accepts a schedule only for a stack with deployment settings.
            opts=pulumi.ResourceOptions(depends_on=[deployment_settings[stack.stack]]),
        )
    for stack_name, timestamp in settings.review_stack_ttls:
        service.TtlSchedule(
            f"{settings.project}-{stack_name}-ttl",
            organization=settings.organization,
            project=settings.project,
            stack=stack_name,
            timestamp=timestamp,
            # As when its pull request closes: nothing of a review stack is kept.
            delete_after_destroy=True,
        )


settings = load_settings()
declare_schedules(settings, declare_deployment_settings(settings))
stack_prefix = f"{settings.organization}/{settings.project}"
pulumi.export(
    "stacks",
    {
        f"{stack_prefix}/{s.stack}": {
            "deployOnPush": s.deploy_commits,
            "previewPullRequests": s.preview_pull_requests,
            "reviewStackTemplate": s.pull_request_template,
            **(
                {}
                if s.drift_auto_remediate is None
                else {
                    "driftSchedule": settings.drift_schedule,
                    "driftAutoRemediate": s.drift_auto_remediate,
                }
            ),
        }
        for s in settings.stacks
    },
)
pulumi.export(
    "reviewStackTtls",
    {f"{stack_prefix}/{stack}": timestamp for stack, timestamp in settings.review_stack_ttls},
)
