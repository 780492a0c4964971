"""Lifecycle commands: ``prepare`` (validated splits), ``tune`` (Optuna), ``register``,
``promote`` (the gate) and ``models`` (the registry). MLflow, DVC-side tools and Optuna load
only when one of these runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from medner.cli.common import app, err, fail, out
from medner.data.corpora import corpus_path
from medner.errors import ConfigError, MednerError

DEFAULT_PARAMS = Path("params.yaml")
DEFAULT_GATE_SET = corpus_path("biotext/test")
NameOption = Annotated[str, typer.Option("--name", help="Registered model name.")]
GateSetOption = Annotated[
    list[Path] | None,
    typer.Option("--test", help="Fixed test set of the gate (repeatable).", show_default=False),
]
ToleranceOption = Annotated[
    float,
    typer.Option("--tolerance", help="Largest allowed drop of any label's F1 (0.01 = 1 point)."),
]


def _params_section(path: Path, section: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read params ({exc})") from exc
    value = loaded.get(section) if isinstance(loaded, dict) else None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: no mapping under key {section!r}")
    return value


@app.command("prepare")
def prepare_cli(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the splits.")] = Path(
        "data/prepared"
    ),
    params: Annotated[
        Path, typer.Option("--params", help="Params file; its 'prepare' key is read.")
    ] = DEFAULT_PARAMS,
) -> None:
    """Validate the raw corpora and write canonical JSONL splits + a data report."""
    from pydantic import ValidationError

    from medner.data.prepare import PrepareParams, prepare

    try:
        try:
            settings = PrepareParams.model_validate(_params_section(params, "prepare"))
        except ValidationError as exc:
            raise ConfigError(f"{params}: invalid prepare section: {exc}") from exc
        result = prepare(settings, output)
    except MednerError as exc:
        fail(exc)
    sizes = ", ".join(f"{k} {v['documents']}" for k, v in result.report["splits"].items())
    leak = result.report["leakage"]["shared_before"]
    err.print(f"splits written to {output}: {sizes} documents; shared across splits: {leak}")


@app.command("tune")
def tune_cli(
    trials: Annotated[int, typer.Option("--trials", min=1, help="Trials to run now.")] = 20,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop starting trials after S seconds.")
    ] = None,
    train: Annotated[Path, typer.Option("--train", help="Training split.")] = Path(
        "data/prepared/train.jsonl"
    ),
    dev: Annotated[Path, typer.Option("--dev", help="Dev split (never test).")] = Path(
        "data/prepared/dev.jsonl"
    ),
    params: Annotated[
        Path,
        typer.Option("--params", help="Params file: base config read from, best written to."),
    ] = DEFAULT_PARAMS,
    section: Annotated[str, typer.Option("--section", help="Key of the train config.")] = "train",
    write_params: Annotated[
        bool, typer.Option("--write-params/--no-write-params", help="Write best params back.")
    ] = True,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Study DB, plots, summary.")
    ] = Path("runs/tune"),
    storage: Annotated[
        str | None, typer.Option("--storage", help="Optuna storage URL (default: SQLite in -o).")
    ] = None,
    study_name: Annotated[str, typer.Option("--study-name")] = "medner-crf",
    seed: Annotated[int, typer.Option("--seed")] = 13,
    prune_iterations: Annotated[
        int, typer.Option("--prune-iterations", help="Iterations of the early, prunable fit.")
    ] = 60,
) -> None:
    """Search the CRF's regularisation and feature options on the dev split (Optuna)."""
    from rich.progress import Progress

    from medner.cli.common import progress_bar
    from medner.training.config import load_config
    from medner.training.tune import tune

    try:
        exists = params.exists()
        base = load_config(params if exists else None, None, section if exists else None)
        with progress_bar() as progress:
            task = progress.add_task("tuning", total=trials)

            def on_trial(number: int, f1: float | None, state: str, p: Progress = progress) -> None:
                p.advance(task)
                err.print(f"trial {number}: {state}, dev F1 {f1:.4f}")

            result = tune(
                train,
                dev,
                trials,
                output,
                base=base,
                timeout=timeout,
                storage=storage,
                study_name=study_name,
                seed=seed,
                prune_iterations=prune_iterations,
                params_file=params if write_params else None,
                params_section=section,
                on_trial=on_trial,
            )
    except MednerError as exc:
        fail(exc)
    baseline = f"{result.baseline_f1:.4f}" if result.baseline_f1 is not None else "n/a"
    out.print(
        f"{result.trials} trials ({result.completed} complete, {result.pruned} pruned); "
        f"dev F1 baseline {baseline}, best {result.best_f1:.4f}"
    )
    out.print(f"best parameters: {json.dumps(result.best_params)}")
    out.print(f"plots and summary in {output}")


@app.command("register")
def register_cli(
    run_file: Annotated[
        Path, typer.Option("--run-file", help="Run file written by `medner train --run-file`.")
    ],
    name: NameOption = "medner",
    promote_: Annotated[
        bool,
        typer.Option("--promote/--no-promote", help="Run the promotion gate right after."),
    ] = True,
    test: GateSetOption = None,
    tolerance: ToleranceOption = 0.01,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the outcome here (JSON).")
    ] = None,
) -> None:
    """Register a training run's model as a new version (alias challenger), then gate it."""
    from medner.tracking.registry import promote, register
    from medner.tracking.runs import RunInfo

    try:
        version = register(RunInfo.read(run_file), name)
        err.print(f"registered models:/{name}/{version} (alias challenger)")
        outcome: dict[str, Any] = {"name": name, "version": int(version), "promoted": False}
        if promote_:
            decision = promote(version, test or [DEFAULT_GATE_SET], name, tolerance)
            _print_decision(decision)
            outcome.update(promoted=decision.promoted, decision=decision.reason)
    except MednerError as exc:
        fail(exc)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(outcome, indent=2) + "\n", encoding="utf-8")


def _print_decision(decision: Any) -> None:
    champion = f"v{decision.champion_version}" if decision.champion_version else "none"
    table = Table(
        title=f"promotion gate: models:/{decision.name}/{decision.version} against {champion}",
        caption="strict F1; micro may not drop, a label by at most the allowed change; on the "
        "live hold-out the candidate must gain more than its interval's half width",
    )
    for col in ("test set", "label", "champion", "candidate", "change", "allowed", ""):
        table.add_column(col, justify="left" if col in {"test set", "label"} else "right")
    for r in decision.rows:
        table.add_row(
            r.dataset,
            r.label,
            "-" if r.champion is None else f"{r.champion:.4f}",
            f"{r.candidate:.4f}",
            "-" if r.delta is None else f"{r.delta:+.4f}",
            f"{-r.allowed_drop:+.3f}",
            "ok" if r.ok else "[red]FAIL[/]",
        )
    err.print(table)
    colour = "green" if decision.promoted else "red"
    verdict = "promoted to champion" if decision.promoted else "NOT promoted"
    err.print(f"[{colour}]{verdict}[/]: {decision.reason}")


@app.command("promote")
def promote_cli(
    version: Annotated[str, typer.Argument(help="Model version to promote to champion.")],
    name: NameOption = "medner",
    test: GateSetOption = None,
    tolerance: ToleranceOption = 0.01,
    force: Annotated[bool, typer.Option("--force", help="Override a refusal.")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why --force (recorded on the version).")
    ] = None,
) -> None:
    """Promote a version to champion if it passes the gate against the current champion on the
    same fixed test set(s); otherwise print the differences and exit 1."""
    from medner.tracking.registry import promote

    try:
        decision = promote(version, test or [DEFAULT_GATE_SET], name, tolerance, force, reason)
    except MednerError as exc:
        fail(exc)
    _print_decision(decision)
    if not decision.promoted:
        raise typer.Exit(code=1)


@app.command("models")
def models_cli(
    name: NameOption = "medner",
    format_: Annotated[str, typer.Option("--format", "-f", help="'table' or 'json'.")] = "table",
) -> None:
    """List the registered versions: aliases, run, test scores, gate decision."""
    from medner.tracking.registry import list_versions

    if format_ not in {"json", "table"}:
        fail(MednerError(f"--format must be 'json' or 'table', not {format_!r}"))
    try:
        versions = list_versions(name)
    except MednerError as exc:
        fail(exc)
    if format_ == "json":
        sys.stdout.write(json.dumps(versions) + "\n")
        return
    table = Table(title=f"registered model {name!r}")
    for col in ("version", "aliases", "micro F1", "created", "run", "gate"):
        table.add_column(col)
    for v in versions:
        f1 = v["metrics"].get("micro_f1")
        table.add_row(
            str(v["version"]),
            ", ".join(v["aliases"]),
            "-" if f1 is None else f"{f1:.4f}",
            v["created"],
            (v["run_id"] or "")[:12],
            v["gate"] or "",
        )
    out.print(table)
