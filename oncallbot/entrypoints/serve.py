"""`oncallbot serve`: the HTTP server and the scheduler in one process, stopped cleanly by SIGINT/SIGTERM."""

import contextlib
import logging
import signal

import uvicorn

from ..bootstrap import Container
from ..logs import log_event
from .http import create_app
from .scheduler import create_scheduler, sync_job

log = logging.getLogger("oncallbot.serve")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after its shutdown, which would kill us before the scheduler stops
    and the process could exit 0. We take the signals, shut down gracefully, and return."""

    @contextlib.contextmanager
    def capture_signals(self):
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(container: Container, host: str | None = None, port: int | None = None) -> int:
    settings = container.settings
    host = host or settings.server.host
    port = port if port is not None else settings.server.port
    for note in container.notes:
        log_event(log, note, level=logging.WARNING)
    try:
        sync_job(container)
    except Exception:
        log.exception("initial rotation sync failed; serving the stored rotation")

    scheduler = create_scheduler(container)
    app = create_app(container)
    server = _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                          timeout_graceful_shutdown=10))
    scheduler.start()
    log_event(log, "serving", host=host, port=port, team=settings.team.name, database=container.store.safe_url)
    try:
        server.run()  # returns after a graceful shutdown on SIGINT/SIGTERM
    finally:
        scheduler.shutdown(wait=True)
        container.store.dispose()
        log_event(log, "stopped")
    return 0
