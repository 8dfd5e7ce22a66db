"""The store hands out frozen records and changes pages and outbox rows only through explicit updates, on
SQLite and PostgreSQL."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from oncallbot.ports import NotificationRecord, PageRecord

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def add_page(tx):
    return tx.add_page(summary="Voicemail", source="api", external_id="v-1", state="open", responsible="aisha",
                       created_at=NOW, deadline_at=NOW + timedelta(minutes=15), plan={"steps": []}, fired=0,
                       next_due_at=NOW + timedelta(minutes=15))


def test_a_page_is_a_frozen_record_changed_by_an_explicit_update(store):
    with store.transaction() as tx:
        page = add_page(tx)
        assert isinstance(page, PageRecord)
        with pytest.raises(dataclasses.FrozenInstanceError):
            page.state = "done"
        updated = tx.update_page(page.id, state="on_it", on_it_by="aisha", on_it_at=NOW, next_due_at=None)
        assert (updated.state, updated.on_it_by, updated.next_due_at, page.state) == ("on_it", "aisha", None, "open")
    with store.reading() as tx:
        stored = tx.page(page.id)
        assert (stored.state, stored.on_it_at, stored.summary) == ("on_it", NOW, "Voicemail")


def test_an_outbox_row_is_claimed_sent_and_updated_through_the_store(store):
    with store.transaction() as tx:
        page = add_page(tx)
        assert tx.add_notification("page:1:step:0:aisha:sms", NOW, page_id=page.id, kind="page", channel="sms",
                                   person_id="aisha", reach_key="page:1:step:0:aisha", text="[oncallbot] Page")
        assert not tx.add_notification("page:1:step:0:aisha:sms", NOW, kind="page", channel="sms", text="again")
    with store.transaction() as tx:
        [claimed] = tx.claim_pending_notifications(NOW, NOW + timedelta(seconds=60), 10)
        assert isinstance(claimed, NotificationRecord) and claimed.state == "sending"
        assert claimed.reach_key == "page:1:step:0:aisha"
        tx.mark_sent(claimed.id, NOW, "SM1")
    with store.transaction() as tx:
        sent = tx.notification_by_ref("SM1")
        assert (sent.state, sent.sent_at, sent.text) == ("sent", NOW, "[oncallbot] Page")
        tx.update_notification(sent.id, delivery_status="delivered")
    with store.reading() as tx:
        [row] = tx.notifications_of(page.id)
        assert row.delivery_status == "delivered"
