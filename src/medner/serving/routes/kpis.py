"""``GET /v1/kpis``: the business KPIs from the review record (medner.review.kpis;
docs/kpis.md), for a lead signed in at /review or a machine with an ``admin`` key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from medner.review.accounts import session_of
from medner.review.kpis import live_kpis
from medner.serving.deps import GuardedRoute, ServicesDep
from medner.serving.routes.review import COOKIE, EngineDep

router = APIRouter(route_class=GuardedRoute, tags=["kpis"])


def lead_or_admin(request: Request, engine: EngineDep, services: ServicesDep) -> str:
    """A lead's session cookie, or an API key with the ``admin`` scope."""
    token = request.cookies.get(COOKIE)
    if token:
        who = session_of(engine, token)
        if who is None:
            raise HTTPException(401, "the session has ended: sign in again")
        if who.role != "lead":
            raise HTTPException(403, "leads only")
        request.state.key_id = f"reviewer:{who.reviewer}"
        return who.reviewer
    auth = request.headers.get("authorization", "")
    key = services.keys.authenticate(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
    if key is None:
        raise HTTPException(401, "sign in at /review as a lead, or send an admin key")
    if "admin" not in key.scopes:
        raise HTTPException(403, "this key lacks the 'admin' scope")
    request.state.key_id = key.key_id
    return f"key:{key.key_id}"


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


@router.get("/v1/kpis", summary="Live KPIs: F1 on the audit share, fix and miss rates, hours")
def kpis(
    caller: Annotated[str, Depends(lead_or_admin)],
    engine: EngineDep,
    services: ServicesDep,
    since: Annotated[datetime | None, Query(description="Reviews from (ISO 8601, UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Reviews before.")] = None,
    by: Annotated[Literal["week", "model", "label", "validator"] | None, Query()] = None,
    bootstrap: Annotated[int, Query(ge=0, le=5000, description="F1 interval resamples.")] = 1000,
) -> Any:
    summary = live_kpis(
        engine,
        _utc(since),
        _utc(until),
        by,
        services.settings.manual_seconds_per_note,
        bootstrap,
    )
    return summary.to_dict()
