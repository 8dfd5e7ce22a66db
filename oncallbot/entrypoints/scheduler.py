"""Periodic jobs. APScheduler only triggers; deadlines and once-per-occasion decisions live in the database."""

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from ..bootstrap import Container
from ..logs import log_event
from ..services.rotation import sync_rotation

log = logging.getLogger("oncallbot.scheduler")


def run_isolated(name: str, job) -> None:
    """One failing job never stops the scheduler or the other jobs."""
    try:
        job()
    except Exception:
        log.exception("job failed", extra={"fields": {"job": name}})


def sync_job(container: Container) -> None:
    result = sync_rotation(container.store, container.rotation_source, container.procedure, container.clock.now())
    log_event(log, "rotation synced", shifts=len(result.shifts), changes=len(result.changes),
              problems=len(result.problems), full=result.full)


def create_scheduler(container: Container) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=container.procedure.window.tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    interval = container.settings.rotation.sync_interval.total_seconds()
    scheduler.add_job(run_isolated, "interval", seconds=interval, id="rotation.sync", replace_existing=True,
                      args=["rotation.sync", lambda: sync_job(container)])
    return scheduler
