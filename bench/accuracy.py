"""Strict entity-level F1 of medner's default CRF and of the notebook baseline on each corpus.

For each corpus the model is trained on the train split and scored on the test split (BC5CDR's
test split is not shipped: it is scored on devel after training on train only, the held-out
number closest to the hidden test). Dev data never trains a model.

Usage: python bench/accuracy.py [--write docs/benchmarks.md] [--corpus biotext ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, provenance, write_section
from baseline import train_baseline
from medner.data.documents import load_documents
from medner.evaluation.evaluate import evaluate_model
from medner.models import load_model
from medner.training.train import train

D = REPO / "data"
CORPORA = {
    "biotext": (D / "biotext/train_sent", D / "biotext/test_sent", "test"),
    "ncbi-disease": (D / "ncbi-disease/train.tsv", D / "ncbi-disease/test.tsv", "test"),
    "bc5cdr": (D / "bc5cdr/train.tsv", D / "bc5cdr/devel.tsv", "devel"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA))
    args = parser.parse_args()
    rows = []
    for name in args.corpus or list(CORPORA):
        train_path, eval_path, split = CORPORA[name]
        docs = load_documents([eval_path])
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            train([train_path], Path(tmp) / "m")
            seconds = time.perf_counter() - started
            ours = evaluate_model(load_model(Path(tmp) / "m"), docs)
        started = time.perf_counter()
        base = evaluate_model(train_baseline(train_path), docs)
        base_seconds = time.perf_counter() - started
        per_label = ", ".join(f"{k} {v.f1:.3f}" for k, v in sorted(ours.scores.per_label.items()))
        rows.append(
            f"| {name} | {split} | **{ours.scores.micro.f1:.3f}** |"
            f" {ours.scores.micro.precision:.3f}"
            f" / {ours.scores.micro.recall:.3f} | {per_label} | {ours.token_weighted_f1:.3f} |"
            f" {base.scores.micro.f1:.3f} | {base.token_weighted_f1:.3f} | {seconds:.0f} s |"
        )
        print(rows[-1], file=sys.stderr)
        del base_seconds
    body = "\n".join(
        [
            "## Accuracy (strict entity-level F1 first)",
            "",
            *provenance("accuracy.py"),
            "Trained on train only, default configuration (`medner train` with no options);"
            " baseline = the course notebook's features and CRF (`bench/baseline.py`).",
            "",
            "| corpus | scored on | strict micro F1 | P / R | F1 per label | token-weighted F1 |"
            " baseline strict F1 | baseline token-weighted F1 | training time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(body)
    if args.write:
        write_section(args.write, "accuracy", body)


if __name__ == "__main__":
    main()
