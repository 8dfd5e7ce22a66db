"""Where notifications go when Slack or Twilio has no credentials: a clearly labelled console line."""

import sys

from ..logs import mask

LABEL = "[console notifier: not sent to anyone]"


class ConsoleNotifier:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # stdout stays clean for --json output

    def send(self, channel: str, recipient: str, text: str) -> str:
        line = f"{LABEL} {channel} to {recipient}: {text}"
        print(mask(line), file=self.stream, flush=True)
        return "console"
