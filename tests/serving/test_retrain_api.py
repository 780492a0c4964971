"""``POST /v1/admin/retrain`` (issue 20, item 2): an admin starts a retraining run, a second
one is refused while it goes (409), and its status and outcome are readable."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from medner.serving.service import build_app
from tests.conftest import DATA, biotext_subset
from tests.serving.conftest import ADMIN, EXTRACT, make_settings


def _settings(model_dir: Path, tmp_path: Path) -> object:
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
    return make_settings(
        model_dir,
        tmp_path,
        retrain_params=params,
        retrain_dir=tmp_path / "jobs",
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
    )


def _wait(api: TestClient) -> dict:
    deadline = time.monotonic() + 240
    while (status := api.get("/v1/admin/retrain", headers=ADMIN).json())["state"] == "running":
        assert time.monotonic() < deadline, "the retraining run never finished"
        time.sleep(0.5)
    return status


def test_an_admin_starts_one_retraining_run_at_a_time(model_dir: Path, tmp_path: Path) -> None:
    settings = _settings(model_dir, tmp_path)
    with TestClient(build_app(settings)) as api:
        assert api.post("/v1/admin/retrain", headers=EXTRACT).status_code == 403
        assert api.get("/v1/admin/retrain", headers=ADMIN).json() == {"state": "idle"}
        started = api.post("/v1/admin/retrain", json={}, headers=ADMIN)
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "running"
        again = api.post("/v1/admin/retrain", headers=ADMIN)
        assert again.status_code == 409 and "is going" in again.json()["detail"]
        status = _wait(api)
    assert status["state"] == "finished", status
    assert status["outcome"]["status"] == "trained"
    assert Path(status["outcome"]["model_dir"], "config.json").is_file()


def _alert(status: str, **labels: str) -> dict:
    return {"status": status, "labels": {"alertname": "MednerDriftDetected", **labels}}


def test_alertmanager_starts_a_run_for_a_firing_retrain_alert(
    model_dir: Path, tmp_path: Path
) -> None:
    """The webhook of deploy/alertmanager/alertmanager.yml: Alertmanager's own body."""
    settings = _settings(model_dir, tmp_path)
    with TestClient(build_app(settings)) as api:
        url = "/v1/admin/alerts"
        body = {"version": "4", "status": "resolved", "receiver": "medner-retrain",
                "alerts": [_alert("resolved", action="retrain"), _alert("firing")]}  # fmt: skip
        assert api.post(url, json=body, headers=EXTRACT).status_code == 403
        quiet = api.post(url, json=body, headers=ADMIN)
        assert quiet.status_code == 200 and quiet.json()["retrain"] == "not asked"
        assert api.get("/v1/admin/retrain", headers=ADMIN).json() == {"state": "idle"}
        body["alerts"] = [_alert("firing", action="retrain", feature="oov_share")]
        started = api.post(url, json=body, headers=ADMIN)
        assert started.status_code == 202 and started.json()["retrain"] == "started"
        again = api.post(url, json=body, headers=ADMIN)
        assert again.status_code == 200 and again.json()["retrain"] == "already running"
        assert _wait(api)["state"] == "finished"
