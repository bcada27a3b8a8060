"""Inline emphasis in summaries (digest/core/inline.py): which tags stay, and the words without them."""

import pytest

from digest.core.compose import Candidate, Selection, preheader_for, subject_for
from digest.core.inline import emphasis_html, words
from tests.support import NOW


@pytest.mark.parametrize("tag", ["i", "em", "b", "strong", "sub", "sup"])
def test_the_six_emphasis_tags_stay_bare(tag: str) -> None:
    written = f'CO<{tag} class="x" style="color:red" onclick="go()">2</{tag}>'
    assert emphasis_html(written) == f"CO<{tag}>2</{tag}>"


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ('<a href="https://example.org/x">the trial</a> ended', "the trial ended"),
        ('<a href="javascript:alert(1)">the trial</a> ended', "the trial ended"),
        ('<img src="x" onerror="alert(1)">ended', "ended"),
        ("<script>alert(1)</script>ended", "ended"),
        ("<style>p{color:red}</style>ended", "ended"),
        ("<textarea><b>raw</b></textarea>ended", "ended"),
        ("<div><p>two</p><p>blocks</p></div>", "twoblocks"),
        ("<!-- a comment -->ended", "ended"),
    ],
)
def test_every_other_tag_is_reduced_to_its_words(written: str, kept: str) -> None:
    assert emphasis_html(written) == kept
    assert words(written) == kept


def test_characters_are_escaped_once_in_html_and_read_in_words() -> None:
    written = "Coffee & tea: p <0.05, 2 &lt; 3, <i>APOE</i> &#949;4"
    assert emphasis_html(written) == "Coffee &amp; tea: p &lt;0.05, 2 &lt; 3, <i>APOE</i> ε4"
    assert words(written) == "Coffee & tea: p <0.05, 2 < 3, APOE ε4"


def test_words_write_a_superscript_after_a_caret() -> None:
    assert (
        words("10<sup>6</sup> cells, CO<sub>2</sub>, a typed &lt;sup&gt;") == "10^6 cells, CO2, a typed <sup>"
    )


def test_an_unclosed_tag_is_closed_where_the_text_ends() -> None:
    assert emphasis_html("<i>APOE4 carriers") == "<i>APOE4 carriers</i>"


def test_subjects_and_preheaders_are_plain_words() -> None:
    lead = Candidate(1, NOW, "<i>APOE4</i> carriers who <b>walk</b> remember more<script>x</script>", "")
    other = Candidate(2, NOW, "CO<sub>2</sub> and <img src=x onerror=alert(1)>asthma", "")

    assert subject_for(2, lead.display_title) == "APOE4 carriers who walk remember more, and 1 more"
    assert preheader_for(Selection((lead, other), 2)) == "Also: CO2 and asthma"
