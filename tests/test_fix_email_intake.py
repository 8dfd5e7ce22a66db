"""Issue 7, item 14: an email forwarded into the support channel is a page named by its subject.

Slack posts a forwarded email as a `file_share` message with empty text and one file of filetype "email"
(fields as Slack sends them: `subject`, `title`, `plain_text`, `preview` (HTML), `preview_plain_text`).
Signed Slack requests into the real bolt app, answered through the real WebClient on the loopback FakeSlack.
"""

import pytest

from tests.harness.slack import block_texts

SUBJECT = "Refund not received for order #4521"
BODY = "Hi,\n\nI returned the kettle three weeks ago and the refund has not arrived.\n\nThanks, Jo"


def email_file(**fields) -> dict:
    file = {
        "id": "F0EMAIL001", "created": 1764000000, "timestamp": 1764000000, "name": SUBJECT, "title": SUBJECT,
        "mimetype": "text/html", "filetype": "email", "pretty_type": "Email", "user": "USLACKBOT", "mode": "email",
        "editable": True, "is_external": False, "is_public": True, "display_as_bot": True, "username": "Email",
        "subject": SUBJECT,
        "to": [{"address": "support@example.com", "name": "Support", "original": "Support <support@example.com>"}],
        "from": [{"address": "jo@example.org", "name": "Jo", "original": "Jo <jo@example.org>"}],
        "cc": [], "attachments": [], "original_attachment_count": 0,
        "plain_text": BODY, "preview": "<div>Hi,</div><div>I returned the kettle three weeks ago</div>",
        "preview_plain_text": "Hi, I returned the kettle three weeks ago", "has_more": False,
        "headers": {"date": "Mon, 23 Nov 2026 21:58:30 -0800", "in_reply_to": None, "reply_to": None,
                    "message_id": "<abc@example.org>"},
        "bot_id": "B0EMAIL000", "file_access": "visible",
    }
    file.update(fields)
    return {k: v for k, v in file.items() if v is not None}


def forward(harness, file: dict, text: str = "") -> dict:
    return harness.say(text, user="USLACKBOT", subtype="file_share", bot_id="B0EMAIL000", upload=True,
                       display_as_bot=True, files=[file])


def test_a_forwarded_email_becomes_a_page_named_by_its_subject_with_the_text_as_details(slack):
    email = forward(slack, email_file())
    page = slack.page_of(email)
    assert (page.summary, page.details, page.source) == (SUBJECT, BODY, "slack")
    card = slack.card(page.id)
    assert card["text"] == f"Page #{page.id}: {SUBJECT}"
    assert f"*Page #{page.id}*: {SUBJECT}" in block_texts(card["blocks"])


@pytest.mark.parametrize("fields,summary,details", [
    ({"plain_text": None}, SUBJECT, "Hi, I returned the kettle three weeks ago"),  # only the preview's text
    ({"subject": None}, SUBJECT, BODY),  # the title carries the subject too
    ({"subject": "", "title": "", "name": ""}, "(email without a subject)", BODY),
], ids=["preview_only", "title_only", "no_subject"])
def test_what_slack_leaves_out_of_an_email_is_taken_from_its_other_fields(slack, fields, summary, details):
    page = slack.page_of(forward(slack, email_file(**fields)))
    assert (page.summary, page.details) == (summary, details)


def test_a_comment_written_with_the_forwarded_email_names_the_page_and_the_email_is_its_details(slack):
    page = slack.page_of(forward(slack, email_file(), text="Customer is upset, please call today"))
    assert page.summary == "Customer is upset, please call today"
    assert page.details == f"{SUBJECT}\n\n{BODY}"
