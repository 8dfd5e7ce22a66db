"""Issue 7, items 10 and 12: what a reply in a sentence means, and which pages a bare SMS reply closes."""

import pytest

from oncallbot.domain.paging import (
    ACK_HINT,
    PhoneReply,
    ack_hint,
    parse_ack_text,
    parse_phone_reply,
    phone_reply_targets,
)


@pytest.mark.parametrize("text,expected", [
    ("On it, calling them back now", "on_it"),
    ("Done - refunded", "done"),
    ("on it!! 🙏 will call", "on_it"),
    ("🙏 on it", "on_it"),
    ("... done, customer happy", "done"),
    (":raising_hand: On-it", "on_it"),
    ("ONIT", "on_it"),
    ("done.", "done"),
    ("I am not on it", None),
    ("is this done?", None),
    ("done?", None),
    ("On it?", None),
    ("on iteration two", None),
    ("doneness", None),
    ("thanks, looking into it now", None),
])
@pytest.mark.parametrize("channel", ["slack", "sms", "email"])
def test_a_reply_counts_when_it_begins_with_the_words(text, channel, expected):
    assert parse_ack_text(text, channel) == expected


@pytest.mark.parametrize("text,hinted", [
    ("I am not on it", True),
    ("is this done?", True),
    ("on it?", True),
    ("ack", True),
    ("acknowledged", True),
    ("Tom is on it I think", True),
    ("On it, calling them back now", False),  # an acknowledgment needs no hint
    ("thanks, looking into it now", False),  # conversation
    ("abandoned cart again", False),
    ("call me back", False),
])
def test_a_reply_that_looks_meant_as_an_acknowledgment_gets_a_hint(text, hinted):
    assert ack_hint(text, "slack") == (ACK_HINT if hinted else None)


@pytest.mark.parametrize("text,expected", [
    ("1", PhoneReply("on_it")),
    ("ok", PhoneReply("on_it")),
    ("1 42", PhoneReply("on_it", "42")),
    ("On it, calling them back now", PhoneReply("on_it")),
    ("On it, calling 415 555 0199", PhoneReply("on_it")),  # a phone number in the sentence is no page number
    ("on it 5 mins away", PhoneReply("on_it")),
    ("done 12", PhoneReply("done", "12")),
    ("DONE #12", PhoneReply("done", "12")),
    ("Done 12 - refunded", PhoneReply("done", "12")),
    ("done 99999999999999999999", PhoneReply("done", "99999999999999999999")),
    ("DONE ALL", PhoneReply("done", every=True)),
    ("done all!", PhoneReply("done", every=True)),
    ("Done - all good", PhoneReply("done")),
    ("DONE", PhoneReply("done")),
    ("ok thanks", None),
    ("not done", None),
    ("done?", None),
    ("", None),
])
def test_an_sms_reply_may_name_a_page_or_all_of_them(text, expected):
    assert parse_phone_reply(text) == expected


def test_a_bare_done_closes_the_one_page_it_can_mean_and_asks_when_there_are_several():
    done, every = PhoneReply("done"), PhoneReply("done", every=True)
    assert phone_reply_targets(done, held=[12], waiting=[15]).page_ids == (12,)
    assert phone_reply_targets(done, held=[], waiting=[15]).page_ids == (15,)
    asked = phone_reply_targets(done, held=[12, 14], waiting=[15])
    assert asked.page_ids == ()
    assert asked.question == "You have #12 and #14 On It!: reply DONE 12, DONE 14 or DONE ALL"
    assert phone_reply_targets(done, held=[12, 14, 16], waiting=[]).question == (
        "You have #12, #14 and #16 On It!: reply DONE 12, DONE 14, DONE 16 or DONE ALL")
    assert phone_reply_targets(every, held=[12, 14], waiting=[15]).page_ids == (12, 14)
    assert phone_reply_targets(done, held=[], waiting=[15, 16]).question == (
        "You have #15 and #16 waiting on you: reply DONE 15, DONE 16 or DONE ALL")
    # On It! takes everything waiting: a storm of pages is taken with one reply.
    assert phone_reply_targets(PhoneReply("on_it"), held=[12], waiting=[15, 16]).page_ids == (15, 16)
