"""Rendering the digest email: Jinja2 (autoescape on) -> MJML (mjml-python) -> responsive HTML, plus text."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from mjml import mjml2html

from digest.core.direction import Direction, direction
from digest.core.engagement import LinkKind, TrackedLink
from digest.core.evidence import Evidence, Tone, evidence
from digest.core.inline import emphasis_html, words
from digest.core.personalize import Marker, Markers, kept, neutralised, new_key
from digest.errors import DigestError
from digest.i18n import ENGLISH, Language
from digest.rendering.note import note_html, note_links
from digest.rendering.palette import BADGES, BRAND_INK, DEFAULT_BRAND, STYLE, dark_css

PACKAGE_DIR = Path(__file__).resolve().parent.parent

# Zero-width characters after the preheader, so the inbox preview shows no stray body text after it.
PREHEADER_PADDING = "\u034f\u00a0" * 90


def outside_words(value: object) -> object:
    """Every value a template prints passes here: none may carry a per-recipient marker but the
    template's own (``core/personalize.py``). Sanitised HTML (the editor's note) stays HTML; a note already
    cut with its reader markers kept (``MarkedUp``) passes as it is."""
    if isinstance(value, MarkedUp):
        return value
    if isinstance(value, Markup):
        return Markup(neutralised(str(value)))  # noqa: S704 - already sanitised HTML, only cut here
    if isinstance(value, str):
        return neutralised(value)
    return value


class MarkedUp(Markup):
    """Sanitised HTML already neutralised, in which only the render's own reader marker remains."""

    __slots__ = ()


def emphasis(text: str) -> Markup:
    """A summary's text as HTML keeping its inline emphasis: the one place outside words become markup.

    Sanitised first (``core/inline.py``: only bare i, em, b, strong, sub, sup are left), then cut where it
    reads like a per-recipient marker (sanitising reads entities, so ``&#95;`` is a ``_`` only after it),
    and only then marked safe. Templates use it as the ``inline`` filter; the text part's ``inline`` is
    ``words``, the same text without tags.
    """
    # Sanitised output is canonical: "<sup>" here is the tag. Smaller and without line height, so a
    # superscript does not push its line away from the one above.
    html = neutralised(emphasis_html(text))
    for tag in ("sub", "sup"):
        html = html.replace(f"<{tag}>", f'<{tag} style="font-size:75%;line-height:0;">')
    return Markup(html)  # noqa: S704 - sanitised and neutralised just above


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
    # Where the DOI link leads when it is tracked (``tracked`` below); else ``doi_url``.
    doi_link: str | None = None
    readers: int = 0  # a readers' pick: how many people read it (``core/picks.py``)

    @property
    def doi_href(self) -> str | None:
        return self.doi_link or self.doi_url

    @property
    def dir(self) -> Direction:
        """Which way the item's words run (``core/direction.py``): from its headline's first letter, or
        its takeaway's and meaning's when the headline has none; tags do not count."""
        return direction(words(self.title), words(self.key_takeaway), words(self.what_it_means))

    @property
    def start(self) -> str:
        """The side the item's lines start on: its alignment, and where its callout's rule goes."""
        return "right" if self.dir == "rtl" else "left"

    @property
    def evidence(self) -> Evidence | None:
        return evidence(words(self.evidence_level)) if self.evidence_level else None

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
        journal = words(self.journal) if self.journal else None
        return ", ".join(part for part in (journal, str(self.year) if self.year else None) if part)


@dataclass(frozen=True)
class IssueView:
    number: int
    subject: str
    preheader: str
    date_label: str
    featured: tuple[ItemView, ...]
    more: tuple[ItemView, ...] = ()
    note: str = ""
    picks: tuple[ItemView, ...] = ()  # "Most read last week" (``DIGEST_READERS_PICKS``)
    # What each link of the note becomes (a tracked link) in the HTML and the text; ``None``: itself.
    note_link: Callable[[str], str] | None = field(default=None, compare=False)
    # The reader marker the note's tracked links carry under ``individual`` tracking (``""``: none).
    reader: str = field(default="", compare=False)

    @property
    def count(self) -> int:
        return len(self.featured) + len(self.more)

    @property
    def note_paragraphs(self) -> list[str]:
        note = note_links(self.note, self.note_link) if self.note_link else self.note
        parts = [part.strip() for part in note.split("\n\n") if part.strip()]
        return [Marker(kept(part, Marker(self.reader))) for part in parts] if self.reader else parts

    @property
    def note_html(self) -> Markup:
        """The note's Markdown as sanitised, inline-styled HTML (the text part shows the Markdown)."""
        html = note_html(self.note, link_color=STYLE["link"], link=self.note_link)
        return MarkedUp(kept(html, Marker(self.reader))) if self.reader else html


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
    brand_color: str = DEFAULT_BRAND
    """The masthead's ground (``DIGEST_BRAND_COLOR``), checked at start-up by ``palette.brand_problem``."""
    logo_url: str | None = None
    """An https image shown at the top of the masthead, ``logo_width`` pixels wide (``DIGEST_LOGO_URL``)."""
    logo_alt: str = ""
    logo_width: int = 160
    tracking: str = ""
    """What readers are told about tracked links (``core/engagement.tracking_notice``)."""


@dataclass(frozen=True)
class RenderedEmail:
    """The HTML and text of an issue, with per-recipient markers still in place: those of ``markers``,
    the render's own random key (to be stored with it: only that key's markers are ever filled)."""

    subject: str
    html: str
    text: str
    markers: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def translated(environment: Environment, language: Language) -> Environment:
    """``environment`` speaking ``language``: ``{% trans %}``, ``_()`` and ``ngettext()`` in its templates
    (new-style gettext, so placeholders are escaped where autoescape is on), whitespace in ``{% trans %}``
    blocks collapsed as ``pybabel extract`` collapses it (``trimmed``)."""
    environment.add_extension("jinja2.ext.i18n")
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(language.translations, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["lang"] = language.code
    environment.globals["dir"] = language.direction
    environment.filters["day"] = language.date
    return environment


class Renderer:
    def __init__(
        self,
        site: SiteView,
        folder: Path | None = None,
        *,
        track: Callable[[TrackedLink], str] | None = None,
        language: Language = ENGLISH,
        pixel: Callable[[int], str] | None = None,
        per_reader: bool = False,
    ) -> None:
        """``track``: the address of a tracked link (``DIGEST_TRACKING``); ``None``: links as written.
        ``language``: the words, direction and dates of ``DIGEST_LANGUAGE``. ``pixel``: the address of
        an issue's open pixel, from its number (``DIGEST_TRACK_OPENS``); ``None``: no pixel.
        ``per_reader`` (``individual`` tracking): each tracked link and the pixel end with the render's
        reader marker, which the send fills with each reader's tag."""
        self.site = site
        self.per_reader = per_reader
        self.track = track
        self.pixel = pixel
        self.language = language
        loader = FileSystemLoader(str(folder or templates_dir()))
        # MJML does not escape, so Jinja2 must, for .mjml.j2 too (select_autoescape would miss it).
        self._markup = translated(
            Environment(loader=loader, autoescape=True, undefined=StrictUndefined, finalize=outside_words),
            language,
        )
        self._markup.filters.update(inline=emphasis, words=words)
        # The text part is plain text, never shown as HTML: escaping would print "&amp;" to readers.
        self._text = translated(
            Environment(
                loader=loader,
                autoescape=False,  # noqa: S701
                undefined=StrictUndefined,
                finalize=outside_words,
            ),
            language,
        )
        self._text.filters.update(inline=words, words=words)

    def render_issue(self, issue: IssueView) -> RenderedEmail:
        key = new_key()
        markers = Markers.of(key)
        reader = markers.reader if self.per_reader else ""
        if self.track is not None:
            issue = tracked(issue, self.track, Marker(reader))
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
            "brand_ink": BRAND_INK["light"],
            "preheader_padding": PREHEADER_PADDING,
            "legend": any(item.evidence for item in issue.featured),
            # One pixel per render (an issue or a variant): the same for every reader of it.
            "pixel": self.pixel_of(issue.number, reader),
            "dark_css": Markup(dark_css(self.site.brand_color)),  # noqa: S704 - our rules, a checked hex colour
        }
        rendered = self._render("digest", issue.subject, context)
        return RenderedEmail(rendered.subject, rendered.html, rendered.text, markers=key)

    def pixel_of(self, issue: int, reader: str) -> str:
        """The render's open pixel (``""``: none), its token followed by ``reader``, the reader marker."""
        if self.pixel is None:
            return ""
        url = self.pixel(issue)
        return Marker(url.removesuffix(".gif") + reader + ".gif") if reader else url

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


def tracked(issue: IssueView, track: Callable[[TrackedLink], str], reader: str = "") -> IssueView:
    """``issue`` with each summary's page and DOI, and each link of the note, leading through ``track``
    (once per render: the same tokens for every reader of it), each followed by ``reader`` (the reader
    marker under ``individual`` tracking). Unsubscribe, preferences and the view-in-browser link are not
    the issue's content and stay as they are."""

    def followed(link: TrackedLink) -> str:
        return Marker(track(link) + reader) if reader else track(link)

    def item(view: ItemView) -> ItemView:
        def link(kind: LinkKind, url: str) -> str:
            return followed(TrackedLink(issue.number, kind, url, view.summary_id))

        doi = view.doi_url
        return replace(
            view, url=link(LinkKind.page, view.url), doi_link=link(LinkKind.doi, doi) if doi else None
        )

    def note(url: str) -> str:
        return followed(TrackedLink(issue.number, LinkKind.note, url))

    featured, more, picks = (tuple(map(item, items)) for items in (issue.featured, issue.more, issue.picks))
    return replace(issue, featured=featured, more=more, picks=picks, note_link=note, reader=reader)


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
