"""Holidays from the `holidays` package plus the team's extra dates, as a date -> name lookup."""

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

import holidays


def calendar_problem(country: str, subdivision: str | None) -> str | None:
    """Why the `holidays` package has no calendar for this country and subdivision, as a config problem."""
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        return f'holidays.country: "{country}" is not a supported country code'
    except Exception as exc:  # the library says which subdivisions exist
        return f"holidays.subdivision: {exc}"
    return None


def holiday_lookup(country: str | None, subdivision: str | None, extra_dates: Iterable[date]):
    extra = frozenset(extra_dates)
    calendar = holidays.country_holidays(country, subdiv=subdivision) if country else {}

    @lru_cache(maxsize=4096)
    def holiday_on(day: date) -> str | None:
        if day in extra:
            return "Office closed (team holiday)"
        return calendar.get(day) if country else None

    return holiday_on
