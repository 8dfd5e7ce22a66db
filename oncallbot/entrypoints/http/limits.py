"""Request limits: body sizes per path, enforced while the body streams in, and the range of page ids."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from .responses import error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024  # the API's pages and Twilio's forms are a few kilobytes
SLACK_MAX_BODY_BYTES = 1024 * 1024  # Slack's events and interaction payloads carry whole messages and views
MAX_PAGE_ID = 2**31 - 1  # pages.id is a 32-bit integer column


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses a request body over its path's limit with 413 while it streams in, counting the bytes (a chunked
    body declares no length), so no handler reads on past the limit."""

    def __init__(self, app: ASGIApp, default: int, by_prefix: dict[str, int]):
        self.app, self.default, self.by_prefix = app, default, by_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = next((n for prefix, n in self.by_prefix.items() if scope["path"].startswith(prefix)), self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self.refuse(limit, scope, receive, send)
        received, responded = 0, False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if responded:
                raise
            await self.refuse(limit, scope, receive, send)

    @staticmethod
    async def refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        # The unread rest of the body is the server's to discard; the connection stays usable.
        await error(413, f"body larger than {limit} bytes")(scope, receive, send)
