import asyncio
import random

import pytest

from gpt_trader.features.brokerages.coinbase.rate_limit import RateLimiter, TokenBucket


class FakeTime:
    """A virtual clock: sleeping advances it, so pacing is checked exactly and instantly."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s
        await asyncio.sleep(0)


async def test_bucket_paces_to_rate_after_burst() -> None:
    ft = FakeTime()
    bucket = TokenBucket(10, clock=ft.clock, sleep=ft.sleep)
    start = ft.t
    for _ in range(30):
        await bucket.acquire()
    # 10 burst tokens, then 20 more at 10/s -> 2 s
    assert ft.t - start == pytest.approx(2.0, abs=1e-9)
    assert bucket.waits == 20


async def test_concurrent_acquirers_never_exceed_rate() -> None:
    ft = FakeTime()
    bucket = TokenBucket(30, clock=ft.clock, sleep=ft.sleep)
    stamps: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        stamps.append(ft.t)

    await asyncio.gather(*(one() for _ in range(90)))
    assert len(stamps) == 90
    # any 1-second window holds at most capacity + rate grants
    for s in stamps:
        assert sum(1 for x in stamps if s <= x < s + 1.0) <= 60
    assert max(stamps) - 1000.0 == pytest.approx(2.0, abs=1e-6)


async def test_headers_reduce_tokens_and_block_until_reset() -> None:
    ft = FakeTime()
    rl = RateLimiter(30, 10, clock=ft.clock, wall_clock=lambda: 1_700_000_000.0, sleep=ft.sleep)
    rl.observe_headers({"x-ratelimit-remaining": "2", "x-ratelimit-reset": "1"}, public=False)
    assert rl.private.tokens == pytest.approx(2.0)
    rl.observe_headers({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000003"}, public=False)
    waited = await rl.acquire(public=False)
    assert waited == pytest.approx(3.0)
    # the public bucket is independent
    assert await rl.acquire(public=True) == 0.0


def test_garbage_headers_are_ignored() -> None:
    rl = RateLimiter()
    rl.observe_headers({"x-ratelimit-remaining": "lots"}, public=False)
    assert rl.private.tokens == pytest.approx(30.0, abs=0.5)


async def test_429_backoff_grows_jittered_and_resets_on_success() -> None:
    ft = FakeTime()
    rl = RateLimiter(clock=ft.clock, sleep=ft.sleep, rng=random.Random(7))
    delays = [rl.on_throttled(public=False) for _ in range(10)]
    for n, d in enumerate(delays):
        ceiling = min(30.0, 0.25 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    assert rl.throttled_total == 10
    rl.on_success()
    assert rl.on_throttled(public=False) <= 0.25
    assert rl.on_throttled(public=True, retry_after=5) == pytest.approx(5.0)
    assert rl.public.delay_for() == pytest.approx(5.0)


def test_bad_rate_is_rejected() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(0)


def test_zero_limit_header_means_unlimited() -> None:
    rl = RateLimiter()
    rl.observe_headers({"x-ratelimit-limit": "0", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "5"}, public=False)
    assert rl.private.delay_for() == 0.0
