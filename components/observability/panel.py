"""What a dashboard panel is (a title, a kind, PromQL queries), and the panels both
engines' rows share."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Query:
    expr: str
    legend: str


@dataclass
class Panel:
    title: str
    kind: str
    queries: list[Query]
    width: int
    unit: str = "short"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# The row title that says why a dashboard has no backup panels.
NO_BACKUPS = "no backups: the stack runs without them"


def query(expr: str, legend: str) -> Query:
    return Query(expr, legend)


def two_states(zero: tuple[str, str], one: tuple[str, str]) -> dict:
    """A stat panel that names the values 0 and 1 (text, colour) instead of showing them."""
    options = {
        value: {"text": text, "color": color} for value, (text, color) in (("0", zero), ("1", one))
    }
    return {"mappings": [{"type": "value", "options": options}]}


def volumes_panel(ns: str, description: str) -> Panel:
    return Panel(
        "Volume usage",
        "timeseries",
        [
            query(
                "max by (persistentvolumeclaim) (\n"
                f"  kubelet_volume_stats_used_bytes{ns}\n"
                f"  / kubelet_volume_stats_capacity_bytes{ns}\n)",
                "{{persistentvolumeclaim}}",
            )
        ],
        12,
        unit="percentunit",
        description=description,
        extra={"min": 0, "max": 1},
    )


def cache_hit_panel(hits: str, reads: str) -> Panel:
    """The share of blocks found in shared buffers, from an engine's counters."""
    return Panel(
        "Cache hit ratio",
        "timeseries",
        [query(f"{hits}\n/ ({hits}\n  + {reads})", "{{datname}}")],
        8,
        unit="percentunit",
        description="Blocks found in shared buffers; below about 99% the working set "
        "does not fit in memory.",
        extra={"min": 0, "max": 1},
    )
