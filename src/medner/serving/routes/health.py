"""``/healthz`` (alive), ``/readyz`` (the model answers) and ``/metrics`` (Prometheus); open."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from medner.serving.deps import ServicesDep, error

router = APIRouter()


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Model loaded and answering", responses={503: {}})
async def readyz(services: ServicesDep) -> Any:
    try:
        _, _, loaded = await services.holder.extract(["Asthma."])
    except Exception as exc:
        return error(503, f"not ready: {type(exc).__name__}")
    return {"status": "ready", "model": loaded.name, "version": loaded.version}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def prometheus(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
