"""The longest gap between two runs of a CronJob schedule, read as Kubernetes reads it."""

from __future__ import annotations

import pytest

from components._shared.cron import longest_gap_seconds

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize(
    ("schedule", "gap"),
    [
        ("0 3 * * *", DAY),
        ("@daily", DAY),
        ("@hourly", HOUR),
        ("*/15 * * * *", 15 * 60),
        ("0 */6 * * *", 6 * HOUR),
        ("0 1,13 * * *", 12 * HOUR),
        ("0 1,5 * * *", 20 * HOUR),
        # Friday to Monday.
        ("0 3 * * 1-5", 3 * DAY),
        ("0 3 * * mon-fri", 3 * DAY),
        ("@weekly", 7 * DAY),
        ("0 0 * * 7", 7 * DAY),
        # 31 days from a 31-day month's first to the next month's.
        ("@monthly", 31 * DAY),
        ("@yearly", 366 * DAY),
        # Four years between two 29 Februaries.
        ("0 0 29 2 *", (4 * 365 + 1) * DAY),
        # Both day fields restricted: either matches (odd days or Mondays).
        ("0 0 1-31/2 * 1", 2 * DAY),
        # A day-of-month step is no wildcard: still either.
        ("0 0 */2 * 1", 2 * DAY),
        # A wildcard day of month: the weekday alone decides.
        ("0 0 * * 1", 7 * DAY),
    ],
)
def test_longest_gap(schedule: str, gap: int) -> None:
    assert longest_gap_seconds(schedule) == gap


def test_a_schedule_that_never_runs_is_refused() -> None:
    with pytest.raises(ValueError, match="never runs"):
        longest_gap_seconds("0 0 30 2 *")
