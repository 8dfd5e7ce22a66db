"""Fake Slack Web API: `WebClient(token="xoxb-...", base_url=f"{fake.url}/api/")`.

Slack answers HTTP 200 with `{"ok": false, "error": ...}` for API errors; only rate limits
(429 + Retry-After) and outages use other statuses.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

from .base import FakeServer, RecordedRequest, Response

BOT = {"user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "oncallbot", "team": "Fake Team"}
SOCKET_MODE_URL = "ws://127.0.0.1:1/none"  # nothing listens there: Socket Mode tests dispatch directly

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # sent as JSON strings inside form bodies
_HTTP_ERRORS = {429: "ratelimited", 503: "service_unavailable"}


class FakeSlack(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._messages: list[dict[str, Any]] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._sent = 0  # message counter, makes ts unique and increasing
        self._usergroups: dict[str, list[str]] = {}  # user group id -> its members
        self.usergroup_errors: dict[str, str] = {}  # method -> the error it answers (until removed)
        self.usergroup_calls: list[tuple[str, dict[str, Any]]] = []  # (method, args) of usergroups.users.*
        self._methods = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "apps.connections.open": self._apps_connections_open,
            "usergroups.users.list": self._usergroups_users_list,
            "usergroups.users.update": self._usergroups_users_update,
        }

    # -- seeding and inspection -------------------------------------------------------------
    def put_user(self, user: dict[str, Any]) -> None:
        """What `users.info` returns for user["id"] (unknown ids get a generated user)."""
        with self._lock:
            self._users[user["id"]] = user

    def put_usergroup(self, group_id: str, members: list[str]) -> None:
        """A user group that exists (unknown ids answer `no_such_subteam`)."""
        with self._lock:
            self._usergroups[group_id] = list(members)

    def usergroup_members(self, group_id: str) -> list[str] | None:
        with self._lock:
            members = self._usergroups.get(group_id)
            return list(members) if members is not None else None

    def usergroup_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(args) for method, args in self.usergroup_calls if method == "update"]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Posted messages, oldest first, as {channel, text, blocks, thread_ts, ts} (edits applied)."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages if channel in (None, m["channel"])]

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        return self.messages(_dm_channel(user_id))

    # -- the API ----------------------------------------------------------------------------
    def error_body(self, status: int) -> Any:
        return {"ok": False, "error": _HTTP_ERRORS.get(status, "fatal_error")}

    def handle(self, request: RecordedRequest) -> Response:
        if request.method == "POST" and request.path.startswith("/response/"):
            return Response(200, "ok")  # response_url: recorded, nothing else to do
        if request.method != "POST" or not request.path.startswith("/api/"):
            return Response(404, "not found")
        method = request.path.removeprefix("/api/")
        args = _args(request)
        token = _bearer(request) or args.get("token")
        if not token:
            return _error("not_authed")
        allowed = ("xoxb-", "xapp-") if method == "apps.connections.open" else ("xoxb-",)
        if not token.startswith(allowed):
            return _error("invalid_auth")
        handler = self._methods.get(method)
        return Response(200, handler(args) if handler else {"ok": True})

    def _usergroup_call(self, method: str, args: dict) -> dict | None:
        self.usergroup_calls.append((method, dict(args)))
        error = self.usergroup_errors.get(method)
        if error is not None:
            return {"ok": False, "error": error}
        if args.get("usergroup") not in self._usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return None

    def _usergroups_users_list(self, args: dict) -> dict:
        refused = self._usergroup_call("list", args)
        return refused or {"ok": True, "users": list(self._usergroups[args["usergroup"]])}

    def _usergroups_users_update(self, args: dict) -> dict:
        refused = self._usergroup_call("update", args)
        if refused:
            return refused
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "invalid_users"}
        self._usergroups[args["usergroup"]] = users
        return {"ok": True, "usergroup": {"id": args["usergroup"], "users": users}}

    def _auth_test(self, args: dict) -> dict:
        return {"ok": True, "url": "https://fake.slack.com/", **BOT}

    def person_posts(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> str:
        """A person's message (a ticket, a thread reply) as Slack keeps it, in the history and its thread, with a
        ts from the bot's posts' sequence (no two messages in a channel share one); a harness then sends its
        event. Returns the ts."""
        with self._lock:
            self._sent += 1
            ts = _now_ts(self._sent, self.clock())
            self._messages.append({"channel": channel, "text": text, "blocks": None, "thread_ts": thread_ts,
                                   "ts": ts, "metadata": None, "user": user})
            return ts

    def _chat_post_message(self, args: dict) -> dict:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return {"ok": False, "error": "no_text"}
        self._sent += 1
        message = {
            "channel": _dm_channel(args["channel"]),
            "text": args.get("text"),
            "blocks": args.get("blocks"),
            "thread_ts": args.get("thread_ts"),
            "ts": _now_ts(self._sent, self.clock()),
            "metadata": args.get("metadata"),  # {"event_type", "event_payload"}, as posted
        }
        self._messages.append(message)
        return {"ok": True, "channel": message["channel"], "ts": message["ts"], "message": _as_slack(message)}

    def _chat_update(self, args: dict) -> dict:
        channel = _dm_channel(args.get("channel", ""))
        for message in self._messages:
            if message["channel"] == channel and message["ts"] == args.get("ts"):
                message.update({k: args[k] for k in ("text", "blocks") if k in args})
                return {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
                        "message": _as_slack(message)}
        return {"ok": False, "error": "message_not_found"}

    def _conversations_history(self, args: dict) -> dict:
        """Top-level messages (thread parents, not replies), newest first, after `oldest`; metadata only with
        include_all_metadata, as in Slack. Paged by `limit` and `cursor`."""
        channel = args.get("channel", "")
        posted = [m for m in self._messages if m["channel"] == channel and m["thread_ts"] in (None, m["ts"])]
        if not posted and not any(m["channel"] == channel for m in self._messages) and not channel.startswith("D"):
            return {"ok": False, "error": "channel_not_found"}
        return self._page(sorted(posted, key=lambda m: float(m["ts"]), reverse=True), args)

    def _conversations_replies(self, args: dict) -> dict:
        """A thread: its parent, then its replies oldest first, after `oldest`."""
        channel, thread_ts = args.get("channel", ""), args.get("ts")
        thread = [m for m in self._messages if m["channel"] == channel and thread_ts in (m["ts"], m["thread_ts"])]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._page(sorted(thread, key=lambda m: float(m["ts"])), args)

    def _page(self, messages: list[dict], args: dict) -> dict:
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or "inf")
        shown = [m for m in messages if oldest < float(m["ts"]) < latest]
        start, limit = int(args.get("cursor") or 0), max(1, min(int(args.get("limit") or 100), 999))
        page = shown[start:start + limit]
        with_metadata = str(args.get("include_all_metadata")).lower() in ("true", "1")
        listed = [_as_slack({k: v for k, v in m.items() if with_metadata or k != "metadata"}) for m in page]
        more = start + limit < len(shown)
        return {"ok": True, "messages": listed, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        self._sent += 1
        return {"ok": True, "message_ts": f"{1_700_000_000 + self._sent}.000100"}

    def _views_publish(self, args: dict) -> dict:
        return {"ok": True, "view": {"id": "VHOME" + args.get("user_id", ""), **(args.get("view") or {})}}

    def _views_open(self, args: dict) -> dict:
        return {"ok": True, "view": {"id": "VMODAL", **(args.get("view") or {})}}

    def _conversations_open(self, args: dict) -> dict:
        users = [u for u in args.get("users", "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        channel_id = _dm_channel(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
        return {"ok": True, "channel": {"id": channel_id}}

    def _users_info(self, args: dict) -> dict:
        user_id = args.get("user", "")
        name = user_id.lower()
        default = {"id": user_id, "name": name, "real_name": f"User {user_id}", "tz": "UTC",
                   "profile": {"real_name": f"User {user_id}", "display_name": name,
                               "email": f"{name}@example.com"}}
        return {"ok": True, "user": self._users.get(user_id, default)}

    def _apps_connections_open(self, args: dict) -> dict:
        return {"ok": True, "url": SOCKET_MODE_URL}


def _args(request: RecordedRequest) -> dict[str, Any]:
    if isinstance(request.json, dict):
        return request.json
    args: dict[str, Any] = dict(request.form)
    for name in _JSON_FIELDS:
        if isinstance(args.get(name), str):
            args[name] = json.loads(args[name])
    return args


def _bearer(request: RecordedRequest) -> str | None:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token if scheme == "Bearer" else None


def _now_ts(sequence: int, now: datetime) -> str:
    """A message ts as Slack makes them: the time posted, unique per message (the sequence breaks ties)."""
    return f"{int(now.timestamp())}.{sequence % 1_000_000:06d}"


def _dm_channel(channel: str) -> str:
    """Posting to a user id lands in the DM with that user, as in Slack."""
    return "D" + channel if channel.startswith(("U", "W")) else channel


def _as_slack(message: dict) -> dict:
    by_bot = {} if message.get("user") else {"user": BOT["user_id"], "bot_id": BOT["bot_id"]}
    shown = {"type": "message", **by_bot, **message}
    return {k: v for k, v in shown.items() if v is not None and k != "channel"}


def _error(code: str) -> Response:
    return Response(200, {"ok": False, "error": code})
