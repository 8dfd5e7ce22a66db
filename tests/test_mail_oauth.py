"""Issue 11, item 1: IMAP access tokens (XOAUTH2) for Google Workspace (the calendar's service account acting for
the mailbox user) and Microsoft 365 (an app registration's client credentials), from loopback token endpoints."""

from typing import Any

import pytest

from oncallbot.adapters.gcal.mail_token import GMAIL_IMAP_SCOPE, gmail_token_provider
from oncallbot.adapters.mail.oauth import SCOPE, microsoft_token_provider
from oncallbot.errors import IntegrationError
from tests.fakes.base import FakeServer, RecordedRequest, Response


class FakeMicrosoftLogin(FakeServer):
    def __init__(self, status: int = 200):
        super().__init__()
        self.status = status

    def error_body(self, status: int) -> Any:
        return {"error": "invalid_client"}

    def handle(self, request: RecordedRequest) -> Response:
        if self.status != 200:
            return Response(self.status, {"error": "invalid_client"})
        return Response(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "ms-imap-token"})


def test_a_google_workspace_mailbox_token_is_the_service_account_acting_for_the_mailbox(gcal, key_file):
    token = gmail_token_provider(key_file, "support@example.com")
    assert token()  # the fake's access token
    [claims] = gcal.assertions()
    assert claims["scope"] == GMAIL_IMAP_SCOPE and claims["sub"] == "support@example.com"
    token()
    assert len(gcal.assertions()) == 1  # still valid: not fetched again


def test_a_microsoft_365_token_comes_from_the_client_credentials_and_is_kept_until_it_expires():
    with FakeMicrosoftLogin() as login:
        token = microsoft_token_provider("tenant-1", "client-1", "secret-1", f"{login.url}/{{tenant}}/token")
        assert token() == "ms-imap-token" and token() == "ms-imap-token"
        [request] = login.requests_to("/tenant-1/token")
        assert request.form == {"grant_type": "client_credentials", "client_id": "client-1",
                                "client_secret": "secret-1", "scope": SCOPE}


def test_a_refused_microsoft_token_is_an_integration_error_the_watch_retries():
    with FakeMicrosoftLogin(status=401) as login:
        token = microsoft_token_provider("tenant-1", "client-1", "wrong", f"{login.url}/{{tenant}}/token")
        with pytest.raises(IntegrationError, match="HTTP 401"):
            token()
