"""The workspace's own address, for links to messages (a Slack permalink names the workspace)."""

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError


def workspace_url(client: WebClient | None) -> str | None:
    """`https://<workspace>.slack.com/` from auth.test, or None without Slack or when Slack cannot say (the
    links then fall back to ones that need no workspace)."""
    if client is None:
        return None
    try:
        url = client.auth_test().get("url")
    except (SlackApiError, SlackRequestError, OSError):
        return None
    return url if isinstance(url, str) and url.startswith("https://") else None
