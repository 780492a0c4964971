"""The transformer backend on one corpus: choose the decoding's O penalty on dev, then score on
test. Prints one JSON object (and writes it with --json).

BioText has no dev split: the penalty is chosen with a model trained on the pipeline's prepared
train split and scored on its dev split (carved from train, seed 13; `make pipeline` writes
them), then the final model is trained on all of BioText train. NCBI-disease: trained on train,
penalty chosen on devel, the same model scored on test. The test split never chooses anything.

With ``--ensemble N`` the models have N members (seeds 13, 14, ...) and dev also chooses
between the first member alone and the whole ensemble.

Usage: python bench/neural.py --corpus biotext|ncbi [--encoder PATH] [--epochs 10]
       [--ensemble 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO
from medner.data.corpora import corpus_path
from medner.data.documents import load_documents
from medner.evaluation.evaluate import evaluate_model
from medner.models.transformer import (
    BUILTIN_ENCODER,
    TransformerConfig,
    TransformerModel,
    train_transformer,
)

PENALTIES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
CORPORA = {
    "biotext": {
        "tune_train": "data/prepared/train.jsonl",
        "dev": "data/prepared/dev.jsonl",
        "final_train": str(corpus_path("biotext/train")),
        "test": str(corpus_path("biotext/test")),
    },
    "ncbi": {
        "tune_train": str(corpus_path("ncbi-disease/train")),
        "dev": str(corpus_path("ncbi-disease/devel")),
        "final_train": None,  # the tuning model is the final one
        "test": str(corpus_path("ncbi-disease/test")),
    },
}


def scores(model: TransformerModel, path: str, penalty: float) -> dict[str, Any]:
    model.set_o_penalty(penalty)
    result: dict[str, Any] = evaluate_model(model, load_documents([REPO / path])).to_dict()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), required=True)
    parser.add_argument("--encoder", default=BUILTIN_ENCODER)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--ensemble", type=int, default=1, help="Also try an ensemble of N seeds (chosen on dev)."
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    paths = CORPORA[args.corpus]
    config = TransformerConfig(encoder=args.encoder, epochs=args.epochs, ensemble=args.ensemble)
    started = time.perf_counter()
    tuned = train_transformer(load_documents([REPO / paths["tune_train"]]), config)
    tune_seconds = time.perf_counter() - started
    sizes = sorted({1, args.ensemble})
    dev = {
        (k, p): scores(tuned.first_members(k), paths["dev"], p)["micro"]["f1"]
        for k in sizes
        for p in PENALTIES
    }
    members, best = max(dev, key=lambda kp: (dev[kp], -kp[0], -kp[1]))
    model = tuned.first_members(members)
    final_seconds = tune_seconds
    if paths["final_train"]:
        started = time.perf_counter()
        final_config = config.model_copy(update={"ensemble": members})
        model = train_transformer(load_documents([REPO / paths["final_train"]]), final_config)
        final_seconds = time.perf_counter() - started
    test_default = scores(model.first_members(1), paths["test"], 0.0)
    test = scores(model, paths["test"], best)
    summary = {
        "corpus": args.corpus,
        "epochs": args.epochs,
        "device": str(model.device),
        "dev_f1": {f"members={k} o_penalty={p}": f1 for (k, p), f1 in dev.items()},
        "members": members,
        "o_penalty": best,
        "test_f1_one_member_o_penalty_0": test_default["micro"]["f1"],
        "test": test,
        "train_seconds_final": round(final_seconds, 1),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
