"""Routes for ops: ``GET /healthz`` (the whole system, JSON, 503 when unhealthy), ``GET /metrics``
(Prometheus text format), and this web process's own answers for a load balancer: ``GET /livez`` (the
process runs) and ``GET /readyz`` (the database answers and its schema is current).

They read the database at request time (``ops/health.py``); none keeps state in the process.
Serve them to the monitoring network only (the reverse proxy can keep them off the public site).
"""

from collections.abc import Callable, Iterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from digest.engagement.report import IssueReport
from digest.ops.health import Readings, check_health, check_ready, metrics_now
from digest.web.context import WebDep
from digest.wiring import Database

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
def healthz(web: WebDep) -> JSONResponse:
    health = check_health(web.engine, now=web.now())
    return JSONResponse(health.as_json(), status_code=200 if health.ok else 503, headers=NO_STORE)


@router.get("/livez")
async def livez() -> JSONResponse:
    # On the event loop on purpose, touching nothing: it answers whenever the process can answer at all,
    # even with every worker thread busy (busy is not dead, and a restart would not help).
    return JSONResponse({"status": "live"}, headers=NO_STORE)


@router.get("/readyz")
def readyz(web: WebDep) -> JSONResponse:
    ready = check_ready(web.engine)
    body = {"status": "ready" if ready.ok else "not ready", **ready.detail}
    return JSONResponse(body, status_code=200 if ready.ok else 503, headers=NO_STORE)


@router.get("/metrics")
def metrics(request: Request, web: WebDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DigestCollector(web.engine, web.now))
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), media_type=content_type, headers=NO_STORE)


def gauge(
    name: str, documentation: str, value: float | None = None, labels: list[str] | None = None
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    if value is not None:
        family.add_metric([], value)
    return family


def seconds(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


class DigestCollector(Collector):
    """Reads the figures once per scrape and yields them as gauges."""

    def __init__(self, engine: Database, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        readings, reports = metrics_now(self.engine, now=self.clock(), issues=ISSUES_IN_METRICS)
        yield from subscriber_metrics(readings)
        yield from send_metrics(readings)
        yield from schedule_metrics(readings)
        yield from issue_metrics(reports)
        yield from wave_metrics(readings)


# The last issues whose totals /metrics shows (each scrape reads their clicks).
ISSUES_IN_METRICS = 8


def issue_metrics(reports: list[IssueReport]) -> Iterator[Metric]:
    """Per-issue totals of the last issues, as ``digest report`` counts them."""
    figures: dict[str, tuple[str, Callable[[IssueReport], int]]] = {
        "delivered": ("Emails of the issue delivered.", lambda r: r.delivered),
        "readers_clicked": (
            "Readers (distinct visitors) who clicked a link of the issue.",
            lambda r: r.clicks.unique,
        ),
        "clicks": ("People's clicks on the issue's links (machine clicks apart).", lambda r: r.clicks.total),
        "machine_clicks": ("Clicks set apart as mail scanners'.", lambda r: r.machine_clicks),
        "opens_estimate": (
            "People's opens of the issue (pixel fetches, machine opens apart): an estimate.",
            lambda r: r.opens.total,
        ),
        "readers_opened_estimate": (
            "Distinct visitors who opened the issue (machine opens apart): an estimate.",
            lambda r: r.opens.unique,
        ),
        "machine_opens": (
            "Opens set apart as privacy proxies' prefetches or scanners'.",
            lambda r: r.opens.machine,
        ),
        "unsubscribed": (
            "Subscribers who left from this issue's unsubscribe link or one-click header (older links: "
            "left after this issue, before another).",
            lambda r: r.unsubscribed,
        ),
        "bounced": ("Deliveries of the issue bounced or dropped.", lambda r: r.bounced),
        "complaints": ("Spam reports of the issue.", lambda r: r.complained),
    }
    for name, (documentation, value) in figures.items():
        family = gauge(f"digest_issue_{name}", documentation, labels=["issue"])
        for report in reports:
            family.add_metric([str(report.number)], value(report))
        yield family


def wave_metrics(readings: Readings) -> Iterator[Metric]:
    """With local-time delivery: the last send's wave in progress and its next one."""
    current, coming = readings.wave_now, readings.wave_next
    yield gauge(
        "digest_wave_in_progress_start_timestamp_seconds",
        "When the wave being sent started (local-time delivery); absent when none is.",
        seconds(current.starts_at) if current else None,
    )
    yield gauge(
        "digest_wave_in_progress_open_deliveries",
        "Deliveries of the wave being sent still pending or being sent.",
        (current.counts.get("pending", 0) + current.counts.get("sending", 0)) if current else None,
    )
    yield gauge(
        "digest_wave_next_start_timestamp_seconds",
        "When the last send's next wave starts (local-time delivery); absent when none is to come.",
        seconds(coming.starts_at) if coming else None,
    )
    yield gauge(
        "digest_wave_next_readers",
        "Readers of the last send's next wave.",
        coming.readers if coming else None,
    )


def subscriber_metrics(readings: Readings) -> Iterator[Metric]:
    family = gauge("digest_subscribers", "Subscribers by state.", labels=["state"])
    for state, count in readings.subscribers.items():
        family.add_metric([state], count)
    yield family


def send_metrics(readings: Readings) -> Iterator[Metric]:
    issue = readings.last_send
    yield gauge(
        "digest_last_send_issue", "Number of the issue of the last send.", issue.number if issue else None
    )
    deliveries = gauge(
        "digest_last_send_deliveries", "Deliveries of the last send by status.", labels=["status"]
    )
    for status, count in readings.deliveries.items():
        deliveries.add_metric([status], count)
    yield deliveries
    yield from variant_metrics(readings)
    errors = gauge(
        "digest_last_send_provider_errors",
        "Deliveries of the last send that met a provider error, by kind: failed (given up) or retried.",
        labels=["kind"],
    )
    for kind, count in readings.provider_errors.items():
        errors.add_metric([kind], count)
    yield errors
    yield gauge(
        "digest_last_send_duration_seconds",
        "From the start of the last send to its end (or to now while it runs).",
        readings.send_seconds if issue else None,
    )
    yield gauge(
        "digest_last_send_rate_per_second",
        "Messages sent per second in the last send.",
        readings.send_rate if issue else None,
    )
    rates = readings.rates
    for what, count in (
        ("bounce", rates.bounced if rates else 0),
        ("complaint", rates.complained if rates else 0),
    ):
        yield gauge(
            f"digest_last_send_{what}_ratio",
            f"Share of the last send's delivered recipients with a {what} event (alert above 0.003).",
            count / rates.sent if rates and rates.sent else None,
        )
    yield gauge(
        "digest_send_paused",
        "1 while a send is paused and waits for ops (digest send --resume).",
        readings.paused,
    )


def variant_metrics(readings: Readings) -> Iterator[Metric]:
    """The last send by variant: ``variant`` is its number in the issue (``unmatched``: the subscribers
    whose topics selected no summary, who got no email; ``issue``: a send from before topics)."""
    yield gauge(
        "digest_last_send_variants",
        "Variants of the last send: distinct sets of summaries that subscribers' topics selected.",
        sum(v.position is not None for v in readings.variants) if readings.last_send else None,
    )
    family = gauge(
        "digest_last_send_variant_deliveries",
        "Deliveries of the last send by variant and status.",
        labels=["variant", "status"],
    )
    for variant in readings.variants:
        name = str(variant.position) if variant.position is not None else "issue"
        for status, count in variant.counts.items():
            family.add_metric(["unmatched" if status == "unmatched" else name, status], count)
    yield family


def schedule_metrics(readings: Readings) -> Iterator[Metric]:
    success = gauge(
        "digest_last_success_timestamp_seconds",
        "When ingest last read every source, an issue was last composed, a send last completed.",
        labels=["step"],
    )
    for step, moment in readings.last_success.items():
        if moment is not None:
            success.add_metric([step], moment.timestamp())
    yield success
    failing = gauge("digest_job_last_run_failed", "1 when the last run of a job failed.", labels=["job"])
    for name, run in readings.job_runs.items():
        failing.add_metric([name], run.outcome == "failed")
    yield failing
    yield gauge(
        "digest_scheduler_heartbeat_timestamp_seconds",
        "The leading scheduler's last heartbeat.",
        seconds(readings.heartbeat_at),
    )
    yield gauge("digest_scheduler_standbys", "Schedulers waiting to take over.", readings.standbys)
    yield gauge(
        "digest_sources_failing", "Configured sources whose last read failed.", readings.failing_sources
    )
