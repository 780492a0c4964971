"""Section headings: found in prescriptions and hospital notes, never in prose."""

from __future__ import annotations

from medner.text.sections import find_headings, inside_heading, section_of

NOTE = (
    "Pt c/o fever x 3 days, body ache. K/C/O HTN, DM2 on OHA. Dx: viral fever. Rx: Tab. Dolo "
    "650 1-0-1 x 5 days. Advice: steam inhalation."
)


def test_prescription_headings_are_found_with_exact_spans() -> None:
    found = [(NOTE[h.start : h.end], h.name) for h in find_headings(NOTE)]
    assert found == [("Dx:", "dx"), ("Rx:", "rx"), ("Advice:", "advice")]


def test_hospital_headings_in_upper_case_and_bare_rx_lines() -> None:
    text = ",ALLERGIES: None.,POSTOPERATIVE DIAGNOSIS: Acute appendicitis.\nRx\nTab. Pan 40 OD"
    names = [h.name for h in find_headings(text)]
    assert names == ["allergies", "postoperative diagnosis", "rx"]


def test_prose_with_a_colon_is_not_a_heading() -> None:
    for text in ("He has a history of asthma: mild.", "The ratio was 3:1 in favour.", "BP 130/80"):
        assert find_headings(text) == []


def test_spans_inside_a_heading_and_the_section_of_an_offset() -> None:
    headings = find_headings(NOTE)
    dx = NOTE.index("Dx:")
    assert inside_heading(headings, dx, dx + 2)
    assert not inside_heading(headings, NOTE.index("viral"), NOTE.index("viral") + 11)
    assert section_of(headings, NOTE.index("Dolo")) == "rx"
    assert section_of(headings, 0) is None
