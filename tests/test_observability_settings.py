"""Config checks of the monitoring and log keys: one sentence per bad value, like every
other key's (tests/test_settings.py)."""

from __future__ import annotations

import pytest

from components.settings import ConfigError
from tests.harness import run_main

FIX = "fix it with: pulumi config set --stack dev"
SLOW_ALLOWED = (
    "but it must be -1 (no slow statement log) or a whole number of milliseconds from 0 to "
    "3600000 (0 logs every statement)"
)

BAD_VALUES = [
    (
        {"webapp:dbSlowQueryMs": "-5"},
        f"webapp:dbSlowQueryMs is '-5', {SLOW_ALLOWED}; {FIX} webapp:dbSlowQueryMs -1",
    ),
    (
        {"webapp:dbSlowQueryMs": "1.5s"},
        f"webapp:dbSlowQueryMs is '1.5s', {SLOW_ALLOWED}; {FIX} webapp:dbSlowQueryMs 500",
    ),
]


@pytest.mark.parametrize(("config", "message"), BAD_VALUES, ids=lambda v: str(v)[:40])
def test_bad_value_stops_the_program_with_one_sentence(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        run_main("dev", config)
    assert str(raised.value) == message


def test_the_slow_statement_threshold_reaches_the_server() -> None:
    run = run_main("dev", {"webapp:dbSlowQueryMs": "250"})
    (statefulset,) = run.of_type("kubernetes:apps/v1:StatefulSet")
    (server,) = [
        c
        for c in statefulset.manifest()["spec"]["template"]["spec"]["containers"]
        if c["name"] == "postgres"
    ]
    assert "log_min_duration_statement=250" in server["args"]
