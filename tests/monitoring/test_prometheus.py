"""Issue 21, must show: a real Prometheus (Debian's binary, on loopback) scrapes a real `medner
serve` and evaluates deploy/prometheus/rules.yml. Notes like the training data leave the drift
alert quiet; MTSamples notes against the same model make it pending. Every query of the
Grafana dashboard returns series."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from medner.inference import read_notes
from medner.models import load_model
from medner.models.crf import CRFModel
from medner.monitoring.profile import write_reference
from medner.review import enqueue, next_task, queue_engine, submit
from tests.conftest import DATA, REPO, TINY_SENTENCES
from tests.serving.conftest import EXTRACT, running_server

pytestmark = pytest.mark.slow
DASHBOARD = REPO / "deploy/grafana/dashboards/medner.json"


def _prometheus() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is missing: .ci/with-services installs Debian's prometheus")
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    return found


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(prom: str, expr: str) -> list[dict]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    return list(r.json()["data"]["result"])


def _until(what: str, check, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def stack(tiny_model: CRFModel, tmp_path: Path) -> Iterator[tuple[str, str]]:
    binary = _prometheus()
    model = tmp_path / "model"
    tiny_model.save(model)
    texts = [t for t, _ in TINY_SENTENCES]
    write_reference(load_model(model), model, texts * 50)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = queue_engine(url)  # a few audit reviews, so the live-KPI panels have series
    enqueue(engine, [(f"n{i}", t, []) for i, t in enumerate(texts)], "m", audit_share=1.0)
    while (task := next_task(engine, "v")) is not None:
        submit(engine, "v", task.id, [{"start": 0, "end": 4, "label": "DISEASE"}])
    engine.dispose()
    with running_server(
        model,
        tmp_path / "api",
        api_keys="ek:extract",
        database_url=url,
        drift_refresh_seconds="1",
        drift_window_minutes="0.3",
        kpi_refresh_seconds="1",
        extract_in="threads",
    ) as api:
        port = _port()
        target = api.base.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{REPO / 'deploy/prometheus/rules.yml'}]\n"
            "scrape_configs:\n"
            f"  - job_name: medner\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _until("Prometheus", lambda: _ready(base), 60)
            yield api.base, base
        finally:
            prom.terminate()
            prom.wait(timeout=30)
            log.close()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _send(api: str, texts: list[str]) -> None:
    with httpx.Client(base_url=api, timeout=30) as client:
        for text in texts:
            assert client.post("/v1/extract", json={"text": text}, headers=EXTRACT).is_success


def _drift_alerts(prom: str) -> list[dict]:
    return _query(prom, 'ALERTS{alertname="MednerDriftDetected"}')


def test_prometheus_sees_the_drift_and_every_dashboard_query_has_series(
    stack: tuple[str, str],
) -> None:
    api, prom = stack
    same = [t for t, _ in itertools.islice(itertools.cycle(TINY_SENTENCES), 80)]
    _send(api, same)
    httpx.post(f"{api}/v1/extract", json={"text": "no key"})  # a 401, for the errors panel
    _until(
        "drift gauges of the same-source stream",
        lambda: len(_query(prom, 'medner_drift_detected{segment="all"}')) >= 5,
    )
    time.sleep(5)  # a few rule evaluations
    assert not _query(prom, 'medner_drift_detected{segment="all"} == 1')
    assert not _drift_alerts(prom)

    panels = json.loads(DASHBOARD.read_text())["panels"]
    for panel in panels:
        for target in panel["targets"]:
            _until(f"series for {panel['title']!r}", lambda t=target: bool(_query(prom, t["expr"])))

    time.sleep(20)  # the same-source notes leave the 18 s window
    mtsamples = read_notes(DATA / "mtsamples/mtsamples.parquet", "note_id", "transcription")
    notes = [n.text for n in itertools.islice(mtsamples, 60) if n.text]
    _send(api, notes)
    _until("the drift alert", lambda: bool(_drift_alerts(prom)), 90)
    states = {a["metric"]["alertstate"] for a in _drift_alerts(prom)}
    assert states <= {"pending", "firing"} and states
    moved = {a["metric"]["feature"] for a in _drift_alerts(prom)}
    assert "length_chars" in moved
