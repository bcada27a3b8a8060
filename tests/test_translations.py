"""Every word a reader sees goes through the catalogues, and the Spanish one is complete.

- ``pybabel extract`` with ``babel.cfg`` (as a translator runs it) finds every message, and the Spanish
  catalogue translates each one, none fuzzy, none with placeholders that differ from the English;
- no template a reader sees holds words outside ``{% trans %}`` or ``_()``: the text between tags, the
  visible attributes and the string constants a template prints are read from Jinja2's own parse tree;
- ``DIGEST_LANGUAGE`` is checked at start-up and names itself when wrong; a right-to-left language sets
  ``dir``; dates follow the language.
"""

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from babel.dates import get_month_names
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, nodes

from digest.config import Settings
from digest.errors import ConfigError
from digest.i18n import Language, catalogue_path, compiled, language, shipped_languages
from digest.rendering import Renderer
from digest.web.pages import Pages
from tests.support import parts_of, read_outbox, write_summaries
from tests.support.cli import Digest
from tests.support.email_samples import SITE
from tests.support.rendering import ISSUE
from tests.support.translations import english_left_in, spanish, spanish_summaries

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
# The templates readers see; the editor's pages (templates/pages/editor/) are for staff, in English.
READER_TEMPLATES = sorted(
    path.relative_to(TEMPLATES).as_posix()
    for pattern in ("email/*.j2", "pages/*.html")
    for path in TEMPLATES.glob(pattern)
)
# Style sheets base.html includes inside its <style> element: CSS, no words.
STYLE_SHEETS = {"pages/_archive_style.html", "pages/_archive_dark.html"}
WORD = re.compile(r"[^\W\d_]{2,}")
KEYWORD = re.compile(r"[a-z]+(?:-[a-z]+)+")
GETTEXT = {"_", "gettext", "ngettext"}
VISIBLE_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "label"}


def extracted(tmp_path: Path) -> Catalog:
    """The messages ``pybabel extract -F babel.cfg`` finds in the repository."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(  # type: ignore[no-untyped-call]
        ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), str(ROOT)]
    )
    with pot.open("rb") as source:
        return read_po(source)


def test_pybabel_extract_finds_the_messages_and_spanish_translates_every_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # babel.cfg's patterns are relative to the repository
    found = {message.id for message in extracted(tmp_path) if message.id}
    assert {"In this issue", "What this means for you", "Unsubscribe"} <= {
        key if isinstance(key, str) else key[0] for key in found
    }
    catalogue = spanish()
    translated = {message.id: message for message in catalogue if message.id}
    missing = sorted(str(key) for key in found - set(translated))
    assert not missing, f"messages missing from the Spanish catalogue: {missing}"
    fuzzy = sorted(str(key) for key in found if translated[key].fuzzy)
    assert not fuzzy, f"fuzzy Spanish messages: {fuzzy}"
    empty = [str(key) for key in found if not all(forms(translated[key].string))]
    assert not empty, f"untranslated Spanish messages: {sorted(empty)}"
    problems = [(str(message.id), errors) for message, errors in catalogue.check() if errors]
    assert not problems, f"Spanish messages whose placeholders differ from the English: {problems}"


def forms(string: object) -> tuple[object, ...]:
    """A translation's forms: one, or one per plural form."""
    return tuple(string) if isinstance(string, tuple | list) else (string,)


class Visible(HTMLParser):
    """The words of a page or email a reader sees: text outside scripts and styles, and the attributes
    shown or read aloud."""

    HIDDEN: ClassVar[set[str]] = {"script", "style", "mj-style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN
        self.words += [value or "" for name, value in attrs if name in VISIBLE_ATTRIBUTES]

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.words.append(data)


def printed_constants(node: nodes.Node) -> list[str]:
    """String constants a template prints (``{{ "everything" }}``), outside calls of the gettext
    functions."""
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in GETTEXT:
        return []
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        # A hyphenated keyword such as 'no-referrer' is a value for the browser, not words.
        return [] if KEYWORD.fullmatch(node.value) else [node.value]
    if isinstance(node, nodes.Pair):  # {% trans name=... %}: the placeholder's name is not shown
        return printed_constants(node.value)
    if isinstance(node, nodes.Filter) and node.name == "map" and node.node is not None:
        return printed_constants(node.node)  # map("words"): the filter's name is not shown
    return [text for child in node.iter_child_nodes() for text in printed_constants(child)]


def words_outside_the_catalogue(name: str) -> list[str]:
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), extensions=["jinja2.ext.i18n"], autoescape=True
    )
    source, _, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
    tree = environment.parse(source)
    # The template's own text, with a blank where Jinja2 prints something, read as the reader sees it.
    data = " ".join(node.data for node in tree.find_all(nodes.TemplateData))
    texts = [data]
    if name in STYLE_SHEETS:
        texts = []
    elif not name.endswith(".txt.j2"):
        parser = Visible()
        parser.feed(data)
        texts = parser.words
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                texts += printed_constants(child)
    return [word for text in texts for word in WORD.findall(text)]


@pytest.mark.parametrize("name", READER_TEMPLATES)
def test_a_template_shows_no_words_outside_the_catalogue(name: str) -> None:
    assert words_outside_the_catalogue(name) == [], f"{name} shows words no catalogue translates"


def test_the_check_finds_words_left_outside() -> None:
    environment = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    bare = environment.parse('<p title="Hello there">Plain words {{ "everything" }}</p>')
    parser = Visible()
    parser.feed(" ".join(node.data for node in bare.find_all(nodes.TemplateData)))
    assert WORD.findall(" ".join(parser.words)) == ["Hello", "there", "Plain", "words"]
    output = next(iter(bare.find_all(nodes.Output)))
    assert [text for child in output.nodes for text in printed_constants(child)] == ["everything"]


def test_digest_language_is_checked_at_start_up() -> None:
    assert Settings(language="es").language == "es"
    with pytest.raises(ValueError, match=r"no catalogue ships for 'fr'; choose one of en, es"):
        Settings(language="fr")
    assert {"en", "es"} <= set(shipped_languages())
    with pytest.raises(ConfigError, match="DIGEST_LANGUAGE='xx'"):
        language("xx")


def test_a_right_to_left_language_sets_dir_and_lang() -> None:
    html = Renderer(SITE, language=Language("ar")).render_issue(ISSUE).html
    assert re.search(r'<html lang="ar" dir="rtl"', html)
    english = Renderer(SITE).render_issue(ISSUE).html
    assert re.search(r'<html lang="en" dir="ltr"', english)


def test_dates_are_written_as_each_language_writes_them() -> None:
    day = date(2026, 12, 4)
    assert language("en").date(day) == f"4 {get_month_names('wide', locale='en')[12]} 2026"
    assert language("es").date(day) == f"4 de {get_month_names('wide', locale='es')[12]} de 2026"


def test_a_fuzzy_entry_is_never_used(tmp_path: Path) -> None:
    po = catalogue_path("es").read_text(encoding="utf-8")
    entry = 'msgid "In this issue"\n'
    assert entry in po
    fuzzy = tmp_path / "messages.po"
    fuzzy.write_text(po.replace(entry, "#, fuzzy\n" + entry), encoding="utf-8")
    words = compiled(fuzzy, "es")
    assert words.gettext("In this issue") == "In this issue"
    assert words.gettext("What this means for you") != "What this means for you"
    # compiled in memory: nothing is written beside the catalogue
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messages.po"]


def test_the_spanish_issue_goes_out_in_spanish_in_every_part(
    digest: Digest, env: dict[str, str], outbox: Path
) -> None:
    env["DIGEST_LANGUAGE"] = "es"
    write_summaries(Path(env["DIGEST_SOURCES"]), "semana.json", spanish_summaries())
    digest("db", "upgrade")
    digest("subscribers", "add", "ana@example.org", "--confirmed")
    assert "3 new" in digest("ingest").stdout
    assert "composed issue 1" in digest("compose").stdout
    digest("approve", "1")
    assert "1 sent" in digest("send").stdout
    [message] = read_outbox(outbox / "issue-1")
    plain, html = parts_of(message)
    subject = str(message["Subject"])
    assert subject == "Caminar diez minutos después de comer baja el azúcar en sangre, y 2 más"
    assert re.search(r'<html lang="es" dir="ltr"', html)
    assert "Además: Dormir menos de seis horas" in html  # the preheader continues the subject
    months = "|".join(get_month_names("wide", locale="es").values())
    for part in (plain, html):
        assert "En este número" in part
        assert "Qué significa para usted" in part
        assert "Darse de baja" in part
        assert re.search(rf"\d{{1,2}} de ({months}) de \d{{4}}", part), "the date is not written in Spanish"
        assert english_left_in(part) == []
    assert "Idea clave:" in plain
    assert "Evidencia: Moderada" in html
    assert english_left_in(subject) == []


def test_the_confirmation_email_is_in_spanish(digest: Digest, env: dict[str, str], outbox: Path) -> None:
    env["DIGEST_LANGUAGE"] = "es"
    digest("db", "upgrade")
    digest("subscribers", "add", "luis@example.org")
    [message] = read_outbox(outbox / "notices")
    plain, html = parts_of(message)
    assert str(message["Subject"]) == "Confirme su suscripción a Research Digest"
    assert re.search(r'<html lang="es" dir="ltr"', html)
    for part in (plain, html):
        assert "Confirmar mi suscripción" in part
        assert "El enlace funciona durante 7 días." in part
        assert english_left_in(part) == []


def test_the_pages_follow_the_language_direction() -> None:
    """A right-to-left language lays the reader's pages out right to left."""
    hebrew = Pages("Research Digest", language=Language("he")).fragment(
        "message.html", nonce="n", title="t", message="m"
    )
    assert re.search(r'<html lang="he" dir="rtl">', hebrew)
    spanish_page = Pages("Research Digest", language=language("es")).fragment(
        "message.html", nonce="n", title="t", message="m"
    )
    assert re.search(r'<html lang="es" dir="ltr">', spanish_page)
