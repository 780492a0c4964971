"""The registry and its promotion gate, on a real MLflow store (SQLite + local artifacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medner.cli.main import app
from medner.data.documents import load_documents
from medner.evaluation.evaluate import evaluate_model
from medner.models import load_model
from medner.tracking.registry import (
    CHAMPION,
    compare_scores,
    list_versions,
    promote,
    register,
    resolve_model_dir,
)
from medner.tracking.runs import log_evaluation, log_training_run
from medner.training.config import load_config
from medner.training.train import train
from tests.conftest import DATA, biotext_subset

NAME = "medner-gate-test"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gate-data")
    return {
        "small": biotext_subset(DATA / "biotext/train", root / "small", 100),
        "large": biotext_subset(DATA / "biotext/train", root / "large", 400),
        "test": biotext_subset(DATA / "biotext/test", root / "test", 200),
    }


def _candidate(corpus: dict[str, Path], out: Path, data: str, iterations: int) -> str:
    """Train, log (run + test scores) and register a model; returns its version."""
    config = load_config(None, [f"crf.max_iterations={iterations}"])
    result = train([corpus[data]], out, config)
    run = log_training_run(out, config.model_dump(), [corpus[data]], [], result.metrics)
    scores = evaluate_model(result.model, load_documents([corpus["test"]])).to_dict()
    log_evaluation(scores, [corpus["test"]], str(out), run.run_id)
    return register(run, NAME)


@pytest.fixture(scope="module")
def versions(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("gate-models")
    return {
        "first": _candidate(corpus, root / "first", "small", 50),
        "weak": _candidate(corpus, root / "weak", "small", 1),
        "better": _candidate(corpus, root / "better", "large", 100),
    }


def test_the_gate_refuses_a_weaker_model_and_promotes_a_better_one(
    corpus: dict[str, Path], versions: dict[str, str]
) -> None:
    runner = CliRunner()
    gate = ["--name", NAME, "--test", str(corpus["test"])]

    first = promote(versions["first"], [corpus["test"]], NAME)
    assert first.promoted and first.champion_version is None

    refused = runner.invoke(app, ["promote", versions["weak"], *gate])
    assert refused.exit_code == 1, refused.output
    assert "NOT promoted" in refused.output
    assert "refused against version" in refused.output
    assert _champion() == versions["first"]

    better = promote(versions["better"], [corpus["test"]], NAME)
    assert better.promoted, better.rows
    assert all(r.delta is not None and r.delta >= -0.01 for r in better.rows)
    assert _champion() == versions["better"]

    no_reason = runner.invoke(app, ["promote", versions["weak"], *gate, "--force"])
    assert no_reason.exit_code == 2
    assert "--force needs --reason" in no_reason.output
    forced = runner.invoke(
        app, ["promote", versions["weak"], *gate, "--force", "--reason", "rollback drill"]
    )
    assert forced.exit_code == 0, forced.output
    listed = {v["version"]: v for v in list_versions(NAME)}
    weak = listed[int(versions["weak"])]
    assert weak["aliases"] == [CHAMPION]
    assert "forced past the gate" in weak["gate"] and "rollback drill" in weak["gate"]


def _champion() -> str:
    return next(str(v["version"]) for v in list_versions(NAME) if CHAMPION in v["aliases"])


def test_models_json_lists_versions_with_their_test_scores(
    corpus: dict[str, Path], versions: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, ["models", "--name", NAME, "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [v["version"] for v in listed] == sorted(map(int, versions.values()), reverse=True)
    for entry in listed:
        assert set(entry) >= {"version", "aliases", "run_id", "metrics"}
        assert 0.0 <= entry["metrics"]["micro_f1"] <= 1.0
    by_version = {v["version"]: v for v in listed}
    assert (
        by_version[int(versions["weak"])]["metrics"]["micro_f1"]
        < (by_version[int(versions["better"])]["metrics"]["micro_f1"])
    )

    evaluated = CliRunner().invoke(
        app,
        ["evaluate", "--model", f"models:/{NAME}/{versions['better']}", "--data",
         str(corpus["test"]), "--format", "json", "--no-track"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    micro = json.loads(evaluated.stdout)["micro"]["f1"]
    assert micro == by_version[int(versions["better"])]["metrics"]["micro_f1"]


def test_registry_uris_load_the_registered_model(
    corpus: dict[str, Path], versions: dict[str, str]
) -> None:
    by_version = resolve_model_dir(f"models:/{NAME}/{versions['better']}")
    assert (by_version / "config.json").is_file()
    model = load_model(by_version)
    notes = [d.text for d in load_documents([corpus["test"]])][:40]
    expected = [[e.to_dict() for e in model.predict(note)] for note in notes]
    assert any(expected), "the better model should find entities in these sentences"

    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}/{versions['better']}")
    assert pyfunc.predict(notes) == [{"entities": e} for e in expected]


def test_an_unknown_version_or_alias_is_a_clear_error(versions: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "--model", f"models:/{NAME}@nobody", "--data", "x", "--no-track"]
    )
    assert result.exit_code == 2
    assert "did not give this model version" in " ".join(result.output.split())
    bad = CliRunner().invoke(app, ["extract", "-m", "models:/", "-i", "x", "-o", "y"])
    assert bad.exit_code == 2
    assert "not a registry URI" in bad.output


def test_compare_scores_applies_the_tolerance_per_label() -> None:
    def scores(micro: float, disease: float, treatment: float) -> dict[str, object]:
        return {
            "micro": {"f1": micro},
            "per_label": {"DISEASE": {"f1": disease}, "TREATMENT": {"f1": treatment}},
        }

    champion = scores(0.60, 0.65, 0.55)
    ok = compare_scores("t", scores(0.61, 0.645, 0.58), champion, 0.01)
    assert all(r.ok for r in ok)
    label_drop = compare_scores("t", scores(0.61, 0.635, 0.60), champion, 0.01)
    assert [r.label for r in label_drop if not r.ok] == ["DISEASE"]
    micro_drop = compare_scores("t", scores(0.599, 0.65, 0.55), champion, 0.01)
    assert [r.label for r in micro_drop if not r.ok] == ["micro"]
    first = compare_scores("t", scores(0.1, 0.1, 0.1), None, 0.01)
    assert all(r.ok and r.delta is None for r in first)


def test_extract_takes_a_registry_uri(
    corpus: dict[str, Path], versions: dict[str, str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.jsonl"
    docs = load_documents([corpus["test"]])[:20]
    notes.write_text(
        "".join(json.dumps({"id": i, "text": d.text}) + "\n" for i, d in enumerate(docs))
    )
    by_uri, by_dir = tmp_path / "uri.jsonl", tmp_path / "dir.jsonl"
    uri = f"models:/{NAME}/{versions['better']}"
    directory = resolve_model_dir(uri)
    for model, out in ((uri, by_uri), (str(directory), by_dir)):
        result = CliRunner().invoke(
            app, ["extract", "-m", model, "-i", str(notes), "-o", str(out), "--no-progress"]
        )
        assert result.exit_code == 0, result.output
    assert by_uri.read_text() == by_dir.read_text()
    assert len(by_uri.read_text().splitlines()) == 20
