"""The Makefile is the local entry point: its deploy targets need the pulumi CLI and say
so in one line when it is missing, before setting anything up; and they run local stacks
without touching a tracked file (checked with a fake CLI, tests/fake_pulumi.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT


@pytest.fixture
def path_without_pulumi(tmp_path: Path) -> str:
    """A PATH holding only make, so `pulumi` cannot be found whatever the machine has."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the Makefile"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize("target", ["preview", "up", "destroy", "render"])
def test_missing_pulumi_cli_is_one_line_with_the_fix(target: str, path_without_pulumi: str) -> None:
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", target, "STACK=dev"],
        cwd=ROOT,
        env={**os.environ, "PATH": path_without_pulumi},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "pulumi CLI is not installed" in lines[0]
    assert "https://www.pulumi.com/docs/install/" in lines[0]
    assert "Traceback" not in lines[0]


def test_state_defaults_to_a_git_ignored_file_backend() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state" in makefile
    assert ".pulumi-state/" in (ROOT / ".gitignore").read_text().splitlines()


# ---------------------------------------------------------------------------------------
# Local stacks keep their secrets-provider state out of the tracked stack files
# ---------------------------------------------------------------------------------------

FAKE_PULUMI = Path(__file__).with_name("fake_pulumi.py")
TARGETS = ("preview", "up", "destroy", "render")
LOCAL = ".pulumi-local"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _tracked_hashes(repo: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((repo / name).read_bytes()).hexdigest()
        for name in _git(repo, "ls-files").splitlines()
    }


@pytest.fixture(scope="module")
def committed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding this working tree's files, with ./venv linked in (the
    deploy targets run tools/local_stack_config.py with it; nothing is installed)."""
    copy = tmp_path_factory.mktemp("template") / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / "venv").symlink_to(ROOT / "venv")
    _git(copy, "init", "-q")
    # A symlink is not the directory `venv/` in .gitignore names.
    (copy / ".git" / "info" / "exclude").write_text("venv\n")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "copy")
    return copy


@pytest.fixture
def repo(committed_copy: Path, tmp_path: Path) -> Path:
    """A test's own copy of that repository (copying it is a fraction of committing the
    files again); git sees a clean tree, re-reading what its index's timestamps miss."""
    copy = tmp_path / "repo"
    shutil.copytree(committed_copy, copy, symlinks=True)
    assert _git(copy, "status", "--porcelain", "--untracked-files=all") == ""
    return copy


@pytest.fixture
def fake_cli(tmp_path: Path) -> tuple[Path, Path]:
    """A directory with a `pulumi` that runs tests/fake_pulumi.py, and its call log."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "pulumi"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_PULUMI}" "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir, tmp_path / "pulumi-calls.jsonl"


def _make(repo: Path, fake_cli: tuple[Path, Path], target: str, stack: str) -> str:
    bin_dir, log = fake_cli
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_PULUMI_LOG": str(log)})
    result = subprocess.run(
        ["make", "--no-print-directory", target, f"STACK={stack}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _calls(fake_cli: tuple[Path, Path]) -> list[list[str]]:
    log = fake_cli[1]
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()]


def _config_file_of(call: list[str]) -> str:
    return call[call.index("--config-file") + 1]


def _stack_file(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("target", TARGETS)
def test_make_targets_change_no_tracked_file(
    repo: Path, fake_cli: tuple[Path, Path], target: str, stack: str
) -> None:
    before = _tracked_hashes(repo)
    _make(repo, fake_cli, target, stack)
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert _tracked_hashes(repo) == before
    # The CLI did write a salt, into a local copy that carries the tracked values.
    (operation,) = [c for c in _calls(fake_cli) if c[0] in ("preview", "up", "destroy")]
    used = repo / _config_file_of(operation)
    assert used.parent == repo / LOCAL
    if target != "render":  # the render stack's copy is removed with the stack
        local = _stack_file(used)
        assert local["encryptionsalt"]
        assert local["config"] == _stack_file(repo / f"Pulumi.{stack}.yaml")["config"]


def test_render_writes_manifests_from_the_stack_config(
    repo: Path, fake_cli: tuple[Path, Path]
) -> None:
    output = _make(repo, fake_cli, "render", "prod")
    assert list((repo / "rendered" / "prod").rglob("*.yaml")), output
    assert not (repo / LOCAL / "Pulumi.prod-render.yaml").exists()
    removals = [c for c in _calls(fake_cli) if c[:2] == ["stack", "rm"]]
    assert removals and all("--preserve-config" in c for c in removals)


def test_local_copy_follows_the_tracked_file_and_keeps_its_salt(
    repo: Path, fake_cli: tuple[Path, Path]
) -> None:
    local_file = repo / LOCAL / "Pulumi.dev.yaml"
    _make(repo, fake_cli, "preview", "dev")
    salt = _stack_file(local_file)["encryptionsalt"]

    # A local addition, and changes to the tracked file (a value changed, a key removed).
    local = _stack_file(local_file)
    local["config"]["webapp:kubeContext"] = "kind-webapp"
    local_file.write_text(yaml.safe_dump(local))
    tracked_file = repo / "Pulumi.dev.yaml"
    tracked = _stack_file(tracked_file)
    tracked["config"]["webapp:replicas"] = 2
    removed = "webapp:backupRetain"
    del tracked["config"][removed]
    tracked_file.write_text(yaml.safe_dump(tracked))
    _git(repo, "commit", "-q", "-am", "two replicas")

    _make(repo, fake_cli, "up", "dev")
    local = _stack_file(local_file)
    assert local["encryptionsalt"] == salt, "a new salt could not decrypt the stack's state"
    assert local["config"]["webapp:replicas"] == 2
    assert removed not in local["config"]
    assert local["config"]["webapp:kubeContext"] == "kind-webapp"


def test_the_fake_cli_writes_where_the_real_one_would(
    repo: Path, fake_cli: tuple[Path, Path]
) -> None:
    """Without the local copies, the CLI salts and deletes tracked stack files: the checks
    above would catch a Makefile that let it."""
    bin_dir, log = fake_cli
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_PULUMI_LOG": str(log),
            "PULUMI_BACKEND_URL": f"file://{repo}/.pulumi-state",
        }
    )

    def pulumi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pulumi", *args], cwd=repo, env=env, capture_output=True, text=True)

    assert pulumi("stack", "select", "--create", "dev").returncode == 0
    assert "encryptionsalt" in (repo / "Pulumi.dev.yaml").read_text()
    assert pulumi("stack", "rm", "--yes", "dev").returncode == 0
    assert not (repo / "Pulumi.dev.yaml").exists()
    # `stack init` has no --config-file flag: the real CLI refuses it, and so does the fake.
    refused = pulumi("stack", "init", "prod", "--config-file", "x.yaml")
    assert refused.returncode != 0 and "unknown flag: --config-file" in refused.stderr


def test_tracked_stack_files_hold_no_secrets_provider_state() -> None:
    # A salt or key here would make the Pulumi Cloud stacks that share the file ask for a
    # passphrase, or use another stack's key.
    stack_files = [*ROOT.glob("Pulumi.*.yaml"), *(ROOT / "deployment").glob("Pulumi.*.yaml")]
    assert len(stack_files) >= 3
    for path in stack_files:
        document = yaml.safe_load(path.read_text()) or {}
        assert not {"encryptionsalt", "secretsprovider", "encryptedkey"} & document.keys(), path


def test_make_help_lists_every_target_a_user_runs() -> None:
    result = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^make (\w+)", result.stdout, re.M))
    user_targets = "test check preview up destroy render docs schema e2e stack env help"
    assert listed == set(user_targets.split())
    makefile = (ROOT / "Makefile").read_text()
    for target in listed:
        assert re.search(rf"^{target}:", makefile, re.M), target
    # `make` alone says what there is to run.
    assert subprocess.run(["make"], cwd=ROOT, capture_output=True, text=True).stdout == (
        result.stdout
    )


def test_make_env_gives_commands_run_by_hand_what_the_targets_give_the_cli(repo: Path) -> None:
    """A hand-run `pulumi config set` on a local stack without the targets' backend would
    ask for a Pulumi Cloud login, and find no stack."""
    makefile = (repo / "Makefile").read_text()
    exported = set(re.findall(r"^export (PULUMI_\w+) \?=", makefile, re.M))
    assert "PULUMI_BACKEND_URL" in exported
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}

    def shell_after_eval(extra: dict[str, str]) -> dict[str, str]:
        result = subprocess.run(
            ["sh", "-c", 'eval "$(make -s --no-print-directory env)" && env'],
            cwd=repo,
            env={**clean, **extra},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)

    fresh = shell_after_eval({})
    assert {k for k in fresh if k.startswith("PULUMI_")} == exported
    assert fresh["PULUMI_BACKEND_URL"] == f"file://{repo}/.pulumi-state"
    assert (repo / ".pulumi-state").is_dir()
    assert fresh["PULUMI_CONFIG_PASSPHRASE"] == ""
    # The caller's own settings win, and a passphrase of its own is not printed.
    own = {"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE": "own phrase"}
    kept = shell_after_eval(own)
    assert {k: kept[k] for k in own} == own
    printed = subprocess.run(
        ["make", "-s", "--no-print-directory", "env"],
        cwd=repo,
        env={**clean, **own},
        capture_output=True,
        text=True,
    ).stdout
    assert "own phrase" not in printed
