"""A team with a published rotation, the swap service's verbs and a recording deliverer: what the swap
tests drive. Weeks from 2027-01-04 alternate through the people below; the clock starts on Mon 2026-12-28."""

from datetime import UTC, date, datetime, timedelta

from oncallbot.bootstrap import build_procedure
from oncallbot.domain.rotation import CalendarEvent
from oncallbot.services import swaps
from oncallbot.services.delivery import deliver_pending
from oncallbot.services.rotation import CalendarFetch, sync_rotation, who_is_on_call
from tests.harness.clock import FakeClock
from tests.harness.config import example_settings
from tests.harness.pager import LA, RecordingDeliverer

NOW = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)  # Mon 2026-12-28 04:00 PST
W1, W2, W3, W4, W5, W6 = (date(2027, 1, 4) + timedelta(weeks=i) for i in range(6))
OWNERS = {W1: "kelly", W2: "marcus", W3: "priya", W4: "diego", W5: "aisha", W6: "tom"}


def week_event(week_start: date, who: str, window) -> CalendarEvent:
    start, end = window.bounds(week_start)
    return CalendarEvent(f"{who}-{week_start}", f"On call: {who}", start.astimezone(LA), end.astimezone(LA),
                         etag=None)


class ListSource:
    key = "test:list"

    def __init__(self, owners: dict[date, str], window):
        self.owners, self.window = dict(owners), window

    def fetch(self, sync_token, start_at, end_at):
        return CalendarFetch(full=True, events=[week_event(w, p, self.window) for w, p in self.owners.items()],
                             removed_ids=[])


class Swaps:
    """The swap service on a real store, a fixed clock and a deliverer that records what people get."""

    def __init__(self, store, now: datetime = NOW, **overrides):
        self.store = store
        self.procedure = build_procedure(example_settings(**overrides))
        self.clock = FakeClock(now)
        self.deliverer = RecordingDeliverer()
        self.source = ListSource(OWNERS, self.procedure.window)
        self.sync()

    def sync(self):
        return sync_rotation(self.store, self.source, self.procedure, self.clock.now())

    def deliver(self):
        return deliver_pending(self.store, self.procedure, self.deliverer, self.clock.now())

    def __getattr__(self, verb):  # swaps.accept(...) as self.accept(...), with the store, procedure and clock
        function = getattr(swaps, verb)

        def call(*args, **kwargs):
            result = function(self.store, self.procedure, *args, now=self.clock.now(), **kwargs)
            self.deliver()
            return result
        return call

    def owner(self, week: date) -> str | None:
        at = self.procedure.window.bounds(week)[0] + timedelta(days=1)
        current = who_is_on_call(self.store, self.procedure, at).neighbours.current
        return current.person_id if current else None

    def dms(self, person_id: str, kind: str = "swap"):
        return self.deliverer.to(person_id, kind=kind)

    def buttons(self, person_id: str) -> list[str]:
        """The buttons on the latest swap DM the person got."""
        last = self.dms(person_id)[-1]
        return [b.action for b in last.payload.card.buttons]
