"""A clock you move by hand: tests never wait on the wall clock."""

from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, now: datetime):
        assert now.tzinfo is not None
        self._now = now.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, now: datetime) -> None:
        self._now = now.astimezone(UTC)
