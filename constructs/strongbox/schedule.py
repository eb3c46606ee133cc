"""How far apart a rotation schedule's rotations can be: the longest gap between two of its
windows, for `rate(...)` and for the `cron(...)` expressions Secrets Manager takes.

Plain Python (no aws-cdk-lib), so `strongbox verify` and the config model share it.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
import re

_RATE = re.compile(r"^rate\((\d+) (hour|hours|day|days)\)\Z")
_CRON = re.compile(r"^cron\(([^()]+)\)\Z")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# Four years hold every month length and weekday alignment a schedule can meet, a leap year
# included; the gap that wraps from the last window back to the first is counted too.
_YEARS = 4
_FIRST = datetime.date(2027, 1, 1)


def longest_gap_hours(expression: str) -> int:
    """The most hours from one window's start to the next's for `expression`, or ValueError if it
    is not a schedule this module reads (`rate(N hours|days)`, or a six-field cron with minutes
    0 and year `*`, as Secrets Manager takes them)."""
    rate = _RATE.match(expression)
    if rate:
        return int(rate.group(1)) * (1 if rate.group(2).startswith("hour") else 24)
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(f"{expression!r} is not a rate(...) or cron(...) schedule")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: a cron expression has 6 fields")
    _minutes, hours, day_of_month, month, day_of_week, _year = fields
    start_hours = sorted(_values(hours, 0, 23, ()))
    months = _values(month, 1, 12, _MONTHS)
    starts: list[int] = []  # hours since _FIRST
    for offset in range(_days_in_years()):
        day = _FIRST + datetime.timedelta(days=offset)
        if day.month in months and _day_matches(day, day_of_month, day_of_week):
            starts.extend(offset * 24 + hour for hour in start_hours)
    if not starts:
        raise ValueError(f"{expression!r} never matches a day")
    span = _days_in_years() * 24
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    return max([*gaps, starts[0] + span - starts[-1]])


def _days_in_years() -> int:
    return (datetime.date(_FIRST.year + _YEARS, 1, 1) - _FIRST).days


def _day_matches(day: datetime.date, day_of_month: str, day_of_week: str) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if day_of_week == "?":
        if day_of_month == "L":
            return day.day == last
        return day.day in _values(day_of_month, 1, 31, ())
    weekday = (day.weekday() + 1) % 7 + 1  # cron: 1 = SUN ... 7 = SAT
    return any(_weekday_matches(part, day, weekday, last) for part in day_of_week.split(","))


def _weekday_matches(part: str, day: datetime.date, weekday: int, last: int) -> bool:
    """One item of a day-of-week field: `*`, a day, a range, `<day>L` (the month's last such
    day) or `<day>#<n>` (its n-th)."""
    special = re.fullmatch(r"(\d|[A-Z]{3})(L|#(\d))", part)
    if special:
        if weekday != _number(special.group(1), _DAYS):
            return False
        if special.group(2) == "L":
            return day.day + 7 > last
        return (day.day - 1) // 7 + 1 == int(special.group(3))
    return weekday in _values(part, 1, 7, _DAYS)


def _values(field: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The numbers a cron field (`*`, `?`, lists of values, ranges and steps) selects."""
    if field in ("*", "?"):
        return set(range(low, high + 1))
    selected: set[int] = set()
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\w+)(?:-(\w+))?(?:/(\d+))?", part)
        if not match:
            raise ValueError(f"cron field {field!r} is not one this module reads")
        first = low if match.group(1) == "*" else _number(match.group(1), names)
        if match.group(2):
            final = _number(match.group(2), names)
        elif match.group(1) == "*" or match.group(3):
            final = high
        else:
            final = first
        selected.update(range(first, final + 1, int(match.group(3) or 1)))
    return selected


def _number(text: str, names: tuple[str, ...]) -> int:
    return names.index(text) + 1 if text in names else int(text)
