"""The ``medner`` command: one entry point, a subcommand per lifecycle stage.

Results go to stdout (and only results: ``evaluate --format json`` prints nothing else); logs and
progress bars go to stderr. Commands are thin: each parses options and calls a typed function.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from medner.batch.job import DEFAULT_MAX_CHARS
from medner.cli.common import (
    DEFAULT_NOTES,
    DEFAULT_TRAIN,
    MODEL_HELP,
    app,
    err,
    fail,
    load_model_ref,
    out,
    progress_bar,
    resolve_model,
    train_with_progress,
)
from medner.data.corpora import corpus_path
from medner.errors import MednerError
from medner.labels import MEANING_FIELDS
from medner.models.base import set_sentence_cache
from medner.models.refs import is_registry_ref

__all__ = ["app", "main"]

DEFAULT_MODEL = Path("models/default")

TrackOption = Annotated[
    bool,
    typer.Option(
        "--track/--no-track",
        envvar="MEDNER_TRACK",
        help="Log the run to MLflow (MLFLOW_TRACKING_URI, default ./mlflow).",
    ),
]


@app.command("train")
def train_cli(
    train: Annotated[
        list[Path], typer.Option("--train", help="Training data (repeat for several corpora).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    dev: Annotated[
        list[Path] | None, typer.Option("--dev", help="Dev data, scored after training.")
    ] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="Model backend.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML training config (see TrainConfig).")
    ] = None,
    config_section: Annotated[
        str | None,
        typer.Option("--config-section", help="Read the config from this key of the file."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value, e.g. --set crf.c2=0.1."),
    ] = None,
    track: TrackOption = True,
    run_name: Annotated[str | None, typer.Option("--run-name", help="MLflow run name.")] = None,
    run_file: Annotated[
        Path | None,
        typer.Option("--run-file", help="Write the MLflow run id and model URI here (JSON)."),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile/--no-profile",
            help="Write the training data's reference profile and vocabulary into the model "
            "(what drift is measured against; docs/monitoring.md).",
        ),
    ] = True,
) -> None:
    """Train a model and save it as one directory (weights, config, metrics, model card, the
    reference profile of its training data); log it to MLflow (parameters, dev scores, dataset
    digests, commit, pyfunc model)."""
    try:
        overrides = [*([f"backend={backend}"] if backend else []), *(set_ or [])]
        metrics, resolved = train_with_progress(
            train, output, dev or [], config, overrides, config_section
        )
        dev_metrics = metrics.get("dev")
        if isinstance(dev_metrics, dict):
            err.print(f"dev strict micro F1: [bold]{dev_metrics['micro']['f1']:.4f}[/]")
        if profile:
            _write_profile(output, train, dev or [])
        if track:
            from medner.tracking.runs import log_training_run

            run = log_training_run(output, resolved, train, dev or [], metrics, run_name)
            err.print(f"MLflow run {run.run_id} (model {run.model_uri})")
            if run_file is not None:
                run.write(run_file)
        elif run_file is not None:
            raise MednerError("--run-file needs tracking on (drop --no-track)")
    except MednerError as exc:
        fail(exc)


def _write_profile(model_dir: Path, data: list[Path], held_out: list[Path]) -> None:
    from medner.data.documents import load_documents
    from medner.models.base import load_model
    from medner.monitoring.profile import write_reference

    texts = [d.text for d in load_documents(data)]
    other = [d.text for d in load_documents(held_out)] if held_out else []
    reference = write_reference(load_model(model_dir), model_dir, texts, other)
    err.print(
        f"reference profile of {reference['notes']:,} {'held-out' if other else 'training'} "
        f"notes and a vocabulary of {reference['vocabulary_size']:,} words -> {model_dir}"
    )


@app.command("profile")
def profile_cli(
    model: Annotated[Path, typer.Argument(help="Trained model directory.")],
    data: Annotated[
        list[Path], typer.Option("--data", help="The data the model was trained on (repeat).")
    ],
    held_out: Annotated[
        list[Path] | None,
        typer.Option(
            "--held-out",
            help="Notes of the same source the model never trained on (its dev split): the "
            "profile is of these, so same-source notes do not read as drift.",
        ),
    ] = None,
) -> None:
    """Write the reference profile (numbers only) and vocabulary of a model's training data
    into its directory, for a model trained before `medner train` wrote them; `medner
    monitor` measures drift against it."""
    try:
        _write_profile(model, data, held_out or [])
    except MednerError as exc:
        fail(exc)


@app.command("monitor")
def monitor_cli(
    since: Annotated[str, typer.Option("--since", help="24h, 7d or a date (UTC).")] = "24h",
    until: Annotated[
        str | None, typer.Option("--until", help="End of the window (a date); default now.")
    ] = None,
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            help="'model' (its training data's profile) or a period of the log: DATE..DATE.",
        ),
    ] = "model",
    model: Annotated[
        Path, typer.Option("--model", "-m", help="The model directory whose profile to use.")
    ] = DEFAULT_MODEL,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Also per value of this segment field.")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="table, json or html.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (html: default drift.html).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="The store (default MEDNER_DATABASE_URL).")
    ] = None,
) -> None:
    """Drift of the logged notes against a reference, per feature (and segment): numbers
    only. Exit 0 with no verdict when the window is too small; exit 1 when a feature drifts."""
    from rich.table import Table

    from medner.monitoring.monitor import (
        MIN_NOTES,
        load_rows,
        monitor,
        parse_since,
        reference_from_rows,
        render_html,
    )
    from medner.monitoring.profile import read_reference
    from medner.store.db import engine as make_engine
    from medner.store.db import migrate

    if format_ not in ("table", "json", "html"):
        fail(MednerError(f"--format must be table, json or html, not {format_!r}"))
    try:
        start = parse_since(since)
        end = parse_since(until) if until else None
        migrate(database_url)
        engine = make_engine(database_url)
        try:
            if reference == "model":
                ref = read_reference(model)
                name = f"the reference profile of {model} ({ref.get('source', 'training')})"
            elif ".." in reference:
                first, last = reference.split("..", 1)
                rows = load_rows(engine, parse_since(first), parse_since(last))
                ref = reference_from_rows(rows)
                name = f"the log from {first} to {last} ({len(rows):,} notes)"
                if not rows:
                    raise MednerError(f"--reference {reference}: the log has no note then")
            else:
                raise MednerError("--reference is 'model' or DATE..DATE")
            report = monitor(engine, ref, name, start, end, segment)
            window = load_rows(engine, start, end) if format_ == "html" else []
        finally:
            engine.dispose()
    except MednerError as exc:
        fail(exc)
    if report.drift is None:
        err.print(
            f"{report.notes} notes in the window: too few for a verdict ({MIN_NOTES} needed); "
            "no drift is reported either way"
        )
    if format_ == "json":
        print(json.dumps(report.to_dict(), indent=2))
    elif format_ == "html":
        target = output or Path("drift.html")
        target.write_text(render_html(report, ref, window), encoding="utf-8")
        err.print(f"drift report -> {target}")
    elif report.verdicts:
        table = Table(title=f"{report.notes:,} notes against {report.reference}")
        for col in ("feature", "test", "statistic", "p", "Wasserstein (ref. SD)", "drift"):
            table.add_column(col, justify="left" if col == "feature" else "right")
        for v in report.verdicts:
            table.add_row(
                v.feature,
                v.test,
                f"{v.statistic:.3f}",
                f"{v.p_value:.2g}",
                "" if v.distance is None else f"{v.distance:.3f}",
                "[red]yes[/]" if v.drift else "no",
            )
        out.print(table)
        for name, verdicts in sorted(report.segments.items()):
            moved = [v.feature for v in verdicts if v.drift]
            shown = ", ".join(moved) if moved else ("none" if verdicts else "too few notes")
            out.print(f"{segment}={name} ({report.segment_notes[name]:,} notes): drift in {shown}")
    if report.drift:
        raise typer.Exit(code=1)


@app.command("evaluate")
def evaluate_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled data to score on.")],
    format_: Annotated[
        str, typer.Option("--format", "-f", help="'json' (stdout holds only the JSON) or 'table'.")
    ] = "table",
    errors: Annotated[
        Path | None, typer.Option("--errors", help="Write false positives/negatives (JSONL).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the scores JSON here.")
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option("--plots", help="Write per-label F1 and label-confusion CSVs here."),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option("--bootstrap", min=0, help="Add 95% bootstrap intervals (N resamples)."),
    ] = 0,
    context: Annotated[
        int,
        typer.Option(
            "--context",
            min=0,
            help="Corpora stored one sentence per document, in order: give each document its N "
            "neighbours on either side, as the rest of its note: a transformer trained with "
            "context_words reads their words, and abbreviations defined there are carried by a "
            "model with abbreviations on (see `medner set-decoding`). Other models: an error.",
        ),
    ] = 0,
    track: TrackOption = True,
    run_file: Annotated[
        Path | None,
        typer.Option("--run-file", help="Log the scores as test.* metrics into this training run."),
    ] = None,
) -> None:
    """Strict entity-level precision, recall and F1 per label (token-weighted F1 beside it)."""
    from medner.data.documents import load_documents
    from medner.evaluation.evaluate import evaluate_model, write_error_report, write_plot_data

    if format_ not in {"json", "table"}:
        fail(MednerError(f"--format must be 'json' or 'table', not {format_!r}"))
    try:
        loaded = load_model_ref(model)
        documents = load_documents([data])
        with progress_bar(transient=True) as progress:
            task = progress.add_task("evaluating", total=len(documents))
            result = evaluate_model(
                loaded, documents, lambda: progress.advance(task), bootstrap, context
            )
        scores = result.to_dict()
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
        if plots is not None:
            write_plot_data(documents, result, plots)
        if track:
            from medner.tracking.runs import RunInfo, log_evaluation

            run_id = RunInfo.read(run_file).run_id if run_file else None
            logged = log_evaluation(scores, [data], model, run_id)
            err.print(f"scores logged to MLflow run {logged}")
    except MednerError as exc:
        fail(exc)
    if errors is not None:
        n = write_error_report(documents, result.predictions, errors)
        err.print(f"{n} errors written to {errors}")
    if format_ == "json":
        sys.stdout.write(json.dumps(scores) + "\n")
        return
    table = Table(title=f"strict entity-level scores on {data} ({result.sentences} sentences)")
    ci = result.ci95 or {}
    columns = ("label", "precision", "recall", "F1", *(["F1 95% CI"] if ci else []), "support")
    for col in columns:
        table.add_column(col, justify="right" if col != "label" else "left")

    def interval(name: str) -> list[str]:
        return [f"{ci[name][0]:.3f}-{ci[name][1]:.3f}"] if ci else []

    for label, s in sorted(result.scores.per_label.items()):
        table.add_row(
            label,
            f"{s.precision:.4f}",
            f"{s.recall:.4f}",
            f"{s.f1:.4f}",
            *interval(label),
            str(s.support),
        )
    m = result.scores.micro
    table.add_row(
        "micro",
        f"{m.precision:.4f}",
        f"{m.recall:.4f}",
        f"[bold]{m.f1:.4f}[/]",
        *interval("micro"),
        str(m.support),
    )
    table.add_row("macro", "", "", f"{result.scores.macro_f1:.4f}", "")
    out.print(table)
    out.print(f"token-level weighted F1 (course notebook's metric): {result.token_weighted_f1:.4f}")


@app.command("behaviour")
def behaviour_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    suite: Annotated[
        Path | None, typer.Option("--suite", help="Suite YAML (default: the shipped one).")
    ] = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="'table' or 'json'.")] = "table",
) -> None:
    """Run the behaviour suite (clinical phrases, Indian prescription style, negations,
    headings) and report the pass rate; exit 1 below the suite's min_passed."""
    from dataclasses import asdict

    from medner.evaluation.behaviour import load_suite, run_suite

    try:
        result = run_suite(load_model_ref(model), load_suite(suite))
    except MednerError as exc:
        fail(exc)
    if format_ == "json":
        payload = {
            "passed": result.passed,
            "cases": len(result.cases),
            "pass_rate": round(result.pass_rate, 4),
            "min_passed": result.min_passed,
            "results": [asdict(c) for c in result.cases],
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        table = Table(title="behaviour suite")
        for col in ("case", "result", "missing", "should not be entities"):
            table.add_column(col)
        for c in result.cases:
            table.add_row(
                c.name,
                "[green]pass[/]" if c.passed else "[red]fail[/]",
                ", ".join(c.missing),
                ", ".join(c.forbidden_found),
            )
        out.print(table)
        out.print(
            f"{result.passed} of {len(result.cases)} cases pass ({result.pass_rate:.0%}); "
            f"the suite asks for at least {result.min_passed}"
        )
    if result.passed < result.min_passed:
        raise typer.Exit(code=1)


MEANING_HELP = (
    "Add what each mention means: assertion (present, absent, possible, history, family, "
    "planned), concept (generic drug, ICD-10-CM candidate) and, on each treatment, the diseases "
    "it treats (docs/meaning.md)."
)


@app.command("extract")
def extract_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    input_: Annotated[
        Path,
        typer.Option("--input", "-i", help="Notes: .txt (or a folder), .jsonl, .csv, .parquet."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Entities out, JSONL.")],
    id_column: Annotated[str, typer.Option("--id-column", help="Id field/column.")] = "id",
    text_column: Annotated[str, typer.Option("--text-column", help="Text field/column.")] = "text",
    include_text: Annotated[
        bool, typer.Option("--include-text", help="Copy each note's text into the output.")
    ] = False,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    sentence_cache: Annotated[
        int | None,
        typer.Option(
            "--sentence-cache",
            help="Sentences whose entities are kept in memory for reuse (0 turns it off).",
        ),
    ] = None,
    bad_rows: Annotated[
        str,
        typer.Option(
            "--bad-rows",
            help="A malformed CSV row: 'skip' (counted as not processed, its reason naming "
            "file and row) or 'stop' (the run ends with the error).",
        ),
    ] = "skip",
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Add each note's numeric profile (lengths, shares, entity rates; no text) to "
            "its line, as the API logs it for drift (docs/monitoring.md).",
        ),
    ] = False,
    meaning: Annotated[bool, typer.Option("--meaning", help=MEANING_HELP)] = False,
) -> None:
    """Extract entities from notes, streaming: one JSONL line per input note, in order."""
    from medner.inference import count_notes, extract_file, read_notes

    try:
        loaded = load_model_ref(model)
        set_sentence_cache(loaded, sentence_cache)
        profiler = None
        if profile:
            from medner.inference.profile import note_profile, read_vocabulary

            vocabulary = read_vocabulary(resolve_model(model))

            def profiler(text: str, records: list[dict[str, Any]]) -> dict[str, float]:
                return note_profile(text, records, loaded.labels, vocabulary)

        if bad_rows not in ("skip", "stop"):
            raise MednerError(f"--bad-rows {bad_rows!r}: use skip or stop")
        notes = read_notes(input_, id_column, text_column, bad_rows)  # type: ignore[arg-type]
        with progress_bar() as progress:
            task = progress.add_task("extracting", total=count_notes(input_), visible=show_progress)
            summary = extract_file(
                loaded,
                notes,
                output,
                include_text,
                lambda _n: progress.advance(task),
                profiler,
                MEANING_FIELDS if meaning else (),
            )
    except MednerError as exc:
        fail(exc)
    counts = ", ".join(f"{n} {label}" for label, n in sorted(summary.entities.items()))
    err.print(
        f"{summary.notes} notes ({summary.failed} not processed) -> {output}: "
        f"{counts or 'no entities'}"
    )


@app.command("batch")
def batch_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    input_: Annotated[
        Path | None, typer.Option("--input", "-i", help="Notes: Parquet, CSV or JSONL.")
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option("--db-url", help="Database URL (SQLAlchemy, or jdbc: with the driver jar)."),
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="Table of notes.")] = None,
    id_column: Annotated[str, typer.Option("--id-column")] = "id",
    text_column: Annotated[str, typer.Option("--text-column")] = "text",
    master: Annotated[str, typer.Option("--master", help="Spark master.")] = "local[*]",
    max_chars: Annotated[
        int, typer.Option("--max-chars", help="Longer notes go to quarantine.")
    ] = DEFAULT_MAX_CHARS,
    partitions: Annotated[
        int | None, typer.Option("--partitions", help="Repartition the notes first.")
    ] = None,
    conf: Annotated[
        list[str] | None,
        typer.Option("--conf", help="Spark setting KEY=VALUE (repeatable), as spark-submit."),
    ] = None,
    sentence_cache: Annotated[
        int | None,
        typer.Option("--sentence-cache", help="Sentences cached per worker (0 turns it off)."),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option("--profile", help="notes/ gains each note's numeric profile (JSON; no text)."),
    ] = False,
    meaning: Annotated[bool, typer.Option("--meaning", help=MEANING_HELP)] = False,
) -> None:
    """Extract entities from a table of notes on Spark: entities/, notes/, quarantine/."""
    from medner.batch.job import BatchConfig, run_batch

    spark_conf: dict[str, str] = {}
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(MednerError(f"--conf {item!r}: expected KEY=VALUE"))
        spark_conf[key] = value
    try:
        model_dir = resolve_model(model)
    except MednerError as exc:
        fail(exc)
    config = BatchConfig(
        model=model_dir,
        output=output,
        input=input_,
        db_url=db_url,
        table=table,
        id_column=id_column,
        text_column=text_column,
        master=master,
        max_chars=max_chars,
        partitions=partitions,
        spark_conf=spark_conf,
        sentence_cache=sentence_cache,
        profile=profile,
        meaning=meaning,
    )
    try:
        summary = run_batch(config)
    except MednerError as exc:
        fail(exc)
    err.print(
        f"{summary.notes} notes: {summary.notes - summary.quarantined} processed, "
        f"{summary.quarantined} quarantined, {summary.entities} entities -> {output} "
        f"in {summary.seconds:.1f} s"
    )


@app.command("analytics")
def analytics_cli(
    entities: Annotated[
        Path, typer.Option("--entities", help="entities/ folder written by medner batch.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for tables + report.")],
    top: Annotated[int, typer.Option("--top", help="Rows of the top-entity tables.")] = 20,
    filters: Annotated[
        bool | None,
        typer.Option(
            "--filters/--no-filters",
            help="Count present diseases, generic names and linked pairs only (docs/meaning.md); "
            "the default when the entities carry them (medner batch --meaning).",
        ),
    ] = None,
) -> None:
    """Disease → treatments dictionary and top entities (CSV, JSON and an HTML report)."""
    from medner.analytics.report import run_analytics

    try:
        tables = run_analytics(entities, output, top, filters)
    except MednerError as exc:
        fail(exc)
    names = ", ".join(f"{t.name} ({len(t.rows)})" for t in tables)
    err.print(f"wrote {names} and report.html to {output}")


@app.command("clusters")
def clusters_cli(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cluster file to write.")],
    notes: Annotated[
        Path, typer.Option("--notes", help="Unlabelled notes (any notes format).")
    ] = DEFAULT_NOTES,
    text_column: Annotated[str, typer.Option("--text-column")] = "transcription",
    corpus: Annotated[
        list[Path] | None, typer.Option("--corpus", help="Corpora whose text (not labels) to add.")
    ] = None,
) -> None:
    """Learn the word clusters used as CRF features from unlabelled text."""
    from medner.data.documents import load_documents
    from medner.inference import read_notes
    from medner.training.clusters import learn_clusters, write_clusters

    corpora = (
        corpus
        if corpus is not None
        else [
            corpus_path(ref)
            for ref in (
                "biotext/train",
                "ncbi-disease/train",
                "ncbi-disease/devel",
                "bc5cdr/train",
                "bc5cdr/devel",
            )
        ]
    )
    try:
        texts = [n.text for n in read_notes(notes, text_column=text_column) if n.text]
        texts += [d.text for d in load_documents(corpora)]
        clusters = learn_clusters(texts)
    except MednerError as exc:
        fail(exc)
    write_clusters(clusters, output)
    err.print(f"{len(clusters)} word clusters written to {output}")


PRETRAIN_CORPORA = [corpus_path(r) for r in ("biotext/train", "ncbi-disease/train", "bc5cdr/train")]


@app.command("pretrain-encoder")
def pretrain_encoder_cli(
    output: Annotated[Path, typer.Option("--output", "-o", help="Encoder directory to write.")],
    notes: Annotated[
        list[Path] | None,
        typer.Option("--notes", help="Unlabelled notes (any notes format; repeat)."),
    ] = None,
    text_column: Annotated[str, typer.Option("--text-column")] = "transcription",
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            "--corpus",
            help="Corpora whose text (not labels) to add; by default the training splits only, "
            "so that no dev or test text is seen.",
        ),
    ] = None,
    steps: Annotated[
        int, typer.Option("--steps", min=1, help="Optimiser steps of the whole model.")
    ] = 300,
    head_steps: Annotated[
        int,
        typer.Option("--head-steps", min=0, help="Steps on the output layer alone, first."),
    ] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", min=1e-7, help="Of the whole model.")
    ] = 5e-5,
    encoder: Annotated[
        str | None,
        typer.Option(
            "--encoder",
            help="Encoder to start from (default: the builtin MiniLM), e.g. a directory this "
            "command wrote, to pretrain it further: its output layer is kept, so --head-steps 0 "
            "will do.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 13,
) -> None:
    """Domain-adaptive pretraining: train the transformer's encoder further as a masked language
    model on unlabelled notes and corpus text; fine-tune on it with --set
    transformer.encoder=DIR."""
    from medner.data.documents import file_digest, load_documents
    from medner.inference import read_notes
    from medner.training.pretrain import PretrainConfig, pretrain_encoder

    note_files = notes if notes is not None else [DEFAULT_NOTES]
    corpora = corpus if corpus is not None else PRETRAIN_CORPORA
    if output.exists():
        fail(ValueError(f"{output} exists; choose a new encoder directory"))
    try:
        texts = [
            n.text for f in note_files for n in read_notes(f, text_column=text_column) if n.text
        ]
        texts += [d.text for d in load_documents(corpora)]
        sources = [{"path": str(p), "sha256": file_digest(p)} for p in [*note_files, *corpora]]
        config = PretrainConfig(
            **({"encoder": encoder} if encoder else {}),
            steps=steps,
            head_steps=head_steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
        )
        with progress_bar() as bar:
            task = bar.add_task("pretraining (masked LM)", total=head_steps + steps)

            def on_step(step: int, loss: float) -> None:
                bar.update(task, completed=step, description=f"pretraining, loss {loss:.3f}")

            summary = pretrain_encoder(texts, output, config, sources, on_step)
    except MednerError as exc:
        fail(exc)
    err.print(
        f"wrote {output}: held-out masked-LM loss {summary['held_out_loss_before']} -> "
        f"{summary['held_out_loss_after']} ({summary['epochs']} epochs, {summary['seconds']} s)"
    )


@app.command("export-onnx")
def export_onnx_cli(
    model: Annotated[Path, typer.Argument(help="Transformer model directory (changed in place).")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write an int8 copy (dynamic quantisation).")
    ] = False,
) -> None:
    """Export a transformer model to ONNX for CPU inference with ONNX Runtime; loading it then
    uses ONNX Runtime unless MEDNER_TRANSFORMER_RUNTIME says otherwise."""
    from medner.models.onnx_export import export_onnx

    try:
        with err.status("exporting to ONNX..."):
            summary = export_onnx(model, int8=int8)
    except MednerError as exc:
        fail(exc)
    for item in summary["written"]:
        err.print(f"wrote {model / item['file']} ({item['bytes'] / 1e6:.1f} MB)")


@app.command("ensemble")
def ensemble_cli(
    models: Annotated[
        list[Path], typer.Argument(help="Single-member transformer models (same labels).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Ensemble directory to write.")],
    dev: Annotated[
        list[Path] | None,
        typer.Option("--dev", help="Dev data to score the ensemble on (model card, metrics)."),
    ] = None,
) -> None:
    """Combine separately trained transformer models (other seeds) into one ensemble model that
    averages their probabilities, with a model card naming each member; choose it over a single
    model on dev, never on test."""
    from medner.training.train import write_ensemble

    try:
        with err.status("combining and scoring..." if dev else "combining..."):
            metrics = write_ensemble(models, output, dev or [])
    except MednerError as exc:
        fail(exc)
    err.print(f"wrote an ensemble of {len(models)} members to {output}")
    if "dev" in metrics:
        err.print(f"dev strict micro F1: {metrics['dev']['micro']['f1']:.4f}")


@app.command("set-decoding")
def set_decoding_cli(
    model: Annotated[Path, typer.Argument(help="Trained model directory (any backend).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    abbreviations: Annotated[
        bool | None,
        typer.Option(
            "--abbreviations/--no-abbreviations",
            help="Carry a tagged long form's label to the other mentions of the abbreviation a "
            "note defines for it: 'chronic kidney disease (CKD)'.",
        ),
    ] = None,
    o_penalty: Annotated[
        float | None,
        typer.Option("--o-penalty", min=0.0, help="Log-probability taken off O when decoding."),
    ] = None,
) -> None:
    """Copy a trained model with other decoding settings, same weights; choose them on dev, never
    on test."""
    from medner.models.base import set_decoding

    settings = {
        k: v
        for k, v in {"abbreviations": abbreviations, "o_penalty": o_penalty}.items()
        if v is not None
    }
    try:
        changed = set_decoding(model, output, **settings)
    except MednerError as exc:
        fail(exc)
    for key, change in changed.items():
        err.print(f"{key}: {change['from']} -> {change['to']}")
    err.print(f"wrote {output}")


@app.command("calibrate")
def calibrate_cli(
    model: Annotated[Path, typer.Option("--model", "-m", help="Trained model directory.")],
    data: Annotated[
        list[Path],
        typer.Option(
            "--data",
            help="Gold or reviewed notes to fit on: training-time dev data, or the reviewed "
            "dataset (data/reviewed/notes.jsonl). Repeat for several.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Calibrated model directory.")],
    eval_: Annotated[
        list[Path] | None,
        typer.Option(
            "--eval",
            help="Notes to measure the calibration error on (say, the audit share: `medner "
            "review export --audit-only`); default: the --data notes.",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write ECE and reliability bins (JSON).")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="isotonic (the default, chosen on dev) or platt.")
    ] = "isotonic",
) -> None:
    """Calibrate entity confidence per label (isotonic regression of rightness on
    confidence); print the expected calibration error before and after; write a copy of the
    model that reports calibrated confidence."""
    import shutil

    from rich.table import Table

    from medner.data.documents import load_documents
    from medner.evaluation.calibration import measure, model_observations
    from medner.models.base import load_model

    try:
        loaded = load_model(model)
        fit_obs = model_observations(loaded, load_documents(data))
        eval_obs = model_observations(loaded, load_documents(eval_)) if eval_ else fit_obs
        result = measure(fit_obs, eval_obs, method=method)
    except (MednerError, ValueError) as exc:
        fail(exc)
    if not result.calibration.knots:
        fail(MednerError("too few predicted entities to fit a calibration (20 per label)"))
    table = Table(title=f"expected calibration error on {result.measured_on:,} entities")
    for col in ("label", "before", "after"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, (before, after) in result.per_label.items():
        table.add_row(label, f"{before:.4f}", f"{after:.4f}")
    table.add_row("all", f"{result.ece_before:.4f}", f"{result.ece_after:.4f}")
    err.print(table)
    if output.resolve() != model.resolve():
        shutil.copytree(model, output, dirs_exist_ok=True)
    loaded.metadata = {**loaded.metadata, "calibration": result.calibration.to_dict()}
    loaded.save(output)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    err.print(f"wrote {output} (calibrated on {result.fitted_on:,} entities)")


@app.command("demo")
def demo_cli(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = str(DEFAULT_MODEL),
    notes: Annotated[Path, typer.Option("--notes", help="Notes to extract from.")] = DEFAULT_NOTES,
    sample: Annotated[int, typer.Option("--sample", help="How many notes to extract from.")] = 25,
    output: Annotated[Path, typer.Option("--output", "-o", help="Entities out, JSONL.")] = Path(
        "runs/demo/entities.jsonl"
    ),
    show: Annotated[int, typer.Option("--show", help="Table rows to print.")] = 30,
) -> None:
    """The main job of `make run`: train the default model if missing, extract from a sample of
    MTSamples notes, print a table of entities and where the full JSONL went."""
    from itertools import islice

    from medner.inference import extract_file, read_notes

    try:
        if not is_registry_ref(model) and not (Path(model) / "config.json").is_file():
            err.print(
                f"no model at {model}: training the default disease + treatment model "
                f"on {DEFAULT_TRAIN}"
            )
            train_with_progress([DEFAULT_TRAIN], Path(model), [])
        loaded = load_model_ref(model)
        text_column = "transcription" if notes.suffix == ".parquet" else "text"
        id_column = "note_id" if notes.suffix == ".parquet" else "id"
        picked = list(islice(read_notes(notes, id_column, text_column), sample))
        with progress_bar(transient=True) as progress:
            task = progress.add_task("extracting", total=len(picked))
            summary = extract_file(loaded, picked, output, False, lambda _n: progress.advance(task))
    except MednerError as exc:
        fail(exc)
    table = Table(title=f"entities in the first {summary.notes} notes of {notes}")
    for col in ("note id", "entity", "label", "confidence"):
        table.add_column(col)
    rows = 0
    with output.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            for ent in record["entities"]:
                if rows < show:
                    table.add_row(
                        str(record["id"]), ent["text"], ent["label"], f"{ent['confidence']:.2f}"
                    )
                rows += 1
    out.print(table)
    counts = ", ".join(f"{n} {label}" for label, n in sorted(summary.entities.items()))
    out.print(f"{rows} entities ({counts}) in {summary.notes} notes; showing {min(rows, show)}.")
    out.print(f"full JSONL: [bold]{output}[/]")


# the lifecycle commands (prepare, tune, register, promote, models), the experiments and the
# API's (serve, keys)
# register themselves on `app`
import medner.cli.experiment  # noqa: E402
import medner.cli.learning  # noqa: E402
import medner.cli.lifecycle  # noqa: E402
import medner.cli.review  # noqa: E402
import medner.cli.serve  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    app(prog_name="medner")
