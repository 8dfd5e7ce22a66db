"""Issue 7, items 11, 12, 22 (SMS) and 24 (Twilio): SMS replies and voice callbacks through the signed Twilio
webhooks, as Twilio calls them."""

import pytest
from sqlalchemy import text

from tests.harness.twilio import events, sms_reply

TOM = "+14155550106"  # on the team, not on call tonight
OMAR = "+14155550111"  # Aisha's manager


def page_states(bot, *page_ids) -> list[str]:
    return [bot.page(page_id)["state"] for page_id in page_ids]


def two_pages_waiting_on_aisha(bot) -> tuple[int, int]:
    """Two pages nobody took: Aisha was phoned for the first; the second joined her digest."""
    first = bot.escalated_page()
    second = bot.open_page("Ticket 5521: refund stuck")
    bot.tick(16)
    with bot.store.transaction() as tx:
        assert [p.id for p in tx.open_pages_phoned("aisha")] == [first, second]
    return first, second


# -- item 11: a page number that is not one of yours ---------------------------------------------------

@pytest.mark.parametrize("number", ["9999", "99999999999999999999", "0", "9" * 400])
def test_done_with_a_page_number_that_does_not_exist_says_so(make_bot, database_url, number):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    before = bot.page(page_id)

    response = bot.text_in(f"done {number}")

    shown = number if len(number) <= 24 else number[:24] + "…"
    assert sms_reply(response) == [f"No page {shown} is waiting on you."]
    assert bot.page(page_id) == before


def test_done_with_the_number_of_a_page_that_is_not_yours_changes_nothing(make_bot, database_url):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()  # Aisha's: Tom was never paged for it
    before = bot.page(page_id)

    assert sms_reply(bot.text_in(f"done {page_id}", sender=TOM)) == [f"No page {page_id} is waiting on you."]
    assert sms_reply(bot.text_in(f"1 {page_id}", sender=TOM)) == [f"No page {page_id} is waiting on you."]
    assert bot.page(page_id) == before
    # Aisha, whose page it is, can.
    assert sms_reply(bot.text_in(f"done {page_id}")) == [f"Done recorded for page #{page_id}."]


# -- item 12: a bare DONE with several pages taken ------------------------------------------------------

def test_a_bare_done_with_several_pages_taken_asks_which_and_done_all_closes_them(make_bot, database_url):
    bot = make_bot(database_url)
    first, second = two_pages_waiting_on_aisha(bot)
    assert sms_reply(bot.text_in("1")) == [f"On It! recorded for page #{first}, #{second}."]

    assert sms_reply(bot.text_in("DONE")) == [
        f"You have #{first} and #{second} On It!: reply DONE {first}, DONE {second} or DONE ALL"]
    assert page_states(bot, first, second) == ["on_it", "on_it"]

    assert sms_reply(bot.text_in(f"DONE {second}")) == [f"Done recorded for page #{second}."]
    assert page_states(bot, first, second) == ["on_it", "done"]
    assert sms_reply(bot.text_in("DONE")) == [f"Done recorded for page #{first}."]  # the only one left
    assert page_states(bot, first, second) == ["done", "done"]


def test_done_all_closes_every_page_taken(make_bot, database_url):
    bot = make_bot(database_url)
    first, second = two_pages_waiting_on_aisha(bot)
    bot.text_in("on it")
    assert sms_reply(bot.text_in("Done all")) == [f"Done recorded for page #{first}, #{second}."]
    assert page_states(bot, first, second) == ["done", "done"]
    assert "Done Aisha Khan at 22:32 (via SMS)" in bot.thread(second)


def test_a_bare_done_closes_the_page_taken_not_the_one_still_waiting(make_bot, database_url):
    bot = make_bot(database_url)
    first, second = two_pages_waiting_on_aisha(bot)
    bot.text_in(f"on it {first}")
    assert sms_reply(bot.text_in("done")) == [f"Done recorded for page #{first}."]
    assert page_states(bot, first, second) == ["done", "open"]


# -- item 22: one reply, one transaction ----------------------------------------------------------------

def fail_updates_of_page(bot, page_id: int) -> None:
    """The database refuses to change this page (a crash half-way through the reply)."""
    with bot.store.engine.begin() as connection:
        if bot.store.dialect == "postgresql":
            connection.execute(text("CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS "
                                    "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"))
            connection.execute(text(f"CREATE TRIGGER refuse_page BEFORE UPDATE ON pages FOR EACH ROW "
                                    f"WHEN (NEW.id = {page_id}) EXECUTE FUNCTION refuse_update()"))
        else:
            connection.execute(text(f"CREATE TRIGGER refuse_page BEFORE UPDATE ON pages WHEN NEW.id = {page_id} "
                                    f"BEGIN SELECT RAISE(ABORT, 'injected failure'); END"))


def allow_updates_again(bot) -> None:
    with bot.store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse_page ON pages" if bot.store.dialect == "postgresql"
                                else "DROP TRIGGER refuse_page"))


def test_a_reply_for_several_pages_that_fails_half_way_takes_none_of_them(make_bot, database_url):
    bot = make_bot(database_url)
    first, second = two_pages_waiting_on_aisha(bot)
    thread = bot.thread(first)
    fail_updates_of_page(bot, second)

    with pytest.raises(Exception, match="injected failure"):
        bot.text_in("1")

    # Not half taken: neither page says On It!, so the escalation goes on for both, and Slack shows no On It!.
    assert page_states(bot, first, second) == ["open", "open"]
    assert events(bot.page(first), "on_it") == []
    assert bot.thread(first) == thread

    allow_updates_again(bot)
    assert sms_reply(bot.text_in("1")) == [f"On It! recorded for page #{first}, #{second}."]
    assert page_states(bot, first, second) == ["on_it", "on_it"]


# -- item 24: a voice callback without a valid page -----------------------------------------------------

# %D9%A3 is an Arabic-Indic 3, percent-encoded as Twilio would sign it.
@pytest.mark.parametrize("page", ["99999999999999999999", "abc", "", "-1", "0", "1e3", "%D9%A3", "9" * 5000])
def test_a_voice_callback_with_a_page_that_is_not_a_page_id_is_refused(make_bot, database_url, page):
    bot = make_bot(database_url)
    page_id = bot.escalated_page()
    before = bot.page(page_id)

    response = bot.keypress(page, "1")

    assert response.status_code == 400
    assert bot.page(page_id) == before
    assert bot.twilio.sms_to(OMAR) == []
