"""Inbound events are at-least-once (Slack retries, Twilio repeats callbacks): remember what was handled."""

from datetime import datetime

from ..ports import Store


def already_handled(store: Store, key: str) -> bool:
    with store.reading() as tx:
        return tx.seen(key)


def record_handled(store: Store, key: str, now: datetime) -> bool:
    """False when another delivery of the same event got there first."""
    with store.transaction() as tx:
        return tx.first_time_seen(key, now)
