"""``GET /v1/model``: the model being served (scope ``extract``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from medner.models.refs import is_registry_ref
from medner.serving.deps import GuardedRoute, ServicesDep, error, require_scope
from medner.serving.schemas import ERRORS, ModelInfo

router = APIRouter(route_class=GuardedRoute, dependencies=[require_scope("extract")])


@router.get(
    "/v1/model", response_model=ModelInfo, responses=ERRORS, summary="The model being served"
)
async def model_info(request: Request, services: ServicesDep) -> Any:
    loaded = services.holder.current
    if loaded is None:
        return error(503, "no model loaded")
    # a registry reference names the model; a directory is the server's own path, for admins
    admin = "admin" in request.state.api_key.scopes
    source = loaded.source if admin or is_registry_ref(loaded.source) else None
    return ModelInfo(name=loaded.name, version=loaded.version, source=source, **loaded.info)
