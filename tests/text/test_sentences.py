from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from medner.text import split_sentences


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_mtsamples_headings_and_numbered_lists() -> None:
    text = (
        "2-D M-MODE: , ,1.  Left atrial enlargement with left atrial diameter of 4.7 cm.,"
        "2.  Normal size right and left ventricle.,HISTORY OF PRESENT ILLNESS: , She is well."
    )
    assert sentences(text) == [
        "2-D M-MODE:",
        "1.  Left atrial enlargement with left atrial diameter of 4.7 cm.",
        "2.  Normal size right and left ventricle.",
        "HISTORY OF PRESENT ILLNESS:",
        "She is well.",
    ]


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Seen by Dr. Rao today. Pt. takes metformin b.i.d. and is stable. Next visit 2.5 weeks."
    assert sentences(text) == [
        "Seen by Dr. Rao today.",
        "Pt. takes metformin b.i.d. and is stable.",
        "Next visit 2.5 weeks.",
    ]


def test_line_breaks_and_bullets() -> None:
    text = "Plan:\n- Tab. Metformin 500 mg BD\n- Review in 2 weeks\n\nSigned"
    assert sentences(text) == [
        "Plan:",
        "- Tab. Metformin 500 mg BD",
        "- Review in 2 weeks",
        "Signed",
    ]


def test_no_text_no_sentence() -> None:
    assert split_sentences("") == []
    assert split_sentences(" , ,\n ") == []


@given(st.text(alphabet=st.sampled_from("ab. ,:\nAB12-"), max_size=120))
def test_sentences_are_tight_ordered_and_disjoint(text: str) -> None:
    last = 0
    for a, b in split_sentences(text):
        assert last <= a < b <= len(text)
        assert text[a] not in " \t\r\n," and text[b - 1] not in " \t\r\n,"
        last = b
