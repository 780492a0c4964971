"""The accuracy floors of the engine issue, trained with the default recipe on train only.

These train on full corpora (tens of seconds each): marked slow, run by `make test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medner.data.documents import load_documents
from medner.evaluation.evaluate import evaluate_model
from medner.models import load_model
from medner.training.train import train
from tests.conftest import DATA

pytestmark = pytest.mark.slow


def test_biotext_strict_f1_beats_notebook_recipe(default_model_dir: Path) -> None:
    result = evaluate_model(
        load_model(default_model_dir), load_documents([DATA / "biotext/test_sent"])
    )
    # the engine issue's floor; the course notebook's recipe scores 0.573 on this split
    assert result.scores.micro.f1 >= 0.62
    assert result.token_weighted_f1 > result.scores.micro.f1


def test_ncbi_disease_strict_f1(tmp_path: Path) -> None:
    train([DATA / "ncbi-disease/train.tsv"], tmp_path / "ncbi")
    result = evaluate_model(
        load_model(tmp_path / "ncbi"), load_documents([DATA / "ncbi-disease/test.tsv"])
    )
    assert result.scores.micro.f1 >= 0.80
