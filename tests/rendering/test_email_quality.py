"""The email's quality bar, without a browser: caniemail support in Gmail and Outlook on Windows, layout
tables, language, dark mode, preheader, no reliance on ``<style>``, contrast (issue 6).

Browser checks (no horizontal scroll, screenshots against baselines) are in ``test_email_screenshots.py``.
"""

import json
import os
import re
from collections.abc import Callable

import pytest

from digest.core.contrast import AA, contrast_ratio, inverted
from digest.core.email_features import scan
from digest.rendering.checks import SUPPORT_FILE, check_email, unsupported
from digest.rendering.email import PREHEADER_PADDING
from digest.rendering.palette import BADGES, BRAND_INK, DEFAULT_BRAND, STYLE
from tests.support.caniemail import CORPUS, support_table
from tests.support.email_samples import EMAILS

# Every feature the emails use that caniemail says Gmail (desktop webmail, iOS, Android) or Outlook on
# Windows lacks, accepted on purpose. A new one fails the test until it is fixed or listed here.
ACCEPTED = {
    "css-max-width": "MJML caps the body at 600px with max-width; Outlook on Windows takes the same width "
    "from MJML's Outlook-only table (width=600). The hidden preheader uses max-width:0 too (see below).",
    "css-max-height": "hides the preheader in clients that ignore display:none; Outlook on Windows "
    "honours display:none there (caniemail: partial), so nothing shows",
    "css-opacity": "the same preheader hiding, a fallback behind display:none",
    "css-overflow": "the same preheader hiding, a fallback behind display:none",
    "css-word-spacing": "MJML puts word-spacing:normal on <body>: the default value, so ignoring it "
    "changes nothing",
    "css-outline": "MJML's image reset (img { outline: none }) in the head; the one image, the masthead's "
    "logo, is not a link, so no outline shows either way",
    "html-doctype": "the HTML5 doctype; Outlook on Windows renders with Word whatever the doctype, and "
    "MJML's Outlook-only tables are made for that",
    "html-meta-color-scheme": "progressive enhancement: tells Apple Mail and others the email works in "
    "dark mode; clients that ignore it apply their own dark handling, and the colours keep their contrast "
    "either way (test_colours_keep_their_contrast_in_light_and_dark)",
    "css-border-radius": "the confirmation button's rounded corners and the digest's badges; square in "
    "Outlook on Windows",
    "css-at-media-prefers-color-scheme": "the dark-mode repaint (dm- classes): Apple Mail, Outlook for Mac "
    "and iOS follow it; elsewhere the light colours stay inline and keep their contrast, and Outlook.com "
    "gets the same rules through [data-ogsc]",
    "css-selector-attribute": "[data-ogsc], the mark of Outlook.com's dark view, in the dark-mode repaint: a "
    "client that ignores the rule shows the light colours, which are inline",
    "css-border-spacing": "MJML's table around the masthead's logo sets border-spacing:0 and cellspacing=0; "
    "Outlook on Windows reads the attribute, so the logo sits flush either way",
    "css-cursor": "MJML's button sets cursor:auto, the default; nothing changes where it is ignored",
    "html-target": "MJML's button opens its link in a new tab (target=_blank); Gmail opens links in a new "
    "tab anyway",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(params=sorted(EMAILS))
def email(request: pytest.FixtureRequest) -> str:
    make: Callable[[], str] = EMAILS[request.param]
    return make()


def test_the_shipped_support_table_is_caniemails_data() -> None:
    if not (CORPUS / "_features").is_dir():
        message = f"caniemail's data is not at {CORPUS} (set DIGEST_CANIEMAIL_DIR)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    assert json.loads(SUPPORT_FILE.read_text(encoding="utf-8")) == support_table(), (
        "refresh digest/rendering/caniemail.json: see tests/caniemail_data.py"
    )


def test_no_unsupported_feature_outside_the_accepted_exceptions(email: str) -> None:
    found = {feature.slug: feature for feature in unsupported(scan(email))}
    unexpected = {slug: found[slug].describe() for slug in set(found) - set(ACCEPTED)}
    assert not unexpected, unexpected


@pytest.mark.parametrize(
    ("test_file", "slug"),
    [
        ("css-border-radius.html", "css-border-radius"),
        ("css-direction.html", "css-direction"),
        ("css-display.html", "css-display"),
        ("css-important.html", "css-important"),
        ("css-font-face.html", "css-at-font-face"),
        ("css-flexbox.html", "css-display-flex"),
    ],
)
def test_the_scanner_finds_features_in_caniemails_own_test_emails(test_file: str, slug: str) -> None:
    path = CORPUS / "tests" / test_file
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    found = scan(path.read_text(encoding="utf-8"))
    assert slug in found.features or slug in found.enhancements


def test_outlook_only_markup_and_media_queries_are_not_held_against_the_email() -> None:
    html = (
        "<!--[if mso]><table style='max-width:600px'><tr><td>x</td></tr></table><![endif]-->"
        "<style>@media (max-width:480px) { .a { display:flex } }</style><p style='color:red'>x</p>"
    )
    found = scan(html)
    assert "css-max-width" not in found.features
    assert "css-display-flex" in found.enhancements
    assert "css-display-flex" not in found.features
    assert "css-at-media" in found.enhancements


def test_the_warnings_an_editor_sees() -> None:
    html = (
        '<img src="https://x.example/a.png"><img src="https://x.example/b.png" alt="A chart">'
        '<a href="http://plain.example/">x</a><a href="https://ok.example/">y</a>'
        '<div style="display:flex">z</div>' + "x" * (103 * 1024)
    )
    kinds = [(warning.kind, warning.message) for warning in check_email(html, postal_address=None)]
    assert kinds[0][0] == "size"
    assert ("alt", "an image has no alt text: https://x.example/a.png") in kinds
    assert ("link", "a link is not https: http://plain.example/") in kinds
    assert any(kind == "feature" and "display:flex" in message.replace(" ", "") for kind, message in kinds)
    assert kinds[-1][0] == "address"
    assert check_email("<p>fine</p>", postal_address="1 Example Street") == []


def test_layout_tables_are_presentation(email: str) -> None:
    tables = re.findall(r"<table\b[^>]*>", email)
    assert tables
    for table in tables:
        assert 'role="presentation"' in table, table


def test_language_and_dark_mode_meta(email: str) -> None:
    lang = "es" if "Darse de baja" in email else "en"  # the Spanish sample speaks Spanish
    assert re.match(rf'<!doctype html><html lang="{lang}" dir="ltr"', email)
    assert '<meta name="color-scheme" content="light dark"' in email
    assert '<meta name="supported-color-schemes" content="light dark"' in email


def test_the_preheader_is_padded(email: str) -> None:
    hidden = re.search(r'<div style="display:none;[^"]*">(.*?)</div>', email, re.DOTALL)
    assert hidden
    assert hidden.group(1).endswith(PREHEADER_PADDING)


def test_readable_with_images_off(email: str) -> None:
    """Nothing is said only in pictures: the one image is the masthead's logo, with its words as alt text
    and the site name written beside it."""
    images = re.findall(r"<img\b[^>]*>", email)
    assert len(images) <= 1
    for image in images:
        assert re.search(r'alt="[^"]+"', image), image
        assert re.search(r'src="https://', image), image


def test_nothing_essential_depends_on_a_style_block(email: str) -> None:
    """``<style>`` holds MJML's resets and responsive column widths, and the dark-mode repaint (``dm-``
    classes, under ``prefers-color-scheme: dark`` or Outlook.com's ``[data-ogsc]``); all else is inline,
    so an email whose styles are dropped reads the same in light."""
    sheets = re.findall(r"<style[^>]*>(.*?)</style>", email, re.DOTALL)
    selectors = set()
    for sheet in sheets:
        for block in re.findall(r"@media[^{]*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", sheet):
            selectors |= {selector.strip() for selector in re.findall(r"([^{}]+)\{", block)}
        sheet = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", sheet)
        selectors |= {selector.strip() for selector in re.findall(r"([^{}]+)\{", sheet)}
    allowed = {"#outlook a", "body", "table, td", "img", "p", ".mj-column-per-100", ".mj-outlook-group-fix"}
    allowed |= {".moz-text-html .mj-column-per-100"}
    # mj-image's rules for fluid-on-mobile images; the logo is not one, so no element carries the class.
    allowed |= {"table.mj-full-width-mobile", "td.mj-full-width-mobile"}
    dark = {
        selector for selector in selectors if re.fullmatch(r"(\[data-ogsc\] )?\.dm-[\w\-, .>\[\]]*", selector)
    }
    assert selectors - dark <= allowed, selectors - dark - allowed
    body = email[email.index("<body") :]
    classes = set(" ".join(re.findall(r'class="([^"]*)"', body)).split())
    assert {c for c in classes if not c.startswith("dm-")} <= {"mj-column-per-100", "mj-outlook-group-fix"}


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("ink", "paper"),
        ("muted", "paper"),
        ("link", "paper"),
        ("muted", "canvas"),
        ("ink", "note_bg"),
        ("ink", "callout_bg"),
        ("callout_rule", "callout_bg"),
        ("ink", "rule"),  # the study-type badge
    ],
)
def test_colours_keep_their_contrast_in_light_and_dark(text: str, background: str) -> None:
    """WCAG AA (4.5:1) for the palette as written, and as a forced dark mode inverts it."""
    assert contrast_ratio(STYLE[text], STYLE[background]) >= AA
    assert contrast_ratio(inverted(STYLE[text]), inverted(STYLE[background])) >= AA


@pytest.mark.parametrize("tone", list(BADGES))
def test_evidence_badges_keep_their_contrast_in_light_and_dark(tone: str) -> None:
    ink, paper = BADGES[tone]  # type: ignore[index]

    assert contrast_ratio(ink, paper) >= AA
    assert contrast_ratio(inverted(ink), inverted(paper)) >= AA


@pytest.mark.parametrize("scheme", list(BRAND_INK))
def test_the_default_masthead_keeps_its_contrast_as_written_and_inverted(scheme: str) -> None:
    ink = BRAND_INK[scheme]
    assert contrast_ratio(ink, DEFAULT_BRAND) >= AA
    assert contrast_ratio(inverted(ink), inverted(DEFAULT_BRAND)) >= AA
