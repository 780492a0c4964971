"""Where a `medner batch` run spends its time: Spark stages and tasks, from Spark's event log.

One job runs first to warm the JVM (class loading, code generation), as a long-running
session would be; the second, in a fresh session, is profiled: each stage's start and length,
and each task's length (the extraction stage's first tasks include starting the Python
workers and loading the model). All MTSamples notes, the default CRF. Also the CPU seconds
each process spent in the profiled job: the JVM by thread kind (JIT compiler, task threads,
garbage collector, ...; read from /proc, so Linux only) and the Python workers. Last, how many
distinct sentences the per-worker sentence caches must tag when the notes are split by a hash
of their text, against one cache for all.

Usage: python bench/batch_profile.py [--master local[2]] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq

from _common import NOTES, train_default_model
from medner.batch.job import BatchConfig, run_batch, spark_session
from medner.text.sentences import split_sentences


def events(directory: Path) -> list[dict[str, Any]]:
    """Every event of the (single, uncompressed) event log under ``directory``."""
    return [
        json.loads(line)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def jvm_threads(pid: int) -> dict[tuple[str, str], float]:
    """CPU seconds of each thread of process ``pid``, keyed by (thread id, name)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended
        fields = stat[stat.rindex(")") + 2 :].split()
        out[(tid, stat[stat.index("(") + 1 : stat.rindex(")")])] = (
            int(fields[11]) + int(fields[12])
        ) / tick
    return out


class WorkerCpu:
    """Samples the CPU seconds of this process's Python descendants (Spark's Python workers)
    every 0.2 s while a job runs; they may exit before it ends, so the last sample counts."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if child.name() != "java":
                        times = child.cpu_times()
                        self.last[child.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.2)

    def __enter__(self) -> WorkerCpu:
        self._thread.start()
        time.sleep(0.5)
        self.before = dict(self.last)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        self._stop.set()
        self._thread.join()

    def spent(self) -> list[float]:
        return sorted(v - self.before.get(pid, 0.0) for pid, v in self.last.items())


def distinct_sentences(parts: int) -> list[int]:
    """Distinct sentences in each of ``parts`` hash splits of the MTSamples notes."""
    texts = pq.read_table(NOTES, columns=["transcription"]).column(0).to_pylist()
    seen: list[set[str]] = [set() for _ in range(parts)]
    for text in texts:
        if isinstance(text, str) and text.strip():
            part = seen[zlib.crc32(text.encode("utf-8")) % parts]
            part.update(text[start:end] for start, end in split_sentences(text))
    return [len(s) for s in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--model", type=Path, help="default: train the default CRF afresh")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        model = args.model
        if model is None:
            model = tmpdir / "model"
            train_default_model(model)
        config = BatchConfig(
            model, tmpdir / "out", NOTES, id_column="note_id", text_column="transcription"
        )
        warm = spark_session(args.master, {"spark.ui.enabled": "false"}, "medner-warm-up")
        warm.sparkContext.setLogLevel("ERROR")
        run_batch(config, warm)
        warm.stop()
        log_dir = tmpdir / "events"
        log_dir.mkdir()
        conf = {
            "spark.ui.enabled": "false",
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": log_dir.as_uri(),
            "spark.eventLog.compress": "false",
            "spark.eventLog.rolling.enabled": "false",
        }
        session = spark_session(args.master, conf, "medner-profile")
        session.sparkContext.setLogLevel("ERROR")
        (java,) = [p.pid for p in psutil.Process().children(recursive=True) if p.name() == "java"]
        jvm_before = jvm_threads(java)
        with WorkerCpu() as workers:
            summary = run_batch(config, session)
        jvm_after = jvm_threads(java)
        session.stop()
        log = events(log_dir)
    stages = {
        e["Stage Info"]["Stage ID"]: e["Stage Info"]
        for e in log
        if e["Event"] == "SparkListenerStageCompleted"
    }
    zero = min(s["Submission Time"] for s in stages.values())
    print(f"{args.master}: run_batch {summary.seconds:.2f} s, {summary.notes:,} notes")
    print("stage | tasks | starts at (s) | seconds | task seconds")
    for number, stage in sorted(stages.items()):
        tasks = [
            (e["Task Info"]["Finish Time"] - e["Task Info"]["Launch Time"]) / 1000
            for e in log
            if e["Event"] == "SparkListenerTaskEnd" and e["Stage ID"] == number
        ]
        print(
            f"{number} {stage['Stage Name'].split(' at ')[0][:28]} | {stage['Number of Tasks']} | "
            f"{(stage['Submission Time'] - zero) / 1000:.2f} | "
            f"{(stage['Completion Time'] - stage['Submission Time']) / 1000:.2f} | "
            + ", ".join(f"{t:.2f}" for t in tasks)
        )
    kinds: Counter[str] = Counter()
    for key, seconds in jvm_after.items():
        kinds[re.sub(r"[\d#]+", "N", key[1])] += seconds - jvm_before.get(key, 0.0)
    print(
        f"CPU seconds in the profiled job: JVM {sum(kinds.values()):.1f} ("
        + ", ".join(f"{name.strip()} {v:.1f}" for name, v in kinds.most_common() if v >= 0.1)
        + f"); Python workers {sum(workers.spent()):.1f} ("
        + ", ".join(f"{v:.1f}" for v in workers.spent() if v >= 0.1)
        + ")"
    )
    for parts in (1, 2, 4):
        counts = distinct_sentences(parts)
        print(f"distinct sentences, notes split {parts} ways: {sum(counts):,} ({counts})")


if __name__ == "__main__":
    main()
