"""How long a rotation schedule may leave between two rotations."""

from __future__ import annotations

import re
from datetime import timedelta

# The rotation window when RotationRules sets no Duration: Secrets Manager then rotates at any
# time of the scheduled UTC day.
DEFAULT_WINDOW = timedelta(hours=24)


def longest_gap(schedule: str) -> timedelta:
    """The longest time `schedule` lets pass between two scheduled rotations.

    `rate(N days)` and `rate(N hours)` are exact. A `cron(min hour dom month dow year)` schedule
    is bounded by its coarsest constrained field, an upper bound that never calls a rotation
    late when it is on time: a month field other than `*` allows a year (366 days); a
    day-of-week given as the nth (`2#1`) or last (`6L`) weekday of the month 35 days; a
    day-of-month other than `*`/`?` 31 days; any other day-of-week 7 days; an hour field other
    than `*` one day; otherwise one hour. ValueError when it is neither form.
    """
    rate = re.fullmatch(r"\s*rate\(\s*(\d+)\s+(day|days|hour|hours)\s*\)\s*", schedule)
    if rate:
        count = int(rate[1])
        return timedelta(days=count) if rate[2].startswith("day") else timedelta(hours=count)
    cron = re.fullmatch(r"\s*cron\((.*)\)\s*", schedule)
    fields = cron[1].split() if cron else []
    if len(fields) != 6:
        raise ValueError(f"rotation schedule {schedule!r} is neither rate(...) nor cron(...)")
    _, hours, day_of_month, month, day_of_week, _ = fields
    if month != "*":
        return timedelta(days=366)
    if "#" in day_of_week or day_of_week.endswith("L"):
        return timedelta(days=35)
    if day_of_month not in ("*", "?"):
        return timedelta(days=31)
    if day_of_week not in ("*", "?"):
        return timedelta(days=7)
    if hours != "*":
        return timedelta(days=1)
    return timedelta(hours=1)


def window(duration: str | None) -> timedelta:
    """A rotation window (`Duration`, `"4h"`) as a time span; 24 hours when none is set."""
    if duration is None:
        return DEFAULT_WINDOW
    found = re.fullmatch(r"\s*(\d+)h\s*", duration)
    if not found:
        raise ValueError(f"rotation window {duration!r} is not a number of hours such as '4h'")
    return timedelta(hours=int(found[1]))


def spoken(span: timedelta) -> str:
    """`timedelta(days=30)` -> `30 days`, `timedelta(hours=724)` -> `30 days 4 hours`."""
    hours = int(span.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    parts = [f"{days} day" + ("" if days == 1 else "s")] if days else []
    parts += [f"{hours} hour" + ("" if hours == 1 else "s")] if hours or not days else []
    return " ".join(parts)
