"""``medner review import|export|purge``: the review queue from the command line
(medner.review; docs/review.md)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from medner.cli.common import MODEL_HELP, app, err, fail, load_model_ref, out, resolve_model
from medner.errors import MednerError

if TYPE_CHECKING:  # the CLI stays light: SQLAlchemy loads only when a review command runs
    from sqlalchemy import Engine

review_app = typer.Typer(
    help="The review queue: import notes with predictions, export validated notes, purge text.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


@contextmanager
def _queue(database_url: str | None) -> Iterator[Engine]:
    """The review queue's engine (migrated), disposed after the command."""
    from medner.review import queue_engine

    engine = queue_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


DB_HELP = "SQLAlchemy URL of the store (default: MEDNER_DATABASE_URL, else runs/medner.db)."


@review_app.command("import")
def import_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    input_: Annotated[
        Path,
        typer.Option("--input", "-i", help="Notes: .txt (or a folder), .jsonl, .csv, .parquet."),
    ],
    id_column: Annotated[str, typer.Option("--id-column")] = "id",
    text_column: Annotated[str, typer.Option("--text-column")] = "text",
    limit: Annotated[int | None, typer.Option("--limit", help="Import the first N notes.")] = None,
    audit_share: Annotated[
        float, typer.Option("--audit-share", help="Random share flagged audit (unbiased accuracy).")
    ] = 0.10,
    double_share: Annotated[
        float, typer.Option("--double-share", help="Share reviewed by two validators.")
    ] = 0.05,
    auto_accept_precision: Annotated[
        float | None,
        typer.Option(
            "--auto-accept-precision",
            envvar="MEDNER_AUTO_ACCEPT_PRECISION",
            min=0.5,
            max=1.0,
            help="Skip review for notes whose entities all reach the confidence at which the "
            "audit share showed this precision (docs/review.md, 'Routing').",
        ),
    ] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Extract each note with the model and queue it for review, text and predictions."""
    from medner.inference import read_notes
    from medner.review import import_notes

    try:
        loaded = load_model_ref(model)
        notes = read_notes(input_, id_column, text_column, "skip")
        if limit is not None:
            notes = itertools.islice(notes, limit)
        with _queue(database_url) as engine:
            threshold = None
            if auto_accept_precision is not None:
                from medner.review.routing import current_threshold

                threshold = current_threshold(engine, auto_accept_precision)
                err.print(
                    f"auto-accept threshold for precision {auto_accept_precision:g}: "
                    + (f"{threshold:.4f}" if threshold is not None else "none yet (too few "
                       "audit reviews): every note is reviewed"),
                    highlight=False,
                )  # fmt: skip
            summary = import_notes(
                engine,
                loaded,
                resolve_model(model),
                notes,
                audit_share,
                double_share,
                threshold=threshold,
            )
    except MednerError as exc:
        fail(exc)
    for reason in summary.skipped:
        err.print(f"[yellow]skipped[/] {reason}", highlight=False)
    err.print(
        f"queued {summary.imported} notes ({summary.audit} audit, {summary.double} for two "
        f"validators, {summary.auto_accepted} auto-accepted); {len(summary.skipped)} skipped"
    )


@review_app.command("reprioritize")
def reprioritize_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Give the notes still waiting the model's predictions and their place by its
    uncertainty (`medner retrain` does this on promotion)."""
    from medner.review import reprioritize

    try:
        loaded = load_model_ref(model)
        with _queue(database_url) as engine:
            n = reprioritize(engine, loaded, resolve_model(model))
    except MednerError as exc:
        fail(exc)
    err.print(f"{n} waiting notes re-ranked")


@review_app.command("export")
def export_cli(
    output: Annotated[Path, typer.Option("--output", "-o", help="Validated notes, JSONL.")],
    since: Annotated[
        datetime | None, typer.Option("--since", help="Only reviews submitted from this date.")
    ] = None,
    audit_only: Annotated[
        bool, typer.Option("--audit-only", help="Only the audit sample.")
    ] = False,
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Write the validated notes as JSONL ({"id", "text", "entities"}) and a manifest."""
    from medner.review import export_reviews

    try:
        with _queue(database_url) as engine:
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            summary = export_reviews(engine, output, since, audit_only)
    except MednerError as exc:
        fail(exc)
    err.print(
        f"{summary.notes} validated notes, {summary.entities} entities -> {output} "
        f"(+ {output.name}.manifest.json); {summary.skipped_purged} purged notes left out"
    )


@review_app.command("purge")
def purge_cli(
    retention_days: Annotated[
        int,
        typer.Option(
            "--retention-days",
            envvar="MEDNER_REVIEW_RETENTION_DAYS",
            help="Keep note text this long.",
        ),
    ] = 90,
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Remove the text of queued notes older than the retention period."""
    from medner.review import purge_text

    try:
        with _queue(database_url) as engine:
            removed = purge_text(engine, retention_days)
    except MednerError as exc:
        fail(exc)
    err.print(f"purged the text of {removed} notes older than {retention_days} days")


@review_app.command("export-labelstudio")
def export_labelstudio_cli(
    output: Annotated[Path, typer.Option("--output", "-o", help="Label Studio tasks, JSON.")],
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Write the queued notes as Label Studio tasks, the model's entities as predictions (the
    project's labelling config is printed)."""
    from medner.review.labelstudio import LABEL_CONFIG, export_tasks

    try:
        with _queue(database_url) as engine:
            n = export_tasks(engine, output)
    except MednerError as exc:
        fail(exc)
    err.print(f"{n} tasks -> {output}; the Label Studio project's labelling config:")
    print(LABEL_CONFIG, end="")


@review_app.command("import-labelstudio")
def import_labelstudio_cli(
    input_: Annotated[Path, typer.Option("--input", "-i", help="Label Studio's JSON export.")],
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Record Label Studio's annotations as reviews (exported medner tasks are matched)."""
    from medner.review.labelstudio import import_annotations

    try:
        with _queue(database_url) as engine:
            summary = import_annotations(engine, input_)
    except MednerError as exc:
        fail(exc)
    for problem in summary.problems:
        err.print(f"[yellow]left out[/] {problem}", highlight=False)
    err.print(f"{summary.reviews} reviews imported ({summary.new_tasks} new tasks)")


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


@app.command("kpis")
def kpis_cli(
    since: Annotated[
        datetime | None, typer.Option("--since", help="Reviews submitted from this date (UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--until", help="Reviews submitted before this date.")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Also one row per week, model, label or validator.")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="table, json or html.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (html: default kpis.html).")
    ] = None,
    manual_seconds: Annotated[
        float,
        typer.Option(
            "--manual-seconds",
            envvar="MEDNER_MANUAL_SECONDS_PER_NOTE",
            help="Seconds per note of manual data entry (the hours-saved baseline).",
        ),
    ] = 180.0,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Resamples of the F1 interval.")
    ] = 1000,
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """The business KPIs from the review record: live F1 on the audit share (with a 95 %
    interval), fix and miss rates, validator seconds per note, hours saved, agreement
    (docs/kpis.md)."""
    import json

    from rich.table import Table

    from medner.review.kpis import GROUPINGS, live_kpis
    from medner.review.report import COLUMNS, cell, render_html

    if format_ not in ("table", "json", "html"):
        fail(MednerError(f"--format must be table, json or html, not {format_!r}"))
    if by is not None and by not in GROUPINGS:
        fail(MednerError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}"))
    try:
        with _queue(database_url) as engine:
            summary = live_kpis(engine, _utc(since), _utc(until), by, manual_seconds, bootstrap)
    except MednerError as exc:
        fail(exc)
    if summary.overall.notes == 0:
        err.print("no review was submitted in this period")
    if format_ == "json":
        text = json.dumps(summary.to_dict(), indent=2, sort_keys=True)
        if output is not None:
            output.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
        return
    if format_ == "html":
        target = output or Path("kpis.html")
        meta = {
            "period": f"{summary.since or 'start'} to {summary.until or 'now'}",
            "backlog": f"{summary.backlog:,} notes waiting",
            "manual baseline": f"{summary.manual_seconds:g} s per note",
            "skipped review": _routing_line(summary),
        }
        try:
            page = render_html(summary.overall, summary.weeks, summary.groups, by, meta)
        except MednerError as exc:
            fail(exc)
        target.write_text(page, encoding="utf-8")
        err.print(f"KPI report -> {target}")
        return
    table = Table(title=f"KPIs ({summary.backlog:,} notes waiting for review)")
    table.add_column(by or "period")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for row in [summary.overall, *summary.groups]:
        table.add_row(row.group, *(cell(row, name) for name, _ in COLUMNS))
    out.print(table)
    out.print(f"skipped review: {_routing_line(summary)}", highlight=False)


def _routing_line(summary: Any) -> str:
    r = summary.routing
    if r is None or r.notes == 0:
        return "no note queued in this period"
    precision = (
        f"precision {r.precision:.3f} on {r.audit_entities:,} audit entities that would have"
        if r.precision is not None
        else "no audit note that would have skipped yet"
    )
    return f"{r.skipped:,} of {r.notes:,} notes ({r.skipped / r.notes:.1%}); {precision}"


reviewers_app = typer.Typer(
    help="The validation team: add validators and leads.", no_args_is_help=True
)
app.add_typer(reviewers_app, name="reviewers")


@reviewers_app.command("add")
def reviewers_add_cli(
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option("--role", help="validator or lead.")] = "validator",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    database_url: Annotated[str | None, typer.Option("--database-url", help=DB_HELP)] = None,
) -> None:
    """Add a validator (or a lead); the password is asked twice, and stored as a hash."""
    import sys

    from medner.review.accounts import add_reviewer

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with _queue(database_url) as engine:
            add_reviewer(engine, name, password, role)
    except MednerError as exc:
        fail(exc)
    err.print(f"{role} {name!r} added")
