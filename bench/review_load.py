"""The review queue under a team: ``--validators`` simulated validators against a real
`medner serve`, with ``--tasks`` tasks in the queue, on SQLite and (with ``--postgres URL``)
PostgreSQL.

Each validator loops: `GET /v1/review/next`, a think time of 0.5 to 1.5 s (a person reads the
note), `POST /v1/review/tasks/{id}/submit`. Latency is measured per request on the client, for
``--seconds`` seconds after a warm-up. The queue is filled directly in the database first (the
same rows `medner review import` writes, without running the model a million times).

Usage: python bench/review_load.py [--write docs/benchmarks.md] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa

from _common import provenance, train_default_model, write_section
from api_load import percentile, start_server, stop_server
from medner.review import queue_engine
from medner.store.tables import ReviewTask

NOTE = "Pt c/o fever x 3 days. K/C/O HTN. Rx: Tab. Dolo 650 1-0-1 x 5 days."
PREDICTIONS = [
    {"start": 10, "end": 15, "text": "fever", "label": "DISEASE", "confidence": 0.97},
    {"start": 37, "end": 40, "text": "HTN", "label": "DISEASE", "confidence": 0.91},
]


def fill(url: str, tasks: int) -> float:
    engine = queue_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM review_events"))
        conn.execute(sa.text("DELETE FROM reviews"))
        conn.execute(sa.text("DELETE FROM review_leases"))
        conn.execute(sa.text("DELETE FROM review_tasks"))
    started = time.perf_counter()
    rng = random.Random(19)
    now = datetime.now(UTC)
    batch = 20_000
    for first in range(0, tasks, batch):
        rows = [
            {
                "created_at": now,
                "note_id": f"n{i}",
                "text": NOTE,
                "text_sha256": f"{i:064x}",
                "predictions": PREDICTIONS,
                "model_version": "bench",
                "source": "import",
                "priority": rng.random(),
                "audit": False,
                "reviews_needed": 1,
                "purged_at": None,
                "closed_at": None,
            }
            for i in range(first, min(tasks, first + batch))
        ]
        with engine.begin() as conn:
            conn.execute(sa.insert(ReviewTask), rows)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


async def team(base: str, validators: int, seconds: float) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {"next": [], "submit": []}
    errors = 0
    end = time.perf_counter() + seconds
    warm = time.perf_counter() + 3.0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def validator(n: int) -> None:
            nonlocal errors
            rng = random.Random(n)
            headers = {"Authorization": f"Bearer v{n}"}
            await asyncio.sleep(rng.random())
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                r = await client.get("/v1/review/next", headers=headers)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    errors += 1
                    return
                if t0 > warm:
                    latencies["next"].append(t1 - t0)
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                body = {
                    "entities": [{"start": 10, "end": 15, "label": "DISEASE"}],
                    "actions": [{"action": "reject", "before": PREDICTIONS[1]}],
                }
                t2 = time.perf_counter()
                s = await client.post(
                    f"/v1/review/tasks/{r.json()['task_id']}/submit", json=body, headers=headers
                )
                t3 = time.perf_counter()
                if s.status_code != 200:
                    errors += 1
                if t2 > warm:
                    latencies["submit"].append(t3 - t2)

        await asyncio.gather(*(validator(n) for n in range(validators)))
    latencies["errors"] = [float(errors)]
    return latencies


def run(model: Path, tmp: Path, url: str, name: str, args: argparse.Namespace) -> dict[str, float]:
    fill_s = fill(url, args.tasks)
    print(f"{name}: {args.tasks:,} tasks in {fill_s:.0f} s", file=sys.stderr)
    keys = ",".join(f"v{n}:review" for n in range(args.validators))
    run_dir = tmp / name
    run_dir.mkdir()
    proc, base = start_server(model, run_dir, database_url=url, api_keys=keys)
    try:
        lat = asyncio.run(team(base, args.validators, args.seconds))
    finally:
        stop_server(proc)
    out = {"fill_s": fill_s, "errors": lat["errors"][0]}
    for kind in ("next", "submit"):
        values = lat[kind]
        out[f"{kind}_n"] = len(values)
        out[f"{kind}_p50"] = statistics.median(values) * 1000
        out[f"{kind}_p99"] = percentile(values, 0.99) * 1000
    print(f"{name}: {out}", file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--validators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--postgres", help="SQLAlchemy URL of a PostgreSQL database to use")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = train_default_model(tmp / "model")
        results["SQLite"] = run(model, tmp, f"sqlite:///{tmp / 'review.db'}", "sqlite", args)
        if args.postgres:
            results["PostgreSQL"] = run(model, tmp, args.postgres, "postgres", args)
    lines = [
        "## Review queue under a team (issue 19)",
        "",
        *provenance("review_load.py", " --postgres URL" if args.postgres else ""),
        f"{args.validators} simulated validators against `medner serve` (one worker), each"
        " looping next task → 0.5-1.5 s of reading → submit (one entity, one reject action),"
        f" with {args.tasks:,} tasks in the queue; {args.seconds:.0f} s, the first 3 s not"
        " counted; latency per request on the client, loopback.",
        "",
        "| database | filling the queue | next task p50 / p99 ms | submit p50 / p99 ms |"
        " requests | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['fill_s']:.0f} s | {r['next_p50']:.1f} / **{r['next_p99']:.1f}**"
            f" | {r['submit_p50']:.1f} / **{r['submit_p99']:.1f}** |"
            f" {r['next_n'] + r['submit_n']:,} | {r['errors']:.0f} |"
        )
    lines += ["", "The goal: next task and submit p99 under 50 ms on both databases."]
    if not args.postgres:
        lines += ["", "PostgreSQL was not given (`--postgres URL`) in this run."]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "review", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
