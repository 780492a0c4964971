"""The review API (issue 19, items 2 and 4; security): sign-in, lock-out, CSRF, roles, API keys
with the review scope, 422s naming the field, and the record a submit leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from medner.inference import Note
from medner.models import load_model
from medner.review import import_notes, queue_engine
from medner.review.accounts import add_reviewer
from medner.serving.service import build_app
from tests.serving.conftest import EXTRACT, make_settings

PASSWORD = "correct horse battery"
MARKER = "Zyxolitis"  # a note word that must never reach a log


@pytest.fixture
def review_app(model_dir: Path, tmp_path: Path, db_url: str) -> TestClient:
    engine = queue_engine(db_url)
    add_reviewer(engine, "asha", PASSWORD, "validator")
    add_reviewer(engine, "lead", PASSWORD, "lead")
    notes = [Note(f"n{i}", f"{MARKER} was treated with budesonide , case {i} .") for i in range(3)]
    import_notes(engine, load_model(model_dir), model_dir, notes, audit_share=0, double_share=0)
    engine.dispose()
    settings = make_settings(
        model_dir, tmp_path, database_url=db_url, api_keys="ek:extract,rk:review"
    )
    with TestClient(build_app(settings)) as client:
        yield client


def _login(client: TestClient, name: str = "asha") -> str:
    r = client.post("/review/login", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return str(r.json()["csrf"])


def test_every_review_route_refuses_without_sign_in(review_app: TestClient) -> None:
    assert review_app.get("/v1/review/next").status_code == 401
    assert review_app.post("/v1/review/tasks/1/submit", json={"entities": []}).status_code == 401
    assert review_app.get("/v1/review/team").status_code == 401
    extract_key = {"Authorization": "Bearer ek"}
    assert review_app.get("/v1/review/next", headers=extract_key).status_code == 403


def test_failed_sign_ins_lock_the_account_out(review_app: TestClient) -> None:
    for _ in range(5):
        r = review_app.post("/review/login", json={"name": "asha", "password": "wrong password"})
        assert r.status_code == 401
    locked = review_app.post("/review/login", json={"name": "asha", "password": PASSWORD})
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert (
        review_app.post("/review/login", json={"name": "nobody", "password": "x"}).status_code
        == 401
    )


def test_a_review_needs_the_csrf_token_and_is_recorded(review_app: TestClient, db_url: str) -> None:
    csrf = _login(review_app)
    task = review_app.get("/v1/review/next").json()
    text = task["text"]
    start = text.index("budesonide")
    body = {
        "entities": [{"start": start, "end": start + 10, "label": "TREATMENT"}],
        "actions": [{"action": "add", "after": {"start": start, "end": start + 10}}],
        "seconds_active": 4.2,
    }
    url = f"/v1/review/tasks/{task['task_id']}/submit"
    assert review_app.post(url, json=body).status_code == 403  # no CSRF token
    assert review_app.post(url, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    bad = review_app.post(
        url,
        json={"entities": [{"start": 0, "end": 10_000, "label": "TREATMENT"}]},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "entities.0.start"
    unknown = review_app.post(
        url,
        json={"entities": [{"start": 0, "end": 3, "label": "DRUG"}]},
        headers={"X-CSRF-Token": csrf},
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "entities.0.label"
    saved = review_app.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200 and saved.json()["saved"] is True
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        events = [
            r[0] for r in conn.execute(sa.text("SELECT action FROM review_events ORDER BY id"))
        ]
        reviewer = conn.execute(sa.text("SELECT reviewer FROM reviews")).scalar_one()
    engine.dispose()
    assert events == ["add", "submit"] and reviewer == "asha"


def test_roles_keys_and_sign_out(review_app: TestClient) -> None:
    csrf = _login(review_app)
    assert review_app.get("/v1/review/team").status_code == 403  # validators: own queue only
    assert review_app.post("/review/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert review_app.get("/v1/review/next").status_code == 401
    _login(review_app, "lead")
    team = review_app.get("/v1/review/team")
    assert team.status_code == 200 and team.json()["tasks"] == 3
    review_app.cookies.clear()
    machine = review_app.get("/v1/review/next", headers={"Authorization": "Bearer rk"})
    assert machine.status_code == 200 and machine.json()["task_id"]


def test_no_note_text_reaches_the_logs(
    review_app: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    _login(review_app)
    review_app.get("/v1/review/next")
    assert MARKER not in caplog.text


def test_the_api_copies_its_sample_of_notes_to_the_queue(
    model_dir: Path, tmp_path: Path, db_url: str
) -> None:
    for share, expected in ((0.0, 0), (1.0, 3)):
        settings = make_settings(
            model_dir, tmp_path / str(share), database_url=db_url, review_sample=share
        )
        with TestClient(build_app(settings)) as client:
            for i in range(2):
                r = client.post(
                    "/v1/extract", json={"text": f"Asthma , case {i} ."}, headers=EXTRACT
                )
                assert r.status_code == 200
            batch = {"notes": [{"text": "Gout flared .", "note_id": "b1"}, {"text": " "}]}
            assert client.post("/v1/extract/batch", json=batch, headers=EXTRACT).is_success
        engine = sa.create_engine(db_url)
        with engine.connect() as conn:
            rows = (
                conn.execute(sa.text("SELECT source, text, note_id FROM review_tasks")).all()
                if expected
                else []
            )
        engine.dispose()
        assert len(rows) == expected  # the blank note is never queued
        assert all(r.source == "api" and r.text for r in rows)
