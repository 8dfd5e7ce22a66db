"""Sends outbox messages to Slack: the page card and its thread, the office channel, and DMs."""

from collections.abc import Callable

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
    Outgoing,
    PageCard,
    PagePayload,
    ReminderPayload,
    ReportPayload,
    SwapPayload,
    ThreadPayload,
)
from ...errors import DeliveryFailed
from .blocks import card_blocks, card_text, confirm_blocks, done_reminder_blocks, swap_blocks, verify_blocks

SLACK_TIMEOUT_SECONDS = 10
# Errors that retrying cannot fix: the configuration or the workspace must change.
PERMANENT_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
                    "account_inactive", "token_revoked", "missing_scope", "user_not_found", "cannot_dm_bot",
                    "message_not_found", "msg_too_long", "no_text", "invalid_blocks"}


def build_web_client(token: str, api_url: str | None = None) -> WebClient:
    """The real client; `api_url` points it at another server (tests use a loopback fake)."""
    return WebClient(
        token=token, timeout=SLACK_TIMEOUT_SECONDS,
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
        except (SlackRequestError, OSError) as exc:
            raise DeliveryFailed(f"Slack unreachable: {exc}") from exc

    def _post(self, **kwargs) -> Delivered:
        response = self.client.chat_postMessage(**kwargs)
        return Delivered(ref=response["ts"], slack_channel=response["channel"], slack_ts=response["ts"])

    def _deliver(self, message: Outgoing) -> Delivered:
        payload = message.payload
        if isinstance(payload, (PagePayload, ReportPayload, ReminderPayload)):  # a direct message to a person
            if not (message.person and message.person.slack_id):
                raise DeliveryFailed("no Slack user id for this person", permanent=True)
            if isinstance(payload, ReminderPayload):
                return self._post(channel=message.person.slack_id, text=message.text,
                                  blocks=done_reminder_blocks(payload.card, message.text))
            if isinstance(payload, ReportPayload) and payload.verify:
                return self._post(channel=message.person.slack_id, text=message.text,
                                  blocks=verify_blocks(message.text))
            if isinstance(payload, PagePayload) and payload.confirm:
                return self._post(channel=message.person.slack_id, text=message.text,
                                  blocks=confirm_blocks(payload.page_id, message.text))
            return self._post(channel=message.person.slack_id, text=message.text)
        if isinstance(payload, SwapPayload):
            return self._swap(message, payload)
        if isinstance(payload, ChannelPayload):
            return self._post(channel=self._channel(payload.target), text=message.text)
        if isinstance(payload, CardPayload) and not payload.update:
            card = payload.card
            if card.slack_thread_ts:  # the ticket came from Slack: answer in its thread
                return self._post(channel=card.slack_channel, thread_ts=card.slack_thread_ts,
                                  text=card_text(card), blocks=card_blocks(card, self._listen(card)))
            return self._post(channel=self._channel("support"), text=card_text(card),
                              blocks=card_blocks(card, self._listen(card)))
        if isinstance(payload, CardPayload):
            card = payload.card
            if not card.slack_card_ts:
                raise DeliveryFailed("the page's Slack message was never posted", permanent=True)
            assert card.slack_channel is not None  # stored with the card's ts (services.delivery)
            self.client.chat_update(channel=card.slack_channel, ts=card.slack_card_ts, text=card_text(card),
                                    blocks=card_blocks(card, self._listen(card)))
            return Delivered(ref=card.slack_card_ts)
        if isinstance(payload, ThreadPayload):
            card = payload.card
            if card.slack_thread_ts:
                return self._post(channel=card.slack_channel, thread_ts=card.slack_thread_ts, text=message.text)
            return self._post(channel=self._channel("support"), text=message.text)
        raise DeliveryFailed(f"Slack cannot carry a {message.kind} message", permanent=True)

    def _swap(self, message: Outgoing, payload: SwapPayload) -> Delivered:
        """A swap DM with this recipient's buttons, or the redraw of every DM already sent to them about it."""
        if not payload.update:
            if not (message.person and message.person.slack_id):
                raise DeliveryFailed("no Slack user id for this person", permanent=True)
            return self._post(channel=message.person.slack_id, text=message.text,
                              blocks=swap_blocks(message.text, payload.card))
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
