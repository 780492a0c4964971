"""The request middleware: a request id, metrics, and one JSON log line per request.

The log line carries the request id, key id, route, status, latency and entity counts, never
the note text.

It is plain ASGI, not Starlette's ``BaseHTTPMiddleware``: that one runs every request's app in
a task of its own and streams the response through a memory channel, about a sixth of the
server's CPU under the review queue's load (docs/benchmarks.md, "review").
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medner.serving.deps import Services, error

logger = logging.getLogger("medner.api")
REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")  # what the predictions table's column holds
# responses carry clinical entities: never cached (unless a route says otherwise), never
# content-sniffed
CACHE_CONTROL = (b"cache-control", b"no-store")
NOSNIFF = (b"x-content-type-options", b"nosniff")
REPLACED = {b"x-request-id", NOSNIFF[0]}


class Observe:
    """Wraps the app: refuses a malformed ``X-Request-ID`` (400), gives each request an id
    (``request.state.request_id``, echoed in the ``X-Request-ID`` header), counts it and its
    latency by route template and status, and logs one line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        metrics = services.metrics
        given = Headers(scope=scope).get("x-request-id")
        if given is not None and not REQUEST_ID.fullmatch(given):
            metrics.requests.labels(route="unmatched", status="400").inc()
            refusal = error(400, "X-Request-ID must be 1 to 64 visible ASCII characters")
            await refusal(scope, receive, send)
            return
        request_id = given or uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state.update(request_id=request_id, key_id=None, entity_counts=None)
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() not in REPLACED
                ]
                headers += [(b"x-request-id", request_id.encode("ascii")), NOSNIFF]
                if all(k.lower() != CACHE_CONTROL[0] for k, _ in headers):
                    headers.append(CACHE_CONTROL)
                message = {**message, "headers": headers}
            await send(message)

        started = time.perf_counter()
        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = route.path if route is not None else "unmatched"
            metrics.requests.labels(route=path, status=str(status)).inc()
            metrics.latency.labels(route=path).observe(elapsed)
            record = {
                "event": "request",
                "request_id": request_id,
                "key_id": state.get("key_id"),
                "method": scope["method"],
                "route": path,
                "status": status,
                "latency_ms": round(elapsed * 1000, 3),
            }
            if state.get("entity_counts") is not None:
                record["entities"] = state["entity_counts"]
            logger.info(record)
