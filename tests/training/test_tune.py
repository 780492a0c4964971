"""Tuning: trials as nested MLflow runs, a resumable SQLite study, best params written back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medner.data.prepare import PrepareParams, prepare
from medner.errors import ConfigError
from medner.training.config import load_config
from medner.training.tune import tune
from tests.conftest import DATA, biotext_subset

PARAMS = """\
# a comment that must survive
train:
  backend: crf
  crf:
    c1: 0.02  # L1
    c2: 0.3
    max_iterations: 20
other: kept
"""


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tune")
    train = biotext_subset(DATA / "biotext/train", root / "raw/train", 150)
    test = biotext_subset(DATA / "biotext/test", root / "raw/test", 20)
    return prepare(PrepareParams(train=[train], test=[test], dev_fraction=0.3), root).paths


def test_tune_logs_nested_runs_resumes_and_writes_best_params(
    splits: dict[str, Path], tmp_path: Path
) -> None:
    import mlflow

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    base = load_config(params, None, "train")
    out = tmp_path / "study"
    first = tune(splits["train"], splits["dev"], 3, out, base=base, prune_iterations=5)
    assert first.trials == 3 and first.completed + first.pruned == 3
    assert first.baseline_f1 is not None  # trial 0 is the configuration we started from
    assert first.best_f1 >= first.baseline_f1
    assert {p.name for p in first.plots} >= {"optimization_history.png"}
    assert all(p.stat().st_size > 0 for p in first.plots)

    again = tune(
        splits["train"], splits["dev"], 2, out, base=base, prune_iterations=5, params_file=params
    )
    assert again.trials == 5  # resumed from the SQLite study, not restarted

    parents = mlflow.search_runs(
        filter_string="tags.`medner.kind` = 'tune'", search_all_experiments=True
    )
    assert len(parents) >= 2
    for parent_id in parents["run_id"][:2]:
        children = mlflow.search_runs(
            filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
            search_all_experiments=True,
        )
        assert len(children) in (2, 3)
        assert set(children["tags.optuna.state"]) <= {"complete", "pruned"}

    text = params.read_text()
    assert "# a comment that must survive" in text and "# L1" in text
    written = yaml.safe_load(text)
    assert written["other"] == "kept"
    assert written["train"]["crf"]["c2"] == pytest.approx(again.best_params["crf.c2"], rel=1e-4)
    assert written["train"]["crf"]["features"]["window"] == again.best_params["crf.features.window"]
    assert load_config(params, None, "train").crf.max_iterations == 20


def test_tune_needs_the_prepared_splits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run the prepare stage first"):
        tune(tmp_path / "train.jsonl", tmp_path / "dev.jsonl", 1, tmp_path / "o")
