"""Pulumi Deployments settings for the webapp project's dev and prod stacks.

This is the alternative to the GitHub Actions workflow in .github/workflows/ci.yml: once
applied, Pulumi Cloud itself previews every pull request on dev and prod and runs
`pulumi up` on dev for every push to the configured branch; prod is deployed on demand
(Pulumi Cloud console or `pulumi deployment run update`). Run only one of the two systems,
otherwise every push is deployed twice: set the repository variable
PULUMI_DEPLOYMENTS_ENABLED=true so the workflow's preview and deploy jobs stand down.

The repository is reached through the Pulumi GitHub app (the `vcs` settings), which also
supplies the clone URL and credentials; the source context only names branch and folder.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
import shlex
from dataclasses import dataclass
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


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the CLI prints only the message, without a traceback."""


@dataclass(frozen=True)
class StackSettings:
    stack: str
    kubeconfig: str
    deploy_commits: bool
    preview_pull_requests: bool
    pull_request_template: bool


@dataclass(frozen=True)
class Settings:
    organization: str
    project: str
    repository: str
    branch: str
    repo_dir: str | None
    stacks: tuple[StackSettings, ...]


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
        # Push-to-deploy only for dev; prod is deployed deliberately, never by a push.
        StackSettings(DEV, kubeconfigs[DEV], True, True, False),
        StackSettings(PROD, kubeconfigs[PROD], False, True, False),
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
    )


def declare_deployment_settings(settings: Settings) -> list[service.DeploymentSettings]:
    # Through the GitHub app the repository is known from `vcs`; the package documents that
    # repo_url and git_auth must then be left out of the git source.
    source = service.DeploymentSettingsSourceContextArgs(
        git=service.DeploymentSettingsGitSourceArgs(
            branch=settings.branch,
            repo_dir=settings.repo_dir,
        )
    )
    declared = []
    for stack in settings.stacks:
        declared.append(
            service.DeploymentSettings(
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
        )
    return declared


settings = load_settings()
declare_deployment_settings(settings)
pulumi.export(
    "stacks",
    {
        f"{settings.organization}/{settings.project}/{s.stack}": {
            "deployOnPush": s.deploy_commits,
            "previewPullRequests": s.preview_pull_requests,
            "reviewStackTemplate": s.pull_request_template,
        }
        for s in settings.stacks
    },
)
