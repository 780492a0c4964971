from __future__ import annotations

import logging
from pathlib import Path

import pytest

from medner.data import write_jsonl
from medner.data.documents import load_documents
from medner.errors import ConfigError
from medner.training.config import load_config
from tests.conftest import TINY_SENTENCES, make_document


def test_defaults_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("crf:\n  c1: 0.3\n  features:\n    window: 1\n", encoding="utf-8")
    config = load_config(path, ["crf.c2=0.7", "crf.scheme=BIO"])
    assert (config.crf.c1, config.crf.c2, config.crf.features.window) == (0.3, 0.7, 1)
    assert config.crf.scheme == "BIO"
    assert load_config().crf.scheme == "BIOES"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("crf.c1", "expected key.path=value"),
        ("crf.unknown=1", "crf.unknown"),
        ("crf.features.window=9", "crf.features.window"),
        ("backend=bert", "backend"),
        ("labels=[DISEASE, DRUG]", "unknown labels"),
        ("labels=[]", "at least one label"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_labels_keep_only_the_shared_types(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    both = tmp_path / "both.jsonl"
    disease = tmp_path / "disease.jsonl"
    docs = [make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)]
    write_jsonl(docs, both)
    only = [
        make_document(i, t, [x for x in s if x[1] == "DISEASE"])
        for i, (t, s) in enumerate(TINY_SENTENCES)
    ]
    write_jsonl(only, disease)

    with caplog.at_level(logging.WARNING):
        assert load_documents([both, disease]) and caplog.text == ""
        mixed = load_documents([both, disease], warn_mixed=True)
    assert "disease.jsonl has no TREATMENT entities" in caplog.text
    assert {e.label for d in mixed for e in d.entities} == {"DISEASE", "TREATMENT"}

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        labels = load_config(None, ["labels=[DISEASE]"]).labels
        kept = load_documents([both, disease], labels, warn_mixed=True)
    assert caplog.text == ""
    assert [d.entities for d in kept] == [d.entities for d in only] * 2
