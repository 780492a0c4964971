"""Issue 23, item 7: MLflow's plain-text lines broke the API's JSON log format."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, os, warnings
    os.environ.pop("MLFLOW_CONFIGURE_LOGGING", None)
    from medner.serving.logs import configure_json_logging
    configure_json_logging("info")
    import mlflow  # imported after, as `medner serve` does for a models:/ model
    logging.getLogger("mlflow.tracking").warning("a warning from mlflow")
    logging.getLogger("alembic.runtime").warning("a warning from alembic")
    warnings.warn("a Python warning")
    logging.getLogger("medner.api").info({"event": "ready"})
    """
)


def test_every_line_on_stderr_is_json_mlflow_and_warnings_included() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any plain-text line
    messages = {r.get("message") or r.get("event") for r in records}
    assert {"a warning from mlflow", "a warning from alembic", "ready"} <= messages
    assert any("a Python warning" in str(r.get("message")) for r in records)
