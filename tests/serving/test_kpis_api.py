"""``GET /v1/kpis`` and the live KPI gauges (issue 20, item 1): leads and admin keys only, the
same numbers as ``medner kpis``, and the gauges at /metrics refreshed from the record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medner.review import queue_engine
from medner.review.accounts import add_reviewer
from medner.review.kpis import live_kpis
from medner.serving.service import build_app
from tests.review.test_kpis import build_record
from tests.serving.conftest import make_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def kpi_app(model_dir: Path, tmp_path: Path, db_url: str) -> TestClient:
    engine = queue_engine(db_url)
    build_record(engine)
    add_reviewer(engine, "asha", PASSWORD, "validator")
    add_reviewer(engine, "lead", PASSWORD, "lead")
    engine.dispose()
    settings = make_settings(
        model_dir,
        tmp_path,
        database_url=db_url,
        api_keys="ak:admin,rk:review",
        kpi_refresh_seconds=0.2,
        kpi_window_days=100_000,  # the record is dated 2026-11-30
        manual_seconds_per_note=180.0,
    )
    with TestClient(build_app(settings)) as client:
        yield client


def test_kpis_are_for_leads_and_admin_keys_only(kpi_app: TestClient) -> None:
    assert kpi_app.get("/v1/kpis").status_code == 401
    assert kpi_app.get("/v1/kpis", headers={"Authorization": "Bearer rk"}).status_code == 403
    r = kpi_app.post("/review/login", json={"name": "asha", "password": PASSWORD})
    assert r.status_code == 200
    assert kpi_app.get("/v1/kpis").status_code == 403  # a validator
    kpi_app.cookies.clear()
    r = kpi_app.post("/review/login", json={"name": "lead", "password": PASSWORD})
    assert r.status_code == 200
    assert kpi_app.get("/v1/kpis?bootstrap=0").status_code == 200
    assert kpi_app.get("/v1/kpis?by=city").status_code == 422


def test_the_api_reports_what_the_record_holds(kpi_app: TestClient, db_url: str) -> None:
    r = kpi_app.get("/v1/kpis?by=label", headers={"Authorization": "Bearer ak"})
    assert r.status_code == 200, r.text
    body = r.json()
    engine = queue_engine(db_url)
    expected = live_kpis(engine, by="label", manual_seconds=180.0).to_dict()
    engine.dispose()
    assert body == expected
    assert body["overall"]["fix_rate"] == pytest.approx(3 / 7, abs=1e-6)
    assert [g["group"] for g in body["groups"]] == ["DISEASE", "TREATMENT"]


def test_the_gauges_follow_the_record(kpi_app: TestClient) -> None:
    wanted = {
        'medner_live_f1{label="micro"} 0.5',
        "medner_review_fix_rate 0.42857",
        "medner_review_miss_rate 0.33333",
        "medner_review_seconds_per_note 40.0",
        "medner_review_backlog 0.0",
    }
    deadline = time.monotonic() + 10
    while True:
        text = kpi_app.get("/metrics").text
        missing = {w for w in wanted if w not in text}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not missing, missing
