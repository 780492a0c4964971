"""The DVC pipeline end to end in a fresh git repository, on a tiny corpus: stages, caching,
parameter-driven re-runs, the default MLflow store and the registry it fills."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import DATA, REPO, biotext_subset

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("pipeline") / "project"
    root.mkdir()
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(
        REPO / "src/medner", root / "src/medner", ignore=shutil.ignore_patterns("__pycache__")
    )
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["crf"]["max_iterations"] = 40
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    biotext_subset(DATA / "biotext/train", root / "data/biotext/train", 300)
    biotext_subset(DATA / "biotext/test", root / "data/biotext/test", 120)

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the default
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    dvc = [str(Path(sys.executable).parent / "dvc")]
    _run(["git", "init", "-q"], root, env)
    _run([*dvc, "init", "-q"], root, env)
    _run([*dvc, "remote", "add", "-d", "local", "../dvc-storage"], root, env)
    _run([*dvc, "add", "-q", "data/biotext"], root, env)
    _run([*dvc, "push", "-q"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run([*git, "commit", "-q", "-m", "tiny project"], root, env)
    return root, env


def _repro(root: Path, env: dict[str, str]) -> str:
    return _run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)


def _medner(root: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "medner", *args], cwd=root, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pipeline_runs_registers_a_champion_and_caches(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    first = _repro(root, env)
    for stage in ("prepare", "train", "evaluate", "register"):
        assert f"Running stage '{stage}'" in first
    assert (root / "mlflow/mlflow.db").is_file()  # the default store, inside the project
    report = json.loads((root / "data/prepared/report.json").read_text())
    assert report["splits"]["test"]["documents"] == 120

    versions = json.loads(_medner(root, env, "models", "--format", "json"))
    assert len(versions) == 1 and versions[0]["aliases"] == ["champion"]
    scores = json.loads(
        _medner(root, env, "evaluate", "--model", "models:/medner@champion",
                "--data", "data/biotext/test_sent", "--format", "json", "--no-track")
    )  # fmt: skip
    assert versions[0]["metrics"]["micro_f1"] == scores["micro"]["f1"]
    recorded = json.loads((root / "reports/test_metrics.json").read_text())
    assert recorded["micro"]["f1"] == scores["micro"]["f1"]

    model_file = root / "models/pipeline/model.crfsuite"
    stamp = model_file.stat().st_mtime_ns
    second = _repro(root, env)
    assert "Running stage" not in second
    assert model_file.stat().st_mtime_ns == stamp

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["crf"]["c2"] = 0.5
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    third = _repro(root, env)
    assert "Running stage 'prepare'" not in third
    for stage in ("train", "evaluate", "register"):
        assert f"Running stage '{stage}'" in third
    versions = json.loads(_medner(root, env, "models", "--format", "json"))
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["gate"]  # the gate decided, either way, and said why


def test_same_data_params_and_seed_give_identical_metrics(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    before = (root / "reports/test_metrics.json").read_text()
    _run([str(Path(sys.executable).parent / "dvc"), "repro", "--force", "train"], root, env)
    _repro(root, env)
    assert (root / "reports/test_metrics.json").read_text() == before
