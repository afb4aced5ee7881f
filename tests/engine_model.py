"""What the Pulumi engine and the Kubernetes provider decide from the registrations that a
mock run records, for the decisions a mock run cannot make itself: the order of a
`pulumi destroy` and which deletions it refuses, and which changes replace an object
(and whether the old object is deleted first).

Each rule is the engine's or the provider's own, as the sources pinned by tools/e2e have
it (the e2e suite checks the same outcomes against the real CLI):
- pulumi/pkg/v3 resource/deploy/step_generator.go `ScheduleDeletes`: deletions run in
  antichains, an object only after every object that depends on it (its dependencies,
  parent and provider, resource/graph/dependency_graph.go `DependenciesOf`);
- resource/deploy/step_executor.go `cancelDueToError`: a refused deletion of a protected
  object (`deleteProtectedError`) does not stop the destroy; deployment_executor.go
  then skips only the transitive dependencies of the refused object;
- pulumi-kubernetes provider/pkg/provider/diff.go `forceNewProperties`: a Secret's
  `type`, `data` and `stringData` replace it unless the provider sets
  `enableSecretMutable` (a ConfigMap's `data`/`binaryData` likewise with
  `enableConfigMapMutable`); provider.go `Diff`: a replacement that keeps the object's
  name and namespace deletes the old object first.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.harness import ProgramRun, Registration


@dataclass(frozen=True)
class Destroy:
    deleted: list[str]
    refused: list[str]
    kept: list[str]


def _provider_urn(reference: str) -> str:
    return reference.rsplit("::", 1)[0] if reference else ""


def _dependencies(run: ProgramRun, record: Registration, order: dict[str, int]) -> set[str]:
    by_urn = run.by_urn()
    found: set[str] = set()
    for urn in [*record.dependencies, _provider_urn(record.provider)]:
        if urn not in by_urn:
            continue
        found.add(urn)
        if not by_urn[urn].custom:
            # A component stands for its descendants registered before the object.
            found |= {
                child.urn
                for child in run.registrations
                if _descends_from(run, child, urn) and order[child.urn] < order[record.urn]
            }
    if record.parent in by_urn:
        found.add(record.parent)
    return found


def _descends_from(run: ProgramRun, record: Registration, ancestor: str) -> bool:
    by_urn = run.by_urn()
    parent = record.parent
    while parent in by_urn:
        if parent == ancestor:
            return True
        parent = by_urn[parent].parent
    return False


def destroy(run: ProgramRun) -> Destroy:
    """`pulumi destroy` of everything `run` registered, as the engine runs it."""
    order = {record.urn: index for index, record in enumerate(run.registrations)}
    by_urn = run.by_urn()
    graph = {urn: _dependencies(run, by_urn[urn], order) for urn in order}
    condemned = set(order)
    antichains: list[list[str]] = []
    while condemned:
        ready = sorted(urn for urn in condemned if not graph[urn] & condemned)
        assert ready, "a dependency cycle"
        antichains.append(ready)
        condemned -= set(ready)
    antichains.reverse()

    def transitive(urn: str) -> set[str]:
        seen: set[str] = set()
        pending = list(graph[urn])
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(graph[current])
        return seen

    deleted: list[str] = []
    refused: list[str] = []
    skipped: set[str] = set()
    for antichain in antichains:
        for urn in refused:
            skipped |= transitive(urn)
        for urn in antichain:
            if urn in skipped:
                continue
            if by_urn[urn].protect:
                refused.append(urn)
            else:
                deleted.append(urn)
    kept = [urn for urn in order if urn not in deleted]
    return Destroy(deleted=deleted, refused=refused, kept=kept)


def _kind(record: Registration) -> str:
    return record.type.rsplit(":", 1)[-1]


def replaces(old: Registration, new: Registration) -> bool:
    """Whether the provider replaces `old` by `new` (for the kinds whose replacement rules
    depend on data: Secrets and ConfigMaps, under the provider's defaults), besides the
    name and namespace that replace every object."""
    old_meta, new_meta = old.inputs.get("metadata") or {}, new.inputs.get("metadata") or {}
    if not old_meta.get("name") and old.inputs != new.inputs:
        return True  # auto-named: changed content gets a new name (see deletes_first)
    if (old_meta.get("name"), old_meta.get("namespace")) != (
        new_meta.get("name"),
        new_meta.get("namespace"),
    ):
        return True
    fields = {"Secret": ("type", "data", "stringData"), "ConfigMap": ("data", "binaryData")}
    return any(old.inputs.get(key) != new.inputs.get(key) for key in fields.get(_kind(old), ()))


def deletes_first(old: Registration, new: Registration) -> bool:
    """A replacement of an object whose name is fixed and stays the same: the provider has
    the engine delete the old object before it creates the new one."""
    name = (old.inputs.get("metadata") or {}).get("name")
    same_place = (old.inputs.get("metadata") or {}).get("namespace") == (
        new.inputs.get("metadata") or {}
    ).get("namespace")
    return (
        bool(name)
        and replaces(old, new)
        and same_place
        and name == (new.inputs.get("metadata") or {}).get("name")
    )
