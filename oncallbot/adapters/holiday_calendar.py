"""Holidays from the `holidays` package plus the team's extra dates, as a date -> name lookup."""

import importlib.util
import sys
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import holidays

LOOKUPS_KEPT = 4096  # days remembered by one lookup: a decade of them
COPIED_YEARS = (1, 2)  # a copied lookup carries the holidays of the year before and the two after its day


def country_holidays(country: str, subdivision: str | None) -> "holidays.HolidayBase":
    """`holidays.country_holidays`, loading the one country's module. The library's own lookup imports the
    package `holidays.countries`, whose __init__ imports every country (about 250 modules, the largest part
    of a CLI command's start-up), where a team needs one. Anything unusual goes to the library's lookup."""
    import holidays  # the package itself is a fifth of a command's start-up: loaded when a day is looked up
    from holidays.registry import COUNTRIES

    module_name = next((name for name, (_, *codes) in COUNTRIES.items() if country in codes), None)
    full_name = f"holidays.countries.{module_name}"
    path = Path(holidays.__file__).parent / "countries" / f"{module_name}.py"
    if module_name is None or "holidays.countries" in sys.modules or not path.is_file():
        return holidays.country_holidays(country, subdiv=subdivision)
    module = sys.modules.get(full_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(full_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[full_name] = module  # the package, if imported later, takes this module as it is
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[full_name]
            raise
    entity: type[holidays.HolidayBase] = getattr(module, COUNTRIES[module_name][0])
    return entity(subdiv=subdivision)


def calendar_problem(country: str, subdivision: str | None) -> str | None:
    """Why the `holidays` package has no calendar for this country and subdivision, as a config problem."""
    try:
        country_holidays(country, subdivision)
    except NotImplementedError:
        return f'holidays.country: "{country}" is not a supported country code'
    except Exception as exc:  # the library says which subdivisions exist
        return f"holidays.subdivision: {exc}"
    return None


class HolidayLookup:
    """The team's holidays, as a date -> name lookup (domain.responsibility.HolidayLookup). The country's
    calendar is built at the first lookup. A copy (pickle: `oncallbot who`'s cached setup) carries the
    country, the subdivision, the extra dates and the country's holidays of the years around the day it was
    taken (COPIED_YEARS), so the copy answers for those years without loading the holidays package."""

    def __init__(self, country: str | None, subdivision: str | None, extra_dates: Iterable[date],
                 known: Mapping[date, str] | None = None, years: Iterable[int] = ()):
        self.country, self.subdivision, self.extra = country, subdivision, frozenset(extra_dates)
        self._known, self._years = dict(known or {}), frozenset(years)  # the country's, for those years
        self._calendar: dict | holidays.HolidayBase | None = None
        self._seen: dict[date, str | None] = {}

    def __call__(self, day: date) -> str | None:
        if day in self._seen:
            return self._seen[day]
        if day in self.extra:
            name: str | None = "Office closed (team holiday)"
        elif day.year in self._years:
            name = self._known.get(day)
        else:
            name = self._country_calendar().get(day)
        if len(self._seen) < LOOKUPS_KEPT:
            self._seen[day] = name
        return name

    def _country_calendar(self) -> "dict | holidays.HolidayBase":
        if self._calendar is None:
            self._calendar = country_holidays(self.country, self.subdivision) if self.country else {}
        return self._calendar

    def __getstate__(self) -> tuple:
        this_year = date.today().year
        years = range(this_year - COPIED_YEARS[0], this_year + COPIED_YEARS[1] + 1)
        calendar = self._country_calendar()
        for year in years:  # the library fills in a year when a day of it is asked for
            calendar.get(date(year, 1, 1))
        known = {day: str(name) for day, name in calendar.items() if day.year in years}
        return self.country, self.subdivision, self.extra, known, tuple(years)

    def __setstate__(self, state: tuple) -> None:
        self.__init__(*state)  # type: ignore[misc]


def holiday_lookup(country: str | None, subdivision: str | None, extra_dates: Iterable[date]) -> HolidayLookup:
    return HolidayLookup(country, subdivision, extra_dates)
