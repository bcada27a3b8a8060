"""Charts for the editor's reports, drawn on the server as SVG: no script, nothing to load.

Each chart is an ``<svg role="img">`` with a ``<title>`` (its accessible name) and a ``<desc>`` holding
every number it shows; the page puts the same numbers in a table beside it. Colours come from classes
(``chart-bar``, ``chart-line``, ...) the page's stylesheet paints, light and dark: the pages' CSP allows
no inline ``style``. Text is escaped here (``markupsafe.escape``): labels are summaries' titles.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Drawn small and scaled up: on a phone the chart is about 300 px wide, on a desktop about 450, and its
# 16-unit text reads at 12 to 18 px. The table beside it carries the full labels.
ROW = 30  # height of one bar's row
LABEL = 150  # width kept for the labels left of the bars
WIDTH = 400


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as the chart writes it beside the bar ("12", "4.1 %")


def svg(title: str, desc: str, height: int, body: list[str], *, width: int = WIDTH) -> Markup:
    head = (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every outside word escaped above


def bar_chart(title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one row each, the longest filling the width left of the labels."""
    top = max((bar.value for bar in bars), default=0) or 1
    room = WIDTH - LABEL - 75  # room left for the value written after the bar ("100.0 %")
    body: list[str] = []
    for row, bar in enumerate(bars):
        y = row * ROW
        length = max(bar.value / top * room, 1 if bar.value else 0)
        body += [
            text("chart-label", LABEL - 8, y + 20, short(bar.label), "end"),
            f'<rect class="chart-bar" x="{LABEL}" y="{y + 6}" width="{length:.1f}" height="{ROW - 12}"/>',
            text("chart-value", LABEL + length + 6, y + 20, bar.shown),
        ]
    desc = "; ".join(f"{bar.label}: {bar.shown}" for bar in bars)
    return svg(title, desc, max(len(bars), 1) * ROW + 4, body)


def line_chart(title: str, points: Sequence[Bar]) -> Markup:
    """Values at successive moments (labels along the bottom), joined by a line with a dot at each."""
    height, bottom, left, right = 190, 160, 24, WIDTH - 24
    top = max((point.value for point in points), default=0) or 1
    step = (right - left) / max(len(points) - 1, 1)
    at = [
        (left + index * step, bottom - point.value / top * (bottom - 20))
        for index, point in enumerate(points)
    ]
    body = [
        f'<line class="chart-axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<polyline class="chart-line" fill="none" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in at)}"/>',
    ]
    for (x, y), point in zip(at, points, strict=True):
        body += [
            f'<circle class="chart-dot" cx="{x:.1f}" cy="{y:.1f}" r="4"/>',
            text("chart-value", x, y - 9, point.shown, "middle"),
            text("chart-label", x, bottom + 20, point.label, "middle"),
        ]
    desc = "; ".join(f"{point.label}: {point.shown}" for point in points)
    return svg(title, desc, height, body)


def text(kind: str, x: float, y: float, words: str, anchor: str = "start") -> str:
    return f'<text class="{kind}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(words)}</text>'


def short(label: str, room: int = 17) -> str:
    return label if len(label) <= room else label[: room - 1].rstrip() + "…"
