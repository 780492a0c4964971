"""Normalisation: brands to generics (unknown brands say unknown), diseases to ICD-10-CM."""

from __future__ import annotations

from pathlib import Path

import pytest

from medner.meaning.concepts import (
    brand_table,
    normalise_disease,
    normalise_drug,
    normalise_treatment,
)


@pytest.mark.parametrize(
    ("mention", "generic"),
    [
        ("Dolo 650", "paracetamol"),
        ("DOLO 650", "paracetamol"),
        ("Crocin Advance", "paracetamol"),
        ("Pan D", "pantoprazole"),
        ("Pan-40", "pantoprazole"),
        ("Telma-H", "telmisartan"),
        ("Amlodipine", "amlodipine"),
        ("paracetamol", "paracetamol"),
        ("Azithromicin", "azithromycin"),  # a typing slip, above the threshold
        ("Tylenol", "acetaminophen"),  # the drug dictionary's brand
    ],
)
def test_a_known_drug_gets_its_generic(mention: str, generic: str) -> None:
    concept = normalise_treatment(mention, drug_like=True)
    assert concept is not None and concept.system == "generic-drug"
    assert concept.name == generic


def test_an_unknown_brand_says_unknown_and_never_guesses() -> None:
    for mention in ("Xyzzol 40", "Qwertab DSR", "Dlo 650"):
        assert normalise_drug(mention) is None
        concept = normalise_treatment(mention, drug_like=True)
        assert concept is not None and (concept.name, concept.code) == ("unknown", None)


def test_a_treatment_that_is_no_drug_has_an_expansion_or_no_concept() -> None:
    oha = normalise_treatment("OHA", drug_like=False)
    assert oha is not None and oha.system == "abbreviation"
    assert oha.name == "oral hypoglycaemic agents"
    assert normalise_treatment("steam inhalation", drug_like=False) is None


def test_the_brand_table_is_the_teams() -> None:
    table = brand_table()
    assert table["dolo"] == "paracetamol" and table["pan"] == "pantoprazole"


@pytest.mark.parametrize(
    ("mention", "code", "expansion"),
    [
        ("HTN", "I10", "hypertension"),
        ("DM2", "E11.9", "type 2 diabetes mellitus"),
        ("diabetes", "E11.9", "type 2 diabetes mellitus"),  # the guideline's default type
        ("fever", "R50.9", None),
        ("bukhar", "R50.9", "fever"),
        ("UTI", "N39.0", "urinary tract infection"),
        ("loss of appetite", "R63.0", None),  # an inclusion term of R63.0 Anorexia
        ("anaemia", "D64.9", None),  # British spelling
        ("epilepsy", "G40.909", None),  # a category stands for its unspecified code
    ],
)
def test_a_disease_gets_its_icd_code_first(mention: str, code: str, expansion: str | None) -> None:
    concept = normalise_disease(mention)
    assert concept.system == "ICD-10-CM"
    assert concept.code == code, concept
    assert concept.expansion == expansion
    assert concept.candidates[0][0] == code and len(concept.candidates) <= 3


def test_a_disease_icd_cannot_name_has_no_code() -> None:
    concept = normalise_disease("xyzzy plugh")
    assert concept.code is None and concept.candidates == ()


def test_the_icd_index_kept_on_disk_searches_as_the_one_built(tmp_path: Path) -> None:
    from medner.meaning.concepts import IcdIndex

    built = IcdIndex.build()
    built.save(tmp_path / "index.npz")
    loaded = IcdIndex.load(tmp_path / "index.npz")
    for query in ("hypertension", "loss of appetite", "type 2 diabetes mellitus", "knee pain"):
        assert loaded.search(query) == built.search(query)
    assert not list(tmp_path.glob("*.tmp.npz"))  # written whole, then renamed
