"""Does tuning beat the default CRF? `medner tune` with N trials on the pipeline's dev split.

Runs a fresh Optuna study (TPE sampler, seed 13, median pruner) on ``data/prepared/train.jsonl``
→ ``dev.jsonl`` (the dev split carved from BioText train by the pipeline's prepare stage; the
test split is never used). The first trial is the engine's default configuration, so the table
shows whether the search beats it. Writes the plots to docs/images/ and a section of
docs/benchmarks.md; it does not change params.yaml.

Usage: python bench/tune.py [--trials 20] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, provenance, write_section
from medner.training.config import TrainConfig
from medner.training.tune import tune


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    train, dev = REPO / "data/prepared/train.jsonl", REPO / "data/prepared/dev.jsonl"
    if not train.exists():
        print("run `make pipeline` first: the prepare stage writes the splits", file=sys.stderr)
        return 2
    base = TrainConfig()  # the engine's defaults, whatever params.yaml holds now
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        started = time.perf_counter()
        result = tune(train, dev, args.trials, Path(tmp) / "tune", base=base)
        seconds = time.perf_counter() - started
        images = REPO / "docs/images"
        for plot in result.plots:
            shutil.copy(plot, images / f"tune-{plot.name}")
    baseline = result.baseline_f1 or 0.0
    lines = [
        "## Tuning the CRF (Optuna, dev split)",
        "",
        *provenance("tune.py", f" --trials {args.trials}"),
        "",
        f"{result.trials} trials ({result.completed} complete, {result.pruned} pruned by the "
        f"median pruner after a short fit) in {seconds / 60:.1f} min. Strict micro-F1 on the "
        "dev split carved from BioText train (seed 13):",
        "",
        "| configuration | dev F1 |",
        "| --- | --- |",
        f"| engine defaults (trial 0) | {baseline:.4f} |",
        f"| best trial | {result.best_f1:.4f} ({result.best_f1 - baseline:+.4f}) |",
        "",
        f"Best parameters: `{json.dumps(result.best_params)}`.",
        "",
        "![optimisation history](images/tune-optimization_history.png)",
    ]
    if any(p.name == "param_importances.png" for p in result.plots):
        lines.append("![parameter importances](images/tune-param_importances.png)")
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "tune", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
