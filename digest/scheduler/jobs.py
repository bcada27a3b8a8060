"""What the scheduler's jobs do: one at a time, each run recorded, the sender in hand reachable by a stop.

``compose-and-send`` runs ``run_cycle`` (as ``digest run`` does), ``send`` runs ``send_due`` and
``ingest`` runs ``ingest_recorded``. When to run them is ``runner.py``'s business.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from digest.core.clock import utc_now
from digest.ops import runs
from digest.ops.cycle import CyclePlan, SendDue, ingest_recorded, run_cycle, send_due
from digest.sending.sender import IssueSender
from digest.wiring import Parts

log = logging.getLogger("digest.scheduler")


class Jobs:
    """The jobs' bodies. ``then`` runs after each job (the runner plans the next send there)."""

    def __init__(
        self, parts: Parts, plan: CyclePlan, stopping: threading.Event, then: Callable[[], None]
    ) -> None:
        self.parts = parts
        self.engine = parts.engine
        self.plan = plan
        self.stopping = stopping
        self.then = then
        self.lock = threading.Lock()  # held by the job in hand: two jobs never write the same rows at once
        self.sender: IssueSender | None = None
        self.running: str | None = None

    def stop(self) -> None:
        """Let the sender in hand finish its batch, record it and return."""
        sender = self.sender
        if sender is not None:
            sender.stop()

    def wait(self) -> None:
        """Until the job in hand has finished and recorded what it did."""
        with self.lock:
            pass

    def cycle(self) -> None:
        def work() -> SendDue:
            now = utc_now()
            sources = self.parts.sources(now=now)
            with self.sending() as sender:
                return run_cycle(
                    self.engine,
                    sources,
                    self.parts.renderer,
                    sender,
                    self.plan,
                    now=now,
                    should_stop=self.stopping.is_set,
                )

        self.in_turn(runs.CYCLE, lambda: self.recorded(runs.CYCLE, work))

    def send(self) -> None:
        def work() -> SendDue:
            with self.sending() as sender:
                return send_due(
                    self.engine,
                    sender,
                    review_window=self.plan.review_window,
                    now=utc_now(),
                    should_stop=self.stopping.is_set,
                )

        self.in_turn(runs.SEND, lambda: self.recorded(runs.SEND, work))

    def ingest(self) -> None:
        def work() -> None:
            now = utc_now()
            sources = self.parts.sources(now=now)
            # ingest_recorded records the run itself.
            reports = ingest_recorded(self.engine, sources, self.parts.renderer, now=now)
            for report in reports:
                if report.error:
                    log.warning(
                        "ingest: %s", report.line, extra={"job": runs.INGEST, "source": report.origin}
                    )
            log.info("ingest: %s", "; ".join(report.line for report in reports), extra={"job": runs.INGEST})

        self.in_turn(runs.INGEST, work)

    def in_turn(self, name: str, work: Callable[[], None]) -> None:
        """Run one job in turn with the others; one queued before a stop does not start."""
        with self.lock:
            if self.stopping.is_set():
                return
            self.running = name
            try:
                work()
            finally:
                self.running = None
        self.then()

    def recorded(self, name: str, work: Callable[[], SendDue]) -> None:
        """Run ``work`` and record the run: ``ok``, ``interrupted`` by a stop, or ``failed`` if it raised."""
        with runs.recorded(self.engine, name, clock=utc_now) as note:
            result = work()
            note.detail = result.summary
            note.outcome = "interrupted" if result.stopped else "ok"
        log.info("%s (%s): %s", name, note.outcome, note.detail, extra={"job": name})

    @contextmanager
    def sending(self) -> Iterator[IssueSender]:
        """A sender that ``stop()`` can reach."""
        sender = self.parts.sender()
        # Set before any send starts: a stop either finds it here or is seen by send_due's should_stop.
        self.sender = sender
        try:
            yield sender
        finally:
            self.sender = None
            sender.mailer.close()
