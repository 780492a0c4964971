"""The real server: `medner serve` under uvicorn in a subprocess, its logs, its CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from medner.cli.main import app as cli
from medner.serving.service import build_app
from tests.serving.conftest import ADMIN, EXTRACT, make_settings, running_server

SECRET_NOTE = "Zorblaxitis of the left kneecap treated with quuxamycin"  # must never be logged


def test_real_uvicorn_serves_logs_json_without_text_and_flushes_on_stop(
    model_dir: Path, tmp_path: Path
) -> None:
    with running_server(model_dir, tmp_path, api_keys="sk:extract") as server:
        base, auth = server.base, {"Authorization": "Bearer sk"}
        r = httpx.post(f"{base}/v1/extract", json={"text": SECRET_NOTE, "note_id": 9}, headers=auth)
        assert r.status_code == 200 and r.json()["note_id"] == 9
        bad = httpx.post(f"{base}/v1/extract", json={"text": SECRET_NOTE, "x": 1}, headers=auth)
        assert bad.status_code == 422
        assert httpx.post(f"{base}/v1/extract", json={"text": SECRET_NOTE}).status_code == 401
    err = server.log.read_text()
    assert server.process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [rec for rec in lines if rec.get("event") == "request"]
    assert [r["status"] for r in requests if r["route"] == "/v1/extract"] == [200, 422, 401]
    assert all({"request_id", "latency_ms", "key_id"} <= set(r) for r in requests)
    assert "Zorblaxitis" not in err and "quuxamycin" not in err
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'predictions.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar() == 1
    engine.dispose()


def test_no_note_text_reaches_any_log(
    model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every kind of request of the suite, with a recognisable note, then a look at all logs."""
    caplog.set_level(logging.DEBUG)
    with TestClient(build_app(make_settings(model_dir, tmp_path, max_chars=200))) as client:
        note = {"text": SECRET_NOTE, "note_id": "secret-1"}
        client.post("/v1/extract", json=note, headers=EXTRACT)
        client.post("/v1/extract/batch", json={"notes": [note, note]}, headers=EXTRACT)
        client.post("/v1/extract", json=note)
        client.post("/v1/extract", json=note, headers=ADMIN)
        client.post("/v1/extract", json={**note, "bad": 1}, headers=EXTRACT)
        client.post("/v1/extract", json={"text": SECRET_NOTE * 10}, headers=EXTRACT)
        client.post("/v1/extract", content=SECRET_NOTE.encode("utf-16"), headers=EXTRACT)
        client.post("/v1/admin/reload", headers=ADMIN)
        client.get("/metrics")
    assert any(getattr(r, "msg", None) for r in caplog.records)
    logged = caplog.text + "".join(str(r.msg) for r in caplog.records)
    assert "Zorblaxitis" not in logged and "quuxamycin" not in logged


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"text": st.text(max_size=300)},
        optional={"note_id": json_values, "metadata": json_values, "junk": json_values},
    ).map(lambda v: json.dumps(v).encode()),
    st.lists(st.fixed_dictionaries({"text": st.text(max_size=80)}), max_size=6).map(
        lambda notes: json.dumps({"notes": notes}).encode()
    ),
    # lone surrogates and NULs, which JSON can spell ("\\ud800") and UTF-8 cannot hold
    st.fixed_dictionaries(
        {"text": st.text(st.characters(categories=["Cs", "Cc", "Ll", "Zs"]), max_size=40)},
        optional={"note_id": st.text(st.characters(categories=["Cs", "Cc", "Lu"]), max_size=300)},
    ).map(lambda v: json.dumps(v).encode()),
)


def test_fuzzed_requests_never_get_a_5xx(model_dir: Path, tmp_path: Path) -> None:
    """Random bodies (bytes, any JSON, near-valid notes) at every POST route: a 2xx or a 4xx,
    never a server error."""
    with TestClient(build_app(make_settings(model_dir, tmp_path, max_chars=200))) as client:

        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            route=st.sampled_from(["/v1/extract", "/v1/extract/batch", "/v1/admin/reload"]),
            body=bodies,
            content_type=st.sampled_from(["application/json", "text/plain", ""]),
        )
        def check(route: str, body: bytes, content_type: str) -> None:
            headers = {"Authorization": "Bearer both"}
            if content_type:
                headers["Content-Type"] = content_type
            if route == "/v1/admin/reload":
                body = b"{}" if body[:1] != b"{" else body
            response = client.post(route, content=body, headers=headers)
            assert response.status_code < 500, (route, body, response.text)

        check()


def test_keys_create_stores_a_hash_and_the_key_works(model_dir: Path, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    result = CliRunner().invoke(
        cli, ["keys", "create", "--scope", "extract", "--file", str(keys_file)]
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("mk_")
    stored = keys_file.read_text()
    assert key not in stored and '"sha256"' in stored
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    settings_ = make_settings(model_dir, tmp_path, api_keys=None, keys_file=keys_file)
    with TestClient(build_app(settings_)) as client:
        ok = client.post(
            "/v1/extract", json={"text": "Asthma ."}, headers={"Authorization": f"Bearer {key}"}
        )
        assert ok.status_code == 200
    bad = CliRunner().invoke(cli, ["keys", "create", "--scope", "root", "--file", str(keys_file)])
    assert bad.exit_code == 2 and "scopes must be some of admin, extract" in bad.output


def test_serve_refuses_to_start_without_keys(model_dir: Path, tmp_path: Path) -> None:
    env = {"MEDNER_KEYS_FILE": str(tmp_path / "none.json")}
    result = CliRunner().invoke(
        cli, ["serve", "--model", str(model_dir)], env={**env, "MEDNER_API_KEYS": ""}
    )
    assert result.exit_code == 2
    assert "no API keys" in result.output and "--dev" in result.output


def test_a_dev_start_is_quiet_and_shows_the_model_url_key_and_curl(
    model_dir: Path, tmp_path: Path
) -> None:
    with running_server(model_dir, tmp_path / "quiet", dev="true") as server:
        pass
    text = server.log.read_text()
    assert f"serving {model_dir} at {server.base}" in text
    assert "a key valid until this process ends" in text
    assert f"curl -s {server.base}/v1/extract -H 'Authorization: Bearer " in text
    loggers = {json.loads(line)["logger"] for line in text.splitlines() if line.startswith("{")}
    assert not {lg for lg in loggers if lg.startswith(("alembic", "uvicorn"))}, loggers
    # debug brings the libraries' lines back
    with running_server(model_dir, tmp_path / "loud", dev="true", log_level="debug") as loud:
        pass
    lines = loud.log.read_text().splitlines()
    loud_loggers = {json.loads(line)["logger"] for line in lines if line.startswith("{")}
    assert any(lg.startswith("alembic") for lg in loud_loggers), loud_loggers
    assert any(lg.startswith("uvicorn") for lg in loud_loggers), loud_loggers
