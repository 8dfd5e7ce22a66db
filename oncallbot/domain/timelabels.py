"""Parsing the labels the procedure is written in: "Mon 18:01", "07:00", "15m"."""

import re
from dataclasses import dataclass
from datetime import time, timedelta

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_weekday(text: str) -> int:
    """'Mon' (any case, or the full name) -> 0."""
    key = str(text).strip()[:3].title()
    if key not in WEEKDAYS or len(str(text).strip()) < 3:
        raise ValueError(f'"{text}" is not a weekday (use Mon, Tue, ... Sun)')
    return WEEKDAYS.index(key)


def parse_clock(text: str) -> time:
    """'18:01' -> time(18, 1). Seconds are not part of a label."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(text))
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f'"{text}" is not a time')
    return time(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class WeeklyTime:
    """A minute label on a weekday, e.g. Monday 18:01."""

    weekday: int
    at: time

    @classmethod
    def parse(cls, text: str) -> "WeeklyTime":
        parts = str(text).split()
        if len(parts) != 2:
            raise ValueError(f'"{text}" is not a time (expected a weekday and a time, e.g. "Mon 18:01")')
        try:
            weekday = parse_weekday(parts[0])
            at = parse_clock(parts[1])
        except ValueError:
            raise ValueError(f'"{text}" is not a time') from None
        return cls(weekday, at)

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.at:%H:%M}"


def parse_duration(text: str | int | float) -> timedelta:
    """'15m', '5d', '30s', '2h', '1w' -> timedelta. A bare number is seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f'"{text}" is not a duration (use e.g. 30s, 15m, 2h, 5d, 1w)')
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
