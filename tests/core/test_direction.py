"""Which way a summary's words run (digest/core/direction.py)."""

import pytest

from digest.core.direction import direction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("المشي بعد الوجبات خفّض سكر الدم", "rtl"),  # Arabic
        ("פעילות גופנית קשורה לזיכרון", "rtl"),  # Hebrew
        ("Walking after meals lowered blood sugar", "ltr"),
        ("Vitamin D₃ — a trial in adults aged ≥ 65", "ltr"),
        ("APOE4: פעילות גופנית קשורה לזיכרון טוב יותר", "rtl"),  # opens with a gene name, mostly Hebrew
        ("The Arabic word سكر means sugar", "ltr"),  # mostly English
        ("ab אב", "ltr"),  # as many each way: the first letter decides
    ],
)
def test_a_text_runs_the_way_most_of_its_letters_do(text: str, expected: str) -> None:
    assert direction(text) == expected


def test_a_text_without_letters_leaves_the_choice_to_the_next() -> None:
    assert direction("2026 — 30 %", "ثلاث نزهات قصيرة") == "rtl"
    assert direction("2026", "") == "ltr"
    assert direction() == "ltr"
