"""Where runs and models are tracked: MLflow with a SQLite file and a local artifact folder by
default (``mlflow/`` in the working directory), or whatever ``MLFLOW_TRACKING_URI`` names."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

DEFAULT_STORE = Path("mlflow")
DEFAULT_EXPERIMENT = "medner"
EXPERIMENT_ENV = "MEDNER_EXPERIMENT"
CACHE_ENV = "MEDNER_MODEL_CACHE"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<cwd>/mlflow/mlflow.db``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(DEFAULT_STORE / 'mlflow.db').resolve()}"


def _artifact_location(uri: str) -> str | None:
    """Artifacts sit beside a SQLite store (``<dir>/artifacts``); a server decides its own."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def configure(experiment: str | None = None) -> str:
    """Point MLflow at the tracking store and select the experiment; returns the URI."""
    # MLflow's download progress bars would flood our logs
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI", uri))
    name = experiment or os.environ.get(EXPERIMENT_ENV, DEFAULT_EXPERIMENT)
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=_artifact_location(uri))
    mlflow.set_experiment(name)
    return uri


def model_cache_dir() -> Path:
    """Where registry models are downloaded to (``MEDNER_MODEL_CACHE`` or ``~/.cache/medner``),
    one folder per tracking store, so two stores' ``medner/1`` never mix."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "medner" / "models")
    store = hashlib.sha256(tracking_uri().encode()).hexdigest()[:12]
    return root / store


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """The git commit of the working tree and whether it has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}
