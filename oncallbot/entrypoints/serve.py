"""`oncallbot serve`: the HTTP server, the Slack app and the scheduler in one process, stopped cleanly by
SIGINT/SIGTERM."""

import contextlib
import logging
import signal

import uvicorn

from ..bootstrap import Container, build_mail_watcher, build_slack_app, build_twilio_verifier
from ..logs import log_event
from .http import create_app
from .scheduler import Dispatcher, create_scheduler

__all__ = ["build_slack_app", "build_twilio_verifier", "serve"]  # the builders are bootstrap's; tests use them here

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
    slack_app = build_slack_app(container)
    socket_mode = None
    if slack_app is not None and container.env.slack_app_token:
        from ..adapters.slack.bolt import connect_socket_mode

        socket_mode = connect_socket_mode(slack_app, container.env.slack_app_token)
        log_event(log, "Slack connected in Socket Mode")
    http_slack = slack_app if slack_app is not None and socket_mode is None else None
    watcher = build_mail_watcher(container)
    app = create_app(container, slack_app=http_slack, twilio_verifier=build_twilio_verifier(container))
    scheduler = create_scheduler(container)
    dispatcher = Dispatcher(container)
    server = _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                    timeout_graceful_shutdown=10))
    scheduler.start()
    dispatcher.start()
    if watcher is not None:
        watcher.start()
    log_event(log, "serving", host=host, port=port, team=settings.team.name, database=container.database.safe_url,
              slack="socket mode" if socket_mode else ("http" if http_slack else "console"),
              twilio="on" if container.env.twilio_auth_token else "console",
              mailbox=watcher.settings.mailbox if watcher else "off")
    try:
        server.run()  # returns after a graceful shutdown on SIGINT/SIGTERM
    finally:
        container.stopping.set()  # running jobs finish their current batch, not the whole backlog
        dispatcher.stop()
        scheduler.shutdown(wait=True)
        if watcher is not None:
            watcher.join()
        if socket_mode is not None:
            socket_mode.close()
        container.database.dispose()
        log_event(log, "stopped")
    return 0
