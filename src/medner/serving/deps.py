"""What the routes depend on, as FastAPI dependencies: the services of the app, and API keys
with their scopes.

A router declares the scope its routes need once, ``dependencies=[require_scope("extract")]``,
and uses :class:`GuardedRoute` as its route class. The guard runs that scope's check (key 401,
scope 403, rate 429) and the body checks (size 413, UTF-8 400) *before* FastAPI reads and parses
the body, so an unauthenticated caller never gets as far as the JSON parser, and reads the body
as it streams, refusing it as soon as it passes the size limit or takes too long. Without the guard
the same dependency still checks the key, after parsing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, Security
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.requests import ClientDisconnect

from medner.learning.jobs import RetrainJobs
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
    _review: Engine | None = None
    _review_lock: threading.Lock = field(default_factory=threading.Lock)
    _retrain: RetrainJobs | None = None
    review_threshold: float | None = None  # the auto-accept threshold (medner.review.routing)

    def review_engine(self) -> Engine:
        """The review queue's engine (migrated on first use), for the review routes; the
        routes run in a thread pool, so the first ones may ask at once."""
        with self._review_lock:
            if self._review is None:
                from medner.review import queue_engine

                self._review = queue_engine(self.settings.database_url)
        return self._review

    def retrain_jobs(self) -> RetrainJobs:
        """The retraining runs this app starts (``POST /v1/admin/retrain``)."""
        with self._review_lock:
            if self._retrain is None:
                self._retrain = RetrainJobs(
                    self.settings.retrain_params,
                    self.settings.retrain_dir,
                    self.settings.database_url,
                )
        return self._retrain

    def close(self) -> None:
        if self._review is not None:
            self._review.dispose()


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


# a refusal before the body is read to its end: the rest of the body is still on the wire, so
# the connection cannot carry another request; say so, and uvicorn closes it after the answer
CLOSE = {"Connection": "close"}


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, read as it streams (``Content-Length`` or chunked): refused with 413 as soon as
    it passes ``limit`` bytes, with 408 when it has not all arrived within ``timeout`` seconds."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"body larger than {limit} bytes", CLOSE)
                chunks.append(chunk)
    except TimeoutError as exc:
        raise HTTPException(
            408, f"the body did not arrive within {timeout:g} seconds", CLOSE
        ) from exc
    except ClientDisconnect as exc:
        raise HTTPException(400, "the client closed the connection before the body", CLOSE) from exc
    return b"".join(chunks)


async def check_body(request: Request, settings: ServeSettings) -> None:
    """Framing (400), size (413), arrival (408) and encoding (400) of a POST body, before it is
    parsed. The body read here is the one the route parses (Starlette keeps it on the request)."""
    limit = settings.max_body_bytes
    declared = request.headers.getlist("content-length")
    if declared and "transfer-encoding" in request.headers:
        raise HTTPException(
            400, "Content-Length and Transfer-Encoding together: send one of them", CLOSE
        )
    if len(set(declared)) > 1 or (declared and not declared[0].isdigit()):
        raise HTTPException(400, "Content-Length must be one whole number", CLOSE)
    if declared and int(declared[0]) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes", CLOSE)
    body = await _read_body(request, limit, settings.body_timeout_seconds)
    request._body = body  # what Request.body() caches; the route's parser reads it from there
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400, f"body is not valid UTF-8 (byte {exc.start}): send UTF-8 JSON"
        ) from exc
    if body and _is_json(request.headers.get("content-type")):
        try:
            # parsed once, here; Request.json() (what FastAPI reads the body with) caches it
            request._json = json.loads(body)
        except RecursionError as exc:
            raise HTTPException(422, "invalid request: JSON nested too deeply") from exc
        except ValueError:
            pass  # FastAPI's parser reports where the JSON is invalid (422)


def _is_json(content_type: str | None) -> bool:
    """The body FastAPI parses as JSON: no content type, or a JSON one."""
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


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
