"""The vocabularies load offline, with their provenance, and say what a word is."""

from __future__ import annotations

import socket

import pytest

from medner.data import vocabulary


def test_the_lexicon_builds_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the vocabulary tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    vocabulary.drug_names.cache_clear()
    vocabulary.icd_descriptions.cache_clear()
    lexicon = vocabulary.build_lexicon()
    assert len(vocabulary.drug_names()) > 100_000  # names and brand variants
    assert len(vocabulary.icd_descriptions()) > 40_000  # ICD-10-CM codes
    assert lexicon["paracetamol"] == "drug" and lexicon["telmisartan"] == "drug"
    assert "icd" in lexicon["hypertension"] and "icd" in lexicon["fever"]
    assert lexicon["htn"] == "abbr-disease" and lexicon["oha"] == "abbr-treatment"
    assert lexicon["tab"] == "abbr-form" and lexicon["bd"] == "abbr-frequency"
    for common in ("with", "the", "left", "age", "unspecified"):
        assert common not in lexicon


def test_every_source_names_its_version() -> None:
    versions = vocabulary.versions()
    assert versions["drug-named-entity-recognition"] == "2.0.9"
    assert versions["simple-icd-10-cm"] == "1.5.0"
    assert versions["abbreviations"].startswith("medner ")


def test_the_shorthand_table_is_well_formed() -> None:
    rows = vocabulary.abbreviations()
    kinds = {r.kind for r in rows}
    assert {"disease", "treatment", "form", "frequency", "history"} <= kinds
    shorts = [r.short.lower() for r in rows]
    assert len(shorts) == len(set(shorts))
    assert all(r.expansion for r in rows)
