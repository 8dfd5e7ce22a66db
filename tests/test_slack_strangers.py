"""Someone not on the team is answered once, in the way each surface answers, and nothing else happens; what
they may do (post a ticket) still works. Signed requests through the real HTTP route into the real bolt app."""

from tests.harness.slack import AISHA, NOW, REFUSAL, STRANGER, block_texts

REFUSED = REFUSAL + " Ask a manager to add you if you should be."
SLACK_CALLS = ("/api/chat.postMessage", "/api/chat.postEphemeral", "/api/chat.update", "/api/views.open",
               "/api/views.publish")


def answers(slack) -> dict[str, int]:
    """How many calls the bot made to Slack, by method or response URL (the fake records every request)."""
    counted: dict[str, int] = {}
    for request in slack.fake.requests:
        if request.path.startswith("/response/") or request.path in SLACK_CALLS:
            counted[request.path] = counted.get(request.path, 0) + 1
    return counted


def test_a_stranger_running_oncall_gets_the_refusal_as_the_commands_reply_and_nothing_else(slack):
    before = answers(slack)
    response = slack.command("pages", user=STRANGER)
    assert response.json() == {"text": REFUSED, "response_type": "ephemeral"}
    assert answers(slack) == before  # no late reply through the response URL, no message


def test_a_stranger_clicking_a_button_gets_one_ephemeral_refusal(slack):
    ticket = slack.say("Voicemail from ACME: server down")
    page = slack.page_of(ticket)
    for action in ("page.on_it", "page.done", "page.not_a_ticket", "page.escalate"):
        before = answers(slack)
        assert slack.click(action, page.id, STRANGER).status_code == 200
        after = answers(slack)
        assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {"/response/x": 1}
        assert slack.fake.requests_to("/response/x")[-1].json == {
            "text": REFUSED, "response_type": "ephemeral", "replace_original": False}
    assert slack.page_of(ticket) == page


def test_a_stranger_submitting_the_escalate_modal_sees_the_refusal_on_its_field(slack):
    ticket = slack.say("Customer disputes a refund")
    page = slack.page_of(ticket)
    before = answers(slack)
    response = slack.submit_reason(page.id, "I am not on the team", STRANGER)
    assert response.json() == {"response_action": "errors", "errors": {"reason": REFUSED}}
    assert answers(slack) == before and slack.page_of(ticket) == page


def test_a_stranger_opening_home_gets_one_view_that_says_so(slack):
    slack.event({"type": "app_home_opened", "user": STRANGER, "channel": "D0STRANGER", "tab": "home",
                 "event_ts": f"{int(NOW.timestamp())}.000001"})
    (published,) = slack.calls("views.publish")
    assert published["user_id"] == STRANGER
    assert block_texts(published["view"]["blocks"]).splitlines() == ["On call", REFUSED]  # the heading, the refusal


def test_a_strangers_ticket_is_taken_their_on_it_refused_once_and_their_chatter_ignored(slack):
    ticket = slack.say("Voicemail from ACME: server down", user=STRANGER)  # tickets come from anyone
    page = slack.page_of(ticket)
    assert page.summary == "Voicemail from ACME: server down"

    before = answers(slack)
    slack.say("thanks, someone will call?", user=STRANGER, thread_ts=ticket["ts"])
    assert answers(slack) == before

    slack.say("on it", user=STRANGER, thread_ts=ticket["ts"])
    (refusal,) = slack.calls("chat.postEphemeral")
    assert (refusal["user"], refusal["text"]) == (STRANGER, REFUSED)
    assert slack.page_of(ticket).state == page.state == "open"

    slack.say("on it", user=AISHA, thread_ts=ticket["ts"])  # a member in the same thread is heard as always
    assert slack.page_of(ticket).on_it_by == "aisha"
