"""The request middleware: a request id, metrics, and one JSON log line per request.

The log line carries the request id, key id, route, status, latency and entity counts, never
the note text.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from medner.serving.deps import error, get_services

logger = logging.getLogger("medner.api")
REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")  # what the predictions table's column holds


async def observe(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    metrics = get_services(request).metrics
    given = request.headers.get("x-request-id")
    if given is not None and not REQUEST_ID.fullmatch(given):
        metrics.requests.labels(route="unmatched", status="400").inc()
        return error(400, "X-Request-ID must be 1 to 64 visible ASCII characters")
    request_id = given or uuid.uuid4().hex
    request.state.request_id = request_id
    request.state.key_id = None
    request.state.entity_counts = None
    started = time.perf_counter()
    metrics.in_flight.inc()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
    finally:
        metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        path = route.path if route is not None else "unmatched"
        metrics.requests.labels(route=path, status=str(status)).inc()
        metrics.latency.labels(route=path).observe(elapsed)
        record = {
            "event": "request",
            "request_id": request_id,
            "key_id": request.state.key_id,
            "method": request.method,
            "route": path,
            "status": status,
            "latency_ms": round(elapsed * 1000, 3),
        }
        if request.state.entity_counts is not None:
            record["entities"] = request.state.entity_counts
        logger.info(record)
    response.headers["X-Request-ID"] = request_id
    # responses carry clinical entities: never cached, never content-sniffed
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
