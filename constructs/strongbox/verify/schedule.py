"""How long a rotation schedule may leave between two rotations."""

from __future__ import annotations

import re
from datetime import timedelta

from strongbox.schedule import longest_gap_hours

# The rotation window when RotationRules sets no Duration: Secrets Manager then rotates at any
# time of the scheduled UTC day.
DEFAULT_WINDOW = timedelta(hours=24)


def longest_gap(schedule: str) -> timedelta:
    """The longest time `schedule` lets pass between two scheduled rotations: exact for
    `rate(...)`, and for `cron(...)` the longest time between two consecutive windows
    (`strongbox.schedule.longest_gap_hours`, the bound the Config rules use too). ValueError
    when it is neither form."""
    try:
        return timedelta(hours=longest_gap_hours(schedule.strip()))
    except ValueError:
        raise ValueError(
            f"rotation schedule {schedule!r} is neither rate(...) nor cron(...)"
        ) from None


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
