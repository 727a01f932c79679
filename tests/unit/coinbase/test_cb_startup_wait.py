"""StartupWait: Retry-After honoured, jittered backoff, a bounded budget whose end names the setting, and
only retryable failures waited out (core/startup_wait.py). A fake clock: no real sleeping."""

from __future__ import annotations

import random

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    AmbiguousOrderStateError,
    AuthError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TransientError,
)
from gpt_trader.features.brokerages.core.startup_wait import (
    BACKOFF_CAP_S,
    StartupWait,
    StartupWaitExhaustedError,
    WaitEvent,
    waits_out,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(budget: float, t: FakeTime, events: list[WaitEvent] | None = None) -> StartupWait:
    return StartupWait(
        budget, on_wait=None if events is None else events.append, clock=t.clock, sleep=t.sleep, rng=random.Random(7)
    )


def test_only_throttling_and_transient_failures_are_waited_out() -> None:
    assert waits_out(RateLimitError("429", retry_after=2))
    assert waits_out(TransientError("503", reason="HTTP_503"))
    assert waits_out(TransientError("timeout", reason="TIMEOUT"))
    for refusal in (
        AuthError("401", reason="UNAUTHENTICATED"),
        PermissionDeniedError("403"),
        NotFoundError("unknown product"),
        AmbiguousOrderStateError("create outcome unknown"),
    ):
        assert not waits_out(refusal), refusal


async def test_retry_after_is_honoured_and_reported() -> None:
    t = FakeTime()
    events: list[WaitEvent] = []
    wait = make(60, t, events)
    await wait.pause(RateLimitError("429", retry_after=7.5, reason="RATE_LIMITED"), "GET /products")
    assert t.sleeps == [7.5]  # longer than the first backoff (<= 1 s): the venue's word wins
    (ev,) = events
    assert (ev.what, ev.reason, ev.retry_after_s, ev.attempt) == ("GET /products", "RATE_LIMITED", 7.5, 1)
    assert ev.budget_s == 60
    await wait.pause(TransientError("503", reason="HTTP_503", retry_after=3.0), "GET /accounts")
    assert t.sleeps[-1] >= 3.0 and wait.waits == 2


async def test_backoff_grows_with_jitter_and_is_capped() -> None:
    t = FakeTime()
    wait = make(10_000, t)
    for _ in range(12):
        await wait.pause(TransientError("503", reason="HTTP_503"), "GET /time")
    first, second = t.sleeps[0], t.sleeps[1]
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0
    assert all(s <= BACKOFF_CAP_S for s in t.sleeps) and max(t.sleeps) > BACKOFF_CAP_S / 2
    assert len(set(t.sleeps)) == len(t.sleeps), "jittered: no two waits alike"


async def test_budget_bounds_the_total_and_its_end_names_the_setting() -> None:
    t = FakeTime()
    wait = make(5, t)
    err = RateLimitError("429", retry_after=3, reason="RATE_LIMITED")
    await wait.pause(err, "GET /products")
    await wait.pause(err, "GET /products")  # only the 2 s left are slept
    assert sum(t.sleeps) == pytest.approx(5.0)
    with pytest.raises(StartupWaitExhaustedError) as caught:
        await wait.pause(err, "GET /products")
    message = str(caught.value)
    assert "coinbase.startup_wait_s = 5 s" in message and "GET /products" in message and "RATE_LIMITED" in message
    assert caught.value.exit_code == 1


def test_a_negative_budget_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"coinbase\.startup_wait_s must be >= 0"):
        StartupWait(-1)
