"""``POST /v1/extract`` and ``POST /v1/extract/batch``: entities of notes (scope ``extract``).

Request path: key, scope and rate (401/403/429) → body size (413) → UTF-8 (400) → JSON and schema
(422, naming the field) → note length (413) → extraction off the event loop → the prediction-log
record taken (with durability ``journal``, the answer waits until the journal has it on disk) →
response; the record is written to the database later by another thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse

from medner.inference.extract import add_meaning
from medner.inference.profile import note_profile
from medner.labels import MEANING_FIELDS
from medner.review import enqueue
from medner.serving.deps import GuardedRoute, Services, ServicesDep, error, require_scope
from medner.serving.engine import Loaded
from medner.serving.schemas import (
    ERRORS,
    BatchRequest,
    BatchResponse,
    EntityOut,
    ExtractRequest,
    ExtractResponse,
    ModelRef,
)

router = APIRouter(route_class=GuardedRoute, dependencies=[require_scope("extract")])
LOGGED = ("start", "end", "label", "confidence")  # what the prediction log keeps of an entity
logger = logging.getLogger("medner.api")


def _respond(
    services: Services,
    request: Request,
    notes: list[ExtractRequest],
    found: list[list[dict[str, Any]]],
    ms: float,
    loaded: Loaded,
    journalled: list[Future[None]],
    meaning: list[list[dict[str, Any]]] | None = None,
) -> list[ExtractResponse]:
    """Responses for the notes; metrics observed and prediction-log records taken (the
    journal's futures added to ``journalled``)."""
    metrics, log = services.metrics, services.prediction_log
    ref = ModelRef(name=loaded.name, version=loaded.version)
    counts: Counter[str] = Counter()
    now = datetime.now(UTC)
    per_note_ms = ms / max(1, len(notes))
    out = []
    shown = meaning if meaning is not None else found
    for note, entities, answer in zip(notes, found, shown, strict=True):
        by_label = Counter(e["label"] for e in entities)
        counts.update(by_label)
        for label in loaded.info["labels"]:
            metrics.entities.labels(label=label).observe(by_label.get(label, 0))
        for e in entities:
            metrics.confidence.labels(label=e["label"]).observe(e["confidence"])
        metrics.note_length.observe(len(note.text))
        if log is not None:
            saved = log.record(
                {
                    "created_at": now,
                    "request_id": request.state.request_id,
                    "key_id": request.state.key_id,
                    "note_id": None if note.note_id is None else str(note.note_id),
                    "text_sha256": hashlib.sha256(note.text.encode()).hexdigest(),
                    "length": len(note.text),
                    # spans, labels and confidences: a mention's text is note text (a name the
                    # model mistook for a disease would be kept), so the log leaves it out
                    "entities": [{k: e[k] for k in LOGGED if k in e} for e in entities],
                    "entity_count": len(entities),
                    "model_version": loaded.version,
                    "latency_ms": per_note_ms,
                    "text": note.text if services.settings.prediction_log_text else None,
                    "profile": note_profile(
                        note.text, entities, loaded.info["labels"], loaded.vocabulary
                    ),
                    "segments": _segments(services, note),
                }
            )
            if saved is not None:
                journalled.append(saved)
        out.append(
            ExtractResponse(
                note_id=note.note_id,
                entities=[EntityOut(**e) for e in answer],
                model=ref,
                timing_ms=round(per_note_ms, 3),
            )
        )
    request.state.entity_counts = dict(sorted(counts.items()))
    return out


def _segments(services: Services, note: ExtractRequest) -> dict[str, str] | None:
    """The request metadata fields the deployment names as segments, as short strings."""
    fields = services.settings.segments
    if not fields or not note.metadata:
        return None
    found = {f: str(note.metadata[f])[:64] for f in fields if note.metadata.get(f) is not None}
    return found or None


def _sample_for_review(
    services: Services,
    background: BackgroundTasks,
    notes: list[ExtractRequest],
    found: list[list[dict[str, Any]]],
    loaded: Loaded,
) -> None:
    """Copy ``MEDNER_REVIEW_SAMPLE`` of the notes, text included, to the review queue, after
    the answer has gone (a sample: losing one in a crash costs nothing)."""
    share = services.settings.review_sample
    if share <= 0:
        return
    chosen = [
        (note.note_id, note.text, records)
        for note, records in zip(notes, found, strict=True)
        if note.text.strip() and random.random() < share
    ]
    if chosen:
        background.add_task(_enqueue, services, chosen, loaded.version)


def _enqueue(services: Services, chosen: list[Any], version: str) -> None:
    try:
        enqueue(
            services.review_engine(),
            chosen,
            version,
            source="api",
            threshold=services.review_threshold,
        )
    except Exception as exc:  # a sample that cannot be queued is logged, never an error
        logger.error({"event": "review_sample_failed", "error": type(exc).__name__})


async def _saved(journalled: list[Future[None]]) -> JSONResponse | None:
    """Wait until the journal holds the records (durability ``journal``): only then is the
    extraction answered. A journal that cannot be written is a 503, not an answer."""
    try:
        for saved in journalled:
            await asyncio.wrap_future(saved)
    except OSError as exc:
        return error(503, f"the prediction log cannot be written ({type(exc).__name__}); retry")
    return None


Fields = Query(
    None,
    description="Optional entity fields, comma-separated: assertion, concept, links "
    "(docs/meaning.md). Without it the entities are exactly as before.",
    examples=["assertion,concept,links"],
)


def _fields(value: str | None) -> tuple[str, ...] | JSONResponse:
    if not value:
        return ()
    asked = tuple(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    unknown = [f for f in asked if f not in MEANING_FIELDS]
    if unknown:
        return error(422, f"fields: unknown {', '.join(unknown)}; use {', '.join(MEANING_FIELDS)}")
    return asked


async def _with_meaning(
    texts: list[str], found: list[list[dict[str, Any]]], fields: tuple[str, ...]
) -> list[list[dict[str, Any]]] | None:
    """Copies of the records with the asked fields added (the log and the review queue keep
    the plain records), computed off the event loop."""
    if not fields:
        return None

    def work() -> list[list[dict[str, Any]]]:
        out = []
        for text, records in zip(texts, found, strict=True):
            copies = [dict(r) for r in records]
            add_meaning(text, copies, fields)
            out.append(copies)
        return out

    return await asyncio.to_thread(work)


def _too_long(notes: list[ExtractRequest], max_chars: int) -> JSONResponse | None:
    for i, note in enumerate(notes):
        if len(note.text) > max_chars:
            where = "text" if len(notes) == 1 else f"notes.{i}.text"
            return error(413, f"{where} has {len(note.text)} characters; the limit is {max_chars}")
    return None


@router.post(
    "/v1/extract",
    response_model=ExtractResponse,
    response_model_exclude_unset=True,
    responses=ERRORS,
    summary="Entities of one note",
)
async def extract(
    request: Request,
    body: ExtractRequest,
    services: ServicesDep,
    background: BackgroundTasks,
    fields: str | None = Fields,
) -> Any:
    if isinstance(asked := _fields(fields), JSONResponse):
        return asked
    if (problem := _too_long([body], services.settings.max_chars)) is not None:
        return problem
    found, ms, loaded = await services.holder.extract([body.text])
    meaning = await _with_meaning([body.text], found, asked)
    journalled: list[Future[None]] = []
    result = _respond(services, request, [body], found, ms, loaded, journalled, meaning)[0]
    _sample_for_review(services, background, [body], found, loaded)
    return await _saved(journalled) or result


@router.post(
    "/v1/extract/batch",
    response_model=BatchResponse,
    response_model_exclude_unset=True,
    responses=ERRORS,
    summary="Entities of several notes",
)
async def extract_batch(
    request: Request,
    body: BatchRequest,
    services: ServicesDep,
    background: BackgroundTasks,
    fields: str | None = Fields,
) -> Any:
    if isinstance(asked := _fields(fields), JSONResponse):
        return asked
    settings = services.settings
    if len(body.notes) > settings.max_batch:
        return error(
            413, f"{len(body.notes)} notes in one batch; the limit is {settings.max_batch}"
        )
    if (problem := _too_long(body.notes, settings.max_chars)) is not None:
        return problem
    texts = [n.text for n in body.notes]
    found, ms, loaded = await services.holder.extract(texts)
    meaning = await _with_meaning(texts, found, asked)
    journalled: list[Future[None]] = []
    results = _respond(services, request, body.notes, found, ms, loaded, journalled, meaning)
    _sample_for_review(services, background, body.notes, found, loaded)
    return await _saved(journalled) or BatchResponse(
        results=results,
        model=ModelRef(name=loaded.name, version=loaded.version),
        timing_ms=round(ms, 3),
    )
