"""CPU inference speed of the transformer backend beside the CRF, on the same MTSamples notes.

Speed does not depend on what the weights learned, so the transformer is fine-tuned for one
epoch on BioText's first 200 sentences (the encoder and head have their full size); the CRF is
the default model trained on BioText train. Both tag the first ``--notes`` MTSamples notes in
this process with torch limited to one thread, so the rates are per core. The CRF's sentence
cache is off, so neither reuses earlier results.

Usage: python bench/neural_speed.py [--notes 200]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from _common import REPO, machine
from medner.models.crf import CRFModel
from medner.models.tagging import sentence_token_spans
from medner.models.transformer import TransformerConfig, train_transformer
from medner.training.train import load_documents, train


def rate(model: object, notes: list[str]) -> float:
    started = time.perf_counter()
    for note in notes:
        model.predict(note)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    column = pq.read_table(REPO / "data/mtsamples/mtsamples.parquet", columns=["transcription"])
    notes = [t for t in column.column(0).to_pylist() if t and t.strip()][: args.notes]
    tokens = sum(len(t) for n in notes for t in sentence_token_spans(n))
    docs = load_documents([REPO / "data/biotext/train_sent"])[:200]
    neural = train_transformer(docs, TransformerConfig(epochs=1, device="cpu"))
    crf = train([REPO / "data/biotext/train_sent"], Path("/tmp/medner-speed-crf")).model
    assert isinstance(crf, CRFModel)
    crf.sentence_cache_size = 0
    rate(neural, notes[:5])  # warm-up
    neural_s = rate(neural, notes)
    crf_s = rate(crf, notes)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Machine: {machine()}; torch {torch.__version__}, 1 thread.")
    print(f"{len(notes)} MTSamples notes, {tokens:,} medner tokens.")
    print("| backend | seconds | tokens/s per core | ms per note |")
    print("| --- | --- | --- | --- |")
    for name, sec in (("transformer (MiniLM-L6, torch CPU)", neural_s), ("CRF", crf_s)):
        print(f"| {name} | {sec:.1f} | {tokens / sec:,.0f} | {1000 * sec / len(notes):.1f} |")
    print(f"Peak RSS of the process (both models): {rss:,.0f} MiB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
