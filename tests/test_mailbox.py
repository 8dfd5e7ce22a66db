"""Issue 11: the support mailbox as an intake, against a real Dovecot. Emails become pages, replies in the
thread acknowledge them (when authenticated), loops and storms page nobody, and an outage is told once."""

from datetime import timedelta

import pytest

from tests.harness.e2e import wait_until
from tests.harness.mail import mail
from tests.harness.mailroom import Mailroom

AISHA = "Aisha Khan <aisha.khan@example.com>"  # on call at the Pager's NIGHT
PASS = "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"


@pytest.fixture
def room(store, dovecot):
    room = Mailroom(store, dovecot)
    yield room
    room.close()


def test_emails_become_one_page_each_with_the_subject_as_summary(room):
    room.watch()
    signed = "Our printer is on fire.\n\nThanks,\nCasey\n-- \nCasey Customer\nACME"
    room.dovecot.deliver(mail("Printer on fire", signed)[0])
    room.dovecot.deliver(mail("Site down", body=None, html="<html><body><p>Our <b>site</b> is down</p>"
                                                            "<div>since 7pm</div></body></html>")[0])
    room.dovecot.deliver(mail("Café fermé — réservation annulée ☕", "Bonjour, la réservation a été annulée.")[0])
    room.dovecot.deliver(mail("Invoice wrong", "See the attached invoice.", attachment=("invoice.pdf", b"%PDF-1.4"))[0])
    pages = {p.summary: p for p in room.wait_for_pages(4)}
    assert set(pages) == {"Printer on fire", "Site down", "Café fermé — réservation annulée ☕", "Invoice wrong"}
    assert all(p.source == "email" for p in pages.values())
    printer = room.page(pages["Printer on fire"].id)
    assert printer.details.startswith("From: Casey Customer (customer.test) by email")
    assert "Our printer is on fire." in printer.details and "ACME" not in printer.details  # signature cut
    assert "casey@" not in printer.details  # the customer's address is nowhere in the page
    assert "site is down" in room.page(pages["Site down"].id).details.replace("**", "")
    assert "<" not in room.page(pages["Site down"].id).details
    assert "réservation a été annulée" in room.page(pages["Café fermé — réservation annulée ☕"].id).details
    invoice = room.page(pages["Invoice wrong"].id).details
    assert "Attachments (not stored): invoice.pdf" in invoice and "PDF-1.4" not in invoice
    cards = wait_until(lambda: len(room.deliverer.of_kind("card")) >= 4 and room.deliverer.of_kind("card"), 10, "cards")
    assert {c.card.summary for c in cards} == set(pages)


def test_the_same_message_seen_again_after_a_restart_and_by_a_second_replica_is_one_page(room):
    first = room.watch()
    raw, _ = mail("Refund please", "Order 1234")
    room.dovecot.deliver(raw)
    room.wait_for_pages(1)
    room.stop(first)
    room.dovecot.deliver(raw)  # the same message again (a client that saved it twice)
    room.dovecot.deliver(mail("Arrived while the bot was down", "still here")[0])
    room.watch()
    room.watch()  # a second replica reading the same folder
    wait_until(lambda: len(room.pages()) == 2, 10, "the mail that came during the restart")
    assert sorted(p.summary for p in room.pages()) == ["Arrived while the bot was down", "Refund please"]
    # The card goes out after the page's commit, from the replica's own thread: wait for it, then count.
    wait_until(lambda: len(room.deliverer.of_kind("card")) >= 2, 10, "the second page's card")
    assert len(room.deliverer.of_kind("card")) == 2


def test_a_forged_on_it_is_not_counted_and_a_genuine_one_and_done_are(room):
    room.watch()
    raw, ticket_id = mail("VPN broken", "Nobody can connect to the VPN.")
    room.dovecot.deliver(raw)
    [page] = room.wait_for_pages(1)
    # From the on-call person, but no DKIM or DMARC pass from the team's server: anyone could have sent it.
    forged, _ = mail("Re: VPN broken", "On It!", sender=AISHA, in_reply_to=ticket_id,
                     auth="dkim=fail header.d=example.com; dmarc=fail header.from=example.com")
    room.dovecot.deliver(forged)
    room.wait_for_event(page.id, "not_counted")
    assert room.page(page.id).state == "open"
    wait_until(lambda: any("not counted: unauthenticated" in t for t in room.thread_lines()), 10, "the thread line")
    # The real Reply to All: "On It!" above the quoted ticket, vouched for by the team's server.
    genuine, reply_id = mail("Re: VPN broken", "On It! calling them now\n\nOn Tue, Nov 24, 2026 at 10:00 PM Casey "
                             "Customer <casey@customer.test> wrote:\n> Nobody can connect to the VPN.\n",
                             sender=AISHA, in_reply_to=ticket_id, auth=PASS)
    room.dovecot.deliver(genuine)
    room.wait_for_event(page.id, "on_it")
    view = room.page(page.id)
    assert view.state == "on_it" and view.on_it_by == "aisha"
    assert [e.channel for e in view.timeline if e.kind == "on_it"] == ["email"]
    wait_until(lambda: "On It! Aisha Khan at 22:00 (via email)" in room.thread_lines(), 10, "the On It! line")
    # "Done." in reply to the reply: the thread is followed through References.
    done, _ = mail("Re: VPN broken", "Done.", sender=AISHA, in_reply_to=reply_id,
                   references=f"{ticket_id} {reply_id}", auth=PASS)
    room.dovecot.deliver(done)
    room.wait_for_event(page.id, "done")
    assert room.page(page.id).state == "done"


def test_the_customer_writing_again_adds_to_the_page_and_opens_none(room):
    room.watch()
    raw, ticket_id = mail("Password reset", "I cannot log in.")
    room.dovecot.deliver(raw)
    [page] = room.wait_for_pages(1)
    room.dovecot.deliver(mail("Re: Password reset", "Any news?\n\n> I cannot log in.", in_reply_to=ticket_id)[0])
    event = room.wait_for_event(page.id, "email")
    assert event.detail == "reply by email from Casey Customer (customer.test): Any news?"
    assert len(room.pages()) == 1
    wait_until(lambda: "Reply by email from Casey Customer (customer.test): Any news?" in room.thread_lines(), 10,
               "the reply in the Slack thread")


def test_out_of_office_replies_and_bounces_page_nobody(room):
    room.watch()
    room.dovecot.deliver(mail("Automatic reply: Printer on fire", "I am out of the office until Monday.",
                              headers={"Auto-Submitted": "auto-replied"})[0])
    room.dovecot.deliver(mail("Out of Office", "Back next week.", headers={"X-Autoreply": "yes"})[0])
    room.dovecot.deliver(mail("Undelivered Mail Returned to Sender", "The mail system could not deliver it.",
                              sender="MAILER-DAEMON@mx.customer.test", headers={"Return-Path": "<>"})[0])
    room.dovecot.deliver(mail("Newsletter", "Our November news", headers={"Precedence": "bulk"})[0])
    room.dovecot.deliver(mail("A real ticket after them", "Help")[0])  # read in order: once it is a page, all were read
    pages = room.wait_for_pages(1)
    assert [p.summary for p in pages] == ["A real ticket after them"]
    assert all(m.card.summary == "A real ticket after them" for m in room.deliverer.of_kind("card"))


def test_twenty_emails_from_one_sender_in_a_minute_make_at_most_five_pages(room):
    room.watch()
    for number in range(20):
        room.dovecot.deliver(mail(f"Alert {number}", "disk full", sender="Monitor <alerts@customer.test>")[0])
    fifth = room.wait_for_pages(5)[0]  # newest first
    grouped = wait_until(lambda: len(g := [e.detail for e in room.page(fifth.id).timeline if e.kind == "grouped"])
                         == 15 and g, 15, "the other 15 emails joined to the fifth page")
    assert len(grouped) == 15 and grouped[-1].startswith("email 20 within the hour from Monitor (customer.test)")
    assert len(room.pages()) == 5


def test_the_imap_server_restarted_mid_run_misses_nothing_and_the_approvers_are_told_once(room):
    watcher = room.watch()
    room.dovecot.deliver(mail("Before the outage", "one")[0])
    room.wait_for_pages(1)
    room.dovecot.stop()
    wait_until(lambda: (watcher.health() or "").startswith("unreachable"), 15, "the watcher to notice")
    room.clock.advance(timedelta(minutes=3))  # past report_after: the outage is worth telling
    failures = watcher.failures
    wait_until(lambda: watcher.failures >= failures + 3, 15, "three more failed reconnects")
    assert [t for t in room.reports_to("dana") if "cannot be read" in t] == [
        "The support mailbox support@example.test@127.0.0.1/INBOX cannot be read (connection refused): emailed "
        "tickets are not becoming pages. The bot keeps retrying; you will hear when it works again."]
    room.dovecot.start()
    room.dovecot.deliver(mail("During the outage", "two")[0])
    room.dovecot.deliver(mail("Right after it", "three")[0])
    wait_until(lambda: len(room.pages()) == 3, 15, "the mail that arrived while the watcher was away")
    wait_until(lambda: [t for t in room.reports_to("dana") if "readable again" in t], 10, "the all-clear")
    assert watcher.health() is None
    assert len([t for t in room.reports_to("dana") if "cannot be read" in t]) == 1
    assert len([t for t in room.reports_to("dana") if "readable again" in t]) == 1


def test_a_changed_uidvalidity_reads_the_folder_again_matched_by_message_id(room):
    watcher = room.watch()
    room.dovecot.deliver(mail("Handled before", "one")[0])
    room.wait_for_pages(1)
    room.stop(watcher)
    room.dovecot.deliver(mail("Not handled yet", "two")[0])
    with room.store.transaction() as tx:  # as if the server renumbered the folder meanwhile
        tx.set_mailbox_position(watcher.settings.mailbox, 1, 999)
    room.watch()
    wait_until(lambda: len(room.pages()) == 2, 10, "the unhandled message")
    assert sorted(p.summary for p in room.pages()) == ["Handled before", "Not handled yet"]


def test_without_idle_the_mailbox_is_polled(store, dovecot):
    room = Mailroom(store, dovecot, idle=False)  # email.poll_interval 1s
    try:
        room.watch()
        room.dovecot.deliver(mail("Polled, not pushed", "hello")[0])
        assert [p.summary for p in room.wait_for_pages(1)] == ["Polled, not pushed"]
    finally:
        room.close()
