"""What the routes depend on, as FastAPI dependencies: the services of the app, and API keys
with their scopes.

A router declares the scope its routes need once, ``dependencies=[require_scope("extract")]``,
and uses :class:`GuardedRoute` as its route class. The guard runs that scope's check (key 401,
scope 403, rate 429) and the body checks (size 413, UTF-8 400) *before* FastAPI reads and parses
the body, so an unauthenticated caller never gets as far as the JSON parser. Without the guard
the same dependency still checks the key, after parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, Security
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from medner.serving.auth import ApiKey, KeyStore
from medner.serving.engine import ModelHolder
from medner.serving.metrics import ApiMetrics
from medner.serving.ratelimit import RateLimiter
from medner.serving.settings import ServeSettings
from medner.store.predictions import PredictionLog

# documents the scheme in OpenAPI; the scope dependencies do the checking
BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")


@dataclass(slots=True)
class Services:
    """Everything a request may need, built once per app by ``create_app``."""

    settings: ServeSettings
    keys: KeyStore
    holder: ModelHolder
    metrics: ApiMetrics
    limiter: RateLimiter
    prediction_log: PredictionLog | None = None


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's error body: ``{"detail": reason}``."""
    return JSONResponse({"detail": reason}, status_code=status, headers=headers)


class RequireScope:
    """Dependency: the caller's key, which must hold ``scope`` and be within its rate limit."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def check(self, request: Request) -> ApiKey:
        """Authenticate the request once (the key is kept on ``request.state``); raises
        ``HTTPException`` 401, 403 or 429."""
        key: ApiKey | None = getattr(request.state, "api_key", None)
        if key is None:
            services = get_services(request)
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            key = services.keys.authenticate(token) if token else None
            if key is None:
                reason = "unknown API key" if token else "missing API key"
                raise HTTPException(
                    401,
                    f"{reason}: send 'Authorization: Bearer <key>'",
                    {"WWW-Authenticate": "Bearer"},
                )
            request.state.key_id = key.key_id
            if self.scope not in key.scopes:
                raise HTTPException(403, f"this key lacks the '{self.scope}' scope")
            wait = services.limiter.check(key.key_id)
            if wait:
                per_minute = services.settings.rate_limit_per_minute
                raise HTTPException(
                    429,
                    f"rate limit of {per_minute} requests per minute",
                    {"Retry-After": str(wait)},
                )
            request.state.api_key = key
        elif self.scope not in key.scopes:
            raise HTTPException(403, f"this key lacks the '{self.scope}' scope")
        return key

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> ApiKey:
        return self.check(request)


def require_scope(scope: str) -> DependsParam:
    """The dependency a router lists to make its routes need ``scope``."""
    dependency: DependsParam = Security(RequireScope(scope))
    return dependency


async def check_body(request: Request, settings: ServeSettings) -> None:
    """Size (413) and encoding (400) of a POST body, before it is parsed."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400, f"body is not valid UTF-8 (byte {exc.start}): send UTF-8 JSON"
        ) from exc


class GuardedRoute(APIRoute):
    """Runs the route's scope checks and the body checks before FastAPI parses the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        scopes = [d.dependency for d in self.dependencies if isinstance(d.dependency, RequireScope)]

        async def guarded(request: Request) -> Response:
            try:
                for scope in scopes:
                    scope.check(request)
                if request.method == "POST":
                    await check_body(request, get_services(request).settings)
            except HTTPException as exc:
                return error(exc.status_code, str(exc.detail), exc.headers)
            return await handler(request)

        return guarded
