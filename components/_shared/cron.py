"""How often a CronJob schedule runs, so that alerts can tell a late backup from a normal
gap between two runs.

The schedule is read the way Kubernetes reads it (robfig/cron v3, standard parser):
five fields or a macro; `N/step` means N to the field's end; when both day fields are
restricted a day matches either of them, and a field written `*` or `?` (without a
step) makes the two combine with AND. stack_settings/ has checked the syntax already.
"""

from datetime import date, timedelta
from functools import cache
from itertools import pairwise

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# minute, hour, day of month, month, day of week
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
# Weekdays and leap years repeat every 28 years between 1901 and 2099: every gap a
# schedule can have shows up in this span (a 29 February schedule's four years too).
_FIRST_DAY = date(2001, 1, 1)
_DAYS = 28 * 365 + 7
_DAY_SECONDS = 86400


def _value(text: str, field: int) -> int:
    if field == 3 and text.lower() in _MONTHS:
        return _MONTHS.index(text.lower()) + 1
    if field == 4 and text.lower() in _WEEKDAYS:
        return _WEEKDAYS.index(text.lower())
    # The settings check takes 7 for Sunday, as classic cron does.
    return 0 if field == 4 and text == "7" else int(text)


def _field(text: str, field: int) -> tuple[set[int], bool]:
    """The values a field matches, and whether it counts as unrestricted (`*` or `?`)."""
    low, high = _BOUNDS[field]
    values: set[int] = set()
    star = False
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            first, _, last = base.partition("-")
            start = _value(first, field)
            end = _value(last, field) if last else (high if step_text else start)
        values.update(range(start, end + 1, step))
    return values, star


# Every run of the program asks for its schedules' gaps two or three times, and walking 28
# years of days takes about 10 ms.
@cache
def longest_gap_seconds(schedule: str) -> int:
    """The longest time between two consecutive runs of `schedule`, in seconds. Raises
    ValueError for a schedule that never runs (such as 30 February)."""
    text = _MACROS.get(schedule, schedule)
    fields = [_field(part, index) for index, part in enumerate(text.split())]
    (minutes, _), (hours, _), (days, any_day), (months, _), (weekdays, any_weekday) = fields
    times_of_day = sorted(hour * 3600 + minute * 60 for hour in hours for minute in minutes)
    within_a_day = max((later - earlier for earlier, later in pairwise(times_of_day)), default=0)
    longest, previous_day, run_days = 0, None, 0
    for offset in range(_DAYS):
        day = _FIRST_DAY + timedelta(days=offset)
        if day.month not in months:
            continue
        day_matches = day.day in days
        # Python counts Monday as 0; cron counts Sunday as 0.
        weekday_matches = (day.weekday() + 1) % 7 in weekdays
        either = day_matches or weekday_matches
        if not ((day_matches and weekday_matches) if (any_day or any_weekday) else either):
            continue
        run_days += 1
        if previous_day is not None:
            # From the day's last run to the next run day's first.
            gap = (offset - previous_day) * _DAY_SECONDS + times_of_day[0] - times_of_day[-1]
            longest = max(longest, gap)
        previous_day = offset
    if run_days < 2:
        raise ValueError(f"the schedule {schedule!r} never runs")
    return max(longest, within_a_day)
