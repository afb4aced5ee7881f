"""Pure rules of the CloudNativePG engine: PostgreSQL sizing from the memory limit, and the
conversion of the project's five-field backup schedule into CNPG's six-field one.

Sizing rule (memory limit L of each instance, in kB, the unit PostgreSQL counts in):
  shared_buffers       = 25 % of L   (PostgreSQL's own guidance for a dedicated server)
  effective_cache_size = 75 % of L   (a planner hint, allocates nothing)
  max_connections      = L / 16 MiB, clamped to 25..400: each backend costs a few MiB
                         of private memory before it sorts anything, so a small pod
                         cannot carry hundreds of them
  work_mem             = (L - shared_buffers) / (3 * max_connections), at least 64 kB:
                         the memory left beside the buffers shared by every connection,
                         each running up to three sort or hash steps at once. Below
                         400 connections this is PostgreSQL's default of 4 MB; above
                         ~6.25 GiB it grows with L.
shared_buffers and effective_cache_size are whole 8 kB pages (PostgreSQL's block size).
Values are strings with units, as CNPG takes only strings for parameters.
"""

import re
from decimal import Decimal

from ..._shared.quantity import parse_quantity

MIB_KB = 1024
BLOCK_KB = 8
MIN_CONNECTIONS = 25
MAX_CONNECTIONS = 400
KB_PER_CONNECTION = 16 * MIB_KB
SORTS_PER_QUERY = 3
# PostgreSQL's lower bound for work_mem.
MIN_WORK_MEM_KB = 64


def memory_kb(quantity: str) -> int:
    """A Kubernetes memory quantity in whole kB (rounded down)."""
    value, _ = parse_quantity(quantity)
    return int(value // 1024)


def postgres_size(kb: int) -> str:
    """kB as PostgreSQL reads them: MB or GB when exact (1 MB = 1024 kB in PostgreSQL)."""
    for unit, size in (("GB", MIB_KB * MIB_KB), ("MB", MIB_KB)):
        if kb % size == 0 and kb >= size:
            return f"{kb // size}{unit}"
    return f"{kb}kB"


def _whole_blocks(kb: int) -> int:
    return kb - kb % BLOCK_KB


def postgres_parameters(memory_limit: str) -> dict[str, str]:
    """postgresql.conf settings for an instance limited to `memory_limit`."""
    limit = memory_kb(memory_limit)
    shared_buffers = _whole_blocks(limit // 4)
    connections = max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, limit // KB_PER_CONNECTION))
    work_mem = max(MIN_WORK_MEM_KB, (limit - shared_buffers) // (SORTS_PER_QUERY * connections))
    return {
        "shared_buffers": postgres_size(shared_buffers),
        "effective_cache_size": postgres_size(_whole_blocks(limit * 3 // 4)),
        "max_connections": str(connections),
        "work_mem": postgres_size(work_mem),
    }


def shared_buffers_bytes(memory_limit: str) -> Decimal:
    return Decimal(_whole_blocks(memory_kb(memory_limit) // 4) * 1024)


# robfig/cron (v1.2.0, what CNPG 1.30 parses ScheduledBackup.spec.schedule with) takes
# these descriptors as they are.
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DOW_ITEM = re.compile(r"^(?P<start>\d+)(?:-(?P<end>\d+))?(?:/(?P<step>\d+))?$")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day_number(word: str) -> str:
    return str(_DAY_NAMES.index(word)) if word in _DAY_NAMES else word


def _day_of_week(field: str) -> str:
    """Kubernetes' cron takes 7 for Sunday; robfig/cron stops at 6, so 7 becomes 0 (a
    range or step through 7 is written out as a list)."""
    items = []
    for item in field.split(","):
        numeric = re.sub("[a-z]+", lambda word: _day_number(word[0]), item.lower())
        match = _DOW_ITEM.match(numeric)
        if match is None or "7" not in (match.group("start"), match.group("end")):
            items.append(item)
            continue
        start = int(match.group("start"))
        end = int(match.group("end") or (7 if match.group("step") else start))
        step = int(match.group("step") or 1)
        days = sorted({day % 7 for day in range(start, end + 1, step)})
        items.append(",".join(str(day) for day in days))
    return ",".join(items)


def cnpg_schedule(schedule: str) -> str:
    """`0 3 * * *` (minute hour day month weekday) -> `0 0 3 * * *` (seconds first).

    robfig/cron also accepts five fields, but reads them as seconds, minutes, hours, day
    and month: `0 3 * * *` would run at minute 3 of every hour. So the seconds field is
    always written out."""
    if schedule in CRON_DESCRIPTORS:
        return schedule
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"a backup schedule has five fields or is a descriptor: {schedule!r}")
    minute, hour, day, month, weekday = fields
    return " ".join(("0", minute, hour, day, month, _day_of_week(weekday)))
