"""An IMAP access token for a Microsoft 365 mailbox: an app registration's client credentials (Microsoft
turned basic authentication for IMAP off in 2022). The app needs the IMAP.AccessAsApp permission and an
Exchange service principal with access to the mailbox (see README)."""

import threading
import time
from collections.abc import Callable

import requests

from ...errors import IntegrationError

TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
SCOPE = "https://outlook.office365.com/.default"
TIMEOUT = 15.0


def microsoft_token_provider(tenant_id: str, client_id: str, client_secret: str,
                             token_url: str | None = None) -> Callable[[], str]:
    lock = threading.Lock()
    cached: dict[str, float | str] = {}

    def token() -> str:
        with lock:
            if cached and float(cached["expires"]) > time.monotonic() + 60:
                return str(cached["token"])
            try:
                response = requests.post((token_url or TOKEN_URL).format(tenant=tenant_id), timeout=TIMEOUT, data={
                    "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                    "scope": SCOPE})
            except requests.RequestException as exc:
                raise IntegrationError(f"Microsoft's token endpoint cannot be reached ({type(exc).__name__})") from exc
            if response.status_code != 200:
                raise IntegrationError(f"Microsoft refused the mailbox token (HTTP {response.status_code})")
            body = response.json()
            cached.update(token=body["access_token"], expires=time.monotonic() + float(body.get("expires_in", 3600)))
            return str(body["access_token"])

    return token
