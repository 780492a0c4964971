"""``medner batch``: extract entities from a table of notes with PySpark.

The job reads notes (Parquet, CSV, JSONL, or a database table), sets aside the rows it cannot
process, extracts entities through the one extraction path the API and ``medner extract`` call
(``medner.inference.entity_records``, the model loaded once per Python worker), and writes three
datasets under the output folder:

- ``entities/``: one row per entity (note id, start, end, text, label, confidence, sentence
  number, section heading, model version, and the note's metadata columns), partitioned by
  label;
- ``notes/``: one row per processed note (id, length, entity counts by label, status);
- ``quarantine/``: one row per note that could not be processed, with the reason.

Each dataset is overwritten as a whole, so a re-run over the same output replaces, never
duplicates. Note text is read but never written: ``entities`` holds only each entity's span text.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medner.errors import MednerError
from medner.labels import MEANING_FIELDS
from medner.models.base import model_version

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 100_000
LABEL_COLUMNS = {"DISEASE": "diseases", "TREATMENT": "treatments", "CHEMICAL": "chemicals"}
_REPLACEMENT = "\ufffd"
REASON = "__reason"  # the quarantine reason of a note, null when it can be processed


def _meaning_fields(T: Any) -> list[Any]:
    """The entity fields ``--meaning`` adds: assertion, concept and the diseases it treats."""
    concept = T.StructType(
        [T.StructField(name, T.StringType()) for name in ("system", "code", "name")]
    )
    return [
        T.StructField("assertion", T.StringType()),
        T.StructField("concept", concept),
        T.StructField("treats", T.ArrayType(T.IntegerType())),
    ]


@dataclass(slots=True)
class BatchConfig:
    """What one batch run reads, writes and how Spark runs."""

    model: Path
    output: Path
    input: Path | None = None
    db_url: str | None = None
    table: str | None = None
    id_column: str = "id"
    text_column: str = "text"
    master: str = "local[*]"
    max_chars: int = DEFAULT_MAX_CHARS
    partitions: int | None = None  # default: the input's, at least 2 per core
    sentence_cache: int | None = None  # sentences cached per worker (None: the model's default)
    spark_conf: dict[str, str] = field(default_factory=dict)
    profile: bool = False  # notes/ gains each note's numeric profile (JSON; no text)
    meaning: bool = False  # entities/ gains index, assertion, concept and treats (docs/meaning.md)


@dataclass(slots=True)
class BatchSummary:
    """Counts of one batch run."""

    notes: int
    quarantined: int
    entities: int
    seconds: float = 0.0


def spark_session(
    master: str, conf: dict[str, str] | None = None, app: str = "medner-batch"
) -> SparkSession:
    """A Spark session whose Python workers run this interpreter (and so see medner)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    if master:  # empty: the master comes from spark-submit
        builder = builder.master(master)
    builder = (
        builder.appName(app)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read_input(spark: SparkSession, config: BatchConfig) -> DataFrame:
    """The notes as a DataFrame, from a file (by extension) or a database table."""
    if config.input is not None:
        path = str(config.input)
        suffix = config.input.suffix.lower()
        if suffix in {".parquet", ".pq"} or config.input.is_dir():
            return spark.read.parquet(path)
        if suffix == ".csv":
            return (
                spark.read.option("header", True)
                .option("multiLine", True)
                .option("escape", '"')
                .csv(path)
            )
        if suffix in {".jsonl", ".json"}:
            return spark.read.option("mode", "PERMISSIVE").json(path)
        raise MednerError(f"{path}: unknown input format; use .parquet, .csv or .jsonl")
    if config.db_url and config.table:
        if config.db_url.startswith("jdbc:"):
            return (
                spark.read.format("jdbc")
                .option("url", config.db_url)
                .option("dbtable", config.table)
                .load()
            )
        return _read_sqlalchemy(spark, config.db_url, config.table)
    raise MednerError("give --input PATH, or --db-url URL with --table NAME")


def _read_sqlalchemy(spark: SparkSession, url: str, table: str) -> DataFrame:
    """Read a table through SQLAlchemy in the driver (for SQLite and small tables; use a
    ``jdbc:`` URL and the database's JDBC driver for large ones)."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_table(table, conn)
    finally:
        engine.dispose()
    return spark.createDataFrame(frame)


# -- worker side ----------------------------------------------------------------------------
_MODELS: dict[str, Any] = {}


def _worker_model(path: str, sentence_cache: int | None) -> Any:
    """The model, loaded once per Python worker process and reused by every task it runs."""
    model = _MODELS.get(path)
    if model is None:
        from medner.models import load_model, set_sentence_cache

        model = load_model(path)
        set_sentence_cache(model, sentence_cache)
        _MODELS[path] = model
    return model


def _extract_batches(
    batches: Iterator[pd.DataFrame],
    model_path: str,
    text_column: str,
    version: str,
    sentence_cache: int | None = None,
    profile: bool = False,
    meaning: bool = False,
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: each note row without its text, plus its length and its entities as
    structs (and, with ``profile``, its numeric profile as JSON); a row with a quarantine
    reason (``__reason``) is passed through with none."""
    import json

    import pandas as pd

    from medner.inference.extract import entity_records
    from medner.inference.profile import note_profile, read_vocabulary

    model = _worker_model(model_path, sentence_cache)
    vocabulary = read_vocabulary(Path(model_path)) if profile else None
    for frame in batches:
        entities_col: list[list[dict[str, Any]]] = []
        lengths: list[int | None] = []
        profiles: list[str | None] = []
        for text, reason in zip(frame[text_column], frame[REASON], strict=True):
            lengths.append(len(text) if isinstance(text, str) else None)
            if isinstance(reason, str) or not isinstance(text, str):
                entities_col.append([])
                profiles.append(None)
                continue
            records = entity_records(
                model,
                text,
                sentences=True,
                sections=True,
                meaning=MEANING_FIELDS if meaning else (),
            )
            if meaning:
                for record in records:  # the contract's three concept fields, as a struct
                    concept = record.get("concept")
                    if concept is not None:
                        record["concept"] = {k: concept[k] for k in ("system", "code", "name")}
            entities_col.append(records)
            if profile:
                numbers = note_profile(text, records, model.labels, vocabulary)
                profiles.append(json.dumps(numbers, sort_keys=True))
        out = frame.drop(columns=[text_column])
        out["length"] = pd.array(lengths, dtype="Int32")
        out["entities"] = entities_col
        out["model_version"] = version
        if profile:
            out["profile"] = profiles
        yield out


# -- driver side ----------------------------------------------------------------------------
def run_batch(config: BatchConfig, spark: SparkSession | None = None) -> BatchSummary:
    """Run the batch job; returns the counts. See the module docstring for what it writes."""
    import time

    from pyspark.sql import Observation
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from medner.models import load_model

    started = time.perf_counter()
    model_dir = config.model.resolve()
    load_model(model_dir)  # fail fast, in the driver, on a bad model
    version = model_version(model_dir)
    own_session = spark is None
    session = spark or spark_session(config.master, config.spark_conf)
    try:
        logger.info("stage 1/4: reading notes")
        notes = read_input(session, config)
        columns = notes.columns
        for column in (config.id_column, config.text_column):
            if column not in columns:
                raise MednerError(
                    f"no column {column!r} in the input (columns: {', '.join(columns)}); "
                    "use --id-column / --text-column"
                )
        metadata = [c for c in columns if c not in {config.id_column, config.text_column}]
        text = F.col(config.text_column)
        text_type = notes.schema[config.text_column].dataType
        if isinstance(text_type, T.StringType):
            reason = (
                F.when(text.isNull(), F.lit("text is null"))
                .when(F.length(F.trim(text)) == 0, F.lit("text is empty"))
                .when(
                    F.length(text) > config.max_chars,
                    F.lit(f"text longer than {config.max_chars} characters"),
                )
                .when(F.instr(text, _REPLACEMENT) > 0, F.lit("text is not valid UTF-8"))
                .otherwise(F.lit(None).cast("string"))
            )
            notes = notes.withColumn(REASON, reason)
        else:
            # e.g. a binary column (bytes, valid UTF-8 or not): every row is set aside, as
            # `medner extract` refuses such a file (the fix is a string column at the source);
            # the bytes themselves are dropped, never decoded
            not_string = f"text is not a string ({text_type.simpleString()} column)"
            notes = notes.withColumn(
                REASON, F.when(text.isNull(), F.lit("text is null")).otherwise(F.lit(not_string))
            ).withColumn(config.text_column, F.lit(None).cast("string"))
        # A small file is one input partition: spread it so every core works.
        partitions = config.partitions or max(
            notes.rdd.getNumPartitions(), 2 * session.sparkContext.defaultParallelism
        )
        # Hash on the text: copies of a note land in one partition, so one worker's sentence
        # cache serves them all.
        notes = notes.repartition(partitions, F.xxhash64(F.coalesce(text, F.lit(""))))

        logger.info(
            "stage 2/4: extracting entities and writing them (one pass; unprocessable notes "
            "set aside)"
        )
        entity_type = T.ArrayType(
            T.StructType(
                [
                    T.StructField("start", T.IntegerType()),
                    T.StructField("end", T.IntegerType()),
                    T.StructField("text", T.StringType()),
                    T.StructField("label", T.StringType()),
                    T.StructField("confidence", T.DoubleType()),
                    T.StructField("sentence", T.IntegerType()),
                    T.StructField("section", T.StringType()),
                    *(_meaning_fields(T) if config.meaning else []),
                ]
            )
        )
        schema = T.StructType(
            [f for f in notes.schema.fields if f.name != config.text_column]
            + [
                T.StructField("length", T.IntegerType()),
                T.StructField("entities", entity_type),
                T.StructField("model_version", T.StringType()),
                *([T.StructField("profile", T.StringType())] if config.profile else []),
            ]
        )
        text_column, cache, profile = config.text_column, config.sentence_cache, config.profile
        meaning = config.meaning
        # The totals are observed while the first write runs: no extra pass over the data.
        totals = Observation("totals")
        aggregates = (
            F.count(F.lit(1)).alias("notes"),
            F.count(F.col(REASON)).alias("quarantined"),
            F.sum(F.size("entities")).alias("entities"),
        )
        # the results hold no note text, so keeping them for the three writes is cheap
        results = (
            notes.mapInPandas(
                lambda it: _extract_batches(
                    it, str(model_dir), text_column, version, cache, profile, meaning
                ),
                schema,
            )
            .observe(totals, *aggregates)
            .persist()
        )
        joined = results.filter(F.col(REASON).isNull())

        # The entities are written first: that write runs the extraction and fills the cache,
        # and the two small datasets after it are read from the cache.
        entities = joined.select(
            F.col(config.id_column).alias("note_id"),
            F.posexplode("entities").alias("index", "e"),
            "model_version",
            *metadata,
        ).select(
            "note_id",
            "e.start",
            "e.end",
            "e.text",
            "e.label",
            "e.confidence",
            "e.sentence",
            "e.section",
            *(["index", "e.assertion", "e.concept", "e.treats"] if config.meaning else []),
            "model_version",
            *metadata,
        )
        entities.write.mode("overwrite").partitionBy("label").parquet(
            str(config.output / "entities")
        )

        logger.info("stage 3/4: writing notes")

        def has_label(label: str) -> Any:
            return lambda e: e["label"] == label  # one-argument lambda, as Spark requires

        counts = [
            F.size(F.filter("entities", has_label(label))).alias(name)
            for label, name in LABEL_COLUMNS.items()
        ]
        processed = joined.select(
            F.col(config.id_column).alias("note_id"),
            "length",
            *counts,
            F.size("entities").alias("entities"),
            F.lit("ok").alias("status"),
            "model_version",
            *(["profile"] if config.profile else []),
            *metadata,
        )
        processed.write.mode("overwrite").parquet(str(config.output / "notes"))

        logger.info("stage 4/4: writing the quarantine")
        quarantine = results.filter(F.col(REASON).isNotNull()).select(
            F.col(config.id_column).alias("note_id"),
            F.col(REASON).alias("reason"),
            "length",
            *metadata,
        )
        quarantine.write.mode("overwrite").parquet(str(config.output / "quarantine"))

        try:
            counted = totals.get
        except Exception:  # no metrics observed (Spark skips them when no note reaches the
            # entities write, e.g. every note quarantined): count in one more pass
            row = results.agg(*aggregates).first()
            counted = row.asDict() if row is not None else {}
        summary = BatchSummary(
            notes=int(counted["notes"]),
            quarantined=int(counted["quarantined"]),
            entities=int(counted["entities"] or 0),
            seconds=time.perf_counter() - started,
        )
        results.unpersist()
        return summary
    finally:
        if own_session:
            session.stop()
