"""Assertion: every prescription form the issue names, list-style negation, and the spans."""

from __future__ import annotations

import json

import pytest

from medner.labels import ASSERTIONS
from medner.meaning.assertion import assert_entities
from tests.conftest import DATA


def assertions(text: str, *mentions: str, label: str = "DISEASE") -> list[str]:
    spans, at = [], 0
    for mention in mentions:
        start = text.index(mention, at)
        spans.append((start, start + len(mention), label))
        at = start + len(mention)
    return assert_entities(text, spans)


@pytest.mark.parametrize(
    ("text", "mentions", "expected"),
    [
        ("No h/o DM, asthma. K/C/O HTN", ["DM", "asthma", "HTN"], ["absent", "absent", "present"]),
        ("no h/o DM", ["DM"], ["absent"]),
        ("Denies chest pain, fever and cough", ["chest pain", "fever", "cough"], ["absent"] * 3),
        ("C/o cough. fever: nil, vomiting - no", ["cough", "fever", "vomiting"],
         ["present", "absent", "absent"]),
        ("fever: nil", ["fever"], ["absent"]),
        ("headache -ve", ["headache"], ["absent"]),
        ("N/K/C/O DM, HTN", ["DM", "HTN"], ["absent", "absent"]),
        ("N/K/A/D/A\nc/o fever x 3 days", ["fever"], ["present"]),
        ("F/H/O DM in father", ["DM"], ["family"]),
        ("FH: CAD", ["CAD"], ["family"]),
        ("Dx: ?UTI", ["UTI"], ["possible"]),
        ("R/O dengue", ["dengue"], ["possible"]),
        ("Dx: ?UTI, R/O dengue, AGE", ["UTI", "dengue", "AGE"],
         ["possible", "possible", "present"]),
        ("K/C/O HTN, DM2 on OHA", ["HTN", "DM2"], ["present", "present"]),
        ("Old case of TB", ["TB"], ["history"]),
        ("The patient is in no acute distress.", ["acute distress"], ["absent"]),
        ("FAMILY HISTORY: Diabetes and hypertension.", ["Diabetes", "hypertension"],
         ["family", "family"]),
        ("45 yr old male with fever", ["fever"], ["present"]),
        ("Pt c/o not feeding well, nausea", ["not feeding well", "nausea"], ["present", "present"]),
    ],
)  # fmt: skip
def test_disease_forms(text: str, mentions: list[str], expected: list[str]) -> None:
    assert assertions(text, *mentions) == expected


@pytest.mark.parametrize(
    ("text", "mention", "expected"),
    [
        ("K/C/O CAD. s/p CABG", "CABG", "history"),
        ("H/o PTCA", "PTCA", "history"),
        ("Plan: RCT", "RCT", "planned"),
        ("Posted for lap cholecystectomy", "lap cholecystectomy", "planned"),
        ("Plan: Tab. Dolo 650 BD", "Dolo 650", "present"),
        ("Rx: Tab. Dolo 650 1-0-1 x 5 days", "Dolo 650", "present"),
    ],
)  # fmt: skip
def test_treatment_forms(text: str, mention: str, expected: str) -> None:
    assert assertions(text, mention, label="TREATMENT") == [expected]


def test_a_trigger_reaches_no_further_than_its_sentence_or_line() -> None:
    text = "Denies fever.\nC/o cough\nNo vomiting. Headache since 2 days"
    assert assertions(text, "fever", "cough", "vomiting", "Headache") == [
        "absent", "present", "absent", "present",
    ]  # fmt: skip


def test_every_gold_value_of_the_prescription_dev_split_is_a_known_value() -> None:
    lines = (DATA / "prescriptions/dev.jsonl").read_text(encoding="utf-8").splitlines()
    values = {e["assertion"] for line in lines for e in json.loads(line)["entities"]}
    assert values == set(ASSERTIONS)
