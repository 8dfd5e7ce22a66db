"""The paging use cases under one name (what adapters, entry points and tests import). They live by concern:

- `pages`: a page's records, snapshot and stored plan; reading and listing pages (the others import it);
- `intake`: open a page (Slack, CLI, API) and the weekly test page;
- `acknowledgment`: On It!, Done, replies by phone, "not a ticket", the reminders to say Done;
- `escalation`: the due steps of the frozen plan, and "beyond my scope".

Notifications are not sent here: each use case queues them in the outbox in its own transaction, and
`services.delivery` sends them after commit. So a crash never loses a step nor sends it twice.
"""

from ..domain.paging import LIST_LIMIT, LIST_LIMIT_MAX
from ..domain.wording import CHANNEL_WORDS, NOTIFY_WORDS
from .acknowledgment import (
                             START_WORDS,
                             STOP_WORDS,
                             PhoneReplyResult,
                             acknowledge_page,
                             acknowledge_phone_reply,
                             dismiss_page,
                             fire_due_done_reminders,
)
from .escalation import escalate_page, fire_due_escalations, next_escalation_at
from .intake import SUMMARY_LIMIT, open_api_page, open_api_page_claiming, open_page, open_test_page
from .pages import (
                             MAX_PAGE_ID,
                             PAGE_FILTERS,
                             AckResult,
                             NewPage,
                             PageLine,
                             PageList,
                             PageSnapshot,
                             StepView,
                             TimelineEntry,
                             get_page,
                             is_storm_message,
                             list_pages,
                             page_for_slack_thread,
                             plan_from_json,
                             plan_to_json,
                             snapshot,
)

__all__ = [
    "CHANNEL_WORDS", "LIST_LIMIT", "LIST_LIMIT_MAX", "MAX_PAGE_ID", "NOTIFY_WORDS", "PAGE_FILTERS", "START_WORDS",
    "STOP_WORDS", "SUMMARY_LIMIT", "AckResult", "NewPage", "PageLine", "PageList", "PageSnapshot", "PhoneReplyResult",
    "StepView", "TimelineEntry", "acknowledge_page", "acknowledge_phone_reply", "dismiss_page", "escalate_page",
    "fire_due_done_reminders", "fire_due_escalations", "get_page", "is_storm_message", "list_pages",
    "next_escalation_at", "open_api_page", "open_api_page_claiming", "open_page", "open_test_page",
    "page_for_slack_thread", "plan_from_json", "plan_to_json", "snapshot",
]
