"""Hyper-parameter search for the CRF with Optuna, on the dev split (never on test).

Each trial trains on the train split and scores strict micro-F1 on dev. A trial first trains a
short run (``prune_iterations`` optimiser iterations) and reports its dev F1; the median pruner
stops trials that are already worse than the median of earlier trials at that point, so bad
regions cost a fraction of a full training. The first trial of a new study is the current
configuration, so the study always shows whether the search beats it.

The study lives in SQLite (resumable: run again for more trials), every trial is a nested MLflow
run under one ``tune`` run, and the best parameters are written back into ``params.yaml``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medner.data.documents import load_documents
from medner.errors import ConfigError
from medner.evaluation.evaluate import evaluate_model
from medner.models.crf import train_crf
from medner.models.tagging import encode_document
from medner.training.config import TrainConfig
from medner.training.train import resolve_clusters

logger = logging.getLogger(__name__)

# the searched parameters, as dotted paths into TrainConfig
SEARCH_SPACE = (
    "crf.c1",
    "crf.c2",
    "crf.o_penalty",
    "crf.min_freq",
    "crf.features.window",
    "crf.features.bigrams",
)


@dataclass(slots=True)
class TuneResult:
    """The outcome of a study (all its trials, across resumed sessions)."""

    study_name: str
    trials: int
    completed: int
    pruned: int
    baseline_f1: float | None
    best_f1: float
    best_params: dict[str, Any]
    plots: list[Path]

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study_name,
            "trials": self.trials,
            "completed": self.completed,
            "pruned": self.pruned,
            "baseline_dev_f1": self.baseline_f1,
            "best_dev_f1": self.best_f1,
            "best_params": self.best_params,
            "plots": [str(p) for p in self.plots],
        }


def _get(config: TrainConfig, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def _with(config: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    tree = config.model_dump()
    for dotted, value in values.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return TrainConfig.model_validate(tree)


def suggest(trial: Any) -> dict[str, Any]:
    """The search space (dotted TrainConfig paths → values) sampled by one trial."""
    return {
        "crf.c1": trial.suggest_float("crf.c1", 1e-4, 1.0, log=True),
        "crf.c2": trial.suggest_float("crf.c2", 1e-3, 3.0, log=True),
        "crf.o_penalty": trial.suggest_float("crf.o_penalty", 0.0, 2.0),
        "crf.min_freq": trial.suggest_int("crf.min_freq", 1, 3),
        "crf.features.window": trial.suggest_int("crf.features.window", 1, 3),
        "crf.features.bigrams": trial.suggest_categorical("crf.features.bigrams", [True, False]),
    }


def write_best_params(params_file: Path, section: str, best: dict[str, Any]) -> None:
    """Write ``best`` (dotted paths) into ``section`` of a YAML params file, keeping its
    comments and order (ruamel.yaml round trip)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(params_file.read_text(encoding="utf-8")) if params_file.exists() else {}
    data = data or {}
    node = data.setdefault(section, {})
    for dotted, value in best.items():
        *parents, leaf = dotted.split(".")
        cursor = node
        for part in parents:
            cursor = cursor.setdefault(part, {})
        cursor[leaf] = round(value, 6) if isinstance(value, float) else value
    with params_file.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def _plots(study: Any, output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization.matplotlib import (
        plot_optimization_history,
        plot_param_importances,
    )

    paths = []
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    makers: list[tuple[str, Callable[[Any], Any]]] = [
        ("optimization_history.png", plot_optimization_history)
    ]
    if len(completed) >= 2:
        makers.append(("param_importances.png", plot_param_importances))
    for filename, make in makers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = make(study)
        figure = axes.figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        path = output / filename
        figure.savefig(path, dpi=110)
        matplotlib.pyplot.close(figure)
        paths.append(path)
    return paths


def tune(
    train_path: Path,
    dev_path: Path,
    trials: int,
    output: Path,
    base: TrainConfig | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str = "medner-crf",
    seed: int = 13,
    prune_iterations: int = 60,
    params_file: Path | None = None,
    params_section: str = "train",
    on_trial: Callable[[int, float | None, str], None] | None = None,
) -> TuneResult:
    """Run ``trials`` more trials of the study (resuming it if it exists).

    Raises:
        ConfigError: missing splits, or a base config the search cannot start from.
    """
    import mlflow
    import optuna

    from medner.tracking.runs import flatten, log_datasets, quiet_mlflow, run_tags
    from medner.tracking.store import configure

    for path in (train_path, dev_path):
        if not path.exists():
            raise ConfigError(
                f"{path} does not exist: run the prepare stage first (`make pipeline`, or "
                "`dvc repro prepare`)"
            )
    base = base or TrainConfig()
    if prune_iterations >= base.crf.max_iterations:
        raise ConfigError("prune_iterations must be below crf.max_iterations")
    train_docs = load_documents([train_path])
    dev_docs = load_documents([dev_path])
    sentences = [
        ([d.text[s:e] for s, e in ts.tokens], ts.tags)
        for d in train_docs
        for ts in encode_document(d, base.crf.scheme)
    ]
    clusters = resolve_clusters(base.clusters) if base.crf.features.clusters else None
    output.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(output / 'optuna.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
        load_if_exists=True,
    )
    if not study.trials:
        study.enqueue_trial({k: _get(base, k) for k in SEARCH_SPACE}, user_attrs={"baseline": True})

    def score(config: TrainConfig) -> float:
        model = train_crf(sentences, config.crf, clusters)
        return evaluate_model(model, dev_docs).scores.micro.f1

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial)
        config = _with(base, values)
        with quiet_mlflow(), mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(values)
            short = _with(config, {"crf.max_iterations": prune_iterations})
            early = score(short)
            trial.report(early, step=prune_iterations)
            mlflow.log_metric("dev.micro_f1", early, step=prune_iterations)
            pruned = trial.should_prune()
            mlflow.set_tag("optuna.state", "pruned" if pruned else "complete")
            if not pruned:
                final = score(config)
                trial.report(final, step=config.crf.max_iterations)
                mlflow.log_metric("dev.micro_f1", final, step=config.crf.max_iterations)
        if on_trial:
            on_trial(trial.number, early if pruned else final, "pruned" if pruned else "complete")
        if pruned:
            raise optuna.TrialPruned()
        return final

    configure()
    with quiet_mlflow(), mlflow.start_run(run_name="tune", tags=run_tags("tune")):
        mlflow.log_params({f"base.{k}": v for k, v in flatten(base.model_dump()).items()})
        mlflow.log_params({"trials": trials, "study": study_name, "seed": seed})
        log_datasets([train_path], "train")
        log_datasets([dev_path], "dev")
        study.optimize(objective, n_trials=trials, timeout=timeout, catch=())
        completed = [t for t in study.trials if t.state.name == "COMPLETE"]
        if not completed:
            raise ConfigError("no trial completed: raise --trials or --timeout")
        baseline = next((t.value for t in completed if t.user_attrs.get("baseline")), None)
        result = TuneResult(
            study_name=study_name,
            trials=len(study.trials),
            completed=len(completed),
            pruned=sum(1 for t in study.trials if t.state.name == "PRUNED"),
            baseline_f1=baseline,
            best_f1=float(study.best_value),
            best_params=dict(study.best_params),
            plots=_plots(study, output),
        )
        mlflow.log_metric("dev.best_micro_f1", result.best_f1)
        if baseline is not None:
            mlflow.log_metric("dev.baseline_micro_f1", baseline)
        for plot in result.plots:
            mlflow.log_artifact(str(plot))
        (output / "summary.json").write_text(
            json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
        mlflow.log_artifact(str(output / "summary.json"))
    if params_file is not None:
        write_best_params(params_file, params_section, result.best_params)
        logger.info("best parameters written to %s (section %s)", params_file, params_section)
    return result
