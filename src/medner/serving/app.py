"""The FastAPI app, assembled: services, lifespan, middleware, error handler and routers.

Each area's routes live in ``medner.serving.routes`` (extract, model, admin, health, docs), each
router declaring the scope it needs once; what routes depend on (keys and scopes, the model
holder, limits, metrics, the prediction log) is in ``medner.serving.deps``. Another package
mounts its own router by passing it in ``routers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import medner
from medner.errors import MednerError
from medner.models.refs import is_registry_ref
from medner.serving.auth import KeyStore
from medner.serving.deps import Services
from medner.serving.engine import ModelHolder, resolve
from medner.serving.metrics import ApiMetrics
from medner.serving.middleware import Observe
from medner.serving.ratelimit import RateLimiter
from medner.serving.routes import admin, docs, extract, health, kpis, model, review
from medner.serving.settings import ServeSettings
from medner.store.predictions import PredictionLog

logger = logging.getLogger("medner.api")
ROUTERS: tuple[APIRouter, ...] = (
    extract.router,
    health.router,
    model.router,
    admin.router,
    docs.router,
    review.router,
    kpis.router,
)


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


async def _poll_champion(services: Services) -> None:
    """Follow a ``models:/NAME@ALIAS`` model: swap in the version the alias points to."""
    settings, holder, metrics = services.settings, services.holder, services.metrics
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


async def _every(
    seconds: float, compute: Callable[[], None], stop: asyncio.Event, failed: str
) -> None:
    """Run ``compute`` in a worker thread now and then every ``seconds`` until ``stop`` is
    set; a failure is logged as ``failed`` and the next round tries again (the gauges keep
    their last values). Stopped, not cancelled: a cancelled task would leave its thread
    holding a connection of an engine the shutdown then disposes."""
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(compute)
        except Exception as exc:
            logger.error({"event": failed, "error": type(exc).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def _refresh_kpis(services: Services, stop: asyncio.Event) -> None:
    """Recompute the live KPI gauges (and the auto-accept threshold, when routing is on) from
    the review record, now and then every ``kpi_refresh_seconds``, over the last
    ``kpi_window_days``, until ``stop`` is set."""
    from datetime import UTC, datetime, timedelta

    from medner.review.kpis import backlog, compute_kpis, load_reviews
    from medner.review.routing import audit_observations, choose_threshold

    settings = services.settings

    def compute() -> None:
        engine = services.review_engine()
        since = datetime.now(UTC) - timedelta(days=settings.kpi_window_days)
        notes, pairs = load_reviews(engine, since)  # read once: the gauges and the threshold
        overall = compute_kpis(
            notes, pairs, manual_seconds=settings.manual_seconds_per_note, bootstrap=0
        )
        services.metrics.set_kpis(overall, backlog(engine))
        if settings.auto_accept_precision is not None:
            services.review_threshold = choose_threshold(
                audit_observations(notes), settings.auto_accept_precision
            )

    await _every(settings.kpi_refresh_seconds, compute, stop, "kpi_refresh_failed")


async def _refresh_drift(services: Services, stop: asyncio.Event) -> None:
    """Recompute the drift gauges every ``drift_refresh_seconds`` over the last
    ``drift_window_minutes`` of the prediction log, against the served model's reference
    profile; per segment field, for its ``drift_max_segments`` busiest values. A model without
    a reference profile has no drift gauges."""
    from collections import Counter, defaultdict
    from datetime import UTC, datetime, timedelta

    from medner.monitoring.drift import compare
    from medner.monitoring.monitor import load_rows
    from medner.monitoring.profile import read_reference

    settings = services.settings
    references: dict[str, dict[str, Any] | None] = {}
    fields = settings.segments

    def compute() -> None:
        loaded = services.holder.current
        if loaded is None:
            return
        key = str(loaded.directory)
        if key not in references:
            try:
                references[key] = read_reference(loaded.directory)
            except MednerError:
                references[key] = None
                logger.warning({"event": "no_reference_profile", "version": loaded.version})
        reference = references[key]
        if reference is None:
            services.metrics.set_drift({})
            return
        since = datetime.now(UTC) - timedelta(minutes=settings.drift_window_minutes)
        rows = load_rows(services.review_engine(), since)
        verdicts = {
            "all": compare(reference, [r.profile for r in rows], [r.entities for r in rows])
        }
        for name in fields:
            groups: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                if name in r.segments:
                    groups[r.segments[name]].append(r)
            busiest = Counter({k: len(v) for k, v in groups.items()}).most_common(
                settings.drift_max_segments
            )
            for value, _ in busiest:
                members = groups[value]
                verdicts[f"{name}={value}"] = compare(
                    reference, [r.profile for r in members], [r.entities for r in members]
                )
        services.metrics.set_drift({k: v for k, v in verdicts.items() if v})

    await _every(settings.drift_refresh_seconds, compute, stop, "drift_refresh_failed")


def create_app(
    settings: ServeSettings,
    keys: KeyStore,
    prediction_log: PredictionLog | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The API. ``keys`` decides who may call it; ``prediction_log`` (started by the app's
    lifespan and flushed on shutdown) records every extraction when given; ``routers`` are
    mounted beside the built-in ones."""
    services = Services(
        settings=settings,
        keys=keys,
        holder=ModelHolder(
            settings.model, settings.model_name, settings.concurrency, settings.extract_in
        ),
        metrics=ApiMetrics(),
        limiter=RateLimiter(settings.rate_limit_per_minute),
        prediction_log=prediction_log,
    )
    if prediction_log is not None:
        prediction_log.on_written = services.metrics.log_written.inc
        prediction_log.on_dropped = services.metrics.log_dropped.inc
        prediction_log.on_lost = services.metrics.log_lost.inc

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = await services.holder.load(settings.model)
        services.metrics.set_model(loaded.name, loaded.version)
        if prediction_log is not None:
            await anyio.to_thread.run_sync(prediction_log.start)
        poller = refresher = drift = None
        stop = asyncio.Event()
        if settings.poll_champion_seconds > 0 and is_registry_ref(settings.model):
            poller = asyncio.create_task(_poll_champion(services))
        if settings.kpi_refresh_seconds > 0:
            refresher = asyncio.create_task(_refresh_kpis(services, stop))
        if settings.drift_refresh_seconds > 0:
            drift = asyncio.create_task(_refresh_drift(services, stop))
        logger.info({"event": "ready", "model": loaded.name, "version": loaded.version})
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            stop.set()
            for task in (refresher, drift):
                if task is not None:
                    await task
            if prediction_log is not None:
                await anyio.to_thread.run_sync(prediction_log.close)
            await anyio.to_thread.run_sync(services.holder.close)
            services.close()

    app = FastAPI(
        title="medner",
        version=medner.__version__,
        description="Disease and treatment entities from clinical notes, as character spans.",
        lifespan=lifespan,
        docs_url=None,  # /docs is medner.serving.routes.docs: Swagger UI without a CDN
        redoc_url=None,
    )
    app.state.services = services
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(Observe)
    for router in (*ROUTERS, *routers):
        app.include_router(router)
    return app
