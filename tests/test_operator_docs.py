"""Docs an operator follows after a review (issue 17's operator review): each check fails on
the sentence that was wrong before."""

from __future__ import annotations

from tests.harness import ROOT


def _section(doc: str, heading: str) -> str:
    text = (ROOT / "docs" / doc).read_text()
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_the_rollout_wait_compares_the_memory_limit_and_says_what_it_misses() -> None:
    section = _section("operations.md", "## What `pulumi up` waits for")
    assert "resources.limits.memory" in section
    assert "$IMAGE $CPU $MEMORY" in section
    assert "What the loop does not cover" in section
    assert "kubectl cnpg status" in section.split("What the loop does not cover", 1)[1]


def test_the_engine_switch_says_one_instance_on_one_node() -> None:
    section = _section("engines.md", "### Moving a stack to cloudnative-pg")
    assert "pulumi config set --stack dev webapp:dbInstances 1" in section


def test_the_integration_notes_describe_what_is_rendered() -> None:
    text = (ROOT / "docs" / "cnpg-integration.md").read_text()
    assert "waitFor: condition=Ready`;" not in text
    assert "jsonpath={.status.readyInstances}" in text
    assert "`<name>-objectstore-s3` (only when the stack gives" in text


def test_networking_says_what_cnpg_status_needs_and_what_the_cidrs_narrow() -> None:
    text = (ROOT / "docs" / "networking.md").read_text()
    assert "## `kubectl cnpg status`" in text
    assert "narrows only\n6443" in text
