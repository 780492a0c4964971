"""What every command shares: the Typer app, the consoles, progress bars, errors, model loading.

Results go to stdout (and only results: ``--format json`` prints nothing else); logs and
progress bars go to stderr.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from medner.data.corpora import corpus_path
from medner.models.base import NerModel

app = typer.Typer(
    name="medner",
    help="Disease and treatment entities from clinical notes: train, evaluate, extract.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

DEFAULT_MODEL = Path("models/default")
DEFAULT_TRAIN = corpus_path("biotext/train")
DEFAULT_NOTES = corpus_path("mtsamples/notes")


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )
    if not verbose:  # the store's migrations say what they do only when asked
        logging.getLogger("alembic").setLevel(logging.WARNING)


def progress_bar(transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    )


def fail(exc: Exception) -> NoReturn:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


MODEL_HELP = "Model directory, or registry URI (models:/medner@champion, models:/medner/3)."


def resolve_model(ref: str) -> Path:
    """The local directory of a model directory or ``models:/`` URI (MLflow loads only for a
    URI)."""
    from medner.tracking.registry import resolve_model_dir

    return resolve_model_dir(ref)


def load_model_ref(ref: str) -> NerModel:
    """Load a model from a directory or a ``models:/`` URI."""
    from medner.tracking.registry import load_model_ref as load

    return load(ref)


def train_with_progress(
    train_paths: list[Path],
    output: Path,
    dev_paths: list[Path],
    config_path: Path | None = None,
    overrides: list[str] | None = None,
    section: str | None = None,
) -> tuple[dict[str, object], dict[str, object]]:
    """Train with a progress bar over optimiser iterations; returns (metrics, resolved config)."""
    from medner.training.config import load_config
    from medner.training.train import train

    config = load_config(config_path, overrides, section)
    with progress_bar() as progress:
        total = (
            config.transformer.epochs
            if config.backend == "transformer"
            else config.crf.max_iterations
        )
        task = progress.add_task(f"training {config.backend}", total=total)

        def on_iteration(iteration: int, loss: float) -> None:
            progress.update(task, completed=iteration, description=f"training (loss {loss:,.0f})")

        result = train(train_paths, output, config, dev_paths, on_iteration)
        progress.update(task, total=progress.tasks[0].completed or 1)
    err.print(f"model saved to [bold]{result.output}[/] in {result.seconds:.1f} s")
    return result.metrics, config.model_dump()
