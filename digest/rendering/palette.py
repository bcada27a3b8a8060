"""The email's colours: the light palette (inline on every element), the dark one (repainted by
``dark_css`` under ``prefers-color-scheme: dark`` and Outlook.com's ``[data-ogsc]``), the evidence
badges, and the masthead on the brand colour (``DIGEST_BRAND_COLOR``), which ``brand_problem`` checks.

Contrast comes from ``digest.core.contrast``. May import ``digest.core``.
"""

from digest.core.contrast import AA, contrast_ratio, hex_colour
from digest.core.evidence import Tone

STYLE = {
    "font": "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
    "ink": "#1f2933",
    "muted": "#52606d",
    "link": "#0b5cad",
    "paper": "#ffffff",
    "canvas": "#f3f5f7",
    "rule": "#d9e2ec",
    "note_bg": "#fff8e6",
    "callout_bg": "#e8f4ef",
    "callout_rule": "#1d7a5a",
}

# Dark mode (Apple Mail, Outlook for Mac and iOS read prefers-color-scheme; Outlook.com marks its dark
# view with data-ogsc and data-ogsb): the same roles, each text colour at AA or better on its ground.
DARK = {
    "ink": "#e6e9ee",
    "muted": "#b3bdc8",
    "link": "#8cc4ff",
    "paper": "#1b2129",
    "canvas": "#11161c",
    "rule": "#3a4552",
    "note_bg": "#3a3020",
    "callout_bg": "#163228",
    "callout_rule": "#7dd8b0",
}

# The masthead keeps the brand colour as its ground in both schemes; its words are white in the light
# scheme and the dark palette's ink in the dark one. A brand colour is refused unless both read at AA.
DEFAULT_BRAND = "#0e4d64"
BRAND_INK = {"light": "#ffffff", "dark": DARK["ink"]}

# Evidence badges by tone (core/evidence.py): text and background, each pair above 4.5:1.
BADGES = {
    Tone.strongest: ("#0d4a2f", "#d3ecdf"),
    Tone.strong: ("#0b3d6e", "#d7e7f7"),
    Tone.weak: ("#6b4400", "#fbecc8"),
    Tone.weakest: ("#7a1f1f", "#f8dcdc"),
    Tone.neutral: ("#33404d", "#e4e9ee"),
}
DARK_BADGES = {
    Tone.strongest: ("#bff0d6", "#1d4733"),
    Tone.strong: ("#cfe4fb", "#1d3d60"),
    Tone.weak: ("#fbe3a6", "#4d3a12"),
    Tone.weakest: ("#ffd3d3", "#5a2424"),
    Tone.neutral: ("#e6e9ee", "#3a4552"),
}


def brand_contrast(brand: str) -> dict[str, float]:
    """The masthead's contrast on ``brand`` in each scheme: ``{"light": 8.9, "dark": 7.4}``."""
    return {scheme: contrast_ratio(ink, brand) for scheme, ink in BRAND_INK.items()}


def brand_problem(brand: str) -> str | None:
    """Why ``brand`` cannot carry the masthead, or None when its words read at AA in both schemes."""
    colour = hex_colour(brand)
    failing = [
        f"{BRAND_INK[scheme]} text on it is {ratio:.2f}:1 in the {scheme} scheme"
        for scheme, ratio in brand_contrast(colour).items()
        if ratio < AA
    ]
    if not failing:
        return None
    return (
        f"{colour} is too light for the masthead's words: "
        + " and ".join(failing)
        + f"; WCAG AA needs {AA}:1, so choose a darker colour (the default is {DEFAULT_BRAND})"
    )


def dark_css(brand: str = DEFAULT_BRAND) -> str:
    """The dark-mode rules: for clients that follow ``prefers-color-scheme`` and for Outlook.com's own
    dark view. Every element keeps its light colours inline; these only repaint them (the masthead keeps
    ``brand``, which the canvas rule would otherwise paint over)."""
    d = DARK
    rules = [
        f".dm-canvas, .dm-canvas table {{ background: {d['canvas']} !important; }}",
        f".dm-paper, .dm-paper table {{ background: {d['paper']} !important; }}",
        f".dm-masthead, .dm-masthead table {{ background: {hex_colour(brand)} !important; }}",
        f".dm-ink div, .dm-ink p, .dm-ink h1, .dm-ink h2, .dm-ink li {{ color: {d['ink']} !important; }}",
        f".dm-muted div, .dm-muted p, .dm-muted-text {{ color: {d['muted']} !important; }}",
        f".dm-ink a, .dm-muted a {{ color: {d['link']} !important; }}",
        f".dm-brand div, .dm-brand h1, .dm-brand p {{ color: {BRAND_INK['dark']} !important; }}",
        f".dm-paper .dm-note {{ background: {d['note_bg']} !important; }}",
        f".dm-callout {{ background: {d['callout_bg']} !important; }}",
        f".dm-callout {{ border-color: {d['callout_rule']} !important; }}",
        f".dm-callout .dm-callout-label {{ color: {d['callout_rule']} !important; }}",
        f".dm-rule p {{ border-color: {d['rule']} !important; }}",
    ]
    rules += [
        f".dm-badge-{tone} {{ color: {ink} !important; background: {paper} !important; }}"
        for tone, (ink, paper) in DARK_BADGES.items()
    ]
    light = "\n".join(rules)
    outlook = "\n".join("[data-ogsc] " + rule.replace(", .", ", [data-ogsc] .") for rule in rules)
    return f"@media (prefers-color-scheme: dark) {{\n{light}\n}}\n{outlook}"
