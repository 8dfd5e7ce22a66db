"""The only place that reads the wall clock. Everything else is handed a Clock (ports.Clock)."""

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
