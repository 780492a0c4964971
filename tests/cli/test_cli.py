"""The CLI end to end on a tiny corpus: train, evaluate (JSON on stdout only), extract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medner.cli.main import app
from medner.data import write_conll
from medner.types import Document

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path, tiny_docs: list[Document]) -> Path:
    path = tmp_path / "tiny.tsv"
    write_conll(tiny_docs, path)
    return path


def train_args(corpus: Path, out: Path) -> list[str]:
    return [
        "train", "--train", str(corpus), "--dev", str(corpus), "--output", str(out),
        "--set", "crf.c1=0", "--set", "crf.c2=0.01", "--set", "crf.features.clusters=false",
        "--set", "crf.max_iterations=100",
    ]  # fmt: skip


def test_train_evaluate_extract(tmp_path: Path, corpus: Path) -> None:
    model = tmp_path / "model"
    result = runner.invoke(app, train_args(corpus, model))
    assert result.exit_code == 0, result.output
    for name in (
        "config.json",
        "model.crfsuite",
        "metrics.json",
        "MODEL_CARD.md",
        "environment.json",
    ):
        assert (model / name).is_file(), name
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["dev"]["micro"]["f1"] == 1.0
    config = json.loads((model / "config.json").read_text())
    assert config["config"]["c2"] == 0.01 and config["metadata"]["train"]["sentences"] == 6

    notes = tmp_path / "notes.csv"
    notes.write_text("id,text\n1,We gave aspirin to patients with stroke .\n2,\n", encoding="utf-8")
    out = tmp_path / "e.jsonl"
    result = runner.invoke(
        app, ["extract", "--model", str(model), "--input", str(notes), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"]
    assert {e["text"] for e in rows[0]["entities"]} == {"aspirin", "stroke"}
    plain = {"start", "end", "text", "label", "confidence"}
    assert all(set(e) == plain for e in rows[0]["entities"])

    notes.write_text("id,text\n1,We gave aspirin to patients without stroke .\n", encoding="utf-8")
    args = ["extract", "--model", str(model), "--input", str(notes), "--output", str(out)]
    result = runner.invoke(app, [*args, "--meaning"])
    assert result.exit_code == 0, result.output
    found = {e["text"]: e for e in json.loads(out.read_text())["entities"]}
    assert found["aspirin"]["assertion"] == "present" and found["stroke"]["assertion"] == "absent"
    assert found["aspirin"]["concept"]["name"] == "aspirin"
    assert found["stroke"]["concept"]["system"] == "ICD-10-CM"


def test_evaluate_json_stdout_holds_only_json(tmp_path: Path, corpus: Path) -> None:
    model = tmp_path / "model"
    assert runner.invoke(app, train_args(corpus, model)).exit_code == 0
    proc = subprocess.run(
        [sys.executable, "-m", "medner", "evaluate", "--model", str(model), "--data", str(corpus),
         "--format", "json", "--errors", str(tmp_path / "err.jsonl")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    scores = json.loads(proc.stdout)
    assert set(scores) >= {"micro", "per_label", "token_weighted_f1", "sentences"}
    assert scores["micro"]["f1"] == 1.0 and scores["sentences"] == 6
    assert set(scores["per_label"]) == {"DISEASE", "TREATMENT"}
    assert "errors written" in proc.stderr


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tO\nb\tI-Disease\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--train", str(bad), "--output", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "bad.tsv:2" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "none"), "--data", str(bad)])
    assert result.exit_code == 2 and "not a medner model directory" in result.output


def test_bad_config_override_names_field(tmp_path: Path, corpus: Path) -> None:
    result = runner.invoke(
        app,
        ["train", "--train", str(corpus), "--output", str(tmp_path / "m"), "--set", "crf.c1=-1"],
    )
    assert result.exit_code == 2 and "crf.c1" in result.output


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "evaluate", "extract", "demo", "clusters"):
        assert command in result.output


def test_demo_prints_table_and_output_path(tmp_path: Path, corpus: Path) -> None:
    model = tmp_path / "model"
    assert runner.invoke(app, train_args(corpus, model)).exit_code == 0
    notes = tmp_path / "notes.jsonl"
    notes.write_text(
        '{"id": "n1", "text": "We gave aspirin to patients with stroke ."}\n'
        '{"id": "n2", "text": "Asthma was treated with inhaled budesonide ."}\n'
        '{"id": "n3", "text": "never reached"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "demo.jsonl"
    result = runner.invoke(
        app,
        ["demo", "--model", str(model), "--notes", str(notes), "--sample", "2", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "aspirin" in result.output and "TREATMENT" in result.output
    assert str(out) in result.output.replace("\n", "")
    assert len(out.read_text().splitlines()) == 2
