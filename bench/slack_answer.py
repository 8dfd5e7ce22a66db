"""Time to Slack's 200 for a support-channel ticket and for an On It! click, which now come after their commit
(tests/harness/slack.py: the real bolt app behind the HTTP route, FakeSlack), on the database at URL (an empty,
migrated one: it is written to).

    .venv/bin/python -m bench.slack_answer URL [N]
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes import FakeSlack  # noqa: E402
from tests.harness.slack import AISHA, SlackHarness  # noqa: E402

url, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
with FakeSlack() as fake:
    from tests.harness.config import example_data, example_settings
    slack = {**example_data()["slack"], "pace": {"per_second": 100, "burst": 1000}}  # not the pace's figures
    harness = SlackHarness(url, fake, settings=example_settings(slack=slack))
    tickets, clicks, cpu = [], [], []
    for i in range(n):
        event = harness.message(f"Ticket {i}: printer on fire")
        c0, t0 = time.process_time(), time.perf_counter()
        response = harness.event(event, wait=False)
        tickets.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert response.status_code == 200
        harness.listeners.drain()
        page_id = harness.page_of(event).id
        t0 = time.perf_counter()
        response = harness.click("page.on_it", page_id, AISHA, wait=False)
        clicks.append(time.perf_counter() - t0)
        assert response.status_code == 200
        harness.listeners.drain()
    harness.close()


def spread(xs: list[float]) -> str:
    return f"p50 {statistics.median(xs) * 1000:.1f} ms, p90 {sorted(xs)[int(len(xs) * 0.9)] * 1000:.1f} ms"


print(f"{url.split(':')[0]}: ticket 200 {spread(tickets)} (CPU p50 {statistics.median(cpu) * 1000:.1f} ms); "
      f"click 200 {spread(clicks)}")
