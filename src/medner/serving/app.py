"""The FastAPI app: extraction endpoints, health, model info, metrics, admin reload.

Request path of ``POST /v1/extract``: authenticate (401/403) → rate limit (429) → body size
(413) → UTF-8 (400) → JSON + schema (422, naming the field) → note length (413) → extraction on
a worker thread (the event loop never tags) → response; the prediction-log record is queued and
written later by another thread. One JSON log line per request carries the request id, key id,
route, status, latency and entity counts, never the note text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

import medner
from medner.errors import MednerError
from medner.serving.auth import KeyStore
from medner.serving.engine import Loaded, ModelHolder, resolve
from medner.serving.metrics import ApiMetrics
from medner.serving.predlog import PredictionLog
from medner.serving.ratelimit import RateLimiter
from medner.serving.settings import ServeSettings
from medner.types import Entity

logger = logging.getLogger("medner.api")

# route path -> scope a key needs; routes not listed are open (health, metrics, docs)
ROUTE_SCOPES = {
    "/v1/extract": "extract",
    "/v1/extract/batch": "extract",
    "/v1/model": "extract",
    "/v1/admin/reload": "admin",
}
EXAMPLE_NOTE = "Known case of hypertension. Asthma, treated with inhaled budesonide."


# -- schemas ---------------------------------------------------------------------------------
class ExtractRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": EXAMPLE_NOTE, "note_id": "rx-1042"}]},
    )

    text: str = Field(description="The note, as written. Offsets of entities index into it.")
    note_id: str | int | None = Field(None, description="Your id of the note, echoed back.")
    metadata: dict[str, Any] | None = Field(
        None, description="Free-form context (specialty, date...); not used for extraction."
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"notes": [{"text": EXAMPLE_NOTE, "note_id": 1}]}]},
    )

    notes: list[ExtractRequest] = Field(description="Notes to extract from, in order.")


class EntityOut(BaseModel):
    start: int = Field(description="Offset of the first character (Unicode code points).")
    end: int = Field(description="Offset after the last character.")
    text: str = Field(description="note[start:end]")
    label: str = Field(description="DISEASE, TREATMENT (or CHEMICAL).")
    confidence: float = Field(description="Lowest per-token marginal probability of the span.")


class ModelRef(BaseModel):
    name: str
    version: str


class ExtractResponse(BaseModel):
    note_id: str | int | None
    entities: list[EntityOut]
    model: ModelRef
    timing_ms: float = Field(description="Time spent extracting, in milliseconds.")


class BatchResponse(BaseModel):
    results: list[ExtractResponse]
    model: ModelRef
    timing_ms: float


class ModelInfo(BaseModel):
    name: str
    version: str
    source: str
    backend: str
    labels: list[str]
    metrics: dict[str, Any]


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Directory or models:/ URI; default: the same.")


# -- errors ----------------------------------------------------------------------------------
def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(loc) or "body", "message": err.get("msg", "")})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(
        {"detail": f"invalid request: {summary}", "errors": problems}, status_code=422
    )


def create_app(
    settings: ServeSettings,
    keys: KeyStore,
    prediction_log: PredictionLog | None = None,
) -> FastAPI:
    """The API. ``keys`` decides who may call it; ``prediction_log`` (started by the app's
    lifespan and flushed on shutdown) records every extraction when given."""
    metrics = ApiMetrics()
    holder = ModelHolder(
        settings.model, settings.model_name, settings.concurrency, settings.extract_in
    )
    limiter = RateLimiter(settings.rate_limit_per_minute)
    if prediction_log is not None:
        prediction_log.on_written = metrics.log_written.inc
        prediction_log.on_dropped = metrics.log_dropped.inc

    async def poll_champion() -> None:
        while True:
            await asyncio.sleep(settings.poll_champion_seconds)
            try:
                name, version, _ = await anyio.to_thread.run_sync(
                    resolve, settings.model, settings.model_name
                )
                if holder.current is not None and version != holder.current.version:
                    await holder.load(settings.model)
                    metrics.set_model(name, version)
                    metrics.reloads.labels(outcome="ok").inc()
                    logger.info({"event": "reload", "version": version})
            except Exception as exc:  # keep serving the model we have
                metrics.reloads.labels(outcome="failed").inc()
                logger.error({"event": "reload_failed", "error": type(exc).__name__})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = await holder.load(settings.model)
        metrics.set_model(loaded.name, loaded.version)
        if prediction_log is not None:
            await anyio.to_thread.run_sync(prediction_log.start)
        poller = None
        if settings.poll_champion_seconds > 0 and settings.model.startswith("models:/"):
            poller = asyncio.create_task(poll_champion())
        logger.info({"event": "ready", "model": loaded.name, "version": loaded.version})
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            if prediction_log is not None:
                await anyio.to_thread.run_sync(prediction_log.close)
            await anyio.to_thread.run_sync(holder.close)

    class GuardedRoute(APIRoute):
        """Checks key, scope, rate, body size and encoding before FastAPI parses the body."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            scope = ROUTE_SCOPES.get(self.path)

            async def guarded(request: Request) -> Response:
                if scope is not None:
                    auth = request.headers.get("authorization", "")
                    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
                    key = keys.authenticate(token) if token else None
                    if key is None:
                        reason = "unknown API key" if token else "missing API key"
                        return _error(
                            401,
                            f"{reason}: send 'Authorization: Bearer <key>'",
                            {"WWW-Authenticate": "Bearer"},
                        )
                    request.state.key_id = key.key_id
                    if scope not in key.scopes:
                        return _error(403, f"this key lacks the '{scope}' scope")
                    wait = limiter.check(key.key_id)
                    if wait:
                        return _error(
                            429,
                            f"rate limit of {settings.rate_limit_per_minute} requests per minute",
                            {"Retry-After": str(wait)},
                        )
                if request.method == "POST":
                    declared = request.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
                        return _error(413, f"body larger than {settings.max_body_bytes} bytes")
                    body = await request.body()
                    if len(body) > settings.max_body_bytes:
                        return _error(413, f"body larger than {settings.max_body_bytes} bytes")
                    try:
                        body.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        return _error(
                            400, f"body is not valid UTF-8 (byte {exc.start}): send UTF-8 JSON"
                        )
                return await handler(request)

            return guarded

    app = FastAPI(
        title="medner",
        version=medner.__version__,
        description="Disease and treatment entities from clinical notes, as character spans.",
        lifespan=lifespan,
    )
    app.router.route_class = GuardedRoute
    app.add_exception_handler(RequestValidationError, _validation_error)
    # documents the scheme in OpenAPI; GuardedRoute does the checking (before body parsing)
    secured = [Security(HTTPBearer(auto_error=False, description="Authorization: Bearer <key>"))]
    app.state.holder = holder
    app.state.metrics = metrics

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        request.state.key_id = None
        request.state.entity_counts = None
        started = time.perf_counter()
        metrics.in_flight.inc()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
        finally:
            metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = request.scope.get("route")
            path = route.path if route is not None else "unmatched"
            metrics.requests.labels(route=path, status=str(status)).inc()
            metrics.latency.labels(route=path).observe(elapsed)
            record = {
                "event": "request",
                "request_id": request_id,
                "key_id": request.state.key_id,
                "method": request.method,
                "route": path,
                "status": status,
                "latency_ms": round(elapsed * 1000, 3),
            }
            if request.state.entity_counts is not None:
                record["entities"] = request.state.entity_counts
            logger.info(record)
        response.headers["X-Request-ID"] = request_id
        return response

    def _respond(
        request: Request,
        notes: list[ExtractRequest],
        found: list[list[Entity]],
        ms: float,
        loaded: Loaded,
    ) -> list[ExtractResponse]:
        """Responses for the notes; metrics observed and prediction-log records queued."""
        ref = ModelRef(name=loaded.name, version=loaded.version)
        counts: Counter[str] = Counter()
        now = datetime.now(UTC)
        per_note_ms = ms / max(1, len(notes))
        out = []
        for note, entities in zip(notes, found, strict=True):
            by_label = Counter(e.label for e in entities)
            counts.update(by_label)
            for label in loaded.info["labels"]:
                metrics.entities.labels(label=label).observe(by_label.get(label, 0))
            for e in entities:
                metrics.confidence.labels(label=e.label).observe(e.confidence)
            metrics.note_length.observe(len(note.text))
            dicts = [e.to_dict() for e in entities]
            if prediction_log is not None:
                prediction_log.record(
                    {
                        "created_at": now,
                        "request_id": request.state.request_id,
                        "key_id": request.state.key_id,
                        "note_id": None if note.note_id is None else str(note.note_id),
                        "text_sha256": hashlib.sha256(note.text.encode()).hexdigest(),
                        "length": len(note.text),
                        "entities": dicts,
                        "entity_count": len(dicts),
                        "model_version": loaded.version,
                        "latency_ms": per_note_ms,
                        "text": note.text if settings.prediction_log_text else None,
                    }
                )
            out.append(
                ExtractResponse(
                    note_id=note.note_id,
                    entities=[EntityOut(**d) for d in dicts],
                    model=ref,
                    timing_ms=round(per_note_ms, 3),
                )
            )
        request.state.entity_counts = dict(sorted(counts.items()))
        return out

    def _too_long(notes: list[ExtractRequest]) -> JSONResponse | None:
        for i, note in enumerate(notes):
            if len(note.text) > settings.max_chars:
                where = "text" if len(notes) == 1 else f"notes.{i}.text"
                return _error(
                    413,
                    f"{where} has {len(note.text)} characters; the limit is {settings.max_chars}",
                )
        return None

    responses: dict[int | str, dict[str, Any]] = {
        401: {"description": "missing or unknown API key"},
        403: {"description": "the key lacks the scope"},
        413: {"description": "body or note text too large"},
        422: {"description": "invalid JSON or schema; names the field"},
        429: {"description": "rate limit; see Retry-After"},
    }

    @app.post(
        "/v1/extract",
        response_model=ExtractResponse,
        responses=responses,
        dependencies=secured,
        summary="Entities of one note",
    )
    async def extract(request: Request, body: ExtractRequest) -> Any:
        if (problem := _too_long([body])) is not None:
            return problem
        found, ms, loaded = await holder.extract([body.text])
        return _respond(request, [body], found, ms, loaded)[0]

    @app.post(
        "/v1/extract/batch",
        response_model=BatchResponse,
        responses=responses,
        dependencies=secured,
        summary="Entities of several notes",
    )
    async def extract_batch(request: Request, body: BatchRequest) -> Any:
        if len(body.notes) > settings.max_batch:
            return _error(
                413, f"{len(body.notes)} notes in one batch; the limit is {settings.max_batch}"
            )
        if (problem := _too_long(body.notes)) is not None:
            return problem
        found, ms, loaded = await holder.extract([n.text for n in body.notes])
        results = _respond(request, body.notes, found, ms, loaded)
        return BatchResponse(
            results=results,
            model=ModelRef(name=loaded.name, version=loaded.version),
            timing_ms=round(ms, 3),
        )

    @app.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Model loaded and answering", responses={503: {}})
    async def readyz() -> Any:
        try:
            _, _, loaded = await holder.extract(["Asthma."])
        except Exception as exc:
            return _error(503, f"not ready: {type(exc).__name__}")
        return {"status": "ready", "model": loaded.name, "version": loaded.version}

    @app.get(
        "/v1/model",
        response_model=ModelInfo,
        responses=responses,
        dependencies=secured,
        summary="The model being served",
    )
    async def model_info() -> Any:
        loaded = holder.current
        if loaded is None:
            return _error(503, "no model loaded")
        return ModelInfo(
            name=loaded.name, version=loaded.version, source=loaded.source, **loaded.info
        )

    @app.post(
        "/v1/admin/reload",
        response_model=ModelRef,
        responses=responses,
        dependencies=secured,
        summary="Load the model again (or another one) and swap it in",
    )
    async def reload(body: ReloadRequest | None = None) -> Any:
        try:
            loaded = await holder.load(body.model if body else None)
        except (MednerError, OSError) as exc:
            metrics.reloads.labels(outcome="failed").inc()
            return _error(422, f"cannot load the model: {exc}")
        metrics.set_model(loaded.name, loaded.version)
        metrics.reloads.labels(outcome="ok").inc()
        return ModelRef(name=loaded.name, version=loaded.version)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
