"""``POST /v1/admin/retrain`` (issue 20, item 2): an admin starts a retraining run, a second
one is refused while it goes (409), and its status and outcome are readable."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from medner.serving.service import build_app
from tests.conftest import DATA, biotext_subset
from tests.serving.conftest import ADMIN, EXTRACT, make_settings


def test_an_admin_starts_one_retraining_run_at_a_time(model_dir: Path, tmp_path: Path) -> None:
    base = biotext_subset(DATA / "biotext/train", tmp_path / "base/train", 300)
    params = tmp_path / "params.yaml"
    params.write_text(
        "retrain:\n"
        f"  base: [{base.with_name('train_sent')}]\n"
        "  dev: []\n  test: []\n"
        f"  dataset: {tmp_path / 'reviewed'}\n"
        f"  output: {tmp_path / 'runs'}\n"
        "  min_new: 0\n  oversample: [1]\n  track: false\n"
        "  set: ['crf.max_iterations=30']\n"
    )
    settings = make_settings(
        model_dir,
        tmp_path,
        retrain_params=params,
        retrain_dir=tmp_path / "jobs",
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
    )
    with TestClient(build_app(settings)) as api:
        assert api.post("/v1/admin/retrain", headers=EXTRACT).status_code == 403
        assert api.get("/v1/admin/retrain", headers=ADMIN).json() == {"state": "idle"}
        started = api.post("/v1/admin/retrain", json={}, headers=ADMIN)
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "running"
        again = api.post("/v1/admin/retrain", headers=ADMIN)
        assert again.status_code == 409 and "is going" in again.json()["detail"]
        deadline = time.monotonic() + 240
        while (status := api.get("/v1/admin/retrain", headers=ADMIN).json())["state"] == "running":
            assert time.monotonic() < deadline, "the retraining run never finished"
            time.sleep(0.5)
    assert status["state"] == "finished", status
    assert status["outcome"]["status"] == "trained"
    assert Path(status["outcome"]["model_dir"], "config.json").is_file()
