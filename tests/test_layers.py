"""The layer order (pyproject.toml [tool.importlinter], docs/architecture.md) holds, and a
back-edge breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layer_contracts_are_kept() -> None:
    result = _lint(REPO / "src", REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "medner layers KEPT" in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(
        REPO / "src" / "medner", src / "medner", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    base = src / "medner" / "models" / "base.py"
    base.write_text(base.read_text() + "\nimport medner.serving.app  # a back-edge\n")
    result = _lint(src, tmp_path)
    assert result.returncode != 0
    assert "medner layers BROKEN" in result.stdout
    assert "medner.models.base -> medner.serving.app" in result.stdout
