"""The only place that reads the wall clock. Everything else is handed a Clock."""

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, tz-aware UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
