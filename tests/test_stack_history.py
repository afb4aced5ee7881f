"""The program's read of its own stack's last outputs (stack_settings/history.py), which
every guard against an impossible change compares with.

A file backend rewrites the checkpoint's metadata file in place while an update runs, and a
read at that moment fails with "failed to load checkpoint: EOF" (seen in the real-engine
suite on a stack's first update). The read is the engine's readStackOutputs function, so
the program reads again; the guards then work as before, and a backend that stays
unreadable stops the program with one sentence instead of a guard passing blind."""

from __future__ import annotations

from typing import Any

import pytest

from stack_settings import ConfigError, history
from tests.harness import Mocks, RecordingMonitor, run_main

EOF = (
    "invocation of pulumi:pulumi:readStackOutputs returned an error: failed to load checkpoint: EOF"
)


class FlakyBackend(Mocks):
    """A backend whose first `failures` reads of the stack's outputs fail as a file
    backend's do while it rewrites the checkpoint."""

    def __init__(self, failures: int, stack_outputs: dict[str, Any]) -> None:
        super().__init__(stack_outputs=stack_outputs)
        self.failures = failures
        self.reads = 0

    def call(self, args: Any) -> tuple[dict, list]:
        if args.token == history.READ_STACK_OUTPUTS:
            self.reads += 1
            if self.reads <= self.failures:
                return {}, [("name", EOF)]
        return super().call(args)


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "PAUSES", (0.0,) * len(history.PAUSES))


def test_the_guards_work_through_a_read_that_failed_while_the_checkpoint_was_written() -> None:
    backend = FlakyBackend(failures=2, stack_outputs={"databaseStorageSize": "20Gi"})
    with pytest.raises(ConfigError) as raised:
        run_main("prod", {"webapp:storageSize": "10Gi"}, monitor=RecordingMonitor(backend))
    assert "the database volume is 20Gi and a volume can grow but never shrink" in str(raised.value)
    # One read per run, repeated until it succeeded.
    assert backend.reads == 3


def test_a_stack_read_after_a_failure_deploys_as_usual() -> None:
    backend = FlakyBackend(failures=1, stack_outputs={"databaseStorageSize": "20Gi"})
    run_ = run_main("prod", {}, monitor=RecordingMonitor(backend))
    assert run_.outputs["databaseStorageSize"].value == "20Gi"
    assert backend.reads == 2


def test_a_backend_that_stays_unreadable_stops_the_program_with_one_sentence() -> None:
    backend = FlakyBackend(failures=len(history.PAUSES) + 1, stack_outputs={})
    with pytest.raises(history.HistoryError) as raised:
        run_main("prod", {}, monitor=RecordingMonitor(backend))
    message = str(raised.value)
    assert message.startswith("the outputs of stack prod's last update, which its guards ")
    assert "failed to load checkpoint: EOF" in message and "\n" not in message
    assert message.endswith("so nothing is changed; run the command again")
    assert backend.reads == len(history.PAUSES) + 1
