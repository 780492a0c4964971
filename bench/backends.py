"""The backends side by side, so a user can pick: CRF, transformer on torch (CPU), on ONNX
Runtime (float32) and ONNX Runtime int8; accuracy per corpus, speed per core, memory, training.

Each (backend, runtime) is measured in its own fresh process, one thread (so rates are per
core, and memory is that runtime's alone): load time, resident memory after loading, strict
entity micro-F1 on each test split given, then MTSamples notes tagged one by one (tokens/s and
median ms per note; the CRF's sentence cache is off so no one reuses earlier results), and the
peak resident memory. Training times come from each model's ``metrics.json``; GPU rows from the
JSON that ``bench/neural.py`` wrote on a lent GPU (docs/results/), where there is one.

The transformer models must carry ONNX exports (``medner export-onnx DIR --int8``).

Usage: python bench/backends.py --crf DIR --transformer CORPUS=DIR [--crf-for CORPUS=DIR]
       [--notes 100] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, provenance, write_section
from medner.data.corpora import corpus_path

TESTS = {"biotext": corpus_path("biotext/test"), "ncbi": corpus_path("ncbi-disease/test")}
GPU_RESULTS = {
    "biotext": "docs/results/neural_biotext.json",
    "ncbi": "docs/results/neural_ncbi.json",
}
RUNTIMES = ("torch", "onnx", "onnx-int8")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(model_dir: str, runtime: str, tests: list[str], notes: int) -> dict[str, Any]:
    """Runs in the child process: everything about one model under one runtime."""
    os.environ["MEDNER_INFERENCE_THREADS"] = "1"
    os.environ["MEDNER_TRANSFORMER_RUNTIME"] = runtime if runtime != "crf" else "auto"
    import pyarrow.parquet as pq

    from medner.data.documents import load_documents
    from medner.evaluation.evaluate import evaluate_model
    from medner.models import load_model, set_sentence_cache
    from medner.models.tagging import sentence_token_spans

    before = rss_mib()
    started = time.perf_counter()
    model = load_model(model_dir)
    load_s = time.perf_counter() - started
    loaded = rss_mib()
    set_sentence_cache(model, 0)
    f1 = {
        test: evaluate_model(model, load_documents([REPO / TESTS[test]])).scores.micro.f1
        for test in tests
    }
    column = pq.read_table(REPO / "data/mtsamples/mtsamples.parquet", columns=["transcription"])
    texts = [t for t in column.column(0).to_pylist() if t and t.strip()][:notes]
    tokens = sum(len(t) for n in texts for t in sentence_token_spans(n))
    model.predict(texts[0])  # warm-up
    each = []
    for text in texts:
        started = time.perf_counter()
        model.predict(text)
        each.append(time.perf_counter() - started)
    return {
        "f1": f1,
        "load_s": load_s,
        "rss_loaded_mib": loaded,
        "model_mib": loaded - before,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tokens_per_s": tokens / sum(each),
        "ms_per_note": 1000 * statistics.median(each),
        "notes": len(texts),
        "tokens": tokens,
    }


def child(model_dir: Path, runtime: str, tests: list[str], notes: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(model_dir), runtime, str(notes), *tests]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {runtime} {model_dir.name}: {result}", file=sys.stderr)
    return result


def pairs(values: list[str]) -> dict[str, Path]:
    out = {}
    for value in values:
        corpus, _, path = value.partition("=")
        if corpus not in TESTS or not path:
            raise SystemExit(f"expected CORPUS=DIR with CORPUS in {sorted(TESTS)}: {value!r}")
        out[corpus] = Path(path)
    return out


def train_seconds(model_dir: Path) -> float | None:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    value = metrics.get("train_seconds")
    return float(value) if value is not None else None


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model_dir, runtime, notes, *tests = sys.argv[2:]
        print(json.dumps(measure(model_dir, runtime, tests, int(notes))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crf", type=Path, required=True, help="The default CRF (BioText).")
    parser.add_argument("--crf-for", action="append", default=[], help="CORPUS=DIR")
    parser.add_argument("--transformer", action="append", default=[], help="CORPUS=DIR")
    parser.add_argument("--notes", type=int, default=100)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    crfs = {"biotext": args.crf, **pairs(args.crf_for)}
    neural = pairs(args.transformer)
    corpora = sorted(set(crfs) | set(neural))

    def cell(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    rows = []
    speed: dict[str, dict[str, Any]] = {}
    for name, runtime, models in [("CRF", "crf", crfs)] + [
        (f"transformer, {r}", r, neural) for r in RUNTIMES
    ]:
        if not models:
            continue
        f1: dict[str, float] = {}
        first = None
        for corpus, model_dir in models.items():
            result = child(model_dir, runtime, [corpus], args.notes)
            f1[corpus] = result["f1"][corpus]
            first = first or result
        assert first is not None
        speed[name] = first
        biotext_dir = models.get("biotext", next(iter(models.values())))
        trained = train_seconds(biotext_dir)
        rows.append(
            f"| {name} | "
            + " | ".join(cell(f1.get(c), ".3f") for c in corpora)
            + f" | {first['tokens_per_s']:,.0f} | {first['ms_per_note']:.1f} |"
            f" {first['model_mib']:,.0f} / {first['peak_mib']:,.0f} | {first['load_s']:.1f} |"
            f" {cell(trained, ',.0f')} s (CPU) |"
        )
    for corpus in corpora:
        path = REPO / GPU_RESULTS[corpus]
        if path.exists():
            gpu = json.loads(path.read_text())
            rows.append(
                f"| transformer, torch on a GPU ({corpus} run) | "
                + " | ".join(
                    format(gpu["test"]["micro"]["f1"], ".3f") if c == corpus else "–"
                    for c in corpora
                )
                + f" | – | – | – | – | {gpu['train_seconds_final']:,.0f} s (H100) |"
            )
    crf_rate = speed["CRF"]["tokens_per_s"]
    ratios = [
        f"- {name}: {crf_rate / s['tokens_per_s']:,.0f}x slower than the CRF per core"
        for name, s in speed.items()
        if name != "CRF"
    ]
    if "transformer, torch" in speed and "transformer, onnx-int8" in speed:
        gain = (
            speed["transformer, onnx-int8"]["tokens_per_s"]
            / speed["transformer, torch"]["tokens_per_s"]
        )
        ratios.append(f"- ONNX Runtime int8 is {gain:.2f}x torch on the CPU")
    first_speed = next(iter(speed.values()))
    body = "\n".join(
        [
            "## Backends side by side (pick by accuracy against throughput)",
            "",
            *provenance(
                "backends.py",
                " --crf models/default --crf-for ncbi=models/crf-ncbi"
                " --transformer biotext=models/transformer-biotext"
                " --transformer ncbi=models/transformer-ncbi-s14",
                target="make bench-backends",
            ),
            "Each row is a fresh process with one thread: strict entity micro-F1 on each test"
            f" split; the first {first_speed['notes']} MTSamples notes"
            f" ({first_speed['tokens']:,} tokens) tagged one by one, sentence cache off, for"
            " tokens/s per core and the median latency per note; memory is the resident size"
            " the loaded model adds / the peak of the whole process (MiB); training time from"
            " the model's metrics.json (CPU: this machine, 2 threads). Speed, memory and"
            " training time are of the BioText models. Each model is trained on its corpus's"
            " train split by its experiment config (`biotext/crf`, `ncbi/crf`,"
            " `biotext/transformer`, `ncbi/transformer-s14` under configs/experiments/;"
            " `make bench-backends` builds what is missing); the transformers: 10 epochs,"
            " O penalty 0 (chosen on dev in the GPU runs), NCBI with devel as dev. GPU rows:"
            " `bench/neural.py` on a lent H100.",
            "",
            "| backend | "
            + " | ".join(f"F1 {c} test" for c in corpora)
            + " | tokens/s per core | ms per note | memory MiB (model / peak) | load s |"
            " training |",
            "| --- | " + " | ".join("---" for _ in corpora) + " | --- | --- | --- | --- | --- |",
            *rows,
            "",
            *ratios,
        ]
    )
    print(body)
    if args.write:
        write_section(args.write, "backends", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
