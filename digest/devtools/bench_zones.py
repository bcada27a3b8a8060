"""``digest bench --zones K``: local-time delivery measured wave by wave, against the single-wave send.

Two sends of the same issue to the same number of synthetic subscribers, each on a fresh database: one
with everyone at once (``DIGEST_DELIVERY=once``), one with the subscribers spread over K time zones of
distinct UTC offsets (so K waves) and ``DIGEST_DELIVERY=local``. The second send's clock is moved to each
wave's start in turn (no one waits hours), and each wave is timed from its start to its last recipient:
that is how long the last reader of a wave waits past their local hour.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from digest.core.zones import all_zones, local_instant, waves
from digest.db.engine import drop_everything, unit_of_work, upgrade
from digest.devtools.bench import API_KEY, bench_settings, run_bench, standin, validation_note
from digest.devtools.bench_data import add_subscribers, compose_issue, require_empty
from digest.errors import InvalidInput
from digest.issues.queries import get_issue
from digest.wiring import Parts


@dataclass(frozen=True)
class WaveTiming:
    starts_at: datetime
    zones: int
    readers: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.readers / self.seconds if self.seconds else 0.0


@dataclass
class ZonesResult:
    zones: list[str]
    waves: list[WaveTiming] = field(default_factory=list)
    setup_seconds: float = 0.0


def distinct_offsets(count: int, day: date) -> list[str]:
    """``count`` zones whose clocks differ from each other at 07:00 on ``day`` (one per UTC offset, in
    order), fewer when the world has fewer offsets."""
    by_offset: dict[timedelta, str] = {}
    for name in sorted(all_zones()):
        offset = datetime.combine(day, time(7), tzinfo=ZoneInfo(name)).utcoffset()
        if offset is not None and "/" in name and not name.startswith("Etc/"):
            by_offset.setdefault(offset, name)
    return [by_offset[offset] for offset in sorted(by_offset)][:count]


def run_zones_bench(*, zones: int, **options: Any) -> str:
    """The single-wave send, then the local-time send over ``zones`` zones; both as a text report."""
    if zones < 2:
        raise InvalidInput("--zones must be at least 2")
    single = run_bench(**{**options, "naive": 0})
    spread = run_waves(zones=zones, **options)
    return report(single.rate, single.send_seconds, spread)


def run_waves(
    *, zones: int, subscribers: int, database: str | None, spec: Path | None, validate_every: int,
    concurrency: int, batch_size: int, **_: Any,
) -> ZonesResult:  # fmt: skip
    validation_note(spec, validate_every)
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as scratch:
        folder = Path(scratch)
        url = database or f"sqlite:///{folder / 'bench.db'}"
        with standin(spec, folder / "accepted.jsonl", validate_every) as sendgrid:
            backend = {
                "email_backend": "sendgrid",
                "sendgrid_api_key": API_KEY,
                "sendgrid_host": sendgrid.url,
            }
            settings = bench_settings(url, concurrency=concurrency, batch_size=batch_size, **backend)
            parts = Parts(settings.model_copy(update={"delivery": "local", "timezone": "UTC"}))
            try:
                result = measure_waves(parts, subscribers, zones)
                accepted, twice = sendgrid.accepted()
                if accepted != subscribers or twice:
                    raise InvalidInput(f"the stand-in accepted {accepted:,} recipients, {twice} twice")
                return result
            finally:
                if database:
                    drop_everything(parts.engine)
                parts.close()


def measure_waves(parts: Parts, count: int, zones: int) -> ZonesResult:
    started = perf_counter()
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    result = ZonesResult(distinct_offsets(zones, day))
    upgrade(parts.engine)
    require_empty(parts.engine)
    add_subscribers(parts.engine, count, zones=result.zones)
    number = compose_issue(parts)
    with unit_of_work(parts.engine) as session:
        get_issue(session, number).send_at = local_instant(day, time(7), ZoneInfo("UTC"))
    result.setup_seconds = perf_counter() - started
    readers = {
        zone: count // len(result.zones) + (n < count % len(result.zones))
        for n, zone in enumerate(result.zones)
    }
    with parts.sender() as sender:
        for wave in waves(day, time(7), readers):
            sender.clock = fixed_clock(wave.starts_at)
            started = perf_counter()
            report = sender.send(number)
            result.waves.append(
                WaveTiming(wave.starts_at, len(wave.zones), report.sent, perf_counter() - started)
            )
    return result


def fixed_clock(moment: datetime) -> Callable[[], datetime]:
    """A sender's clock stopped at ``moment``: the start of the wave it sends."""
    return lambda: moment


def report(single_rate: float, single_seconds: float, spread: ZonesResult) -> str:
    lines = [
        f"single wave: {single_rate:,.0f} recipients/s ({single_seconds:.1f} s for everyone)",
        "",
        f"{len(spread.zones)} zones, {len(spread.waves)} waves (one per UTC offset):",
        "| wave | starts (UTC) | zones | readers | seconds | recipients/s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for number, wave in enumerate(spread.waves, start=1):
        lines.append(
            f"| {number} | {wave.starts_at:%Y-%m-%d %H:%M} | {wave.zones} | {wave.readers:,} "
            f"| {wave.seconds:.1f} | {wave.rate:,.0f} |"
        )
    sent = sum(wave.readers for wave in spread.waves)
    seconds = sum(wave.seconds for wave in spread.waves)
    slowest = max(spread.waves, key=lambda wave: wave.seconds)
    mean = sent / seconds if seconds else 0.0
    lines += [
        "",
        f"per wave: {mean:,.0f} recipients/s on average against {single_rate:,.0f} in one wave "
        f"({(mean / single_rate - 1) * 100 if single_rate else 0:+.0f} %); the slowest wave took "
        f"{slowest.seconds:.1f} s for {slowest.readers:,} readers "
        f"({'within' if slowest.seconds <= 60 else 'NOT within'} a minute of their local hour)",
    ]
    return "\n".join(lines)
