"""``medner retrain``: validated notes in, a gated candidate out.

1. Export the notes validated since the last export into the reviewed dataset
   (``data/reviewed/``, :mod:`medner.learning.dataset`); stop when fewer than ``min_new``.
2. Split it by time: the newest audit notes are the live hold-out (never trained on).
3. Choose how many times the reviewed notes are repeated beside the base corpora
   (``oversample`` candidates, scored on a dev part of the reviewed training notes), unless
   one value is given.
4. Train the candidate on the base corpora plus the reviewed notes, log it to MLflow with the
   digest of every dataset, register it (alias ``challenger``).
5. Run the promotion gate: the fixed test splits (no label may lose more than the margin,
   micro F1 may not drop) and the live hold-out (a gain beyond its interval's half width).
   On promotion the ``champion`` alias moves, an API following ``models:/NAME@champion``
   swaps to it, and the notes still waiting in the review queue are re-ranked by the new
   model's uncertainty (``reprioritize``).

Every decision, and why, is in the result (``RetrainResult.to_dict``), written as JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from medner.data.corpora import corpus_path
from medner.data.documents import load_documents
from medner.errors import ConfigError
from medner.evaluation.evaluate import evaluate_model
from medner.learning.dataset import export_new, read_notes, split_by_time, write_jsonl
from medner.monitoring.profile import write_reference
from medner.review import reprioritize
from medner.training.config import load_config, read_config
from medner.training.train import train

logger = logging.getLogger(__name__)


class RetrainConfig(BaseModel):
    """The ``retrain`` section of ``params.yaml``."""

    model_config = ConfigDict(extra="forbid")

    base: list[str] = Field(
        default_factory=lambda: ["corpus:biotext/train", "corpus:prescriptions/train"],
        description="Corpora every candidate trains on (paths or corpus:NAME/SPLIT).",
    )
    dev: list[str] = Field(
        default_factory=lambda: ["corpus:prescriptions/dev"],
        description="Scored for the model card only.",
    )
    test: list[str] = Field(
        default_factory=lambda: ["corpus:biotext/test", "corpus:prescriptions/test"],
        description="The gate's fixed test splits.",
    )
    dataset: Path = Field(Path("data/reviewed"), description="The reviewed dataset's folder.")
    output: Path = Field(Path("runs/retrain"), description="Where each run's files go.")
    min_new: int = Field(100, ge=0, description="New validated notes needed to retrain.")
    holdout_share: float = Field(0.3, ge=0, lt=1, description="Newest audit notes held out.")
    min_holdout: int = Field(20, ge=0, description="Fewer held-out notes: no live gate.")
    dev_share: float = Field(0.15, ge=0, lt=1, description="Reviewed notes for choosing.")
    oversample: list[int] = Field(
        default_factory=lambda: [1, 3], description="Repetitions of the reviewed notes to try."
    )
    set: list[str] = Field(
        default_factory=lambda: ["crf.features.lexicon=true"],
        description="Training settings (key.path=value), as the default model's experiment.",
    )
    name: str = Field("medner", description="Registered model name.")
    tolerance: float = Field(0.01, ge=0, description="Largest drop of a label's F1.")
    bootstrap: int = Field(1000, ge=0, description="Resamples of the live hold-out interval.")
    track: bool = Field(True, description="Log, register and gate the candidate (MLflow).")
    reprioritize: bool = Field(
        True, description="On promotion, re-rank the waiting notes by the new model."
    )


def load_retrain_config(path: Path | None, overrides: Sequence[str] = ()) -> RetrainConfig:
    """Defaults, then the ``retrain`` section of ``path`` (``params.yaml``), then
    ``key=value`` overrides (YAML values)."""
    tree = read_config(path, "retrain", required=False) if path is not None else {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not key=value")
        tree[key.strip()] = yaml.safe_load(value)
    try:
        return RetrainConfig(**tree)
    except ValueError as exc:
        raise ConfigError(f"retrain config: {exc}") from exc


def _path(ref: str) -> Path:
    return corpus_path(ref.removeprefix("corpus:")) if ref.startswith("corpus:") else Path(ref)


@dataclass(slots=True)
class RetrainResult:
    """What a retraining run did, and why."""

    status: str  # skipped | dry-run | trained | registered | promoted | refused
    reason: str
    new_notes: int = 0
    dataset_notes: int = 0
    dataset_digest: str | None = None
    train_notes: int = 0
    holdout_notes: int = 0
    oversample: int | None = None
    choice: dict[str, float] = field(default_factory=dict)  # dev F1 per oversample candidate
    model_dir: str | None = None
    run_id: str | None = None
    version: str | None = None
    gate: list[dict[str, Any]] = field(default_factory=list)
    holdout_f1: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    reprioritized: int = 0
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _train_candidate(
    config: RetrainConfig,
    reviewed: Path | None,
    times: int,
    output: Path,
    dev: Sequence[Path],
) -> Any:
    train_config = load_config(None, list(config.set))
    paths = [_path(p) for p in config.base] + ([reviewed] * times if reviewed else [])
    return train(paths, output, train_config, dev_paths=list(dev))


def retrain(
    engine: Engine,
    config: RetrainConfig,
    min_new: int | None = None,
    dry_run: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> RetrainResult:
    """One retraining run (the module's docstring says the steps)."""
    step = on_step or (lambda message: logger.info(message))
    clock: dict[str, float] = {}
    started = time.perf_counter()
    needed = config.min_new if min_new is None else min_new
    exported = export_new(engine, config.dataset, dry_run=dry_run)
    clock["export"] = round(time.perf_counter() - started, 2)
    result = RetrainResult(
        "skipped",
        "",
        new_notes=exported.new,
        dataset_notes=exported.total,
        dataset_digest=exported.digest,
        seconds=clock,
    )
    if exported.new < needed:
        result.reason = f"{exported.new} new validated notes; {needed} needed to retrain"
        return result
    if dry_run:
        result.status = "dry-run"
        result.reason = f"{exported.new} new validated notes would be added and a candidate trained"
        return result
    step(f"{exported.new} new validated notes added ({exported.total} in the dataset)")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = config.output / stamp
    split = split_by_time(read_notes(config.dataset), config.holdout_share, config.dev_share)
    result.train_notes, result.holdout_notes = len(split.train), len(split.holdout)
    reviewed = write_jsonl(split.train, run_dir / "reviewed_train.jsonl") if split.train else None
    holdout = write_jsonl(split.holdout, run_dir / "holdout.jsonl") if split.holdout else None

    times = config.oversample[0] if config.oversample else 1
    if len(config.oversample) > 1 and split.dev and len(split.dev) < len(split.train):
        dev_ids = {id(n) for n in split.dev}
        rest = write_jsonl(
            [n for n in split.train if id(n) not in dev_ids], run_dir / "choose_train.jsonl"
        )
        dev_path = write_jsonl(split.dev, run_dir / "choose_dev.jsonl")
        dev_docs = load_documents([dev_path])
        for k in config.oversample:
            step(f"choosing the weighting: reviewed notes x{k}")
            trained = _train_candidate(config, rest, k, run_dir / f"choose-x{k}", [])
            result.choice[str(k)] = round(
                evaluate_model(trained.model, dev_docs).scores.micro.f1, 6
            )
        # the best dev F1; a tie goes to the smaller repetition
        times = max(config.oversample, key=lambda k: (result.choice[str(k)], -k))
    result.oversample = times
    clock["choose"] = round(time.perf_counter() - started - clock["export"], 2)

    step(f"training the candidate: base corpora + reviewed notes x{times}")
    model_dir = run_dir / "model"
    trained = _train_candidate(config, reviewed, times, model_dir, [_path(p) for p in config.dev])
    result.model_dir = str(model_dir)
    clock["train"] = round(trained.seconds, 2)
    base_paths = [_path(p) for p in config.base] + ([reviewed] if reviewed else [])
    dev_texts = [d.text for d in load_documents([_path(p) for p in config.dev])]
    write_reference(
        trained.model, model_dir, [d.text for d in load_documents(base_paths)], dev_texts
    )
    if holdout is not None:
        scores = evaluate_model(trained.model, load_documents([holdout])).scores
        result.holdout_f1 = round(scores.micro.f1, 6)
    result.status, result.reason = (
        "trained",
        "trained; not logged, registered or gated (track: false)",
    )
    if not config.track:
        return result

    from medner.tracking.registry import promote, register
    from medner.tracking.runs import log_training_run

    step("logging the run to MLflow and registering the candidate")
    train_paths = [_path(p) for p in config.base] + ([reviewed] if reviewed else [])
    metrics = dict(trained.metrics)
    run = log_training_run(
        model_dir,
        {
            "retrain": config.model_dump(mode="json"),
            "oversample": times,
            "reviewed_dataset_digest": exported.digest,
            "reviewed_notes": exported.total,
        },
        train_paths,
        [_path(p) for p in config.dev],
        metrics,
        run_name=f"retrain-{stamp}",
    )
    result.run_id = run.run_id
    result.version = register(run, config.name)
    step(f"registered models:/{config.name}/{result.version}; running the gate")
    decision = promote(
        result.version,
        [_path(p) for p in config.test],
        config.name,
        config.tolerance,
        live=holdout,
        bootstrap=config.bootstrap,
        min_live=config.min_holdout,
    )
    result.gate = [asdict(r) for r in decision.rows]
    result.status = "promoted" if decision.promoted else "refused"
    result.reason = decision.reason
    if decision.promoted and config.reprioritize:
        result.reprioritized = reprioritize(engine, trained.model, model_dir)
        step(f"{result.reprioritized} waiting notes re-ranked by the new champion")
    clock["total"] = round(time.perf_counter() - started, 2)
    return result
