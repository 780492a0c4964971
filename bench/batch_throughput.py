"""Batch extraction throughput: `medner batch` on local[1] and local[2] against one process.

All MTSamples notes, in one run: the Spark job timed inside a started session (the job itself:
read, quarantine, extract, write three datasets) and as a whole command (JVM start included),
and single-process `medner extract` over the same notes, all with the same model. Medians of
``--repeats`` runs.

Usage: python bench/batch_throughput.py [--write docs/benchmarks.md] [--repeats 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from _common import REPO, git_commit, machine, write_section
from medner.batch.job import BatchConfig, run_batch, spark_session
from medner.training.train import train

NOTES = REPO / "data/mtsamples/mtsamples.parquet"


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    n = pq.ParquetFile(NOTES).metadata.num_rows
    cols = ["--id-column", "note_id", "--text-column", "transcription"]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        model = tmpdir / "model"
        print("training the default model...", file=sys.stderr)
        train([REPO / "data/biotext/train_sent"], model)
        for master in ("local[1]", "local[2]"):
            session = spark_session(master, {"spark.ui.enabled": "false"}, app="medner-bench")
            session.sparkContext.setLogLevel("ERROR")
            config = BatchConfig(
                model, tmpdir / "out", NOTES, id_column="note_id", text_column="transcription"
            )
            job = []
            for r in range(args.repeats):
                job.append(run_batch(config, session).seconds)
                print(f"  {master} job run {r + 1}: {job[-1]:.1f} s", file=sys.stderr)
            session.stop()
            batch_cmd = [
                *("-m", "medner", "batch", "--model", str(model), "--input", str(NOTES)),
                *("--output", str(tmpdir / "out2"), "--master", master),
                *("--conf", "spark.ui.enabled=false", *cols),
            ]
            command = [timed([sys.executable, *batch_cmd]) for _ in range(args.repeats)]
            results[master] = {"job": statistics.median(job), "command": statistics.median(command)}
        extract_cmd = [
            *("-m", "medner", "extract", "--model", str(model), "--input", str(NOTES)),
            *("--output", str(tmpdir / "e.jsonl"), "--no-progress", *cols),
        ]
        single = [timed([sys.executable, *extract_cmd]) for _ in range(args.repeats)]
        results["single process (`medner extract`)"] = {
            "job": statistics.median(single),
            "command": statistics.median(single),
        }
    rate = {k: n / v["job"] for k, v in results.items()}
    one, two = rate["local[1]"], rate["local[2]"]
    single_rate = rate["single process (`medner extract`)"]
    # On paper, from the local[2] job rate per core (2 cores) and this machine's cores.
    per_core = two / 2
    day = 10_000_000 / 86_400
    backfill = 100_000_000 / 3_600
    rows = [
        f"| {name} | {v['job']:.1f} | {n / v['job']:,.0f} | {v['command']:.1f} |"
        for name, v in results.items()
    ]
    body = "\n".join(
        [
            "## Batch extraction on Spark (all MTSamples notes)",
            "",
            f"Machine: {machine()}. Commit `{git_commit()}`.",
            "Command: `make bench`"
            " (`python bench/batch_throughput.py --write docs/benchmarks.md`).",
            f"{n:,} notes; the default CRF; median of {args.repeats} runs. 'Job' is `run_batch`"
            " in a started session (read, quarantine, extract, write entities/notes/quarantine);"
            " 'command' is the whole CLI process, JVM start included.",
            "",
            "| runner | job seconds | notes/s | command seconds |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            f"- local[2] / local[1]: **{two / one:.2f}x** (goal at least 1.7x).",
            f"- local[2] / single process: **{two / single_rate:.2f}x** (goal at least 1.5x).",
            "",
            f"On paper, at the local[2] rate of {per_core:,.0f} notes/s per core (MTSamples-sized"
            " notes, about 3,000 characters):",
            f"- 10 million notes a day is {day:,.0f} notes/s on average: "
            f"**{math.ceil(day / per_core)} cores** busy around the clock (double it for peaks).",
            f"- a one-hour backfill of 100 million notes is {backfill:,.0f} notes/s: "
            f"**{math.ceil(backfill / per_core):,} cores** (for example "
            f"{math.ceil(backfill / per_core / 16):,} executors of 16 cores).",
        ]
    )
    print(body)
    if args.write:
        write_section(args.write, "batch", body)


if __name__ == "__main__":
    main()
