"""Inbound events are at-least-once (Slack retries, Twilio repeats callbacks): remember what was handled.

An event's key is recorded by the use case it triggers, in the same transaction as what it changed
(`inbound_key` of `paging.open_page`, `paging.acknowledge_page`, `paging.acknowledge_phone_reply`,
`contacts.verify_by_sms`): a delivery that dies before that commit leaves no record, so its retry is handled,
and a retry of one that committed changes nothing. Never record a key in a commit of its own first: a kill
between the two commits would lose the event, its retry taken for a duplicate."""

from ..ports import Store


def already_handled(store: Store, key: str) -> bool:
    with store.reading() as tx:
        return tx.seen(key)
