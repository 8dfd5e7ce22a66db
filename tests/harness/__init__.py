"""The one test harness: a clock you move by hand, the example team, the bot as `serve` builds it (driven through
Slack, Twilio, the HTTP API or the services), the loopback fakes' helpers, and `oncallbot serve` as a process.

The fixtures built from these live in tests/conftest.py."""
