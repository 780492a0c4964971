"""The API through httpx (FastAPI's TestClient): answers, every error case, metrics, reload."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medner.models import load_model
from medner.models.base import model_version
from medner.serving.service import build_app
from tests.conftest import DATA, TINY_SENTENCES, train_tiny
from tests.serving.conftest import ADMIN, EXTRACT, make_settings

NOTE = "Patients with diabetes mellitus received metformin daily . Asthma was treated ."


def test_extract_returns_the_engines_entities(client: TestClient, model_dir: Path) -> None:
    response = client.post("/v1/extract", json={"text": NOTE, "note_id": "n-1"}, headers=EXTRACT)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = [e.to_dict() for e in load_model(model_dir).predict(NOTE)]
    assert body["entities"] == expected and expected
    assert body["note_id"] == "n-1"
    assert body["model"] == {"name": "medner", "version": model_version(model_dir)}
    assert body["timing_ms"] >= 0
    for e in body["entities"]:
        assert NOTE[e["start"] : e["end"]] == e["text"]
    assert response.headers["x-request-id"]


def test_batch_gives_each_note_in_order(client: TestClient) -> None:
    notes = [{"text": t, "note_id": i} for i, (t, _) in enumerate(TINY_SENTENCES[:4])]
    response = client.post("/v1/extract/batch", json={"notes": notes}, headers=EXTRACT)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["note_id"] for r in results] == [0, 1, 2, 3]
    for note, result in zip(notes, results, strict=True):
        single = client.post("/v1/extract", json=note, headers=EXTRACT).json()
        assert result["entities"] == single["entities"]


def test_empty_text_is_200_with_no_entities(client: TestClient) -> None:
    for text in ("", "   \n "):
        response = client.post("/v1/extract", json={"text": text}, headers=EXTRACT)
        assert response.status_code == 200
        assert response.json()["entities"] == []


def test_missing_or_unknown_key_is_401(client: TestClient) -> None:
    missing = client.post("/v1/extract", json={"text": NOTE})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in missing.json()["detail"]
    unknown = client.post("/v1/extract", json={"text": NOTE}, headers={"Authorization": "Bearer x"})
    assert unknown.status_code == 401
    assert "unknown API key" in unknown.json()["detail"]
    # auth comes before body parsing: garbage without a key is still 401
    assert client.post("/v1/extract", content=b"\xff{").status_code == 401


def test_wrong_scope_is_403(client: TestClient) -> None:
    admin_on_extract = client.post("/v1/extract", json={"text": NOTE}, headers=ADMIN)
    assert admin_on_extract.status_code == 403
    assert "'extract' scope" in admin_on_extract.json()["detail"]
    extract_on_admin = client.post("/v1/admin/reload", headers=EXTRACT)
    assert extract_on_admin.status_code == 403
    assert "'admin' scope" in extract_on_admin.json()["detail"]


def test_too_long_text_or_batch_or_body_is_413(model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(model_dir, tmp_path, max_chars=50, max_batch=2, max_body_bytes=4096)
    with TestClient(build_app(settings)) as client:
        long_text = client.post("/v1/extract", json={"text": "a" * 51}, headers=EXTRACT)
        assert long_text.status_code == 413
        assert "51 characters; the limit is 50" in long_text.json()["detail"]
        in_batch = client.post(
            "/v1/extract/batch",
            json={"notes": [{"text": "ok"}, {"text": "b" * 60}]},
            headers=EXTRACT,
        )
        assert in_batch.status_code == 413
        assert "notes.1.text" in in_batch.json()["detail"]
        too_many = client.post(
            "/v1/extract/batch", json={"notes": [{"text": "a"}] * 3}, headers=EXTRACT
        )
        assert too_many.status_code == 413
        assert "3 notes in one batch; the limit is 2" in too_many.json()["detail"]
        body = client.post("/v1/extract", json={"text": "a" * 5000}, headers=EXTRACT)
        assert body.status_code == 413
        assert "body larger than 4096 bytes" in body.json()["detail"]
        assert client.post("/v1/extract", json={"text": "a" * 50}, headers=EXTRACT).is_success


def test_invalid_json_or_schema_is_422_naming_the_field(client: TestClient) -> None:
    missing = client.post("/v1/extract", json={"note_id": 3}, headers=EXTRACT)
    assert missing.status_code == 422
    assert "text: Field required" in missing.json()["detail"]
    wrong_type = client.post("/v1/extract", json={"text": 12}, headers=EXTRACT)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "text"
    extra = client.post("/v1/extract", json={"text": "x", "txet": 1}, headers=EXTRACT)
    assert extra.status_code == 422 and "txet" in extra.json()["detail"]
    not_json = client.post(
        "/v1/extract",
        content=b'{"text": "unterminated',
        headers={**EXTRACT, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert "JSON decode error" in not_json.json()["detail"]
    nested = client.post("/v1/extract/batch", json={"notes": [{"text": None}]}, headers=EXTRACT)
    assert nested.status_code == 422
    assert nested.json()["errors"][0]["field"] == "notes.0.text"


def test_body_that_is_not_utf8_is_400_with_a_reason(client: TestClient) -> None:
    response = client.post(
        "/v1/extract",
        content='{"text": "café"}'.encode("latin-1"),
        headers={**EXTRACT, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid UTF-8" in response.json()["detail"]


def test_rate_limit_is_429_with_retry_after(model_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(model_dir, tmp_path, rate_limit_per_minute=2)
    with TestClient(build_app(settings)) as client:
        codes = [
            client.post("/v1/extract", json={"text": "Asthma ."}, headers=EXTRACT).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        limited = client.post("/v1/extract", json={"text": "Asthma ."}, headers=EXTRACT)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        # the limit is per key: another key still passes
        other = client.post(
            "/v1/extract", json={"text": "Asthma ."}, headers={"Authorization": "Bearer both"}
        )
        assert other.status_code == 200


def test_health_readiness_and_model_info(client: TestClient, model_dir: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["version"] == model_version(model_dir)
    info = client.get("/v1/model", headers=EXTRACT).json()
    assert info["labels"] == load_model(model_dir).labels
    assert info["backend"] == "crf" and info["name"] == "medner"
    assert client.get("/v1/model").status_code == 401
    schema = client.get("/openapi.json").json()
    assert "/v1/extract" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_entities_and_model(client: TestClient, model_dir: Path) -> None:
    client.post("/v1/extract", json={"text": NOTE}, headers=EXTRACT)
    client.post("/v1/extract", json={"text": NOTE})
    text = client.get("/metrics").text
    assert 'medner_requests_total{route="/v1/extract",status="200"} 1.0' in text
    assert 'medner_requests_total{route="/v1/extract",status="401"} 1.0' in text
    assert 'medner_entities_per_note_count{label="DISEASE"} 1.0' in text
    assert "medner_entity_confidence_bucket" in text
    assert f"medner_note_length_chars_sum {float(len(NOTE))}" in text
    assert "medner_request_duration_seconds_bucket" in text
    assert "medner_requests_in_flight" in text
    version = model_version(model_dir)
    assert f'medner_model_info{{name="medner",version="{version}"}} 1.0' in text
    assert "_created" not in text


@pytest.mark.parametrize("extract_in", ["processes", "threads"])
def test_reload_swaps_the_model_without_failing_requests(
    model_dir: Path, tmp_path: Path, tiny_docs: list, extract_in: str
) -> None:
    other_dir = tmp_path / "other-model"
    train_tiny(tiny_docs[:4]).save(other_dir)
    assert model_version(other_dir) != model_version(model_dir)
    settings = make_settings(model_dir, tmp_path, concurrency=2, extract_in=extract_in)
    with TestClient(build_app(settings)) as client:
        expected = [e.to_dict() for e in load_model(model_dir).predict(NOTE)]
        first = client.post("/v1/extract", json={"text": NOTE}, headers=EXTRACT).json()
        assert first["entities"] == expected
        stop = threading.Event()
        codes: list[int] = []

        def hammer() -> None:
            while not stop.is_set():
                r = client.post("/v1/extract", json={"text": NOTE}, headers=EXTRACT)
                codes.append(r.status_code)

        with ThreadPoolExecutor(3) as pool:
            for _ in range(3):
                pool.submit(hammer)
            swapped = client.post("/v1/admin/reload", json={"model": str(other_dir)}, headers=ADMIN)
            back = client.post("/v1/admin/reload", headers=ADMIN)  # the same source again
            stop.set()
        assert swapped.status_code == 200, swapped.text
        assert swapped.json()["version"] == model_version(other_dir)
        assert back.json()["version"] == model_version(other_dir)
        assert codes and set(codes) == {200}
        after = client.post("/v1/extract", json={"text": NOTE}, headers=EXTRACT).json()
        assert after["model"]["version"] == model_version(other_dir)
        bad = client.post("/v1/admin/reload", json={"model": "/nowhere"}, headers=ADMIN)
        assert bad.status_code == 422 and "cannot load the model" in bad.json()["detail"]
        assert client.get("/readyz").status_code == 200  # still serving the last good model
        assert 'medner_model_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text


def test_every_response_body_is_json(client: TestClient) -> None:
    for response in (
        client.post("/v1/extract", json={"text": NOTE}, headers=EXTRACT),
        client.post("/v1/extract", json={}, headers=EXTRACT),
        client.post("/v1/extract"),
    ):
        assert isinstance(json.loads(response.text), dict)


@pytest.mark.parametrize("extract_in", ["threads", "processes"])
def test_the_api_returns_what_medner_extract_writes(
    default_model_dir: Path, tmp_path: Path, extract_in: str
) -> None:
    """One extraction path: the API's entities for MTSamples notes are the very records
    `medner extract` writes for them (the BioText model, so there are many)."""
    from medner.inference import extract_file, read_notes

    notes = list(
        read_notes(
            DATA / "mtsamples/mtsamples.parquet",
            id_column="note_id",
            text_column="transcription",
        )
    )[:12]
    notes = [n for n in notes if n.text]
    output = tmp_path / "entities.jsonl"
    extract_file(load_model(default_model_dir), notes, output)
    expected = {r["id"]: r["entities"] for r in map(json.loads, output.read_text().splitlines())}
    assert sum(len(e) for e in expected.values()) > 50
    settings = make_settings(
        default_model_dir, tmp_path, extract_in=extract_in, max_chars=100_000, max_batch=32
    )
    with TestClient(build_app(settings)) as client:
        batch = [{"text": n.text, "note_id": n.id} for n in notes]
        r = client.post("/v1/extract/batch", json={"notes": batch}, headers=EXTRACT)
        assert r.status_code == 200, r.text
        got = {res["note_id"]: res["entities"] for res in r.json()["results"]}
        one = client.post("/v1/extract", json=batch[0], headers=EXTRACT).json()
    assert got == expected
    assert one["entities"] == expected[notes[0].id]


def test_what_utf8_or_the_log_cannot_hold_is_a_422_naming_the_field(client: TestClient) -> None:
    """Issue 23: a lone surrogate in text or note_id was a 500; a NUL or an over-long note_id
    poisoned the prediction log's batch."""
    cases = {
        b'{"text": "Asthma \\ud800"}': "text: Value error, lone surrogate at character 7",
        b'{"text": "Asthma", "note_id": "\\ud800"}': "note_id: Value error, lone surrogate",
        b'{"text": "Asthma", "note_id": "a\\u0000b"}': "note_id: Value error, contains a NUL",
        b'{"notes": [{"text": "\\udc00x"}]}': "notes.0.text: Value error, lone surrogate",
    }
    for body, reason in cases.items():
        r = client.post(
            "/v1/extract" if b"notes" not in body else "/v1/extract/batch",
            content=body,
            headers={**EXTRACT, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (body, r.text)
        assert reason in r.json()["detail"], (body, r.text)
    long_id = client.post(
        "/v1/extract", json={"text": "Asthma", "note_id": "n" * 257}, headers=EXTRACT
    )
    assert long_id.status_code == 422 and "longer than 256 characters" in long_id.text
    fits = client.post(
        "/v1/extract", json={"text": "Asthma", "note_id": "n" * 256}, headers=EXTRACT
    )
    assert fits.status_code == 200


def test_a_request_id_the_log_cannot_hold_is_a_400(client: TestClient) -> None:
    too_long = client.post(
        "/v1/extract", json={"text": "Asthma"}, headers={**EXTRACT, "X-Request-ID": "r" * 65}
    )
    assert too_long.status_code == 400 and "X-Request-ID" in too_long.json()["detail"]
    ok = client.post(
        "/v1/extract", json={"text": "Asthma"}, headers={**EXTRACT, "X-Request-ID": "r" * 64}
    )
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "r" * 64


def test_responses_with_entities_are_not_cached_or_sniffed(client: TestClient) -> None:
    r = client.post("/v1/extract", json={"text": NOTE}, headers=EXTRACT)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_model_info_shows_the_server_path_to_admin_keys_only(
    client: TestClient, model_dir: Path
) -> None:
    """Issue 23: /v1/model showed the server's model directory to every extract key."""
    assert client.get("/v1/model", headers=EXTRACT).json()["source"] is None
    both = {"Authorization": "Bearer both"}
    assert client.get("/v1/model", headers=both).json()["source"] == str(model_dir)


def test_json_nested_too_deeply_is_a_422_as_documented(client: TestClient) -> None:
    """Issue 23, item 7: deep nesting was a 400 ("error parsing the body") where the docs say
    invalid JSON is a 422."""
    for depth in (2_000, 100_000):
        body = '{"text": "a", "metadata": {"x": ' + "[" * depth + "]" * depth + "}}"
        r = client.post(
            "/v1/extract", content=body, headers={**EXTRACT, "Content-Type": "application/json"}
        )
        assert r.status_code == 422 and "nested too deeply" in r.json()["detail"]
    shallow = client.post(
        "/v1/extract", json={"text": "a", "metadata": {"x": [[[1]]]}}, headers=EXTRACT
    )
    assert shallow.status_code == 200


def test_the_docs_page_loads_nothing_from_outside(client: TestClient) -> None:
    """Issue 23, item 7: /docs loaded Swagger UI from a CDN, unpinned and without integrity."""
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert urls and all(u.startswith("/docs/assets/") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    assert '"validatorUrl": null' in page.text  # no call to validator.swagger.io either
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 500, url
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert client.get("/docs/assets/..%2Fcore.py").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not served
    assert client.get("/openapi.json").json()["info"]["title"] == "medner"
