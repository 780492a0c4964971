"""Serving a registry model: `models:/NAME@champion`, and following the alias when it moves."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medner.serving.service import build_app
from medner.tracking.registry import CHAMPION, register, registry_client
from medner.tracking.runs import log_training_run
from tests.conftest import train_tiny
from tests.serving.conftest import ADMIN, EXTRACT, make_settings

NAME = "medner-serve-test"


def _registered(model_dir: Path) -> str:
    run = log_training_run(model_dir, {}, [], [], {"train_seconds": 0.0})
    return register(run, NAME)


def test_the_api_follows_the_champion_alias(tmp_path: Path, tiny_docs: list) -> None:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    train_tiny(tiny_docs).save(first_dir)
    train_tiny(tiny_docs[:3]).save(second_dir)
    first, second = _registered(first_dir), _registered(second_dir)
    client = registry_client()
    client.set_registered_model_alias(NAME, CHAMPION, first)

    settings = make_settings(
        first_dir, tmp_path, model=f"models:/{NAME}@{CHAMPION}", poll_champion_seconds=0.2
    )
    with TestClient(build_app(settings)) as api:
        served = api.get("/v1/model", headers=EXTRACT).json()
        assert (served["name"], served["version"]) == (NAME, first)
        client.set_registered_model_alias(NAME, CHAMPION, second)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answer = api.post("/v1/extract", json={"text": "Asthma ."}, headers=EXTRACT)
            assert answer.status_code == 200
            if answer.json()["model"]["version"] == second:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the API never picked up the new champion")
        assert 'medner_model_reloads_total{outcome="ok"} 1.0' in api.get("/metrics").text


def test_a_reload_against_a_tracking_server_that_never_answers_fails_fast(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 23, item 7: a models:/ reload against an unreachable tracking server hung over
    170 s (MLflow's 120 s timeout, retried 7 times with backoff). Now the registry timeout
    bounds it, and the old model keeps serving."""
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent.getsockname()[1]}")
        for name in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR"):  # build_app sets them
            monkeypatch.setenv(f"MLFLOW_HTTP_REQUEST_{name}", "")
        settings = make_settings(model_dir, tmp_path, registry_timeout_seconds=1)
        with TestClient(build_app(settings)) as api:
            started = time.monotonic()
            r = api.post(
                "/v1/admin/reload", json={"model": "models:/medner@champion"}, headers=ADMIN
            )
            took = time.monotonic() - started
            assert r.status_code == 422, r.text
            assert "cannot load the model" in r.json()["detail"]
            assert took < 15, f"the reload took {took:.0f} s"
            assert api.post("/v1/extract", json={"text": "Asthma ."}, headers=EXTRACT).is_success


def test_a_promotion_under_load_loses_no_request(tmp_path: Path, tiny_docs: list) -> None:
    """Issue 20: the gate moves champion while four clients keep extracting; the API swaps to
    the new version and every request is answered 200."""
    import threading

    from medner.data.writers import write_jsonl
    from medner.tracking.registry import promote

    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    train_tiny(tiny_docs).save(first_dir)
    train_tiny(tiny_docs).save(second_dir)  # the same scores: the gate lets it through
    test_set = tmp_path / "test.jsonl"
    write_jsonl(tiny_docs, test_set)
    first, second = _registered(first_dir), _registered(second_dir)
    registry_client().set_registered_model_alias(NAME, CHAMPION, first)
    settings = make_settings(
        first_dir, tmp_path, model=f"models:/{NAME}@{CHAMPION}", poll_champion_seconds=0.2
    )
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()
    with TestClient(build_app(settings)) as api:

        def client() -> None:
            while not stop.is_set():
                r = api.post("/v1/extract", json={"text": "Asthma ."}, headers=EXTRACT)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model"]["version"])

        workers = [threading.Thread(target=client) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        decision = promote(second, [test_set], NAME)
        assert decision.promoted, decision.reason
        deadline = time.monotonic() + 20
        while second not in versions and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join()
    assert second in versions and first in versions
    assert len(statuses) > 20 and set(statuses) == {200}
