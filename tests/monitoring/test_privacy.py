"""Issue 21, privacy: notes carrying a marker word leave it in no table, no log line, no metric
label and no drift report, with profiling, segments and drift gauges on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from medner.cli.main import app
from medner.models import load_model
from medner.models.crf import CRFModel
from medner.monitoring.profile import write_reference
from medner.serving.service import build_app
from tests.conftest import TINY_SENTENCES
from tests.serving.conftest import EXTRACT, make_settings

MARKER = "Qwertyitis"


def test_a_marker_word_reaches_no_table_log_metric_or_report(
    tiny_model: CRFModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = tmp_path / "model"
    tiny_model.save(model)
    write_reference(load_model(model), model, [t for t, _ in TINY_SENTENCES] * 10)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = make_settings(
        model, tmp_path, database_url=url, segment_fields="clinic", drift_refresh_seconds=0.2
    )
    caplog.set_level(logging.DEBUG)
    with TestClient(build_app(settings)) as client:
        for i in range(40):
            text = f"{MARKER} was treated with inhaled budesonide , case {i} ."
            meta = {"clinic": "c1", "note": f"{MARKER} again"}
            r = client.post("/v1/extract", json={"text": text, "metadata": meta}, headers=EXTRACT)
            assert r.status_code == 200
        metrics = client.get("/metrics").text
    assert "medner_drift_score" in metrics and MARKER.lower() not in metrics.lower()
    assert not [r for r in caplog.records if MARKER.lower() in r.getMessage().lower()]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                assert MARKER.lower() not in json.dumps([str(v) for v in row]).lower(), table
    engine.dispose()
    runner = CliRunner()
    for fmt in ("json", "html", "table"):
        page = tmp_path / f"drift.{fmt}"
        got = runner.invoke(
            app,
            ["monitor", "--model", str(model), "--database-url", url, "--format", fmt,
             "--segment", "clinic", "-o", str(page)],
        )  # fmt: skip
        assert got.exit_code in (0, 1), got.output
        shown = got.output + (page.read_text() if page.exists() else "")
        assert MARKER.lower() not in shown.lower()
