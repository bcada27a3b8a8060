"""Readers' picks: at least two readers, the most read first, ties in the issue's order, three at most."""

from digest.core.picks import MIN_READERS, MOST, Pick, decode, encode, readers_picks


def read(*readers: int) -> list[Pick]:
    return [
        Pick(n, f"Study {n}", f"https://summaries.example.org/s/{n}", count)
        for n, count in enumerate(readers)
    ]


def test_the_most_read_first_and_ties_in_the_order_the_issue_showed_them() -> None:
    assert [pick.summary_id for pick in readers_picks(read(2, 5, 2, 9))] == [3, 1, 0]


def test_at_most_three_and_none_read_by_fewer_than_two() -> None:
    assert (MOST, MIN_READERS) == (3, 2)
    assert [pick.summary_id for pick in readers_picks(read(4, 1, 0, 7, 3, 2))] == [3, 0, 4]
    assert readers_picks(read(1, 1, 0)) == []
    assert readers_picks([]) == []


def test_stored_picks_read_back_the_same() -> None:
    picks = read(3, 4)
    assert decode(encode(picks)) == picks
    assert decode("[]") == []
