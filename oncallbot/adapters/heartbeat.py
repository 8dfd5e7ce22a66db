"""The heartbeat: a dead-man's switch outside the bot (healthchecks.io-style). Only the host is ever logged,
because such a URL carries its own secret."""

from urllib.parse import urlsplit

import requests

from ..errors import IntegrationError


class HttpHeartbeat:
    def __init__(self, url: str, method: str = "get", timeout_seconds: float = 10.0):
        self.url, self.method, self.timeout = url, method.upper(), timeout_seconds
        self.host = urlsplit(url).hostname or "?"

    def beat(self) -> None:
        try:
            response = requests.request(self.method, self.url, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise IntegrationError(f"heartbeat to {self.host}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise IntegrationError(f"heartbeat to {self.host}: HTTP {response.status_code}")
