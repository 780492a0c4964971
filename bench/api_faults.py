"""Faults against the real-time API: kill -9 under load, and a load with poisoned requests.

Phases, in order:
1. cost: the same open-loop load (``--rate`` MTSamples notes/s for ``--seconds``) against a
   fresh server with prediction-log durability ``journal``, then ``memory``, alternating
   ``--rounds`` times: p50/p99 latency side by side;
2. kills: for each durability, ``--kills`` rounds of that load, each ended by SIGKILL to the
   server at a random moment (1.5 to 4.5 s in), then a restart on the same database and
   journal directory; at the end a clean stop. Every note id the API answered 200 for is looked
   up in the database: acknowledged and missing. The service's own count of what it lost
   (its start-up line "N acknowledged record(s) lost") is summed from its logs;
3. poison: ``--requests`` requests of which 1 % are poisoned (a lone surrogate, a NUL or an
   over-long note id, an over-long X-Request-ID, a lone surrogate in the text), on SQLite and,
   with ``--postgres URL``, on PostgreSQL: rows acknowledged and missing.

Usage: python bench/api_faults.py [--write docs/benchmarks.md] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import pyarrow.parquet as pq
import sqlalchemy as sa

from _common import NOTES, provenance, train_default_model, write_section
from api_load import KEY, percentile, start_server, stop_server

HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
LOST = re.compile(r"(\d+) acknowledged record\(s\) lost")


async def load(
    base: str,
    notes: list[str],
    rate: float,
    seconds: float,
    prefix: str,
    kill: tuple[int, float] | None = None,
) -> tuple[set[str], list[float], int]:
    """Open loop at ``rate`` for ``seconds``; with ``kill`` = (pid, t), SIGKILL at t seconds
    and stop half a second later. Returns the note ids answered 200, their latencies (from the
    scheduled send time) and the number of failed requests."""
    total = int(rate * seconds)
    acked: set[str] = set()
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        t0 = time.perf_counter() + 0.3
        end = t0 + (kill[1] + 0.5 if kill else seconds)

        async def one(i: int) -> None:
            nonlocal failed
            scheduled = t0 + i / rate
            if scheduled > end:
                return
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            note_id = f"{prefix}-{i}"
            try:
                r = await client.post(
                    "/v1/extract",
                    json={"text": notes[i % len(notes)], "note_id": note_id},
                    headers=HEADERS,
                )
            except httpx.TransportError:
                failed += 1
                return
            if r.status_code == 200:
                acked.add(note_id)
                latencies.append(time.perf_counter() - scheduled)
            else:
                failed += 1

        async def killer() -> None:
            if kill is not None:
                await asyncio.sleep(max(0.0, t0 + kill[1] - time.perf_counter()))
                os.kill(kill[0], signal.SIGKILL)

        await asyncio.gather(killer(), *(one(i) for i in range(total)))
    return acked, latencies, failed


def note_ids(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT note_id FROM predictions")).scalars())
    engine.dispose()
    return ids


def reset(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS predictions"))
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def cost(model: Path, tmp: Path, notes: list[str], args: argparse.Namespace) -> dict[str, dict]:
    """p50/p99 per durability, alternating rounds, each on a fresh server."""
    p50: dict[str, list[float]] = {"journal": [], "memory": []}
    p99: dict[str, list[float]] = {"journal": [], "memory": []}
    for r in range(args.rounds):
        for durability in ("journal", "memory"):
            run = tmp / f"cost-{durability}-{r}"
            run.mkdir()
            proc, base = start_server(model, run, prediction_log_durability=durability)
            try:
                acked, lat, failed = asyncio.run(
                    load(base, notes, args.rate, args.seconds, f"c{r}")
                )
            finally:
                stop_server(proc)
            p50[durability].append(percentile(lat, 0.5) * 1000)
            p99[durability].append(percentile(lat, 0.99) * 1000)
            print(
                f"cost {durability} round {r}: {len(acked)} ok, {failed} failed,"
                f" p50 {p50[durability][-1]:.2f} p99 {p99[durability][-1]:.2f}",
                file=sys.stderr,
            )
    return {d: {"p50": statistics.median(p50[d]), "p99": statistics.median(p99[d])} for d in p50}


def kills(
    model: Path,
    tmp: Path,
    notes: list[str],
    durability: str,
    args: argparse.Namespace,
    rng: random.Random,
) -> dict[str, int]:
    run = tmp / f"kills-{durability}"
    run.mkdir()
    url = f"sqlite:///{run / 'predictions.db'}"
    log = run / "server.log"
    acked: set[str] = set()
    failed = 0
    for k in range(args.kills):
        proc, base = start_server(model, run, log, prediction_log_durability=durability)
        at = rng.uniform(1.5, 4.5)
        got, _, bad = asyncio.run(load(base, notes, args.rate, 10, f"k{k}", (proc.pid, at)))
        proc.wait(timeout=30)
        acked |= got
        failed += bad
        print(
            f"kills {durability} {k + 1}: killed at {at:.1f} s, {len(got)} acknowledged",
            file=sys.stderr,
        )
    proc, _ = start_server(model, run, log, prediction_log_durability=durability)
    stop_server(proc)  # the last restart replays (or counts) what the last kill left
    stored = set(note_ids(url))
    counted = sum(int(m.group(1)) for m in LOST.finditer(log.read_text(errors="replace")))
    return {
        "acknowledged": len(acked),
        "missing": len(acked - stored),
        "counted_lost": counted,
        "failed_requests": failed,
        "duplicates": len(note_ids(url)) - len(set(note_ids(url))),
    }


POISONS = [
    ("lone surrogate in note_id", b'{"text": "Asthma .", "note_id": "\\ud800"}', {}),
    ("NUL in note_id", b'{"text": "Asthma .", "note_id": "a\\u0000b"}', {}),
    (
        "note_id over 256 characters",
        json.dumps({"text": "Asthma .", "note_id": "n" * 300}).encode(),
        {},
    ),
    ("X-Request-ID over 64 characters", b'{"text": "Asthma ."}', {"X-Request-ID": "r" * 100}),
    ("lone surrogate in text", b'{"text": "Asthma \\ud800"}', {}),
]


async def poisoned(
    base: str, notes: list[str], requests: int
) -> tuple[set[str], dict[str, list[int]]]:
    """``requests`` requests, 4 at a time; every 100th is poisoned (cycling through POISONS)."""
    acked: set[str] = set()
    statuses: dict[str, list[int]] = {name: [] for name, _, _ in POISONS}
    sem = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def one(i: int) -> None:
            async with sem:
                if i % 100 == 50:
                    name, body, extra = POISONS[(i // 100) % len(POISONS)]
                    r = await client.post("/v1/extract", content=body, headers={**HEADERS, **extra})
                    statuses[name].append(r.status_code)
                    return
                note_id = f"p-{i}"
                r = await client.post(
                    "/v1/extract",
                    json={"text": notes[i % len(notes)], "note_id": note_id},
                    headers=HEADERS,
                )
                if r.status_code == 200:
                    acked.add(note_id)

        await asyncio.gather(*(one(i) for i in range(requests)))
    return acked, statuses


def poison(model: Path, tmp: Path, notes: list[str], url: str, name: str, requests: int) -> dict:
    run = tmp / f"poison-{name}"
    run.mkdir()
    reset(url)
    proc, base = start_server(model, run, database_url=url)
    try:
        acked, statuses = asyncio.run(poisoned(base, notes, requests))
    finally:
        stop_server(proc)
    stored = note_ids(url)
    return {
        "acknowledged": len(acked),
        "missing": len(acked - set(stored)),
        "poisoned": sum(len(v) for v in statuses.values()),
        "poison_statuses": {k: sorted(set(v)) for k, v in statuses.items()},
        "stored": len(stored),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", help="SQLAlchemy URL of a PostgreSQL database to use")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    table = pq.read_table(NOTES, columns=["transcription"]).column(0).to_pylist()
    notes = [t for t in table if t and t.strip()]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = train_default_model(tmp / "model")
        latency = cost(model, tmp, notes, args)
        killed = {d: kills(model, tmp, notes, d, args, rng) for d in ("journal", "memory")}
        print(f"kills: {killed}", file=sys.stderr)
        poisons = {
            "SQLite": poison(
                model, tmp, notes, f"sqlite:///{tmp / 'poison.db'}", "sqlite", args.requests
            )
        }
        if args.postgres:
            poisons["PostgreSQL"] = poison(
                model, tmp, notes, args.postgres, "postgres", args.requests
            )
        print(f"poison: {poisons}", file=sys.stderr)

    j, m = latency["journal"], latency["memory"]
    lines = [
        "## Faults: kill -9 under load, and poisoned requests (issue 23)",
        "",
        *provenance("api_faults.py" + (" --postgres URL" if args.postgres else "")),
        "`URL`: the PostgreSQL database that `.ci/with-services` starts (what `make bench`"
        " passes). About 9 minutes.",
        f"`medner serve` (one worker, one extraction process, the CRF default model, prediction"
        f" log on SQLite unless said) under an open-loop load of {args.rate:.0f} MTSamples"
        " notes/s from an async client on loopback.",
        "",
        f"**Cost of the journal** (median of {args.rounds} alternating rounds of"
        f" {args.seconds:.0f} s each, a fresh server per round; latency from each request's"
        " scheduled send time):",
        "",
        "| durability | p50 ms | p99 ms |",
        "| --- | --- | --- |",
        f"| `journal` (fsync, group commit, before the answer) | {j['p50']:.2f} | {j['p99']:.2f} |",
        f"| `memory` (buffer only) | {m['p50']:.2f} | {m['p99']:.2f} |",
        f"| journal / memory | {j['p50'] / m['p50']:.2f}x | {j['p99'] / m['p99']:.2f}x |",
        "",
        f"**{args.kills} kill -9s** at random moments of the load (1.5 to 4.5 s into each"
        " round), each followed by a restart on the same database and directory, then a clean"
        " stop:",
        "",
        "| durability | acknowledged (200) | missing from the database | lost, as the service"
        " counted at its next start | duplicates |",
        "| --- | --- | --- | --- | --- |",
    ]
    for d in ("journal", "memory"):
        k = killed[d]
        lines.append(
            f"| `{d}` | {k['acknowledged']:,} | **{k['missing']}** | {k['counted_lost']}"
            f" | {k['duplicates']} |"
        )
    lines += [
        "",
        "The service's count (records it had taken and not yet written when it died) can"
        " exceed the missing acknowledged ones: a record taken just before the kill whose"
        " answer never left the process is counted lost but was never acknowledged.",
        "",
        f"**1 % poisoned requests** ({args.requests:,} requests, 4 at a time; each poison"
        " below in turn):",
        "",
        "| database | acknowledged (200) | missing from the database | poisoned requests |"
        " their statuses |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, p in poisons.items():
        statuses = "; ".join(
            f"{k}: {', '.join(map(str, v))}" for k, v in p["poison_statuses"].items()
        )
        lines.append(
            f"| {name} | {p['acknowledged']:,} | **{p['missing']}** | {p['poisoned']}"
            f" | {statuses} |"
        )
    if not args.postgres:
        lines += ["", "PostgreSQL was not given (`--postgres URL`) in this run."]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "faults", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
