"""Where notifications go when Slack or Twilio has no credentials: a clearly labelled console block."""

import sys
import threading

from ..logs import mask

LABEL = "[console notifier: not sent to anyone]"


class ConsoleNotifier:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # stdout stays clean for --json output
        self._lock = threading.Lock()  # deliveries run in parallel threads

    def send(self, channel: str, recipient: str, text: str) -> str:
        # One block per message (its lines indented under the label), in one write, so messages sent at the
        # same moment never run together.
        lines = [f"{LABEL} {channel} to {recipient}:", *(f"  {line}" for line in text.splitlines() or [""])]
        block = mask("\n".join(lines)) + "\n"
        with self._lock:
            self.stream.write(block)
            self.stream.flush()
        return "console"
