"""``medner experiment run|list``: the experiment configs under ``configs/experiments/``."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from medner.cli.common import app, err, fail, out
from medner.errors import MednerError

experiment_app = typer.Typer(
    help="Experiments as configs (configs/experiments/*.yaml): list them, run one.",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("run")
def run_cli(
    config: Annotated[
        str, typer.Argument(help="Config file, or its name under configs/experiments (ncbi/x6).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the commands, run nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Build this experiment even if its output exists.")
    ] = False,
    root: Annotated[Path, typer.Option("--root", help="Folder of the named configs.")] = Path(
        "configs/experiments"
    ),
) -> None:
    """Build an experiment's model: the experiments it needs first (those whose output is
    missing), then its own steps, each one `medner` command run in its own process."""
    from medner.training.experiment import plan

    try:
        commands = plan(config, root, force=force)
    except MednerError as exc:
        fail(exc)
    if not commands:
        err.print(f"{config}: its output exists; nothing to do (--force to build it again)")
        return
    for i, command in enumerate(commands, 1):
        line = shlex.join(["medner", *command.argv])
        err.print(f"[bold]{i}/{len(commands)}[/] ({command.experiment}) {line}", highlight=False)
        if dry_run:
            out.print(line, highlight=False, soft_wrap=True)
            continue
        started = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", "medner", *command.argv]).returncode
        if code != 0:
            err.print(f"[bold red]error:[/] step {i} failed (exit {code}); stopped")
            raise typer.Exit(code=code)
        err.print(f"    done in {time.perf_counter() - started:.0f} s")


@experiment_app.command("list")
def list_cli(
    root: Annotated[Path, typer.Option("--root", help="Folder of the configs.")] = Path(
        "configs/experiments"
    ),
) -> None:
    """Every experiment config: its name, output, and whether the output exists."""
    from medner.training.experiment import load_experiment

    for path in sorted(root.rglob("*.yaml")):
        try:
            experiment = load_experiment(path)
        except MednerError as exc:
            fail(exc)
        name = path.relative_to(root).with_suffix("").as_posix()
        built = "built" if experiment.output.exists() else "-"
        out.print(
            f"{name:28} {built:6} {experiment.output}  {experiment.description}", soft_wrap=True
        )
