"""``POST /v1/admin/reload``: load the model again, or another one, and swap it in (scope
``admin``). Requests in flight finish on the model they started with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from medner.errors import MednerError
from medner.serving.deps import GuardedRoute, ServicesDep, error, require_scope
from medner.serving.schemas import ERRORS, ModelRef, ReloadRequest

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
