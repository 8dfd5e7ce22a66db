"""The on-call user group's members, through the real WebClient (its timeout and retry handlers)."""

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from ...errors import IntegrationError, UserGroupRefused


class SlackUserGroups:
    def __init__(self, client: WebClient):
        self.client = client

    def members(self, group_id: str) -> list[str]:
        try:
            response = self.client.usergroups_users_list(usergroup=group_id, include_disabled=True)
        except SlackApiError as exc:
            raise UserGroupRefused(exc.response.get("error", "unknown_error")) from exc
        except (SlackRequestError, OSError) as exc:
            raise IntegrationError(f"Slack unreachable: {exc}") from exc
        return list(response.get("users") or [])

    def set_members(self, group_id: str, user_ids: list[str]) -> None:
        """Slack takes the whole list (and never an empty one: `invalid_users`)."""
        try:
            self.client.usergroups_users_update(usergroup=group_id, users=user_ids)
        except SlackApiError as exc:
            raise UserGroupRefused(exc.response.get("error", "unknown_error")) from exc
        except (SlackRequestError, OSError) as exc:
            raise IntegrationError(f"Slack unreachable: {exc}") from exc
