"""Calibrated entity confidence (issue 20, item 3): the isotonic map lowers the calibration
error on fresh data, travels in the model directory, and the one extraction path applies it."""

from __future__ import annotations

import json
import random
from pathlib import Path

from typer.testing import CliRunner

from medner.cli.main import app
from medner.data.writers import write_jsonl
from medner.evaluation.calibration import (
    Observation,
    calibrated,
    expected_calibration_error,
    fit_calibration,
    reliability,
)
from medner.inference import entity_records
from medner.models import load_model
from medner.models.calibration import Calibration
from medner.models.crf import CRFModel
from medner.types import Document


def _overconfident(n: int, seed: int) -> list[Observation]:
    """A model that says c when it is right c² of the time."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c = rng.random()
        out.append(Observation("DISEASE", c, rng.random() < c * c))
    return out


def test_isotonic_calibration_lowers_the_error_on_fresh_data() -> None:
    fit, fresh = _overconfident(4000, 1), _overconfident(4000, 2)
    calibration = fit_calibration(fit)
    before = expected_calibration_error(fresh)
    after = expected_calibration_error(calibrated(fresh, calibration))
    assert before > 0.1 and after < 0.03, (before, after)
    assert calibration.apply("DISEASE", 0.5) < 0.4  # c = 0.5 is right a quarter of the time
    assert calibration.apply("TREATMENT", 0.5) == 0.5  # no map for a label it never saw
    bins = reliability(fresh)
    assert len(bins) == 10 and sum(b.count for b in bins) == 4000


def test_platt_scaling_is_the_other_method_and_a_wrong_one_is_refused() -> None:
    import pytest

    fit, fresh = _overconfident(4000, 3), _overconfident(4000, 4)
    platt = fit_calibration(fit, method="platt")
    assert platt.method == "platt"
    assert expected_calibration_error(calibrated(fresh, platt)) < expected_calibration_error(fresh)
    with pytest.raises(ValueError, match="method must be one of"):
        fit_calibration(fit, method="beta")


def test_ece_is_the_weighted_gap_of_the_bins() -> None:
    obs = [Observation("D", 0.95, True)] * 3 + [Observation("D", 0.95, False)]  # 0.75 vs 0.95
    obs += [Observation("D", 0.15, False)] * 4  # 0 vs 0.15
    assert abs(expected_calibration_error(obs) - (0.5 * 0.2 + 0.5 * 0.15)) < 1e-9


def test_the_extraction_path_reports_calibrated_confidence(
    tiny_model: CRFModel, tmp_path: Path
) -> None:
    text = "Asthma was treated with inhaled budesonide ."
    raw = entity_records(tiny_model, text)
    assert raw
    flat = Calibration({label: ((0.0, 1.0), (0.25, 0.25)) for label in tiny_model.labels})
    tiny_model.save(tmp_path / "m")
    model = load_model(tmp_path / "m")
    model.metadata = {**model.metadata, "calibration": flat.to_dict()}
    model.save(tmp_path / "calibrated")
    again = load_model(tmp_path / "calibrated")
    got = entity_records(again, text)
    assert [(e["start"], e["end"], e["label"]) for e in got] == [
        (e["start"], e["end"], e["label"]) for e in raw
    ]
    assert {e["confidence"] for e in got} == {0.25}
    assert [round(e.confidence, 6) for e in again.predict(text)] == [e["confidence"] for e in raw]


def test_the_cli_fits_reports_and_writes_a_calibrated_copy(
    tiny_model: CRFModel, tiny_docs: list[Document], tmp_path: Path
) -> None:
    tiny_model.save(tmp_path / "m")
    data = tmp_path / "dev.jsonl"
    write_jsonl(tiny_docs * 10, data)
    report = tmp_path / "calibration.json"
    got = CliRunner().invoke(
        app,
        ["calibrate", "--model", str(tmp_path / "m"), "--data", str(data),
         "--output", str(tmp_path / "c"), "--report", str(report)],
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    assert "expected calibration error" in got.output
    saved = json.loads((tmp_path / "c/config.json").read_text())["metadata"]["calibration"]
    assert saved["method"] == "isotonic" and saved["labels"]
    payload = json.loads(report.read_text())
    assert payload["ece_after"] <= payload["ece_before"] + 1e-9
