"""``digest waves ISSUE``: with local-time delivery, the waves an issue goes out in, by time zone."""

from typing import Annotated

import typer

from digest.cli.base import app, ready_parts, reports_errors
from digest.db.engine import unit_of_work
from digest.issues.queries import get_issue
from digest.sending import waves


@app.command("waves")
@reports_errors
def waves_command(issue: Annotated[int, typer.Argument(help="Issue number.")]) -> None:
    """The waves of an issue: each wave's zones, their local time, its UTC time, its readers and state;
    fixed when the send started, or what a send started now would have."""
    parts = ready_parts()
    local = parts.local_delivery()
    with unit_of_work(parts.engine) as session:
        chosen = get_issue(session, issue)
        states = waves.fixed(session, chosen)
        if states:
            typer.echo(f"issue {chosen.number} ({chosen.status}): the waves fixed when its send started")
        elif local is None:
            typer.echo(
                f"issue {chosen.number} ({chosen.status}) has no waves: DIGEST_DELIVERY is once, so everyone "
                "gets it when its send starts"
            )
            return
        else:
            day, at = local.target(chosen)
            typer.echo(
                f"issue {chosen.number} ({chosen.status}): the waves a send started now would have, "
                f"{day} {at:%H:%M} on each reader's clock"
            )
            states = waves.planned_states(session, chosen, local)
    for line in wave_lines(states):
        typer.echo(line)


def wave_lines(states: list[waves.WaveState]) -> list[str]:
    """One line per wave: number, UTC time, readers, state, then each zone with its local time."""
    lines = []
    for number, wave in enumerate(states, start=1):
        zones = "; ".join(
            f"{zone} {local.replace('T', ' ')}"
            for zone, local in zip(wave.zones, wave.local_times, strict=True)
        )
        note = f" ({wave.note})" if wave.note else ""
        lines.append(
            f"wave {number}: {wave.starts_at:%Y-%m-%d %H:%M} UTC, {wave.readers} reader"
            f"{'' if wave.readers == 1 else 's'}, {wave.state}{note}: {zones}"
        )
    return lines or ["no active readers: a send started now would email nobody"]
