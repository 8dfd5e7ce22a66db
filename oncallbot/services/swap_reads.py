"""Reading the swap requests and the rotation they work on: what the CLI, Slack's pickers and App Home show.
The verbs that change them are in `services.swaps`."""

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from ..domain.audit import AuditSubject
from ..domain.procedure import Procedure
from ..domain.swap_flow import HistoryLine, history_lines
from ..domain.swaps import PENDING_STATES, SwapRequest, can_accept, can_approve, can_cancel
from ..ports import Store, StoreTx
from .rotation import SYNC_HORIZON

HISTORY_LIMIT = 50


def rotation_in_effect(tx: StoreTx, procedure: Procedure, now: datetime,
                       through: date | None = None) -> dict[date, str | None]:
    """Week start -> person, of the rotation in effect from the week before now to a year ahead."""
    end = now + SYNC_HORIZON
    if through is not None:
        end = max(end, procedure.window.bounds(through)[1])
    return {s.week_start: s.person_id for s in tx.shifts_between(now - timedelta(days=8), end)}



def get_request(store: Store, request_id: str) -> SwapRequest | None:
    with store.reading() as tx:
        request: SwapRequest | None = tx.swap_request(request_id)
    return request


def list_requests(store: Store, include_all: bool = False) -> list[SwapRequest]:
    """Pending requests (all of them, every state, with `include_all`), oldest first."""
    with store.reading() as tx:
        requests: list[SwapRequest] = tx.swap_requests(None if include_all else sorted(PENDING_STATES))
    return requests


def waiting_on(store: Store, procedure: Procedure, person_id: str) -> list[SwapRequest]:
    """Pending requests this person can move: accept, approve or cancel."""
    return [r for r in list_requests(store)
            if can_accept(r, person_id, procedure.team).allowed or can_approve(r, person_id, procedure.team).allowed
            or can_cancel(r, person_id, procedure.team).allowed]


def history(store: Store, since: datetime | None = None, limit: int | None = HISTORY_LIMIT,
            subject: str | None = None) -> list[HistoryLine]:
    """The rotation's changes and the swap requests' transitions, in one history, oldest first (of one
    `subject` only, when given)."""
    subjects = [subject] if subject else [AuditSubject.ROTATION, AuditSubject.SWAP]
    with store.reading() as tx:
        entries = tx.audit_entries_since(subjects, since, limit)
    return history_lines(entries)


def weeks_of_person(store: Store, procedure: Procedure, now: datetime,
                    running: bool = False) -> Mapping[date, str | None]:
    """The rotation in effect from now on (for pickers: the modal, App Home); with `running`, the week under
    way too (a reassignment may change it)."""
    with store.reading() as tx:
        return {w: p for w, p in rotation_in_effect(tx, procedure, now).items()
                if procedure.window.bounds(w)[1 if running else 0] > now}


def pending_of(requests: Sequence[SwapRequest]) -> list[SwapRequest]:
    return [r for r in requests if r.state in PENDING_STATES]
