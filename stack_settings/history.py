"""What this stack's last update left: its own outputs, read from the backend (none on a
first update). Guards compare them with what the stack asks for now, so a change the
cluster cannot make stops the program already at `pulumi preview`, with or without a
cluster (the outputs come from the backend).

The outputs are read with the engine's `pulumi:pulumi:readStackOutputs` function, the one a
StackReference's read uses, rather than with a StackReference: a StackReference is a read
step the engine performs itself, and a failed read fails the whole update with nothing the
program can do about it. A file backend (`pulumi login file://...`, the Makefile's default)
rewrites the checkpoint's metadata file in place whenever it saves the checkpoint, which an
update does as soon as it starts (a stack's first update most of all: the stack and its
provider are created then); a read at that moment finds the file empty and fails with
"failed to load checkpoint: EOF". A function call is the program's own, so it reads again
after a pause, and fails only if the backend stays unreadable."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
from pulumi.runtime.settings import get_root_resource

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
# Seconds between reads: the file is rewritten in milliseconds, and a backend still
# unreadable after these is a real failure.
PAUSES = (0.1, 0.3, 1.0, 2.0)


class HistoryError(pulumi.RunError):
    """The backend would not say what the last update left; the CLI prints the message."""


class LastUpdate:
    """The outputs of the stack's last update, read once per program run."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack}"
        read = asyncio.ensure_future(self._outputs())
        # Its error reaches the user through the guards that await it; a run that stops
        # before they do must not also print it as a never-retrieved exception.
        read.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._read = pulumi.Output.from_input(read)

    async def _outputs(self) -> dict[str, Any]:
        errors: list[str] = []
        for pause in (*PAUSES, None):
            try:
                result = await pulumi.runtime.invoke_async(READ_STACK_OUTPUTS, {"name": self.name})
            # The engine's error, whatever its type: the read is tried again.
            except Exception as error:
                errors.append(str(error))
                if pause is None:
                    break
                await asyncio.sleep(pause)
                continue
            outputs = dict((result or {}).get("outputs") or {})
            secret = set((result or {}).get("secretOutputNames") or [])
            return {name: (name in secret, value) for name, value in outputs.items()}
        raise HistoryError(
            f"the outputs of stack {self.stack}'s last update, which its guards compare "
            f"with, could not be read from the backend after {len(errors)} tries "
            f"({errors[-1]}), so nothing is changed; run the command again"
        )

    def get_output(self, name: str) -> pulumi.Output[Any]:
        """The output `name` of the last update; None if it had none (or there was none).
        A secret output stays secret."""

        def pick(outputs: dict[str, tuple[bool, Any]]) -> pulumi.Output[Any]:
            secret, value = outputs.get(name, (False, None))
            return pulumi.Output.secret(value) if secret else pulumi.Output.from_input(value)

        return self._read.apply(pick)

    def deployed(self) -> pulumi.Output[bool]:
        """Whether an update of this stack has completed (it left outputs)."""
        return self._read.apply(bool)


# One read per program run (the key changes with each run's root resource).
_READS: dict[tuple[int, str], LastUpdate] = {}


def last_update(stack: str) -> LastUpdate:
    key = (id(get_root_resource()), stack)
    if key not in _READS:
        _READS[key] = LastUpdate(stack)
    return _READS[key]
