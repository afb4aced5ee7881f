"""The user's stack files (Pulumi.<stack>.yaml beside Pulumi.yaml, or WEBAPP_STACKS_DIR):
whatever valid values they hold, the program renders them, or stops at preview with one
sentence that names the key, its value, what is allowed and the command that fixes it.
Everything these tests assert holds for every valid value; the invariant tests (fixture
`stack_run`) also run on every user stack that renders (tests/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stack_settings.reader import SECRET_KEYS
from tests.conftest import user_stack_outcome
from tests.harness import PROJECT, USER_STACKS, ProgramRun, project_file, stack_file, stack_names
from tests.test_engine_rules import cli_accepts
from tools.stack_config import leaf_paths

pytestmark = pytest.mark.stack_files

USER_STACK_NAMES = stack_names(USER_STACKS)
# Reader.fail and the key checks: `<key> is <value>, but <allowed>; fix it with: <command>`
# (or `remove it with`, `move it with` for a key that is not a setting or misspelled).
ONE_SENTENCE = re.compile(
    r"^(?P<key>[\w.-]+:[\w.-]+) is (?P<value>.+?), but (?P<allowed>.+); "
    r"(?:fix|remove|move) it with: (?P<fix>pulumi (?:config|stack) .+)$"
)


def refusal_problems(stack: str, message: str, values: dict[str, Any]) -> list[str]:
    """What keeps `message` from being the one sentence a bad value must stop with."""
    if "\n" in message.strip():
        return [f"more than one sentence: {message!r}"]
    match = ONE_SENTENCE.match(message.strip())
    if not match:
        return [f"not `<key> is <value>, but <allowed>; fix it with: <command>`: {message!r}"]
    problems = []
    key = match["key"]
    if f"--stack {stack}" not in match["fix"]:
        problems.append(f"the fix does not name the stack {stack}: {match['fix']!r}")
    if key in values and not isinstance(values[key], dict):
        shown = str(values[key]).lower() if isinstance(values[key], bool) else str(values[key])
        if shown not in match["value"]:
            problems.append(f"the sentence does not show {key}'s value {shown!r}: {message!r}")
    return problems


def test_refusal_check_accepts_only_one_sentence_with_key_value_and_fix() -> None:
    good = (
        "webapp:backupBucket is not set, but the cloudnative-pg engine archives to a bucket; "
        "fix it with: pulumi config set --stack prod webapp:backupBucket s3://my-bucket/prod"
    )
    assert refusal_problems("prod", good, {}) == []
    assert refusal_problems("prod", good + "\n" + good, {})
    assert refusal_problems("prod", "something went wrong", {})
    assert refusal_problems("dev", good, {})  # the fix is for another stack
    shown = good.replace("is not set", "is 'x'")
    assert refusal_problems("prod", shown, {"webapp:backupBucket": "s3://other"})


@pytest.mark.parametrize("stack", USER_STACK_NAMES)
def test_stack_file_renders_or_stops_with_one_sentence(stack: str) -> None:
    outcome = user_stack_outcome(stack)
    if isinstance(outcome, ProgramRun):
        assert outcome.kubernetes(), f"Pulumi.{stack}.yaml rendered no Kubernetes objects"
        return
    values = stack_file(stack, USER_STACKS).get("config") or {}
    assert refusal_problems(stack, str(outcome), values) == []


@pytest.mark.parametrize("stack", USER_STACK_NAMES)
def test_stack_file_values_are_declared_and_typed(stack: str) -> None:
    """What the CLI checks before the program runs: a key it does not know is the
    program's to refuse, but a declared key's value must have the declared type."""
    declared = project_file().get("config") or {}
    for full_key, value in (stack_file(stack, USER_STACKS).get("config") or {}).items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT or key not in declared:
            continue
        encrypted = isinstance(value, dict) and set(value) == {"secure"}
        if not encrypted:  # an encrypted value cannot be decrypted here to check its type
            assert cli_accepts(declared[key], value), f"{full_key}: {value!r}"


def _plaintext(value: Any) -> list[str]:
    """Paths of the values in `value` not encrypted (`secure:`) by the CLI."""
    return [path for path, secure in leaf_paths(value) if not secure]


@pytest.mark.parametrize("stack", USER_STACK_NAMES)
def test_stack_file_holds_no_plaintext_secret(stack: str) -> None:
    values = stack_file(stack, USER_STACKS).get("config") or {}
    for key in SECRET_KEYS:
        value = values.get(f"{PROJECT}:{key}")
        if value is None or value == {}:
            continue
        assert _plaintext(value) == [], (
            f"{PROJECT}:{key} in Pulumi.{stack}.yaml is in plaintext; set it with: pulumi "
            f"config set --stack {stack} --secret{' --path' if key == 'secretEnv' else ''} "
            f"{PROJECT}:{key}{'.NAME' if key == 'secretEnv' else ''} <value>"
        )
