"""Per-key rate limiting: a token bucket per API key (requests per minute, burst the same)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    """``check(key_id)`` is 0 when a request may go, else the seconds until it may."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last time)

    def check(self, key_id: str) -> int:
        if self.capacity <= 0:
            return 0
        now = self.clock()
        tokens, last = self._buckets.get(key_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0
        self._buckets[key_id] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))
