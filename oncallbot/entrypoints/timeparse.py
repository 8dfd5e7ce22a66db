from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..errors import BadInput


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """ISO-8601; without an offset the time is read in the team's zone."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f'"{text}" is not an ISO-8601 time (e.g. 2027-03-15T19:00:00-07:00)') from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)
