"""The outbox says exactly what each person reads: the wording is composed when a message is queued."""

import pytest

from oncallbot.adapters.db.models import NotificationRow
from oncallbot.services import paging
from tests.harness.pager import Pager


@pytest.fixture
def pager(store):
    return Pager(store)


def queued_texts(store):
    with store.reading() as tx:
        return {n.id: n.text for n in tx.session.query(NotificationRow)}


def test_every_message_sent_says_what_its_outbox_row_says(pager):
    page = pager.open()
    pager.advance(15)  # step 1: Aisha by SMS and a call
    pager.ack(page.id, "aisha", channel="sms")
    rows = queued_texts(pager.store)
    people = [m for m in pager.deliverer.sent if m.person or m.kind == "thread"]
    assert people and all(m.text == rows[m.id] for m in people)
    sms = pager.deliverer.to("aisha", "sms")[0]
    assert rows[sms.id] == (f"[oncallbot] Page #{page.id}: Voicemail from ACME: server down -- reply 1 for On It!, "
                            "DONE when resolved.")


def test_a_page_sent_up_the_chain_carries_the_reason_in_its_queued_text(pager):
    page = pager.open()
    pager.ack(page.id, "aisha")
    result = paging.escalate_page(pager.store, pager.procedure, page.id, "aisha", "Needs a refund approval",
                                  pager.clock.now())
    assert result.accepted
    pager.deliver()
    rows = queued_texts(pager.store)
    [call] = pager.deliverer.to("omar", "voice")
    assert rows[call.id] == (f"On-call page number {page.id}. Voicemail from ACME: server down. "
                             "Escalated by Aisha Khan: Needs a refund approval.")
