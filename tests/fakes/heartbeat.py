"""A dead-man's switch receiver (healthchecks.io-style): every GET or POST to /ping/<uuid> is a beat."""

from __future__ import annotations

from typing import Any

from .base import FakeServer, RecordedRequest, Response

PING_PATH = "/ping/5f0c2b7e-0000-4000-8000-00000000beat"  # its own secret, as a real check URL


class FakeHeartbeat(FakeServer):
    @property
    def ping_url(self) -> str:
        return f"{self.url}{PING_PATH}"

    def beats(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == PING_PATH and r.status == 200]

    def handle(self, request: RecordedRequest) -> Response:
        if request.path != PING_PATH or request.method not in ("GET", "POST", "HEAD"):
            return Response(404, "not found")
        return Response(200, "OK")

    def error_body(self, status: int) -> Any:
        return f"error {status}"
