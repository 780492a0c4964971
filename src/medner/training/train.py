"""Train a model from corpora and save it as one self-describing directory."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import medner
from medner.data.documents import file_digest, load_documents
from medner.data.vocabulary import build_lexicon
from medner.data.vocabulary import versions as vocabulary_versions
from medner.errors import ConfigError
from medner.evaluation.evaluate import dev_context, dev_f1, evaluate_model
from medner.models.base import MODEL_CARD_FILE, NerModel, read_model_config
from medner.models.crf import read_clusters, train_crf
from medner.models.tagging import encode_document, sentence_token_spans
from medner.models.transformer import BUILTIN_ENCODER, ENCODER_DIR
from medner.training.config import TrainConfig
from medner.types import Document

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
ENVIRONMENT_FILE = "environment.json"
BUILTIN_CLUSTERS = "word_clusters.tsv"
_PACKAGES = ("python-crfsuite", "numpy", "pydantic", "pyarrow", "typer", "rich")


@dataclass(slots=True)
class TrainResult:
    """What a training run produced."""

    model: NerModel
    output: Path
    metrics: dict[str, Any]
    seconds: float


def resolve_clusters(spec: str) -> dict[str, str]:
    """Load the word clusters named by the config (``builtin`` or a file path)."""
    if spec == "builtin":
        with as_file(files("medner.resources").joinpath(BUILTIN_CLUSTERS)) as builtin:
            return read_clusters(builtin)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"clusters: no such file {path}")
    return read_clusters(path)


def _dataset_info(paths: Sequence[Path], docs: Sequence[Document]) -> dict[str, Any]:
    return {
        "paths": [str(p) for p in paths],
        "sha256": {str(p): file_digest(p) for p in paths},
        "sentences": len(docs),
        "entities": sum(len(d.entities) for d in docs),
    }


def environment_snapshot() -> dict[str, Any]:
    """Python, platform and package versions, to reproduce or debug a model."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "medner": medner.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": versions,
    }


def train(
    train_paths: Sequence[Path],
    output: Path,
    config: TrainConfig | None = None,
    dev_paths: Sequence[Path] = (),
    on_iteration: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a model on ``train_paths`` and save it to ``output``.

    The dev data, when given, never trains the model: it is scored after training and its
    metrics are stored with the model (``metrics.json``) and in the model card. With the
    transformer's ``early_stopping`` set, it also picks the epoch whose weights are kept.
    """
    config = config or TrainConfig()
    started = time.perf_counter()
    train_docs = load_documents(train_paths, config.labels, warn_mixed=True)
    dev_docs = load_documents(dev_paths, config.labels)
    clusters = None
    model: NerModel
    if config.backend == "transformer":
        from medner.models.transformer import train_transformer

        model = train_transformer(
            train_docs, config.transformer, on_iteration, dev_docs, dev_score=dev_f1
        )
    else:
        sentences = [
            ([doc.text[s:e] for s, e in ts.tokens], ts.tags)
            for doc in train_docs
            for ts in encode_document(doc, config.crf.scheme)
        ]
        clusters = resolve_clusters(config.clusters) if config.crf.features.clusters else None
        lexicon = build_lexicon() if config.crf.features.lexicon else None
        logger.info(
            "training %s on %d sentences (%d entities)",
            config.backend,
            len(sentences),
            sum(len(d.entities) for d in train_docs),
        )
        model = train_crf(sentences, config.crf, clusters, on_iteration, lexicon)
    seconds = time.perf_counter() - started

    metrics: dict[str, Any] = {"train_seconds": round(seconds, 2)}
    if dev_docs:
        metrics.update(_score_dev(model, dev_docs))
    model.metadata = {
        **model.metadata,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "train": _dataset_info(train_paths, train_docs),
        "dev": _dataset_info(dev_paths, dev_docs) if dev_docs else None,
        "clusters": config.clusters if clusters else None,
        "vocabularies": vocabulary_versions() if config.crf.features.lexicon else None,
        "train_config": config.model_dump(),
    }
    model.save(output)
    _write_records(model, output, metrics)
    return TrainResult(model=model, output=output, metrics=metrics, seconds=seconds)


def _score_dev(model: NerModel, dev_docs: Sequence[Document]) -> dict[str, Any]:
    """Dev scores with bootstrap intervals, and the tagging speed while scoring them."""
    tagged = [time.perf_counter()] * 2  # start, end of tagging (the bootstrap excluded)

    def on_document() -> None:
        tagged[1] = time.perf_counter()

    reach = dev_context(model, dev_docs)
    evaluation = evaluate_model(model, dev_docs, on_document, bootstrap=1000, context=reach)
    tokens = sum(len(t) for d in dev_docs for t in sentence_token_spans(d.text))
    logger.info("dev strict micro F1 %.4f", evaluation.scores.micro.f1)
    return {
        "dev_tokens_per_second": round(tokens / max(1e-9, tagged[1] - tagged[0])),
        "dev": evaluation.to_dict(),
    }


def _write_records(model: NerModel, output: Path, metrics: dict[str, Any]) -> None:
    """metrics.json, environment.json and the model card of a saved model."""
    metrics["size_bytes"] = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    (output / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (output / ENVIRONMENT_FILE).write_text(
        json.dumps(environment_snapshot(), indent=2) + "\n", encoding="utf-8"
    )
    (output / MODEL_CARD_FILE).write_text(model_card(model, metrics), encoding="utf-8")


def _member_record(source: Path) -> dict[str, Any]:
    """What an ensemble's card says of one member, read from its own files."""
    saved = read_model_config(source)
    meta = saved.get("metadata") or {}
    metrics_file = source / METRICS_FILE
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    transformer = (meta.get("train_config") or {}).get("transformer", {})
    return {
        "path": str(source),
        "seed": saved.get("config", {}).get("seed"),
        "train": meta.get("train") or {},
        "encoder": _encoder_line(transformer),
        "best_epoch": next(
            (
                f"{r['best_epoch']} of {len(r['dev_f1_by_epoch'])}"
                for r in meta.get("epoch_selection", [])
            ),
            None,
        ),
        "dev_f1": ((metrics.get("dev") or {}).get("micro") or {}).get("f1"),
        "train_seconds": metrics.get("train_seconds"),
    }


def write_ensemble(
    sources: Sequence[Path], output: Path, dev_paths: Sequence[Path] = ()
) -> dict[str, Any]:
    """Combine separately trained transformer models into one ensemble at ``output`` (their
    per-word probabilities averaged) with a model card naming each member, and, with dev data,
    the ensemble's dev scores; returns its metrics. Choose it over a member on dev, never test."""
    from medner.models import load_model
    from medner.models.transformer import combine_members

    # read everything first: a bad path writes nothing
    dev_docs = load_documents(dev_paths)
    members = [_member_record(source) for source in sources]
    train_paths = [p for m in members for p in m["train"].get("paths", [])]
    metadata = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "train": {
            "paths": list(dict.fromkeys(train_paths)),
            "sha256": {p: h for m in members for p, h in m["train"].get("sha256", {}).items()},
        },
        "dev": _dataset_info(dev_paths, dev_docs) if dev_docs else None,
        "ensemble_of": members,
    }
    combine_members(sources, output, metadata)
    model = load_model(output)
    seconds = [m["train_seconds"] for m in members]
    metrics: dict[str, Any] = {
        "train_seconds": round(sum(seconds), 2) if None not in seconds else None
    }
    if dev_docs:
        metrics.update(_score_dev(model, dev_docs))
    _write_records(model, output, metrics)
    return metrics


BACKEND_NAMES = {
    "crf": "linear-chain CRF, python-crfsuite",
    "transformer": "fine-tuned MiniLM-L6 encoder with constrained decoding",
}


def _encoder_line(transformer: dict[str, Any]) -> str:
    spec = str(transformer.get("encoder", BUILTIN_ENCODER))
    parent = Path(spec).parent / "config.json"
    if Path(spec).name == ENCODER_DIR and parent.is_file():
        # the encoder of a fine-tuned model (sequential transfer); its tag head is not used
        saved = json.loads(parent.read_text(encoding="utf-8"))
        paths = ", ".join(
            f"`{p}`" for p in ((saved.get("metadata") or {}).get("train") or {}).get("paths", [])
        )
        start = saved.get("config", {}).get("encoder", BUILTIN_ENCODER)
        return (
            f"`{spec}`: the encoder of the model `{Path(spec).parent}`, fine-tuned for "
            f"{', '.join(saved.get('labels', []))} on {paths} from `{start}` "
            "(its tag head not used)"
        )
    summary_file = Path(spec) / "pretrain.json"
    if not summary_file.is_file():
        return f"`{spec}`"
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    sources = ", ".join(f"`{s['path']}`" for s in summary.get("sources", []))
    start = summary.get("config", {}).get("encoder", BUILTIN_ENCODER)
    further = "" if start == BUILTIN_ENCODER else f", starting from `{start}`"
    return (
        f"`{spec}`, MiniLM-L6 further pretrained as a masked language model "
        f"({summary.get('epochs')} epochs over {summary.get('distinct_texts')} distinct texts "
        f"from {sources}{further}; held-out loss {summary.get('held_out_loss_before')} -> "
        f"{summary.get('held_out_loss_after')})"
    )


def _training_limits(model: NerModel) -> list[str]:
    """What the training data means for where the model is weak."""
    sources = " ".join(model.metadata.get("train", {}).get("paths", []))
    if "prescriptions" in sources:
        return [
            "- Trained on English biomedical abstracts (BioText) and on *synthetic* Indian "
            "outpatient e-prescriptions (data/prescriptions, written by a generator from the "
            "team's vocabulary; docs/annotation.md). Its prescription scores are on that "
            "synthetic set: real notes have phrasing the generator never writes, so expect "
            "lower accuracy on them until reviewed notes replace the synthetic set.",
            "- Weak where the generator is thin: free-text history sentences, dosage forms "
            "written after the name, regional-language words beyond the common Hinglish "
            "symptoms, and brand names with neither a dosage form nor a schedule around them.",
        ]
    return [
        "- Trained on English biomedical abstracts; clinical notes (and Indian prescription "
        "shorthand) differ, so expect lower accuracy there until reviewed notes are added.",
    ]


def model_card(model: NerModel, metrics: dict[str, Any]) -> str:
    """A short Markdown model card: what it is, what it was trained on, how it scores."""
    meta = model.metadata
    lines = [
        "# medner model card",
        "",
        f"- Backend: `{model.backend}` ({BACKEND_NAMES.get(model.backend, model.backend)})",
        f"- Labels: {', '.join(model.labels)}",
        f"- Created: {meta.get('created')}, medner {medner.__version__}",
        "- Training time: "
        + (f"{metrics['train_seconds']} s" if metrics.get("train_seconds") else "not recorded")
        + (" (its members' together)" if meta.get("ensemble_of") else ""),
        "",
        "## Training data",
        "",
    ]
    train_info = meta.get("train") or {}
    if not train_info.get("paths"):
        lines.append("- Not recorded")
    for p in train_info.get("paths", []):
        lines.append(f"- `{p}` (sha256 `{train_info['sha256'][p][:16]}…`)")
    if "sentences" in train_info:
        lines.append(
            f"- {train_info.get('sentences')} sentences, {train_info.get('entities')} entities"
        )
    members = meta.get("ensemble_of") or []
    if members and "encoder" in members[0]:
        lines += [
            "",
            f"## Members ({len(members)}; per-word probabilities averaged, `medner ensemble`)",
            "",
        ]
        for m in members:
            data = ", ".join(f"`{p}`" for p in m["train"].get("paths", [])) or "data not recorded"
            epoch = f"; kept epoch {m['best_epoch']}" if m["best_epoch"] else ""
            dev_f1 = f"; its own dev F1 {m['dev_f1']:.3f}" if m["dev_f1"] is not None else ""
            lines.append(
                f"- `{m['path']}` (seed {m['seed']}): trained on {data}{epoch}{dev_f1}; "
                f"encoder {m['encoder']}"
            )
    train_config = meta.get("train_config") or {}
    if train_config.get("labels"):
        lines.append(f"- Only {', '.join(train_config['labels'])} kept; other entities are O")
    if model.backend == "transformer" and not members:
        transformer = train_config.get("transformer", {})
        lines.append(f"- Encoder: {_encoder_line(transformer)}")
        if transformer.get("context_words"):
            lines.append(
                f"- Reads up to {transformer['context_words']} words of the neighbouring "
                "sentences on either side of each sentence (untagged context; the training "
                "corpus read as running text in file order)"
            )
    for record in meta.get("epoch_selection", []):
        lines.append(
            f"- Early stopping on dev (seed {record['seed']}): kept epoch {record['best_epoch']} "
            f"of {len(record['dev_f1_by_epoch'])} scored; dev F1 by epoch "
            + ", ".join(f"{f:.3f}" for f in record["dev_f1_by_epoch"])
        )
    lines += ["", "## Scores", ""]
    dev = metrics.get("dev")
    if dev:
        lines += [
            "Strict entity-level scores (exact start, end and label) on the dev data"
            + (", read as running text (documents in file order):" if dev.get("context") else ":"),
            "",
            "| label | precision | recall | F1 (95 % CI) | support |",
            "| --- | --- | --- | --- | --- |",
        ]
        ci = dev.get("ci95", {})

        def interval(name: str) -> str:
            return f" ({ci[name][0]:.3f}-{ci[name][1]:.3f})" if name in ci else ""

        for label, s in dev["per_label"].items():
            lines.append(
                f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | "
                f"{s['f1']:.3f}{interval(label)} | {s['support']} |"
            )
        m = dev["micro"]
        lines += [
            f"| **micro** | {m['precision']:.3f} | {m['recall']:.3f} | "
            f"**{m['f1']:.3f}**{interval('micro')} | |",
            "",
            "F1 intervals: 95 % percentile bootstrap over sentences (1,000 resamples, seed 13).",
            "",
            f"Token-level weighted F1 (for comparison only): {dev['token_weighted_f1']:.3f}",
        ]
    else:
        lines.append("No dev data was given; score it with `medner evaluate`.")
    lines += ["", "## Speed and size", ""]
    lines.append(f"- Size on disk: {metrics.get('size_bytes', 0) / 1e6:.1f} MB")
    if metrics.get("dev_tokens_per_second"):
        lines.append(
            f"- Tagging speed while scoring dev, on the training machine: "
            f"{metrics['dev_tokens_per_second']:,} tokens/s"
        )
    lines.append(
        "- Per-core speed, latency per note and resident memory of every backend, measured "
        "side by side: docs/benchmarks.md, `bench/backends.py`"
    )
    if model.backend == "transformer":
        lines.append(
            "- CPU serving: `medner export-onnx DIR --int8` adds ONNX Runtime copies; "
            "MEDNER_TRANSFORMER_RUNTIME picks torch, onnx or onnx-int8 (auto: the fastest)"
        )
    lines += [
        "",
        "## Limits",
        "",
        *_training_limits(model),
        "- Negation is not modelled: a negated mention (`no diabetes`) is still extracted.",
        "- Decoding favours recall (posterior decoding with an O penalty): low-confidence"
        " spans are returned; filter on confidence where precision matters more. Section"
        " headings (`ALLERGIES:`, `Dx:`) are never returned as entities.",
        "- Confidence is the lowest per-token marginal probability of the span.",
        "",
    ]
    return "\n".join(lines)
