"""The program's read of its own stack's last outputs (stack_settings/history.py) through
the real CLI and its file backend, which needs no cluster.

A file backend keeps each file's metadata in a `<file>.attrs` file beside it and rewrites it
in place (create, then write) whenever it saves a checkpoint; a read in between finds it
empty and fails with "failed to load checkpoint: EOF". That is how prod's first update
once failed here, when the program read its outputs through a StackReference (a read the
engine makes itself, whose failure fails the update). Here the metadata file is held empty
while the program reads, as a save in progress leaves it, and the program still gets the
last update's outputs: it reads again after a pause. (A preview, which saves nothing, so only
the held-empty file stands in the way.)"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pulumi
from pulumi import automation as auto

from tests.e2e.engine import PASSPHRASE, ROOT, Toolchain, engine_env

PROJECT = "history-probe"
STACK = "probe"
# Longer than the program's first pauses between reads, shorter than all of them.
HELD_EMPTY_SECONDS = 0.8


def _checkpoint_metadata(state: Path) -> Path:
    (found,) = (state / ".pulumi" / "stacks").rglob(f"{STACK}.json.attrs")
    return found


def _hold_empty(path: Path) -> None:
    """What a save in progress leaves for a moment: the metadata file truncated."""
    content = path.read_bytes()
    path.write_bytes(b"")
    timer = threading.Timer(HELD_EMPTY_SECONDS, path.write_bytes, args=(content,))
    timer.start()


def test_the_last_outputs_are_read_while_the_backend_rewrites_its_metadata(
    work: Path, bin_dir: Path | None
) -> None:
    state = work / "history-state"
    state.mkdir()
    home = None if bin_dir is None else work / "history-home"
    if home is not None:
        home.mkdir()
    env = engine_env(bin_dir, state, work / "no-kubeconfig", home)
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    toolchain = Toolchain(env=env, policy_pack=work, work=work)
    read: dict[str, object] = {}

    def program() -> None:
        if not read:
            pulumi.export("databaseStorageSize", "20Gi")
            return
        from stack_settings.history import last_update

        _hold_empty(_checkpoint_metadata(state))
        last_update(STACK).get_output("databaseStorageSize").apply(
            lambda value: read.__setitem__("previous", value)
        )

    project = work / "history-project"
    project.mkdir()
    stack = auto.create_or_select_stack(
        stack_name=STACK,
        project_name=PROJECT,
        program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(project), env_vars=env, pulumi_command=toolchain.pulumi_command()
        ),
    )
    cwd = os.getcwd()
    os.chdir(ROOT)  # the program imports stack_settings as the project's own module
    try:
        stack.up(color="never")
        read["first"] = True
        # A preview saves no checkpoint: only the held-empty file stands in the way.
        stack.preview(color="never")
    finally:
        os.chdir(cwd)
        stack.workspace.remove_stack(STACK, force=True)
    assert read.get("previous") == "20Gi", read
