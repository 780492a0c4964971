"""Links: said on the line, the history phrase, and the prescription's diagnoses."""

from __future__ import annotations

from medner.meaning.links import link_entities


def spans(text: str, *mentions: tuple[str, str, str]) -> list[tuple[int, int, str, str]]:
    out, at = [], 0
    for mention, label, assertion in mentions:
        start = text.index(mention, at)
        out.append((start, start + len(mention), label, assertion))
        at = start + len(mention)
    return out


def test_the_prescription_treats_the_diagnoses_else_the_complaints() -> None:
    text = "C/o fever, cough\nDx: URTI\nRx:\nTab. Dolo 650 BD\nAdv: steam inhalation"
    ents = spans(
        text,
        ("fever", "DISEASE", "present"),
        ("cough", "DISEASE", "present"),
        ("URTI", "DISEASE", "present"),
        ("Dolo 650", "TREATMENT", "present"),
        ("steam inhalation", "TREATMENT", "present"),
    )
    assert link_entities(text, ents) == [(3, 2), (4, 2)]
    no_dx = "C/o fever, cough\nRx:\nTab. Dolo 650 BD"
    ents = spans(
        no_dx,
        ("fever", "DISEASE", "present"),
        ("cough", "DISEASE", "present"),
        ("Dolo 650", "TREATMENT", "present"),
    )
    assert link_entities(no_dx, ents) == [(2, 0), (2, 1)]


def test_what_the_line_says_wins_and_absent_diseases_are_never_linked() -> None:
    text = "C/o fever, cough. No h/o DM\nDx: URTI\nRx:\nTab. Dolo 650 SOS for fever\nTab. X 1-0-1"
    ents = spans(
        text,
        ("fever", "DISEASE", "present"),
        ("cough", "DISEASE", "present"),
        ("DM", "DISEASE", "absent"),
        ("URTI", "DISEASE", "present"),
        ("Dolo 650", "TREATMENT", "present"),
        ("fever", "DISEASE", "present"),
        ("X", "TREATMENT", "present"),
    )
    assert link_entities(text, ents) == [(4, 5), (6, 3)]


def test_a_treatment_in_the_history_phrase_treats_those_conditions() -> None:
    text = "K/C/O HTN, DM2 on OHA, post PTCA\nDx: viral fever\nRx: Tab. Dolo 650 BD"
    ents = spans(
        text,
        ("HTN", "DISEASE", "present"),
        ("DM2", "DISEASE", "present"),
        ("OHA", "TREATMENT", "present"),
        ("PTCA", "TREATMENT", "history"),
        ("viral fever", "DISEASE", "present"),
        ("Dolo 650", "TREATMENT", "present"),
    )
    assert link_entities(text, ents) == [(2, 0), (2, 1), (3, 0), (3, 1), (5, 4)]
