from __future__ import annotations

import pytest

from gpt_trader.exchange_sim.faults import FaultInjector, FaultSpecError, parse_spec
from gpt_trader.exchange_sim.ratelimit import FixedWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_parse_spec_accepts_every_fault() -> None:
    items = parse_spec(
        "latency:20:5, http429:3, http5xx:2:502:after, drop_ws:user:2, seq_gap:4, stall:3:BTC-USD+ETH-USD,"
        " delay_fills:1.5, reject_orders:2:INVALID_LIMIT_PRICE"
    )
    assert [i.name for i in items] == [
        "latency",
        "http429",
        "http5xx",
        "drop_ws",
        "seq_gap",
        "stall",
        "delay_fills",
        "reject_orders",
    ]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("explode", "unknown fault 'explode'; allowed"),
        ("http429", "needs an argument"),
        ("http429:x", "count must be an integer"),
        ("http5xx:1:404", "status must be >= 500"),
        ("drop_ws:everyone", "target must be one of market, user, all"),
        ("reject_orders:1:NOPE", "reason must be one of"),
        ("latency:1:2:3", "at most 2 arguments"),
    ],
)
def test_parse_spec_errors_name_the_problem(spec: str, match: str) -> None:
    with pytest.raises(FaultSpecError, match=match):
        parse_spec(spec)


def test_bursts_count_down_and_clear() -> None:
    f = FaultInjector(now=Clock())
    f.apply("http429:2,http5xx:1:502:after,reject_orders:1")
    assert [f.take_429(), f.take_429(), f.take_429()] == [True, True, False]
    assert f.take_5xx() == (502, True)
    assert f.take_5xx() is None
    assert f.take_reject() == "INSUFFICIENT_FUND"
    assert f.take_reject() is None
    assert f.snapshot()["fired"] == {"http429": 2, "http5xx": 1, "reject_orders": 1}
    f.apply("http429:5,latency:100")
    f.clear()
    assert not f.take_429() and f.latency_s() == 0.0


def test_stall_expires_and_scopes_products() -> None:
    clock = Clock()
    f = FaultInjector(now=clock)
    f.apply("stall:2:BTC-USD")
    assert f.is_stalled("BTC-USD") and not f.is_stalled("ETH-USD")
    clock.t += 2.5
    assert not f.is_stalled("BTC-USD")
    f.apply("stall")
    clock.t += 1e6
    assert f.is_stalled("ANY-USD")


def test_ws_actions_delegate_and_repeat() -> None:
    clock = Clock()
    f = FaultInjector(now=clock)
    calls: list[tuple[str, str]] = []

    def action(kind: str, arg: str) -> int:
        calls.append((kind, arg))
        return 1

    f.ws_action = action
    f.apply("drop_ws:market:1,seq_gap:3")
    assert calls == [("drop_ws", "market"), ("seq_gap", "3")]
    clock.t += 1.1
    f.run_periodic()
    assert calls[-1] == ("drop_ws", "market") and len(calls) == 3


def test_latency_with_jitter_in_range() -> None:
    f = FaultInjector(now=Clock(), seed=1)
    f.apply("latency:10:10")
    values = [f.latency_s() for _ in range(50)]
    assert all(0.010 <= v <= 0.020 for v in values)


def test_fixed_window_limiter_headers() -> None:
    clock = Clock()
    lim = FixedWindowLimiter(3, now=clock)
    decisions = [lim.check("k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[0].headers() == {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": "2",
        "x-ratelimit-reset": "1001",
    }
    assert lim.check("other").allowed
    clock.t += 1
    assert lim.check("k").allowed
    assert FixedWindowLimiter(0, now=clock).check("k").allowed
    with pytest.raises(ValueError, match="rate limit"):
        FixedWindowLimiter(-1)
