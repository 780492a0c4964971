"""Administration (scope ``admin``): ``POST /v1/admin/reload`` loads the model again, or
another one, and swaps it in (requests in flight finish on the model they started with);
``POST /v1/admin/retrain`` starts a retraining run from the validated notes (one at a time, a
process of its own: medner.learning.jobs; 409 while one is going) and
``GET /v1/admin/retrain`` reads its status and outcome; ``POST /v1/admin/alerts`` is the
Alertmanager webhook (deploy/alertmanager/alertmanager.yml) that starts one when a firing alert
carries ``action: retrain``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from medner.errors import MednerError
from medner.learning.jobs import AlreadyRunning
from medner.serving.deps import GuardedRoute, ServicesDep, error, require_scope
from medner.serving.schemas import (
    ERRORS,
    AlertmanagerWebhook,
    ModelRef,
    ReloadRequest,
    RetrainRequest,
)

logger = logging.getLogger("medner.api")
router = APIRouter(route_class=GuardedRoute, dependencies=[require_scope("admin")])


@router.post(
    "/v1/admin/reload",
    response_model=ModelRef,
    responses=ERRORS,
    summary="Load the model again (or another one) and swap it in",
)
async def reload(services: ServicesDep, body: ReloadRequest | None = None) -> Any:
    metrics = services.metrics
    try:
        loaded = await services.holder.load(body.model if body else None)
    except (MednerError, OSError) as exc:
        metrics.reloads.labels(outcome="failed").inc()
        return error(422, f"cannot load the model: {exc}")
    metrics.set_model(loaded.name, loaded.version)
    metrics.reloads.labels(outcome="ok").inc()
    return ModelRef(name=loaded.name, version=loaded.version)


@router.post(
    "/v1/admin/retrain",
    status_code=202,
    responses={**ERRORS, 409: {"description": "a retraining run is already going"}},
    summary="Start a retraining run from the validated notes (one at a time)",
)
async def start_retrain(services: ServicesDep, body: RetrainRequest | None = None) -> Any:
    request = body or RetrainRequest()
    try:
        status = services.retrain_jobs().start(request.min_new, request.dry_run)
    except AlreadyRunning as exc:
        return error(409, str(exc))
    return JSONResponse(status, status_code=202)


@router.get(
    "/v1/admin/retrain",
    responses=ERRORS,
    summary="The status of the last retraining run the API started, and its outcome",
)
async def retrain_status(services: ServicesDep) -> Any:
    return services.retrain_jobs().status()


@router.post(
    "/v1/admin/alerts",
    responses=ERRORS,
    summary="Alertmanager webhook: a firing alert labelled action=retrain starts a retraining run",
)
async def alerts(services: ServicesDep, body: AlertmanagerWebhook) -> Any:
    wanted = sorted(
        {
            a.labels.get("alertname", "?")
            for a in body.alerts
            if a.status == "firing" and a.labels.get("action") == "retrain"
        }
    )
    if not wanted:
        return {"retrain": "not asked", "alerts": len(body.alerts)}
    logger.info({"event": "retrain_asked", "alerts": wanted})
    try:
        status = services.retrain_jobs().start()
    except AlreadyRunning:
        return {"retrain": "already running", "alerts": wanted}
    return JSONResponse({"retrain": "started", "alerts": wanted, **status}, status_code=202)
