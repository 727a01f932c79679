"""Coinbase-style REST rate limits with the `x-ratelimit-*` headers clients read.

[?] Fixed one-second windows: 30 req/s per credential on private routes, 10 req/s per client IP on
public routes (COINBASE.md §1). `x-ratelimit-reset` is the UNIX second at which the window resets.
A limit of 0 disables that bucket (benchmarks, bulk tests).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_epoch),
        }


class FixedWindowLimiter:
    def __init__(self, limit_per_s: int, *, now: Callable[[], float] = time.time) -> None:
        if limit_per_s < 0:
            raise ValueError(f"rate limit must be >= 0 requests/s, got {limit_per_s}")
        self.limit = limit_per_s
        self._now = now
        self._windows: dict[str, tuple[int, int]] = {}

    def check(self, key: str) -> RateDecision:
        now = self._now()
        window = math.floor(now)
        if self.limit == 0:
            return RateDecision(True, 0, 0, window + 1)
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        if len(self._windows) > 10_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        if count >= self.limit:
            self._windows[key] = (start, count)
            return RateDecision(False, self.limit, 0, window + 1)
        count += 1
        self._windows[key] = (start, count)
        return RateDecision(True, self.limit, self.limit - count, window + 1)
