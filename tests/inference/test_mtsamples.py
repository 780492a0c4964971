"""All 4,966 MTSamples notes through `medner extract`: every note out, every span exact."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from medner.cli.main import app
from tests.conftest import DATA

pytestmark = pytest.mark.slow


def test_extract_all_mtsamples_notes(tmp_path: Path, default_model_dir: Path) -> None:
    notes = DATA / "mtsamples/mtsamples.parquet"
    out = tmp_path / "entities.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "extract",
            "--model",
            str(default_model_dir),
            "--input",
            str(notes),
            "--id-column",
            "note_id",
            "--text-column",
            "transcription",
            "--output",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(notes, columns=["note_id", "transcription"]).to_pydict()
    texts = dict(zip(table["note_id"], table["transcription"], strict=True))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == table["note_id"]  # every note, in order
    total = 0
    for row in rows:
        text = texts[row["id"]]
        last_end = 0
        for e in row["entities"]:
            assert text[e["start"] : e["end"]] == e["text"]
            assert e["start"] >= last_end and e["label"] in {"DISEASE", "TREATMENT"}
            assert 0.0 < e["confidence"] <= 1.0
            last_end = e["end"]
            total += 1
    assert total > 10_000
