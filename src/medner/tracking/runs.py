"""Logging training and evaluation runs to MLflow: parameters, per-label and micro metrics,
dataset digests (``mlflow.log_input``), the git commit, the model directory and the pyfunc
model. Note text is never logged: only paths, digests and scores."""

from __future__ import annotations

import importlib.metadata
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import medner
from medner.errors import MednerError
from medner.tracking.store import configure, git_state

MODEL_ARTIFACT_PATH = "model"
MODEL_ARTIFACT = "medner_model"  # key of the model directory among the pyfunc artifacts
MODEL_DIR_ARTIFACT_PATH = "model_dir"
_REQUIREMENTS = ("python-crfsuite", "numpy", "pydantic", "pyarrow", "pyyaml", "typer", "rich")


@dataclass(slots=True)
class RunInfo:
    """What a later stage needs to find a run: its id and its logged model."""

    run_id: str
    model_uri: str | None = None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"run_id": self.run_id, "model_uri": self.model_uri}
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> RunInfo:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(run_id=str(data["run_id"]), model_uri=data.get("model_uri"))
        except (OSError, ValueError, KeyError) as exc:
            raise MednerError(
                f"{path}: not a run file written by `medner train --run-file` ({exc})"
            ) from exc


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"crf": {"c1": 0.1}}`` → ``{"crf.c1": 0.1}`` (lists as JSON)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def score_metrics(scores: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """MLflow metrics from an evaluation's JSON: ``{prefix}.micro_f1``, ``{prefix}.DISEASE_f1``."""
    metrics = {
        f"{prefix}.micro_f1": scores["micro"]["f1"],
        f"{prefix}.micro_precision": scores["micro"]["precision"],
        f"{prefix}.micro_recall": scores["micro"]["recall"],
        f"{prefix}.macro_f1": scores["macro_f1"],
    }
    if "token_weighted_f1" in scores:
        metrics[f"{prefix}.token_weighted_f1"] = scores["token_weighted_f1"]
    for label, s in scores["per_label"].items():
        for name in ("f1", "precision", "recall"):
            metrics[f"{prefix}.{label}_{name}"] = s[name]
    return {k: float(v) for k, v in metrics.items()}


def log_datasets(paths: Sequence[Path], context: str) -> None:
    """One ``mlflow.log_input`` per dataset file: its path and SHA-256 digest."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]

    from medner.data.documents import file_digest

    for path in paths:
        dataset = MetaDataset(  # type: ignore[abstract]
            source=LocalArtifactDatasetSource(str(path.resolve())),
            name=path.name,
            digest=file_digest(path)[:16],
        )
        mlflow.log_input(dataset, context=context)


def run_tags(kind: str) -> dict[str, str]:
    git = git_state()
    tags = {"medner.kind": kind, "medner.version": medner.__version__}
    if git["commit"]:
        tags["mlflow.source.git.commit"] = git["commit"]
        tags["medner.git_dirty"] = str(git["dirty"]).lower()
    return tags


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's own deprecation and future warnings are not ours to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _requirements() -> list[str]:
    reqs = []
    for name in _REQUIREMENTS:
        try:
            reqs.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            reqs.append(name)
    return reqs


def log_model_dir(model_dir: Path) -> str:
    """Log the model directory as artifacts and as a pyfunc model; returns the model URI."""
    import mlflow

    mlflow.log_artifacts(str(model_dir), MODEL_DIR_ARTIFACT_PATH)
    with quiet_mlflow():
        from medner.tracking import pyfunc

        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_PATH,
            python_model=pyfunc.__file__,
            artifacts={MODEL_ARTIFACT: str(model_dir)},
            pip_requirements=_requirements(),
            input_example=["Asthma was treated with inhaled budesonide."],
        )
    return str(info.model_uri)


def log_training_run(
    model_dir: Path,
    config: Mapping[str, Any],
    train_paths: Sequence[Path],
    dev_paths: Sequence[Path],
    metrics: Mapping[str, Any],
    run_name: str | None = None,
) -> RunInfo:
    """A training run: config as parameters, dev scores, datasets, commit, model."""
    import mlflow

    configure()
    with quiet_mlflow(), mlflow.start_run(run_name=run_name, tags=run_tags("train")) as run:
        mlflow.log_params(flatten(config))
        mlflow.log_metric("train_seconds", float(metrics.get("train_seconds", 0.0)))
        if isinstance(metrics.get("dev"), Mapping):
            mlflow.log_metrics(score_metrics(metrics["dev"], "dev"))
        log_datasets(train_paths, "train")
        log_datasets(dev_paths, "dev")
        model_uri = log_model_dir(model_dir)
        return RunInfo(run_id=run.info.run_id, model_uri=model_uri)


def log_evaluation(
    scores: Mapping[str, Any],
    data_paths: Sequence[Path],
    model_ref: str,
    run_id: str | None = None,
    prefix: str = "test",
) -> str:
    """Log an evaluation: into the training run ``run_id`` when given (the pipeline does this,
    so a registered version carries its test scores), else as a run of its own."""
    import mlflow

    configure()
    with (
        quiet_mlflow(),
        mlflow.start_run(
            run_id=run_id,
            run_name=None if run_id else "evaluate",
            tags=None if run_id else run_tags("evaluate"),
        ) as run,
    ):
        if run_id is None:
            mlflow.log_param("model", model_ref)
        mlflow.log_metrics(score_metrics(scores, prefix))
        log_datasets(data_paths, prefix)
        return str(run.info.run_id)
