from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..errors import BadInput

# Far enough for any rotation question; the edges of datetime's range overflow once shifted to UTC or by a week.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """ISO-8601; without an offset the time is read in the team's zone."""
    example = "e.g. 2027-03-15T19:00:00-07:00"
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadInput(f'"{text}" is not an ISO-8601 time ({example})') from None
    if not EARLIEST <= value < LATEST:
        raise BadInput(f'"{text}" is outside the years {EARLIEST.year} to {LATEST.year - 1}')
    return value
