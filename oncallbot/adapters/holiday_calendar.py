"""Holidays from the `holidays` package plus the team's extra dates, as a date -> name lookup."""

import importlib.util
import sys
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from pathlib import Path

import holidays
from holidays.registry import COUNTRIES


def country_holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    """`holidays.country_holidays`, loading the one country's module. The library's own lookup imports the
    package `holidays.countries`, whose __init__ imports every country (about 250 modules, the largest part
    of a CLI command's start-up), where a team needs one. Anything unusual goes to the library's lookup."""
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


def holiday_lookup(country: str | None, subdivision: str | None, extra_dates: Iterable[date]):
    extra = frozenset(extra_dates)
    calendar = country_holidays(country, subdivision) if country else {}

    @lru_cache(maxsize=4096)
    def holiday_on(day: date) -> str | None:
        if day in extra:
            return "Office closed (team holiday)"
        return calendar.get(day) if country else None

    return holiday_on
