"""The messages a user sees for the everyday slips, word for word (issue 18)."""

from __future__ import annotations

import re

import pytest

from stack_settings import ConfigError
from tests.harness import ROOT, run_main


def _refusal(overrides: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", overrides)
    return str(raised.value).splitlines()


def test_an_abbreviated_engine_is_told_the_engine_it_abbreviates() -> None:
    assert _refusal({"webapp:dbEngine": "cnpg"}) == [
        "webapp:dbEngine is 'cnpg', but it must be one of statefulset, cloudnative-pg; fix it "
        "with: pulumi config set --stack dev webapp:dbEngine cloudnative-pg"
    ]
    # A near miss still gets the nearest spelling.
    assert _refusal({"webapp:dbEngine": "statefullset"})[0].endswith("webapp:dbEngine statefulset")


def test_a_dotted_key_set_without_path_is_told_about_path() -> None:
    assert _refusal({"webapp:env.FEATURE_X": "on"}) == [
        "webapp:env.FEATURE_X is set, but it is not a setting of this program: a key of an "
        "object or an item of a list is set with --path, without which the CLI took the whole "
        "name as a key; move it with: pulumi config rm --stack dev webapp:env.FEATURE_X && "
        "pulumi config set --stack dev --path 'webapp:env.FEATURE_X' on"
    ]
    (line,) = _refusal({"webapp:egress[0]": "203.0.113.0/24:443"})
    assert line.endswith("--path 'webapp:egress[0]' 203.0.113.0/24:443")


def test_the_readme_quotes_a_message_the_program_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    (quoted,) = re.findall(r"^webapp:dbEngine is 'cnpg'.*$", readme, re.M)
    assert _refusal({"webapp:dbEngine": "cnpg"}) == [quoted]


def test_every_documented_secret_env_command_names_the_local_copy() -> None:
    """`config set --secret` on a local stack must write its copy: the tracked file's
    secrets are the Pulumi Cloud stack's (docs/operations.md, Local stacks)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    commands = []
    for page in pages:
        text = page.read_text().replace("\\\n", " ")
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            commands += [
                line for line in block.splitlines() if "config set" in line and "secretEnv" in line
            ]
    assert commands
    for command in commands:
        assert "--config-file .pulumi-local/Pulumi." in command, command
