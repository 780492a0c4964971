"""``medner retrain``: the learning loop's run from the command line (medner.learning;
docs/lifecycle.md, "Retraining from reviews")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from medner.cli.common import app, err, fail
from medner.errors import MednerError


@app.command("retrain")
def retrain_cli(
    params: Annotated[
        Path, typer.Option("--params", help="YAML whose 'retrain' section configures the run.")
    ] = Path("params.yaml"),
    min_new: Annotated[
        int | None,
        typer.Option("--min-new", help="Retrain only with at least N new validated notes."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be done; change nothing.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a retrain setting: key=value (YAML value)."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The run's outcome, JSON.")] = Path(
        "reports/retrain.json"
    ),
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="The store (default MEDNER_DATABASE_URL).")
    ] = None,
) -> None:
    """Validated notes since the last export → data/reviewed → a candidate trained on the base
    corpora plus them → registered and gated (fixed test splits, and a live gain on the newest
    audit notes) → champion when it passes. Exit 0 when nothing went wrong, even when the gate
    refused (the outcome says why); 2 on an error."""
    from medner.learning.retrain import load_retrain_config, retrain
    from medner.review import queue_engine

    try:
        config = load_retrain_config(params if params.is_file() else None, set_ or [])
        engine = queue_engine(database_url)
        try:
            result = retrain(engine, config, min_new, dry_run, on_step=lambda m: err.print(m))
        finally:
            engine.dispose()
    except MednerError as exc:
        fail(exc)
    colour = {"promoted": "green", "refused": "red"}.get(result.status, "yellow")
    err.print(f"[{colour}]{result.status}[/]: {result.reason}", highlight=False)
    if not dry_run:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
