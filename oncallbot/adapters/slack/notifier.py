"""Sends outbox messages to Slack: the page card and its thread, the office channel, and DMs.

Every post carries its outbox key in the message's metadata (`METADATA_EVENT`), so a post interrupted by a
crash is found again in the conversation's history (`find_sent`) instead of being posted twice or reported.
Reading it back needs the history scopes: channels:history, groups:history, im:history.
"""

import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from ...domain.messages import (
    CardPayload,
    ChannelPayload,
    Delivered,
    Found,
    Outgoing,
    PageCard,
    PagePayload,
    ReminderPayload,
    ReportPayload,
    SendCheck,
    StormPayload,
    SwapPayload,
    ThreadPayload,
)
from ...errors import DeliveryFailed
from .blocks import (
    SLACK_TEXT_LIMIT,
    card_blocks,
    card_text,
    confirm_blocks,
    done_reminder_blocks,
    storm_blocks,
    swap_blocks,
    verify_blocks,
)

SLACK_TIMEOUT_SECONDS = 10
# Errors that retrying cannot fix: the configuration or the workspace must change.
PERMANENT_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
                    "account_inactive", "token_revoked", "missing_scope", "user_not_found", "cannot_dm_bot",
                    "message_not_found", "msg_too_long", "no_text", "invalid_blocks"}
METADATA_EVENT = "oncallbot_outbox"  # the event_type of our posts' metadata; its payload holds the outbox key
HISTORY_PAGE = 200
HISTORY_PAGES = 10  # a conversation busier than this since the send cannot be read back: Slack cannot tell


def build_web_client(token: str, api_url: str | None = None) -> WebClient:
    """The real client; `api_url` points it at another server (tests use a loopback fake).

    With one TLS context of its own: without it, urllib makes a new one for every call, and loading the CA
    certificates into it costs tens of milliseconds of CPU with OpenSSL 3 (bench/README.md), on every page's
    card. Bolt's per-request clients are copies of this one and share it."""
    return WebClient(
        token=token, timeout=SLACK_TIMEOUT_SECONDS, ssl=ssl.create_default_context(),
        base_url=f"{api_url.rstrip('/')}/api/" if api_url else WebClient.BASE_URL,
        retry_handlers=[ConnectionErrorRetryHandler(), ServerErrorRetryHandler(max_retry_count=2),
                        RateLimitErrorRetryHandler(max_retry_count=2)],
    )


class SlackNotifier:
    def __init__(self, client: WebClient, support_channel: str | None, office_channel: str | None,
                 listen_link: Callable[[int], str] | None = None):
        self.client = client
        self.listen_link = listen_link  # a voicemail card's signed link to its recording
        self.channels = {"support": support_channel, "office": office_channel or support_channel}

    def deliver(self, message: Outgoing) -> Delivered:
        try:
            return self._deliver(message)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            retry_after = exc.response.headers.get("Retry-After") if exc.response.status_code == 429 else None
            raise DeliveryFailed(f"Slack {error}", permanent=error in PERMANENT_ERRORS,
                                 retry_after=float(retry_after) if retry_after else None) from exc
        except TimeoutError as exc:  # no answer in time: Slack may have posted it, so it is looked up, not re-posted
            raise DeliveryFailed(f"Slack did not answer within {SLACK_TIMEOUT_SECONDS} s; it may have been posted",
                                 maybe_sent=True) from exc
        except (SlackRequestError, OSError) as exc:
            raise DeliveryFailed(f"Slack unreachable: {exc}") from exc

    def _post(self, message: Outgoing, **kwargs: Any) -> Delivered:
        if message.key:
            kwargs["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": message.key}}
        response = self.client.chat_postMessage(**kwargs)
        return Delivered(ref=response["ts"], slack_channel=response["channel"], slack_ts=response["ts"])

    def _deliver(self, message: Outgoing) -> Delivered:
        post = self._post_args(message)
        if post is not None:
            return self._post(message, **post)
        payload = message.payload
        if isinstance(payload, SwapPayload):
            return self._swap(payload)
        if isinstance(payload, CardPayload):
            card = payload.card
            if not card.slack_card_ts:
                raise DeliveryFailed("the page's Slack message was never posted", permanent=True)
            assert card.slack_channel is not None  # stored with the card's ts (services.delivery)
            self.client.chat_update(channel=card.slack_channel, ts=card.slack_card_ts, text=card_text(card),
                                    blocks=card_blocks(card, self._listen(card)))
            return Delivered(ref=card.slack_card_ts)
        raise DeliveryFailed(f"Slack cannot carry a {message.kind} message", permanent=True)

    def _post_args(self, message: Outgoing) -> dict[str, Any] | None:
        """The chat.postMessage arguments of a message that is a new post; None for an edit of posts."""
        payload = message.payload
        if isinstance(payload, (PagePayload, ReportPayload, ReminderPayload)) \
                or (isinstance(payload, SwapPayload) and not payload.update):  # a direct message to a person
            if not (message.person and message.person.slack_id):
                raise DeliveryFailed("no Slack user id for this person", permanent=True)
            dm = message.person.slack_id
            if isinstance(payload, SwapPayload):
                return {"channel": dm, "text": message.text, "blocks": swap_blocks(message.text, payload.card)}
            if isinstance(payload, ReminderPayload):
                return {"channel": dm, "text": message.text, "blocks": done_reminder_blocks(payload.card, message.text)}
            if isinstance(payload, ReportPayload) and payload.verify:
                return {"channel": dm, "text": message.text, "blocks": verify_blocks(message.text)}
            if isinstance(payload, PagePayload) and payload.confirm:
                return {"channel": dm, "text": message.text, "blocks": confirm_blocks(payload.page_id, message.text)}
            return {"channel": dm, "text": message.text}
        if isinstance(payload, ChannelPayload):
            return {"channel": self._channel(payload.target), "text": message.text}
        if isinstance(payload, StormPayload):  # a storm's cards, as one message in the support channel
            return {"channel": self._channel("support"), "text": message.text[:SLACK_TEXT_LIMIT],
                    "blocks": storm_blocks(message.text)}
        if isinstance(payload, CardPayload) and not payload.update:
            card = payload.card
            if card.slack_thread_ts:  # the ticket came from Slack: answer in its thread
                return {"channel": card.slack_channel, "thread_ts": card.slack_thread_ts, "text": card_text(card),
                        "blocks": card_blocks(card, self._listen(card))}
            return {"channel": self._channel("support"), "text": card_text(card),
                    "blocks": card_blocks(card, self._listen(card))}
        if isinstance(payload, ThreadPayload):
            card = payload.card
            if payload.storm_ts:  # the page's card was folded into a storm message: its thread
                return {"channel": self._channel("support"), "thread_ts": payload.storm_ts,
                        "text": message.text[:SLACK_TEXT_LIMIT]}
            if card.slack_thread_ts:
                return {"channel": card.slack_channel, "thread_ts": card.slack_thread_ts, "text": message.text}
            return {"channel": self._channel("support"), "text": message.text}
        return None

    def find_sent(self, message: Outgoing, since: datetime, until: datetime | None = None) -> Found:
        """Whether a post is in its conversation (its thread, for a reply) between `since` and `until`, by the
        outbox key in its metadata. An edit is never looked up: making it again changes nothing."""
        try:
            post = self._post_args(message)
            if post is None:
                return Found(SendCheck.ABSENT)
            if not message.key:
                return Found(SendCheck.UNKNOWN)
            found = self._find(message.key, post["channel"], post.get("thread_ts"), since, until)
            payload = message.payload
            if found.check == SendCheck.ABSENT and post.get("thread_ts") and isinstance(payload, ThreadPayload) \
                    and not payload.storm_ts and payload.card.slack_thread_ts == payload.card.slack_card_ts:
                # The page's thread is its card's: a line sent before the card was posted (by a version that did
                # not wait for it) went to the channel. A Slack ticket's thread existed from the start.
                return self._find(message.key, post["channel"], None, since, until)
            return found
        except DeliveryFailed:  # it could not have been posted either (no user id, no channel configured)
            return Found(SendCheck.ABSENT)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            return Found(SendCheck.UNKNOWN if error in PERMANENT_ERRORS else SendCheck.UNREACHABLE)
        except (SlackRequestError, OSError):
            return Found(SendCheck.UNREACHABLE)

    def _find(self, key: str, channel: str, thread_ts: str | None, since: datetime,
              until: datetime | None) -> Found:
        if channel.startswith(("U", "W")):  # a DM is posted to the user id; its history is the DM channel's
            channel = self.client.conversations_open(users=channel)["channel"]["id"]
        # The window the post may have been made in: a storm's channel holds more since than one lookup reads.
        oldest, latest = f"{since.timestamp():.6f}", f"{until.timestamp():.6f}" if until else None
        cursor = None
        for _ in range(HISTORY_PAGES):
            if thread_ts:
                response = self.client.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest,
                                                             latest=latest, include_all_metadata=True,
                                                             limit=HISTORY_PAGE, cursor=cursor)
            else:
                response = self.client.conversations_history(channel=channel, oldest=oldest, latest=latest,
                                                             include_all_metadata=True, limit=HISTORY_PAGE,
                                                             cursor=cursor)
            messages: list[dict[str, Any]] = response.get("messages") or []
            for posted in messages:
                metadata = posted.get("metadata") or {}
                if metadata.get("event_type") == METADATA_EVENT \
                        and (metadata.get("event_payload") or {}).get("key") == key:
                    return Found(SendCheck.FOUND, Delivered(ref=posted["ts"], slack_channel=channel,
                                                            slack_ts=posted["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return Found(SendCheck.ABSENT)
        return Found(SendCheck.UNKNOWN)

    def _swap(self, payload: SwapPayload) -> Delivered:
        """The redraw of every DM already sent to this recipient about a swap request."""
        for sent in payload.sent:
            self.client.chat_update(channel=sent.slack_channel, ts=sent.slack_ts, text=sent.text,
                                    blocks=swap_blocks(sent.text, payload.card))
        return Delivered(ref=payload.sent[-1].slack_ts if payload.sent else None)

    def _listen(self, card: PageCard) -> str | None:
        return self.listen_link(card.id) if card.recording and self.listen_link else None

    def _channel(self, target: str | None) -> str:
        channel = self.channels.get(target or "support")
        if not channel:
            raise DeliveryFailed(f"slack.{target}_channel is not configured", permanent=True)
        return channel
