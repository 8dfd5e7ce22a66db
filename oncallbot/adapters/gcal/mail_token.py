"""An IMAP access token for a Google Workspace mailbox: the calendar's service account, acting for the
mailbox user by domain-wide delegation (scope https://mail.google.com/, granted in the Admin console)."""

import threading
from collections.abc import Callable

from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from ...errors import IntegrationError

GMAIL_IMAP_SCOPE = "https://mail.google.com/"


def gmail_token_provider(credentials_path: str, mailbox_user: str) -> Callable[[], str]:
    credentials = service_account.Credentials.from_service_account_file(
        credentials_path, scopes=[GMAIL_IMAP_SCOPE]).with_subject(mailbox_user)
    lock = threading.Lock()

    def token() -> str:
        with lock:
            try:
                if not credentials.valid:
                    credentials.refresh(Request())
            except GoogleAuthError as exc:
                raise IntegrationError(f"Google refused the mailbox token: {exc}") from exc
            return str(credentials.token)

    return token
