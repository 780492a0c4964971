from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medner.text import tokenize


def words(text: str) -> list[str]:
    return [text[s:e] for s, e in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metformin 500mg b.i.d.", ["metformin", "500", "mg", "b.i.d."]),
        ("10 mg/kg daily", ["10", "mg", "/", "kg", "daily"]),
        ("seen by Dr. Rao, pt. stable", ["seen", "by", "Dr.", "Rao", ",", "pt.", "stable"]),
        ("mass of 4.7 cm", ["mass", "of", "4.7", "cm"]),
        ("non-Hodgkin lymphoma", ["non-Hodgkin", "lymphoma"]),
        ("k/c/o HTN/DM2", ["k", "/", "c", "/", "o", "HTN", "/", "DM2"]),
        ("Tab. Dolo 650 TDS", ["Tab.", "Dolo", "650", "TDS"]),
        ("2-D M-MODE: , ,1.  Left", ["2-D", "M-MODE", ":", ",", ",", "1", ".", "Left"]),
        ("BRCA1 (n = 2,395) 3rd", ["BRCA1", "(", "n", "=", "2,395", ")", "3rd"]),
        ("café-au-lait spots", ["café-au-lait", "spots"]),
        ("ends with period.", ["ends", "with", "period", "."]),
    ],
)
def test_tokenize_clinical_forms(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_tokenize_respects_window() -> None:
    text = "aa bb cc"
    assert tokenize(text, 3, 5) == [(3, 5)]


@given(st.text(max_size=200))
def test_tokens_cover_every_non_space_character(text: str) -> None:
    spans = tokenize(text)
    covered = set()
    last_end = 0
    for s, e in spans:
        assert last_end <= s < e <= len(text)
        assert not any(c.isspace() for c in text[s:e])
        covered.update(range(s, e))
        last_end = e
    assert covered == {i for i, c in enumerate(text) if not c.isspace()}


def test_prescription_shorthand_keeps_exact_offsets() -> None:
    """Issue 22: each shorthand form, tokenized, with every token at its exact offset."""
    cases = {
        "K/C/O HTN": ["K", "/", "C", "/", "O", "HTN"],
        "1-0-1 x 5 days": ["1-0-1", "x", "5", "days"],
        "x5days": ["x", "5", "days"],
        "fever x3d": ["fever", "x", "3", "d"],
        "Tab.Dolo 650": ["Tab", ".", "Dolo", "650"],
        "Tab. Dolo 650mg": ["Tab.", "Dolo", "650", "mg"],
        "½-0-½ BBF": ["½-0-½", "BBF"],
        "c/o, s/p, R/O": ["c", "/", "o", ",", "s", "/", "p", ",", "R", "/", "O"],
        "Syp. Ascoril-LS 5ml": ["Syp.", "Ascoril-LS", "5", "ml"],
        "DM2 box5": ["DM2", "box5"],
    }
    for text, expected in cases.items():
        spans = tokenize(text)
        assert [text[s:e] for s, e in spans] == expected, text
        assert all(0 <= s < e <= len(text) for s, e in spans)
