"""Waiting out a venue burst at start-up: 429s, 5xx and timeouts are paused through, within a budget.

Why: a bot (re)started while the venue throttles or fails for a while used to exhaust its few REST
retries and exit 1, leaving recovery to a supervisor. During start-up the adapter hands every
retryable failure (RateLimitError, TransientError other than an ambiguous create) that its own retries
could not get past to `StartupWait.pause`, which sleeps (the venue's Retry-After when it sent one, else
jittered exponential backoff), reports the wait, and raises `StartupWaitExhaustedError` once the
configured total budget is spent. Definite refusals (auth, permission, unknown product) never come here:
they fail at once. Pacing stays the rate limiter's: every retried request still takes its token.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gpt_trader.features.brokerages.core.interfaces import (
    AmbiguousOrderStateError,
    BrokerageError,
    RateLimitError,
    TransientError,
)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0
#: a venue's Retry-After longer than this is not believed (the budget still bounds the total)
RETRY_AFTER_CAP_S = 60.0


class StartupWaitExhaustedError(BrokerageError):
    """The venue kept failing transiently for the whole start-up wait budget: give up (exit 1)."""


@dataclass(frozen=True)
class WaitEvent:
    """One pause: what failed, why, how long we sleep now, and the totals so far."""

    what: str
    reason: str
    delay_s: float
    waited_s: float
    budget_s: float
    attempt: int
    retry_after_s: float | None


def waits_out(exc: BaseException) -> bool:
    """A failure start-up may wait out: throttling, a 5xx, a timeout or a refused connection. Never an
    ambiguous create (resolved by client_order_id) nor any definite refusal."""
    if isinstance(exc, AmbiguousOrderStateError):
        return False
    return isinstance(exc, RateLimitError | TransientError)


class StartupWait:
    """The start-up wait budget and its backoff; `pause` is awaited by the adapter between attempts."""

    def __init__(
        self,
        budget_s: float,
        *,
        setting: str = "coinbase.startup_wait_s",
        on_wait: Callable[[WaitEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if budget_s < 0:
            raise ValueError(f"{setting} must be >= 0 seconds, got {budget_s}")
        self.budget_s = float(budget_s)
        self.setting = setting
        self.on_wait = on_wait
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._started = clock()
        self.waits = 0
        self.waited_s = 0.0

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def _backoff(self) -> float:
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** min(self.waits, 16)))
        return self._rng.uniform(ceiling / 2, ceiling)

    async def pause(self, exc: BrokerageError, what: str) -> None:
        """Sleep before the next attempt of `what`, or raise StartupWaitExhaustedError when the budget
        is spent (the message names the setting, the budget and the last failure)."""
        remaining = self.budget_s - self.elapsed_s()
        if remaining <= 0:
            raise StartupWaitExhaustedError(
                f"the venue kept failing for {self.elapsed_s():.0f} s of start-up ({self.waits} waits; "
                f"{self.setting} = {self.budget_s:g} s); last: {what}: {exc.reason}. Giving up; "
                f"start again once the venue answers, or raise {self.setting}",
                reason="STARTUP_WAIT_EXHAUSTED",
            )
        retry_after = getattr(exc, "retry_after", None)
        delay = self._backoff()
        if isinstance(retry_after, int | float) and retry_after > 0:
            delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP_S))
        delay = min(delay, remaining)
        self.waits += 1
        self.waited_s += delay
        if self.on_wait is not None:
            self.on_wait(
                WaitEvent(
                    what=what,
                    reason=exc.reason,
                    delay_s=delay,
                    waited_s=self.waited_s,
                    budget_s=self.budget_s,
                    attempt=self.waits,
                    retry_after_s=retry_after if isinstance(retry_after, int | float) else None,
                )
            )
        await self._sleep(delay)


@runtime_checkable
class StartupWaiting(Protocol):
    """A venue whose start-up calls can wait a burst out: the bot sets a `StartupWait` for start-up and
    clears it (None) once started, so later calls fail fast to the bot's own guards again."""

    def set_startup_wait(self, wait: StartupWait | None) -> None: ...
