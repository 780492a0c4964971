"""Load on the real-time API: `medner serve` (one uvicorn worker) under an async HTTP load
generator in this process, on loopback, with MTSamples notes as bodies; and, in the same run,
the engine's in-process throughput on the same notes.

Phases, in order:
1. engine: a freshly loaded model tags every note in this process (no server running);
2. saturation: a closed loop of ``--connections`` clients sends every note once to a freshly
   started server, as fast as it answers;
3. fixed load: an open loop offers half the saturation rate for ``--seconds`` seconds
   (latency counted from each request's scheduled send time, so a stall is not hidden);
4. the same fixed load again, with a model reload (`POST /v1/admin/reload`) half-way through.

Usage: python bench/api_load.py [--write docs/benchmarks.md] [--connections 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import pyarrow.parquet as pq

from _common import NOTES, provenance, train_default_model, write_section
from medner.models import load_model

KEY = "bench-key"
COMPREHEND_MEDICAL_CHARS_PER_S = 40_000  # default quota quoted in the API issue


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    model: Path, tmp: Path, log: Path | None = None, **settings: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`medner serve` on a free port, ready; its database under ``tmp`` unless ``settings``
    (``MEDNER_*`` without the prefix) say otherwise; its output to ``log`` when given."""
    port = free_port()
    env = {
        **os.environ,
        "MEDNER_API_KEYS": f"{KEY}:extract+admin",
        "MEDNER_KEYS_FILE": str(tmp / "none.json"),
        "MEDNER_DATABASE_URL": f"sqlite:///{tmp / 'predictions.db'}",
        "MEDNER_PREDICTION_LOG_DIR": str(tmp / "prediction-log"),
        "MEDNER_RATE_LIMIT_PER_MINUTE": "0",
        **{f"MEDNER_{k.upper()}": v for k, v in settings.items()},
    }
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "medner", "serve", "--model", str(model), "--port", str(port)],
        env=env,
        stdout=out,
        stderr=out,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server never became ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


async def saturate(base: str, notes: list[str], connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in notes:
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {KEY}"}
            while not queue.empty():
                text = queue.get_nowait()
                started = time.perf_counter()
                r = await client.post("/v1/extract", json={"text": text}, headers=headers)
                latencies.append(time.perf_counter() - started)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "notes_per_s": len(notes) / seconds,
        "chars_per_s": sum(map(len, notes)) / seconds,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "errors": errors,
    }


async def offer(
    base: str, notes: list[str], rate: float, seconds: float, reload_at: float | None
) -> dict[str, float]:
    """Open loop: request i is sent at t0 + i / rate whatever happened before it; with
    ``reload_at``, a model reload is asked for at that fraction of the run."""
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: list[int] = []
    reload_status = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        headers = {"Authorization": f"Bearer {KEY}"}
        t0 = time.perf_counter() + 0.5

        async def one(i: int) -> None:
            scheduled = t0 + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                r = await client.post(
                    "/v1/extract", json={"text": notes[i % len(notes)]}, headers=headers
                )
                statuses.append(r.status_code)
            except httpx.TransportError:
                statuses.append(0)
            latencies.append(time.perf_counter() - scheduled)

        async def reload() -> None:
            nonlocal reload_status
            if reload_at is None:
                return
            await asyncio.sleep(max(0.0, t0 + seconds * reload_at - time.perf_counter()))
            r = await client.post("/v1/admin/reload", headers=headers)
            reload_status = r.status_code

        await asyncio.gather(reload(), *(one(i) for i in range(total)))
    done = sum(1 for s in statuses if s == 200)
    return {
        "offered_per_s": rate,
        "requests": total,
        "ok": done,
        "errors": total - done,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "reload_status": reload_status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    table = pq.read_table(NOTES, columns=["transcription"]).column(0).to_pylist()
    notes = [t for t in table if t and t.strip()]
    chars = sum(map(len, notes))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model_dir = tmp / "model"
        train_default_model(model_dir)

        model = load_model(model_dir)
        started = time.perf_counter()
        for text in notes:
            model.predict(text)
        engine_s = time.perf_counter() - started
        del model
        print(f"engine: {len(notes) / engine_s:.0f} notes/s", file=sys.stderr)

        proc, base = start_server(model_dir, tmp)
        try:
            sat = asyncio.run(saturate(base, notes, args.connections))
            print(f"saturation: {sat}", file=sys.stderr)
            half = sat["notes_per_s"] / 2
            fixed = asyncio.run(offer(base, notes, half, args.seconds, reload_at=None))
            print(f"fixed load: {fixed}", file=sys.stderr)
            reload = asyncio.run(offer(base, notes, half, args.seconds, reload_at=0.5))
            print(f"fixed load with a reload: {reload}", file=sys.stderr)
        finally:
            stop_server(proc)

    engine_chars = chars / engine_s
    ratio = sat["chars_per_s"] / engine_chars
    body = "\n".join(
        [
            "## Real-time API under load (all MTSamples notes)",
            "",
            *provenance("api_load.py"),
            f"{len(notes):,} notes, {chars:,} characters (mean {chars / len(notes):,.0f} per"
            " note), each sent as one `POST /v1/extract`. The server is `medner serve` with one"
            " uvicorn worker (its default: one event-loop process plus one extraction process)"
            " and the prediction log on (SQLite); the load generator is an async"
            " HTTP client (httpx2) in a second process on loopback; the engine row is the same"
            " model tagging the same notes in-process, before the server starts. All three start"
            " with a cold sentence cache.",
            "",
            "| runner | notes/s | characters/s | p50 ms | p95 ms | p99 ms | errors |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| engine in-process | {len(notes) / engine_s:,.0f} | {engine_chars:,.0f} | | | | |",
            f"| API at saturation ({args.connections} connections) | {sat['notes_per_s']:,.0f}"
            f" | {sat['chars_per_s']:,.0f} | {sat['p50']:.1f} | {sat['p95']:.1f}"
            f" | {sat['p99']:.1f} | {sat['errors']:.0f} |",
            f"| API at half that load ({fixed['offered_per_s']:,.0f} notes/s offered for"
            f" {args.seconds:.0f} s) | {fixed['ok'] / args.seconds:,.0f} | |"
            f" {fixed['p50']:.1f} | {fixed['p95']:.1f} | {fixed['p99']:.1f}"
            f" | {fixed['errors']:.0f} |",
            f"| the same, with a model reload half-way | {reload['ok'] / args.seconds:,.0f} | |"
            f" {reload['p50']:.1f} | {reload['p95']:.1f} | {reload['p99']:.1f}"
            f" | {reload['errors']:.0f} |",
            "",
            f"- API / engine characters/s: **{ratio:.2f}x** (goal ≥ 0.6x).",
            f"- Errors: {sat['errors']:.0f} at saturation, {fixed['errors']:.0f} at the fixed"
            f" load (goal 0); the reload during the second fixed-load run answered"
            f" {reload['reload_status']:.0f}, and {reload['errors']:.0f} requests failed.",
            f"- p99 at half the saturation load: **{fixed['p99']:.1f} ms** (goal ≤ 50 ms).",
            f"- For scale: {sat['chars_per_s']:,.0f} characters/s from one API worker (its"
            " event-loop process and one extraction process, sharing 2 cores with the load"
            " generator),"
            f" {sat['chars_per_s'] / COMPREHEND_MEDICAL_CHARS_PER_S:.0f}x the 40,000"
            " characters/s that the API issue quotes as Amazon Comprehend Medical's default"
            " quota.",
        ]
    )
    print(body)
    if args.write:
        write_section(args.write, "api", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
