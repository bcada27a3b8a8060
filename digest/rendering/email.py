"""Rendering the digest email: Jinja2 (autoescape on) -> MJML (mjml-python) -> responsive HTML, plus text."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from mjml import mjml2html

from digest.core.engagement import LinkKind, TrackedLink
from digest.core.evidence import LEGEND, Evidence, Tone, evidence
from digest.core.personalize import Markers, neutralised, new_key
from digest.errors import DigestError
from digest.rendering.note import note_html, note_links

PACKAGE_DIR = Path(__file__).resolve().parent.parent

# Zero-width characters after the preheader, so the inbox preview shows no stray body text after it.
PREHEADER_PADDING = "\u034f\u00a0" * 90

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


def dark_css() -> str:
    """The dark-mode rules: for clients that follow ``prefers-color-scheme`` and for Outlook.com's own
    dark view. Every element keeps its light colours inline; these only repaint them."""
    d = DARK
    rules = [
        f".dm-canvas, .dm-canvas table {{ background: {d['canvas']} !important; }}",
        f".dm-paper, .dm-paper table {{ background: {d['paper']} !important; }}",
        f".dm-ink div, .dm-ink p, .dm-ink h1, .dm-ink h2, .dm-ink li {{ color: {d['ink']} !important; }}",
        f".dm-muted div, .dm-muted p, .dm-muted-text {{ color: {d['muted']} !important; }}",
        f".dm-ink a, .dm-muted a {{ color: {d['link']} !important; }}",
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


def outside_words(value: object) -> object:
    """Every value a template prints passes here: none may carry a per-recipient marker but the
    template's own (``core/personalize.py``). Sanitised HTML (the editor's note) stays HTML."""
    if isinstance(value, Markup):
        return Markup(neutralised(str(value)))  # noqa: S704 - already sanitised HTML, only cut here
    if isinstance(value, str):
        return neutralised(value)
    return value


def templates_dir() -> Path:
    """``templates/`` beside the package in a checkout, or inside it in an installed wheel."""
    for candidate in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"):
        if (candidate / "email").is_dir():
            return candidate
    raise DigestError(f"the templates folder is missing (looked in {PACKAGE_DIR} and its parent)")


@dataclass(frozen=True)
class ItemView:
    title: str
    url: str
    key_takeaway: str = ""
    what_it_means: str = ""
    study_type: str | None = None
    evidence_level: str | None = None
    topics: tuple[str, ...] = ()
    journal: str | None = None
    doi: str | None = None
    year: int | None = None
    summary_id: int | None = None
    # Where the DOI link leads when it is tracked (``rendering/tracking.py``); else ``doi_url``.
    doi_link: str | None = None

    @property
    def doi_href(self) -> str | None:
        return self.doi_link or self.doi_url

    @property
    def evidence(self) -> Evidence | None:
        return evidence(self.evidence_level)

    @property
    def badge_colors(self) -> tuple[str, str]:
        """Text and background of the evidence badge (AA contrast on each, light and dark)."""
        found = self.evidence
        return BADGES[found.tone if found else Tone.neutral]

    @property
    def doi_url(self) -> str | None:
        """The DOI as a link at doi.org, whether the summary gave ``10.x/y`` or a doi.org address."""
        if not self.doi:
            return None
        doi = self.doi.strip().removeprefix("https://doi.org/").removeprefix("http://doi.org/")
        return f"https://doi.org/{doi.removeprefix('doi:')}"

    @property
    def citation(self) -> str:
        """``"The Lancet, 2026"``: where the study was published, when the summary says."""
        return ", ".join(part for part in (self.journal, str(self.year) if self.year else None) if part)

    @property
    def study_line(self) -> str:
        parts = []
        if self.study_type:
            parts.append(f"Study type: {self.study_type}")
        if self.evidence_level:
            parts.append(f"Evidence level: {self.evidence_level}")
        return " · ".join(parts)


@dataclass(frozen=True)
class IssueView:
    number: int
    subject: str
    preheader: str
    date_label: str
    featured: tuple[ItemView, ...]
    more: tuple[ItemView, ...] = ()
    note: str = ""
    # What each link of the note becomes (a tracked link) in the HTML and the text; ``None``: itself.
    note_link: Callable[[str], str] | None = field(default=None, compare=False)

    @property
    def count_label(self) -> str:
        count = len(self.featured) + len(self.more)
        return f"{count} new research {'summary' if count == 1 else 'summaries'}"

    @property
    def note_paragraphs(self) -> list[str]:
        note = note_links(self.note, self.note_link) if self.note_link else self.note
        return [part.strip() for part in note.split("\n\n") if part.strip()]

    @property
    def note_html(self) -> Markup:
        """The note's Markdown as sanitised, inline-styled HTML (the text part shows the Markdown)."""
        return note_html(self.note, link_color=STYLE["link"], link=self.note_link)


@dataclass(frozen=True)
class NoticeView:
    """A short transactional email: a heading, paragraphs, one button, closing lines."""

    subject: str
    heading: str
    paragraphs: tuple[str, ...]
    footer: str
    button_label: str = ""
    button_url: str = ""
    closing: tuple[str, ...] = ()
    preferences_url: str = ""

    @property
    def preheader(self) -> str:
        return self.paragraphs[0] if self.paragraphs else self.heading


@dataclass(frozen=True)
class SiteView:
    base_url: str
    name: str = "Research Digest"
    postal_address: str | None = None
    why: str = (
        "You are receiving this because you subscribed to the Research Digest and confirmed your address."
    )
    disclaimer: str = (
        "These summaries are for information only and are not medical advice; "
        "talk to a health professional before changing your care."
    )


@dataclass(frozen=True)
class RenderedEmail:
    """The HTML and text of an issue, with per-recipient markers still in place: those of ``markers``,
    the render's own random key (to be stored with it: only that key's markers are ever filled)."""

    subject: str
    html: str
    text: str
    markers: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Renderer:
    def __init__(
        self,
        site: SiteView,
        folder: Path | None = None,
        *,
        track: Callable[[TrackedLink], str] | None = None,
    ) -> None:
        """``track``: the address of a tracked link (``DIGEST_TRACKING``); ``None``: links as written."""
        self.site = site
        self.track = track
        loader = FileSystemLoader(str(folder or templates_dir()))
        # MJML does not escape, so Jinja2 must, for .mjml.j2 too (select_autoescape would miss it).
        self._markup = Environment(
            loader=loader, autoescape=True, undefined=StrictUndefined, finalize=outside_words
        )
        # The text part is plain text, never shown as HTML: escaping would print "&amp;" to readers.
        self._text = Environment(
            loader=loader,
            autoescape=False,  # noqa: S701
            undefined=StrictUndefined,
            finalize=outside_words,
        )

    def render_issue(self, issue: IssueView) -> RenderedEmail:
        if self.track is not None:
            issue = tracked(issue, self.track)
        key = new_key()
        markers = Markers.of(key)
        links = {
            "unsubscribe": markers.unsubscribe,
            "preferences": markers.preferences,
            "view_in_browser": f"{self.site.base_url}/issues/{issue.number}",
        }
        context = {
            "issue": issue,
            "site": self.site,
            "links": links,
            "style": STYLE,
            "preheader_padding": PREHEADER_PADDING,
            "legend": LEGEND if any(item.evidence for item in issue.featured) else "",
            "dark_css": Markup(dark_css()),  # noqa: S704 - our own constant rules, no outside text
        }
        rendered = self._render("digest", issue.subject, context)
        return RenderedEmail(rendered.subject, rendered.html, rendered.text, markers=key)

    def render_notice(self, notice: NoticeView) -> RenderedEmail:
        context = {
            "notice": notice,
            "site": self.site,
            "style": STYLE,
            "preheader_padding": PREHEADER_PADDING,
        }
        return self._render("notice", notice.subject, context)

    def _render(self, name: str, subject: str, context: dict[str, object]) -> RenderedEmail:
        html = mjml_to_html(self._markup.get_template(f"email/{name}.mjml.j2").render(context))
        text = self._text.get_template(f"email/{name}.txt.j2").render(context)
        return RenderedEmail(subject=subject, html=html, text=tidy_text(text))


def tracked(issue: IssueView, track: Callable[[TrackedLink], str]) -> IssueView:
    """``issue`` with each summary's page and DOI, and each link of the note, leading through ``track``
    (once per render: the same tokens for every reader of it). Unsubscribe, preferences and the
    view-in-browser link are not the issue's content and stay as they are."""

    def item(view: ItemView) -> ItemView:
        def link(kind: LinkKind, url: str) -> str:
            return track(TrackedLink(issue.number, kind, url, view.summary_id))

        doi = view.doi_url
        return replace(
            view, url=link(LinkKind.page, view.url), doi_link=link(LinkKind.doi, doi) if doi else None
        )

    def note(url: str) -> str:
        return track(TrackedLink(issue.number, LinkKind.note, url))

    featured, more = tuple(map(item, issue.featured)), tuple(map(item, issue.more))
    return replace(issue, featured=featured, more=more, note_link=note)


def mjml_to_html(source: str) -> str:
    try:
        return str(mjml2html(source, disable_comments=True, fonts={}))
    except ValueError as exc:  # every MRML failure is a ValueError
        raise DigestError(f"the email template is not valid MJML: {exc}") from exc


def tidy_text(text: str) -> str:
    """Collapse runs of blank lines left by template logic; end with one newline."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if stripped or (lines and lines[-1]):
            lines.append(stripped)
    return "\n".join(lines).strip() + "\n"
