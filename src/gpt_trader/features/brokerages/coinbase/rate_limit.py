"""Client-side request pacing: token buckets per quota, fed back by x-ratelimit-* headers and 429s.

Coinbase allows 30 req/s private (per user) and 10 req/s public (per IP) (COINBASE.md §1). Pacing on
our side keeps us from spending the venue's patience; the headers correct our idea of what is left.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping

DEFAULT_PRIVATE_RPS = 30.0
DEFAULT_PUBLIC_RPS = 10.0
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 30.0
#: x-ratelimit-reset above this is an epoch timestamp; below, seconds from now. [?] not documented.
_EPOCH_THRESHOLD = 1_000_000_000
_EPS = 1e-9  # float slack, so rounding can never spin the wait loop


class TokenBucket:
    """A refilling bucket; `acquire` waits (FIFO) until `cost` tokens are available."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()
        self.waits = 0
        self.waited_s = 0.0

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def delay_for(self, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens would be available (0 if now)."""
        self._refill()
        now = self._clock()
        block = max(0.0, self._blocked_until - now)
        short = max(0.0, cost - self._tokens)
        return max(block, short / self.rate)

    async def acquire(self, cost: float = 1.0) -> float:
        """Take `cost` tokens, sleeping as needed. Returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                delay = self.delay_for(cost)
                if delay <= _EPS:
                    self._tokens = max(0.0, self._tokens - cost)
                    break
                waited += delay
                await self._sleep(delay)
        if waited:
            self.waits += 1
            self.waited_s += waited
        return waited

    def block_for(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (after a 429 or an exhausted quota)."""
        self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))

    def observe_remaining(self, remaining: float, reset_in: float | None) -> None:
        """The venue knows better: never believe we have more tokens than it says remain."""
        self._refill()
        self._tokens = min(self._tokens, max(0.0, remaining))
        if remaining <= 0 and reset_in is not None:
            self.block_for(reset_in)


def _num(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


class RateLimiter:
    """The two Coinbase quotas plus 429 backoff (jittered exponential, honouring Retry-After)."""

    def __init__(
        self,
        private_rps: float = DEFAULT_PRIVATE_RPS,
        public_rps: float = DEFAULT_PUBLIC_RPS,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.private = TokenBucket(private_rps, clock=clock, sleep=sleep)
        self.public = TokenBucket(public_rps, clock=clock, sleep=sleep)
        self._wall = wall_clock
        self._rng = rng or random.Random()
        self._consecutive_429 = 0
        self.throttled_total = 0

    def bucket(self, public: bool) -> TokenBucket:
        return self.public if public else self.private

    async def acquire(self, public: bool) -> float:
        return await self.bucket(public).acquire()

    def observe_headers(self, headers: Mapping[str, str], public: bool) -> None:
        remaining = _num(headers.get("x-ratelimit-remaining"))
        limit = _num(headers.get("x-ratelimit-limit"))
        if remaining is None or (limit is not None and limit <= 0):
            return  # no header, or the server reports no limit at all
        reset = _num(headers.get("x-ratelimit-reset"))
        reset_in: float | None = None
        if reset is not None:
            reset_in = reset - self._wall() if reset > _EPOCH_THRESHOLD else reset
            reset_in = max(0.0, min(reset_in, BACKOFF_CAP_S))
        self.bucket(public).observe_remaining(remaining, reset_in)

    def on_success(self) -> None:
        self._consecutive_429 = 0

    def on_throttled(self, public: bool, retry_after: float | None = None) -> float:
        """Record a 429; block the bucket and return the backoff chosen (seconds)."""
        self._consecutive_429 += 1
        self.throttled_total += 1
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** (self._consecutive_429 - 1)))
        delay = self._rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, BACKOFF_CAP_S))
        self.bucket(public).block_for(delay)
        return delay
