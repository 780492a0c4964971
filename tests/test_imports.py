"""`import medner` and the CLI stay light: heavy optional parts load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, medner, medner.cli.main, medner.models.crf, medner.inference;"
        "import medner.models.onnxrt, medner.models.transformer;"
        "heavy = ('pyspark', 'duckdb', 'pandas', 'torch', 'sqlalchemy', 'mlflow', 'optuna', 'dvc',"
        " 'onnxruntime', 'onnx', 'transformers');"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
