"""WCAG contrast, computed in one place (digest/core/contrast.py), against figures WCAG itself publishes."""

import pytest

from digest.core.contrast import AA, contrast_ratio, hex_colour, inverted, luminance


def test_the_extremes_and_the_order_of_the_colours() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#0e4d64", "#0e4d64") == pytest.approx(1.0)
    assert luminance("#000") == 0.0
    assert luminance("#fff") == pytest.approx(1.0)


def test_the_grey_wcag_cites_as_the_lightest_that_passes_on_white() -> None:
    """#767676 on white is the well-known 4.54:1; #777777 falls just short of AA."""
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#777777", "#ffffff") < AA <= contrast_ratio("#767676", "#ffffff")


def test_css_rgb_values_read_as_their_hex_twins() -> None:
    """Browsers report computed colours as rgb()/rgba(): the same numbers as the hex we wrote."""
    assert contrast_ratio("rgb(14, 77, 100)", "rgba(255, 255, 255, 1)") == contrast_ratio("#0e4d64", "#fff")


@pytest.mark.parametrize(("written", "normal"), [("#ABC", "#aabbcc"), (" #0E4D64 ", "#0e4d64")])
def test_hex_colours_are_normalised(written: str, normal: str) -> None:
    assert hex_colour(written) == normal


@pytest.mark.parametrize("written", ["blue", "#12345", "0e4d64", "#0e4d64ff", "rgb(1,2,3)", ""])
def test_anything_but_a_hex_colour_is_refused_with_an_example(written: str) -> None:
    with pytest.raises(ValueError, match="is not a hex colour such as #"):
        hex_colour(written)


def test_inversion_is_its_own_undoing() -> None:
    assert inverted("#ffffff") == "#000000"
    assert inverted(inverted("#0e4d64")) == "#0e4d64"
