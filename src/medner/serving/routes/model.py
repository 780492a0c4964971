"""``GET /v1/model``: the model being served (scope ``extract``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from medner.serving.deps import GuardedRoute, ServicesDep, error, require_scope
from medner.serving.schemas import ERRORS, ModelInfo

router = APIRouter(route_class=GuardedRoute, dependencies=[require_scope("extract")])


@router.get(
    "/v1/model", response_model=ModelInfo, responses=ERRORS, summary="The model being served"
)
async def model_info(services: ServicesDep) -> Any:
    loaded = services.holder.current
    if loaded is None:
        return error(503, "no model loaded")
    return ModelInfo(name=loaded.name, version=loaded.version, source=loaded.source, **loaded.info)
