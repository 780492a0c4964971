"""Throughput of `medner extract` over all MTSamples notes, against the notebook baseline.

Measures, on this machine, in one run:

1. end to end: `medner extract` as a subprocess over all notes (Parquet in, JSONL out), wall
   time and peak RSS of that process; characters/s, tokens/s and notes/s (one process = one
   core: extraction is single-threaded);
2. side by side, in one process, alternating, ``--repeats`` times: medner's model and the
   course notebook's feature function + CRF (bench/baseline.py) over the same notes, same
   sentences and tokens; medians and their ratio.

Usage: python bench/extract_throughput.py [--write docs/benchmarks.md] [--limit N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from _common import NOTES, REPO, provenance, run_extract, train_default_model, write_section
from baseline import train_baseline
from medner.data.corpora import corpus_path
from medner.models import load_model
from medner.models.tagging import sentence_token_spans

TRAIN = REPO / corpus_path("biotext/train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="Write the results into this Markdown file.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="Use only the first N notes.")
    args = parser.parse_args()

    table = pq.read_table(NOTES, columns=["note_id", "transcription"])
    if args.limit:
        table = table.slice(0, args.limit)
    texts = [t for t in table.column("transcription").to_pylist() if t]
    chars = sum(len(t) for t in texts)
    tokens = sum(len(s) for t in texts for s in sentence_token_spans(t))

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        notes = NOTES
        if args.limit:
            notes = tmpdir / "notes.parquet"
            pq.write_table(table, notes)
        print("training medner's default model and the baseline...", file=sys.stderr)
        model_dir = train_default_model(tmpdir / "model")
        baseline = train_baseline(TRAIN)
        medner_model = load_model(model_dir)

        print("end to end: medner extract...", file=sys.stderr)
        e2e: dict[str, list[tuple[float, int]]] = {"cache": [], "no cache": []}
        for _ in range(2):
            e2e["cache"].append(run_extract(model_dir, notes, tmpdir / "a.jsonl"))
            e2e["no cache"].append(
                run_extract(model_dir, notes, tmpdir / "b.jsonl", "--sentence-cache", "0")
            )
        if (tmpdir / "a.jsonl").read_bytes() != (tmpdir / "b.jsonl").read_bytes():
            raise SystemExit("the sentence cache changed the output")

        uncached = load_model(model_dir)
        uncached.sentence_cache_size = 0  # type: ignore[attr-defined]
        contenders = {
            "medner CRF (default, sentence cache on)": medner_model,
            "medner CRF (sentence cache off)": uncached,
            "notebook baseline": baseline,
        }
        side: dict[str, list[float]] = {name: [] for name in contenders}
        for r in range(args.repeats):
            medner_model._sentence_cache.clear()  # type: ignore[attr-defined]
            for name, model in contenders.items():
                started = time.perf_counter()
                for text in texts:
                    model.predict(text)
                side[name].append(time.perf_counter() - started)
                print(f"  repeat {r + 1}: {name} {side[name][-1]:.2f} s", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in side.items()}
    base = med["notebook baseline"]
    limit = f" --limit {args.limit}" if args.limit else ""
    n = len(texts)
    lines = [
        "## Extraction throughput (CRF, all MTSamples notes)",
        "",
        *provenance("extract_throughput.py", limit),
        f"Input: {n:,} notes, {chars:,} characters, {tokens:,} medner tokens.",
        "",
        "End to end, `medner extract` over the Parquet file to JSONL (one process, one core;"
        f" median of {len(e2e)} runs, model load and Parquet read included):",
        "",
        "| sentence cache | seconds | notes/s | characters/s | tokens/s per core | peak RSS |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {name} | {sec:.1f} | {n / sec:,.0f} | {chars / sec:,.0f} | {tokens / sec:,.0f} |"
            f" {max(r for _, r in runs) / 1024:,.0f} MiB |"
            for name, runs in e2e.items()
            for sec in [statistics.median(s for s, _ in runs)]
        ),
        "",
        "Both runs wrote identical JSONL (checked by the benchmark). The cache reuses the"
        " entities of a sentence already seen (same words): MTSamples repeats 65% of its"
        " sentences (headings, templates, notes filed under several specialties).",
        "",
        f"Side by side in one process (same notes, sentences and tokens; median of {args.repeats}"
        " alternating runs), medner's model against the course notebook's feature function with"
        " a CRF (`bench/baseline.py`):",
        "",
        "| model | seconds | tokens/s per core | speed relative to the baseline |",
        "| --- | --- | --- | --- |",
        *(
            f"| {name} | {sec:.1f} | {tokens / sec:,.0f} | {base / sec:.2f}x |"
            for name, sec in med.items()
        ),
        "",
        "The goal: medner not slower than half the baseline (relative speed at least 0.5x).",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "extract", body)


if __name__ == "__main__":
    main()
