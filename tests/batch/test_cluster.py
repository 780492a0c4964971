"""The batch job on a real cluster manager, not `local[*]`: a Spark standalone master and worker
on loopback (started from the PySpark package's `spark-class`), the job sent by `spark-submit`
with the documented entry file `medner.cli.submit`. A second run kills a Python worker in the
middle of the job; Spark reruns its task and the output is the same, note for note."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from medner.cli import submit
from medner.inference import extract_file, read_notes
from medner.models import load_model
from tests.batch.test_job import entity_key, read_dataset
from tests.conftest import DATA

pytestmark = [pytest.mark.spark, pytest.mark.slow]
NOTES = 300


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(_spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp / "logs"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def _wait_for(path: Path, pattern: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace")):
            return
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {path.read_text()[-3000:]}")
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not in {path} after {seconds} s: {path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone master and one worker (2 cores) bound to 127.0.0.1; yields the master URL."""
    tmp = tmp_path_factory.mktemp("spark-standalone")
    env = _env(tmp)
    spark_class = str(_spark_home() / "bin" / "spark-class")
    port = _port()
    master_url = f"spark://127.0.0.1:{port}"
    logs = {name: tmp / f"{name}.log" for name in ("master", "worker")}
    master_cmd = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master_cmd += ["--port", str(port), "--webui-port", str(_port())]
    worker_cmd = [spark_class, "org.apache.spark.deploy.worker.Worker", master_url]
    worker_cmd += ["--host", "127.0.0.1", "--cores", "2", "--memory", "2g"]
    worker_cmd += ["--webui-port", str(_port()), "--work-dir", str(tmp / "work")]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with logs["master"].open("wb") as out:
            processes.append(subprocess.Popen(master_cmd, env=env, stdout=out, stderr=out))
        _wait_for(logs["master"], r"I have been elected leader", processes[0], 120)
        with logs["worker"].open("wb") as out:
            processes.append(subprocess.Popen(worker_cmd, env=env, stdout=out, stderr=out))
        _wait_for(logs["worker"], r"Successfully registered with master", processes[1], 120)
        yield master_url
    finally:
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cluster-notes") / "notes.parquet"
    table = pq.read_table(
        DATA / "mtsamples/mtsamples.parquet", columns=["note_id", "transcription"]
    )
    pq.write_table(table.slice(0, NOTES), path)
    return path


@pytest.fixture(scope="module")
def expected(notes: Path, default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> set:
    """What `medner extract` finds in the same notes."""
    out = tmp_path_factory.mktemp("cluster-extract") / "extract.jsonl"
    extract_file(load_model(default_model_dir), read_notes(notes, "note_id", "transcription"), out)
    return {
        (str(rec["id"]), e["start"], e["end"], e["text"], e["label"], round(e["confidence"], 6))
        for rec in map(json.loads, out.read_text(encoding="utf-8").splitlines())
        for e in rec["entities"]
    }


def _submit(
    master: str, model: Path, notes: Path, out: Path, log: Path, partitions: int = 8
) -> subprocess.Popen:
    command = [str(_spark_home() / "bin" / "spark-submit"), "--master", master]
    command += ["--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=1g"]
    command += ["--conf", "spark.task.maxFailures=4"]
    command += [submit.__file__, "--model", str(model), "--input", str(notes)]
    command += ["--output", str(out), "--id-column", "note_id", "--text-column", "transcription"]
    command += ["--partitions", str(partitions)]
    with log.open("wb") as sink:
        return subprocess.Popen(command, env=_env(log.parent), stdout=sink, stderr=sink)


def _check(out: Path, expected: set) -> None:
    got = [entity_key(r) for r in read_dataset(out / "entities")]
    assert len(got) == len(set(got)), "duplicated entities"
    assert set(got) == expected
    noted = [str(r["note_id"]) for r in read_dataset(out / "notes")]
    assert len(noted) == len(set(noted)) == NOTES
    assert read_dataset(out / "quarantine") == []


def _python_workers() -> list[psutil.Process]:
    """PySpark's forked Python workers: children of a `pyspark.daemon` process."""
    workers = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "pyspark.daemon" in " ".join(p.info["cmdline"] or []):
                parent = p.parent()
                if parent is not None and "pyspark.daemon" in " ".join(parent.cmdline()):
                    workers.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return workers


def test_spark_submit_on_a_standalone_cluster_equals_medner_extract(
    cluster: str, notes: Path, default_model_dir: Path, expected: set, tmp_path: Path
) -> None:
    job = _submit(cluster, default_model_dir, notes, tmp_path / "out", tmp_path / "submit.log")
    assert job.wait(timeout=600) == 0, (tmp_path / "submit.log").read_text()[-4000:]
    _check(tmp_path / "out", expected)
    log = (tmp_path / "submit.log").read_text(errors="replace")
    assert f"Connecting to master {cluster}" in log  # the standalone master, not local[*]
    assert re.search(r"Granted executor ID app-\S+ on hostPort 127\.0\.0\.1", log)


LOST = re.compile(r"Lost task \S+ in stage .*Python worker exited unexpectedly")


def test_a_python_worker_killed_mid_job_changes_nothing(
    cluster: str, notes: Path, default_model_dir: Path, expected: set, tmp_path: Path
) -> None:
    """Python workers are killed (SIGKILL) while the extraction stage runs, until Spark reports
    a task lost with its worker (a worker can be idle between tasks when it is hit, so one kill
    is not always a lost task); the job retries it, and the output is the same."""
    log = tmp_path / "submit.log"
    # many small partitions: the Python stage lasts long enough to be hit while it works
    job = _submit(cluster, default_model_dir, notes, tmp_path / "out", log, partitions=40)
    kills = 0
    deadline = time.monotonic() + 300
    while job.poll() is None and time.monotonic() < deadline and kills < 3:
        if LOST.search(log.read_text(errors="replace")):
            break
        workers = _python_workers()
        if not workers:
            time.sleep(0.05)
            continue
        for worker in workers:  # every worker of this moment: the busy ones lose their task
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        kills += 1
        time.sleep(1.0)  # time for Spark to see it and log the lost task
    assert kills, "no Python worker appeared while the job ran"
    assert job.wait(timeout=600) == 0, log.read_text()[-4000:]
    text = log.read_text(errors="replace")
    # Spark saw a worker die under a running task, and ran that task again
    assert LOST.search(text), text[-4000:]
    _check(tmp_path / "out", expected)
