"""The behaviour suite: well formed, and the default model passes at least its floor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medner.cli.main import app
from medner.evaluation.behaviour import load_suite, run_suite
from medner.labels import CANONICAL_LABELS
from medner.models import load_model


def test_the_suite_is_well_formed() -> None:
    suite = load_suite()
    names = [c["name"] for c in suite["cases"]]
    assert len(names) == len(set(names)) >= 20
    for case in suite["cases"]:
        assert case.get("expect") or case.get("forbid"), case["name"]
        for entity in case.get("expect", []):
            assert entity["label"] in CANONICAL_LABELS
            assert entity["text"] in case["text"], case["name"]
    styles = " ".join(c["text"] for c in suite["cases"])
    for shorthand in ("K/C/O", "C/o", "HTN", "DM2", "Tab.", "BD", "TDS", "No history"):
        assert shorthand in styles


@pytest.mark.slow
def test_the_default_model_passes_at_least_the_floor(default_model_dir: Path) -> None:
    suite = load_suite()
    result = run_suite(load_model(default_model_dir), suite)
    assert result.passed >= suite["min_passed"], [c for c in result.cases if not c.passed]
    cli = CliRunner().invoke(
        app, ["behaviour", "--model", str(default_model_dir), "--format", "json"]
    )
    assert cli.exit_code == 0, cli.output
    report = json.loads(cli.stdout)
    assert report["passed"] == result.passed and report["cases"] == len(suite["cases"])
