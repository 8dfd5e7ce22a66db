"""The chaos run, one minute of it (tests/harness/chaos.py; `make chaos` runs it at scale and also restarts
PostgreSQL): three `serve` replicas on one PostgreSQL, one killed with SIGKILL every 5 s and started again, the
fakes failing 5% of calls with 500, 2% with 429 and 1% after the client gave up. Pages come in over the API and
the Slack channel; half are acknowledged by button, thread reply, SMS or keypress, the rest escalate through
every step. Nothing is lost (no page, no acknowledgment that was answered 2xx), nothing is doubled, and
interrupted sends are settled with the providers."""

import pytest

from tests.harness.chaos import ChaosSettings, run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_one_minute_of_kills_and_provider_faults_loses_and_doubles_nothing(tmp_path, pg_url):
    # On a loaded machine a replica takes 20-40 s to come back and the last one up is never killed: the chaos
    # goes on after the last ack until 5 kills are done, and every wait is generous (only time, never a check,
    # gives way to the load).
    result = run_chaos(ChaosSettings(pages=120, minutes=1.0, settle_timeout=300, min_kills=5), tmp_path, pg_url,
                       log=print)
    print(result.table())
    assert result.kills >= 5 and result.kills + result.kills_skipped >= 10  # every 5 s, never the last one up
    assert result.opened >= 100 and result.steps_fired >= result.opened
    assert result.steps_repeated == 0 and result.steps_missed == []
    assert result.stuck == []
    # Every page and acknowledgment our side answered 2xx is in the database: answers come after the commit
    # (Slack's too), and an event's id is recorded as handled in the transaction of what it changed.
    assert result.api_lost == [] and result.intake_lost == []
    assert result.acks >= 40
    assert result.acks_lost == [], result.acks_lost_answers
    assert result.lost_sends == [] and result.paced_backlog == 0
    assert result.double_sends == []
    assert result.ambiguous_per_1000 < 5
