"""Where a `medner batch` run spends its time: Spark stages and tasks, from Spark's event log.

One job runs first to warm the JVM (class loading, code generation), as a long-running
session would be; the second, in a fresh session, is profiled: each stage's start and length,
and each task's length (the extraction stage's first tasks include starting the Python
workers and loading the model). All MTSamples notes, the default CRF. Last, how many distinct
sentences the per-worker sentence caches must tag when the notes are split by a hash of their
text, against one cache for all.

Usage: python bench/batch_profile.py [--master local[2]] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import zlib
from pathlib import Path
from typing import Any

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
        summary = run_batch(config, session)
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
    for parts in (1, 2, 4):
        counts = distinct_sentences(parts)
        print(f"distinct sentences, notes split {parts} ways: {sum(counts):,} ({counts})")


if __name__ == "__main__":
    main()
