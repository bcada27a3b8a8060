"""``digest scheduler``: APScheduler 3.11's BlockingScheduler in a process of its own, triggering services.

It first waits as a standby until it holds the lead (``leader.py``), then schedules four jobs:

- ``compose-and-send`` on ``DIGEST_SCHEDULE`` in ``DIGEST_TIMEZONE``: ``run_cycle``, as ``digest run``.
  ``misfire_grace_time`` is ``DIGEST_MISFIRE_GRACE`` (6 h): a scheduler down at 07:00 on Monday that is
  back by 13:00 still sends that morning's issue, once; later than that a "weekly" email would arrive out
  of step, so the run is skipped with a warning saying why, and the next issue takes in everything since
  the last one. ``coalesce=True``: however many scheduled times passed meanwhile, they make one run.
  Jobs live in APScheduler's memory store (schedulers sharing a persistent store is unsupported, and what
  must outlive a restart, the last successful run, is in the ``jobrun`` table). That store forgets a
  missed time across a restart, so at start the latest scheduled time with no successful run since is
  handed back to APScheduler as the job's first run time: it runs it, or reports it missed by that same
  grace time.
- ``ingest`` every ``DIGEST_INGEST_EVERY``: coalesced, with half an interval of grace, because a late
  ingest is worth nothing once the next one is due.
- ``send``, a one-off planned whenever sending is due later: after a review window, after a restart in
  the middle of a send, after the leases of a sender that died run out. No grace limit: it is never
  skipped for being late.
- ``heartbeat`` every ``DIGEST_HEARTBEAT_EVERY``, in an executor of its own so that a long send never
  makes a live scheduler look dead. It also checks the lead is still held and plans ``send``.

The other jobs share one thread and take turns (``jobs.py``). SIGTERM stops the sender after the batch
in hand, the job records that it was interrupted, and the process exits.
"""

import logging
import os
import socket
import threading
from contextlib import suppress
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from digest.core.clock import utc_now
from digest.core.schedule import cron_trigger, latest_fire
from digest.db.engine import unit_of_work
from digest.ops import runs
from digest.ops.cycle import CyclePlan, next_send_at
from digest.scheduler.jobs import Jobs
from digest.scheduler.leader import Leadership, first_line
from digest.wiring import Parts

log = logging.getLogger("digest.scheduler")

HEARTBEAT = "heartbeat"
STANDBY_TRIES_EVERY = timedelta(seconds=5)


class SchedulerProcess:
    """One ``digest scheduler``: ``run()`` blocks until ``stop()`` (SIGTERM) and returns the exit code."""

    def __init__(self, parts: Parts, leadership: Leadership, *, holder: str | None = None) -> None:
        settings = parts.settings
        self.parts = parts
        self.engine = parts.engine
        self.leadership = leadership
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.trigger = cron_trigger(settings.schedule, settings.timezone)
        self.plan = CyclePlan(
            self.trigger, settings.review_window, parts.compose_rules(), local=parts.local_delivery()
        )
        self.every = settings.heartbeat_every
        self.started_at = utc_now()
        self.stopping = threading.Event()
        self.lost = False  # the lead was lost while leading: stand by again
        self.scheduler: BlockingScheduler | None = None
        self.jobs = Jobs(parts, self.plan, self.stopping, then=self.plan_send)
        self.beat_lock = threading.Lock()

    # --- the process -------------------------------------------------------------------------------

    def run(self) -> None:
        """Stand by, lead, and after losing the lead (a database restart) stand by again, until stopped."""
        try:
            while self.lead_once():
                log.warning("lost the lead: standing by to lead again once the database answers")
        finally:
            self.leadership.release()

    def lead_once(self) -> bool:
        """Wait for the lead and keep it until stopped (False) or until it is lost (True)."""
        if not self.wait_for_lead():
            self.write_beat("stopped")
            return False
        self.lost = False
        log.info(
            "leading: %s schedules compose-and-send on %r (%s)",
            self.holder,
            self.parts.settings.schedule,
            self.trigger.timezone,
        )
        try:
            self.scheduler = self.build()
        except SQLAlchemyError as exc:
            # The database went away between taking the lead and planning the jobs (a restart): give the
            # lead back and stand by until it answers, rather than exit.
            log.warning("cannot plan the jobs, the database does not answer: %s", first_line(exc))
            self.leadership.release()
            self.stopping.wait(self.standby_pause())
            return True
        if not self.stopping.is_set():
            self.scheduler.start()  # returns once stop() or a lost lead shut it down
        self.jobs.wait()
        if self.lost and not self.stopping.is_set():
            self.leadership.release()
            return True
        self.write_beat("stopped")
        log.info("stopped")
        return False

    def stop(self) -> None:
        """Stop after the batch in hand (a signal handler may call this)."""
        self.stopping.set()
        self.jobs.stop()
        self.shutdown_scheduler()

    def wait_for_lead(self) -> bool:
        announced = False
        pause = self.standby_pause()
        while not self.stopping.is_set():
            if self.leadership.acquire():
                return True
            if not announced:
                log.info("standby: another scheduler leads; taking over when it stops")
                announced = True
            self.write_beat("standby")
            self.stopping.wait(pause)
        return False

    def standby_pause(self) -> float:
        """Seconds between a standby's tries to take the lead."""
        return min(self.every, STANDBY_TRIES_EVERY).total_seconds()

    def build(self) -> BlockingScheduler:
        settings = self.parts.settings
        scheduler = BlockingScheduler(
            timezone=self.trigger.timezone,
            executors={"default": ThreadPoolExecutor(1), HEARTBEAT: ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True},
        )
        scheduler.add_listener(self.on_missed, EVENT_JOB_MISSED)
        # APScheduler logs each run at INFO: a pair of lines per heartbeat would drown the log.
        logging.getLogger(f"apscheduler.executors.{HEARTBEAT}").setLevel(logging.WARNING)
        first = self.missed_fire()
        scheduler.add_job(
            self.jobs.cycle,
            self.trigger,
            id=runs.CYCLE,
            name="compose and send",
            misfire_grace_time=int(settings.misfire_grace.total_seconds()),
            coalesce=True,
            **({"next_run_time": first} if first is not None else {}),
        )
        if settings.ingest_every > timedelta(0):
            scheduler.add_job(
                self.jobs.ingest,
                IntervalTrigger(seconds=int(settings.ingest_every.total_seconds())),
                id=runs.INGEST,
                name="ingest",
                misfire_grace_time=max(1, int(settings.ingest_every.total_seconds() / 2)),
                coalesce=True,
            )
        scheduler.add_job(
            self.heartbeat_job,
            IntervalTrigger(seconds=int(self.every.total_seconds())),
            id=HEARTBEAT,
            name="heartbeat",
            executor=HEARTBEAT,
            misfire_grace_time=None,
            coalesce=True,
            next_run_time=utc_now(),
        )
        return scheduler

    def missed_fire(self) -> datetime | None:
        """The latest scheduled time if no compose-and-send has succeeded since it (a scheduler that was
        down, or stopped in the middle of it)."""
        fire = latest_fire(self.trigger, utc_now())
        if fire is None:
            return None
        with unit_of_work(self.engine) as session:
            done = runs.last_success(session, runs.CYCLE)
        return None if done is not None and done >= fire else fire

    def shutdown_scheduler(self) -> None:
        scheduler = self.scheduler
        if scheduler is not None and scheduler.running:
            # From a thread of its own: a signal handler may have interrupted the scheduler's own loop.
            threading.Thread(target=shutdown, args=(scheduler,), name="digest-scheduler-stop").start()

    def heartbeat_job(self) -> None:
        if self.stopping.is_set():
            self.shutdown_scheduler()  # a stop that came before the scheduler had started
            return
        if not self.leadership.held():
            # It may no longer act as leader: its scheduler stops, and it stands by like any other.
            log.error("lost the lead: stopping its jobs so that a standby (or itself) takes over")
            self.lost = True
            self.shutdown_scheduler()
            return
        self.write_beat("leader")
        if self.jobs.running is None:
            self.plan_send()

    def plan_send(self) -> None:
        """Plan the ``send`` job for when sending is next due, unless it is planned as early already."""
        scheduler = self.scheduler
        if scheduler is None or self.stopping.is_set():
            return
        try:
            with unit_of_work(self.engine) as session:
                due = next_send_at(
                    session, review_window=self.plan.review_window, now=utc_now(), local=self.plan.local
                )
        except SQLAlchemyError as exc:
            log.warning("could not look for sends due: %s", first_line(exc))
            return
        planned = scheduler.get_job(runs.SEND)
        if due is None or (planned is not None and planned.next_run_time and planned.next_run_time <= due):
            return
        scheduler.add_job(
            self.jobs.send,
            DateTrigger(due),
            id=runs.SEND,
            name="send",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def on_missed(self, event: JobExecutionEvent) -> None:
        late = utc_now() - event.scheduled_run_time
        if event.job_id == runs.CYCLE:
            log.warning(
                "skipped the compose-and-send of %s: it is %s late, more than DIGEST_MISFIRE_GRACE (%s), so "
                "the scheduler was down or busy at the time. The next scheduled run takes in everything "
                "since the last issue; run `digest run` to compose and send now.",
                event.scheduled_run_time.isoformat(),
                str(late).split(".")[0],
                self.parts.settings.misfire_grace,
                extra={"job": event.job_id},
            )
        else:
            log.info("skipped a late %s run of %s", event.job_id, event.scheduled_run_time.isoformat())

    # --- the heartbeat -----------------------------------------------------------------------------

    def write_beat(self, role: str) -> None:
        with self.beat_lock:
            try:
                runs.beat(
                    self.engine,
                    holder=self.holder,
                    role=role,
                    every=self.every,
                    started_at=self.started_at,
                    now=utc_now(),
                    next_runs=self.next_runs() if role == "leader" else {},
                )
            except SQLAlchemyError as exc:
                log.warning("could not write the heartbeat: %s", first_line(exc))

    def next_runs(self) -> dict[str, str]:
        scheduler = self.scheduler
        if scheduler is None:
            return {}
        return {
            job.id: job.next_run_time.isoformat()
            for job in scheduler.get_jobs()
            if job.id != HEARTBEAT and job.next_run_time is not None
        }


def shutdown(scheduler: BlockingScheduler) -> None:
    with suppress(SchedulerNotRunningError):  # it stopped meanwhile
        scheduler.shutdown(wait=False)
