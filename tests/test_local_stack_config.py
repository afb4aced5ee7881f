"""tools/local_stack_config.py: the local copy of a tracked stack file that `make` gives
the CLI. The Makefile runs (tests/test_make.py) cover the common path; these cover what a
tracked file may hold that a local stack cannot use."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.harness import ROOT

SCRIPT = ROOT / "tools" / "local_stack_config.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_stack_config", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _module()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: webapp\nruntime: python\n")
    return tmp_path


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=project, capture_output=True, text=True
    )


def test_copies_values_and_the_project_file_but_no_salt(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text(
        "encryptionsalt: v1:cloud-salt\nconfig:\n  webapp:replicas: 1\n"
    )
    result = _run(project, "Pulumi.dev.yaml", ".pulumi-local/Pulumi.dev.yaml")
    assert result.returncode == 0, result.stderr
    local = yaml.safe_load((project / ".pulumi-local" / "Pulumi.dev.yaml").read_text())
    # A salt in the tracked file belongs to some other stack: never carried over.
    assert local == {"config": {"webapp:replicas": 1}}
    assert (project / ".pulumi-local" / "Pulumi.yaml").read_text().startswith("name: webapp")


def test_cloud_encrypted_values_must_be_set_locally(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  webapp:token:\n    secure: AAAA\n")
    result = _run(project, "Pulumi.dev.yaml", ".pulumi-local/Pulumi.dev.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: Pulumi.dev.yaml holds webapp:token encrypted for its Pulumi Cloud stack, "
        "which a local stack cannot decrypt; set it for the local stack with: pulumi "
        "config set --stack dev --config-file .pulumi-local/Pulumi.dev.yaml --secret "
        "webapp:token <value>"
    )
    local = project / ".pulumi-local" / "Pulumi.dev.yaml"
    local.parent.mkdir()
    local.write_text("encryptionsalt: v1:local\nconfig:\n  webapp:token:\n    secure: BBBB\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 0
    assert yaml.safe_load(local.read_text())["config"]["webapp:token"] == {"secure": "BBBB"}


def test_a_nested_cloud_encrypted_value_is_refused_with_the_path_command(project: Path) -> None:
    # What `pulumi config set --secret --path 'webapp:secretEnv.API_KEY'` writes.
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  webapp:secretEnv:\n    API_KEY:\n      secure: AAAA\n"
    )
    result = _run(project, "Pulumi.dev.yaml", ".pulumi-local/Pulumi.dev.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: Pulumi.dev.yaml holds webapp:secretEnv.API_KEY encrypted for its Pulumi Cloud "
        "stack, which a local stack cannot decrypt; set it for the local stack with: pulumi "
        "config set --stack dev --config-file .pulumi-local/Pulumi.dev.yaml --secret --path "
        "'webapp:secretEnv.API_KEY' <value>"
    )
    assert not (project / ".pulumi-local" / "Pulumi.dev.yaml").exists()
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n  webapp:egress:\n    - 10.0.0.0/8:443\n    - secure: AAAA\n"
    )
    result = _run(project, "Pulumi.dev.yaml", ".pulumi-local/Pulumi.dev.yaml")
    assert "--secret --path 'webapp:egress[1]' <value>" in result.stderr


def test_settings_a_local_stack_cannot_use_are_refused(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("environment:\n  - webapp/dev\nconfig: {}\n")
    result = _run(project, "Pulumi.dev.yaml", ".pulumi-local/Pulumi.dev.yaml")
    assert result.returncode == 1
    assert "Pulumi.dev.yaml has environment, which a local stack cannot use" in result.stderr


def test_fresh_keeps_nothing_and_set_overrides(project: Path) -> None:
    tracked = project / "Pulumi.dev.yaml"
    tracked.write_text("config:\n  webapp:replicas: 1\n")
    local = project / "Pulumi.dev-render.yaml"
    local.write_text("encryptionsalt: v1:old\nconfig:\n  webapp:kubeContext: kind\n")
    built = tool.build(tracked, local, {"webapp:renderYamlTo": "rendered/dev"}, fresh=True)
    assert built.document == {
        "config": {"webapp:replicas": 1, "webapp:renderYamlTo": "rendered/dev"}
    }


def test_a_missing_stack_is_named(project: Path) -> None:
    result = _run(project, "Pulumi.qa.yaml", ".pulumi-local/Pulumi.qa.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: Pulumi.qa.yaml does not exist: there is no such stack"


def test_the_copy_s_own_secrets_outlive_an_empty_or_removed_tracked_value(project: Path) -> None:
    """README's step 2 sets a local secret in the copy. An empty object in the tracked file
    (what `pulumi config rm --path` leaves) does not wipe it; nor does removing from the
    tracked file a plaintext value the copy has since set again as a secret, as the
    program's fix for a plaintext secret says (rm, then set --secret --config-file)."""
    tracked = project / "Pulumi.dev.yaml"
    local = project / ".pulumi-local" / "Pulumi.dev.yaml"
    tracked.write_text("config:\n  webapp:secretEnv: {}\n  webapp:backupS3AccessKeyId: AKIA\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 0
    document = yaml.safe_load(local.read_text())
    document["config"]["webapp:secretEnv"] = {"API_KEY": {"secure": "BBBB"}}
    document["config"]["webapp:backupS3AccessKeyId"] = {"secure": "CCCC"}
    local.write_text(yaml.safe_dump(document))
    tracked.write_text("config:\n  webapp:secretEnv: {}\n")
    result = _run(project, "Pulumi.dev.yaml", str(local))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(local.read_text())["config"]
    assert config["webapp:secretEnv"] == {"API_KEY": {"secure": "BBBB"}}
    assert config["webapp:backupS3AccessKeyId"] == {"secure": "CCCC"}
    # A value only copied, and removed from the tracked file since, goes with it.
    tracked.write_text("config:\n  webapp:replicas: 2\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 0
    tracked.write_text("config: {}\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 0
    assert "webapp:replicas" not in yaml.safe_load(local.read_text())["config"]


def test_the_cli_s_rewrite_of_the_copy_keeps_nothing_the_tracked_file_dropped(
    project: Path,
) -> None:
    """The CLI writes the copy's numbers and booleans back as text whenever it saves it:
    a key the tracked file then drops is still the copied value, and goes, with no note."""
    tracked = project / "Pulumi.dev.yaml"
    local = project / ".pulumi-local" / "Pulumi.dev.yaml"
    tracked.write_text("config:\n  webapp:replicas: 1\n  webapp:protectData: false\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 0
    local.write_text(
        "encryptionsalt: v1:local\nconfig:\n  webapp:replicas: \"1\"\n"
        "  webapp:protectData: \"false\"\n"
    )
    tracked.write_text("config:\n  webapp:protectData: false\n")
    result = _run(project, "Pulumi.dev.yaml", str(local))
    assert (result.returncode, result.stderr) == (0, "")
    assert yaml.safe_load(local.read_text())["config"] == {"webapp:protectData": False}


def test_a_secret_set_in_the_copy_as_the_error_says_clears_the_error(project: Path) -> None:
    """The tracked file gains a value encrypted for its Pulumi Cloud stack (a git pull) over
    one copied before: the copy's value set with --config-file, as the error says, is the
    copy's own."""
    tracked = project / "Pulumi.dev.yaml"
    local = project / ".pulumi-local" / "Pulumi.dev.yaml"
    tracked.write_text("config:\n  webapp:secretEnv: {}\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 0
    tracked.write_text("config:\n  webapp:secretEnv:\n    API_KEY:\n      secure: AAAA\n")
    assert _run(project, "Pulumi.dev.yaml", str(local)).returncode == 1
    local.write_text(
        "encryptionsalt: v1:local\nconfig:\n  webapp:secretEnv:\n    API_KEY:\n"
        "      secure: BBBB\n"
    )
    result = _run(project, "Pulumi.dev.yaml", str(local))
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(local.read_text())["config"]["webapp:secretEnv"] == {
        "API_KEY": {"secure": "BBBB"}
    }
