"""Venue-level behaviour without sockets: audit, candles, clock, pinned books, fill delay bookkeeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.exchange_sim.candles import CandleStore
from gpt_trader.exchange_sim.venue import SimClock
from gpt_trader.exchange_sim.wire import OrderReject
from gpt_trader.features.brokerages.core.interfaces import BookLevel, OrderRequest, OrderSide, OrderType, TimeInForce

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_candle_store_aggregates_and_keeps_intervals_apart() -> None:
    store = CandleStore()
    for i, price in enumerate(["100", "105", "95", "101"]):
        store.record("X", T0 + dt.timedelta(seconds=20 * i), Decimal(price), Decimal("1"))
    one = store.query("X", 60, T0, T0 + dt.timedelta(minutes=5))
    assert [(c.open, c.high, c.low, c.close, c.volume) for c in one] == [
        (Decimal(100), Decimal(105), Decimal(95), Decimal(95), Decimal(3)),
        (Decimal(101), Decimal(101), Decimal(101), Decimal(101), Decimal(1)),
    ]
    five = store.query("X", 300, T0, T0 + dt.timedelta(minutes=5))
    assert len(five) == 1 and five[0].high == Decimal(105) and five[0].close == Decimal(101)
    from gpt_trader.features.brokerages.core.interfaces import Candle

    hourly = [
        Candle(start=T0 - dt.timedelta(hours=2), open=Decimal(1), high=Decimal(2), low=Decimal(1), close=Decimal(2),
               volume=Decimal(10))
    ]  # fmt: skip
    store.seed("X", hourly, 3600)
    assert store.query("X", 60, T0 - dt.timedelta(hours=3), T0) == []  # finer than the seeded bars
    assert len(store.query("X", 3600, T0 - dt.timedelta(hours=3), T0 + dt.timedelta(hours=1))) == 2
    opened, volume, low, high = store.window_stats("X", T0 + dt.timedelta(minutes=2))
    assert opened == Decimal(1) and volume == Decimal(14) and low == Decimal(1) and high == Decimal(105)


def test_sim_clock_speed_and_advance() -> None:
    clock = SimClock(T0, speed=1000.0)
    a = clock.now()
    assert a >= T0
    b = clock.advance(3600)
    assert b - a >= dt.timedelta(hours=1)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="speed"):
        SimClock(T0, speed=0)


@pytest.fixture()
async def sim() -> AsyncIterator[ExchangeSimulator]:
    s = ExchangeSimulator(port=0, synthetic=False, initial_funds={"USD": Decimal("10000")})
    await s.start()
    yield s
    await s.stop()


def _req(**kw: object) -> OrderRequest:
    base: dict[str, object] = {"symbol": "BTC-USD", "side": OrderSide.BUY, "order_type": OrderType.MARKET}
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


async def test_audit_balances_and_detects_created_money(sim: ExchangeSimulator) -> None:
    venue = sim.venue
    venue.pin_book("BTC-USD", [BookLevel(Decimal(99), Decimal(5))], [BookLevel(Decimal(101), Decimal(5))])
    order, dup = await venue.create_order(sim.account_id, _req(size=Decimal("1"), time_in_force=TimeInForce.IOC))
    assert not dup and order.filled_size == Decimal(1)
    audit = venue.audit(sim.account_id)
    assert audit["ok"] and audit["assets"]["BTC"]["actual"] == "1"
    sim.engine.fund(sim.account_id, "USD", Decimal("5"))  # money from nowhere: bypasses the venue ledger
    bad = venue.audit(sim.account_id)
    assert not bad["ok"] and not bad["assets"]["USD"]["ok"]
    sim.engine.fund(sim.account_id, "USD", Decimal("-5"))  # undone the same way: the books balance again
    assert venue.audit(sim.account_id)["ok"]  # (the session-wide audit check would fail this test otherwise)


async def test_unknown_product_and_engine_rejects_map_to_order_reject(sim: ExchangeSimulator) -> None:
    with pytest.raises(OrderReject) as info:
        await sim.venue.create_order(sim.account_id, _req(symbol="NOPE-USD", size=Decimal(1)))
    assert info.value.reason == "INVALID_PRODUCT_ID"
    sim.venue.pin_book("BTC-USD", [BookLevel(Decimal(99), Decimal(5))], [BookLevel(Decimal(101), Decimal(5))])
    with pytest.raises(OrderReject) as info:
        await sim.venue.create_order(
            sim.account_id, _req(order_type=OrderType.LIMIT, size=Decimal(1000), limit_price=Decimal(100))
        )
    assert info.value.reason == "INSUFFICIENT_FUND"


async def test_set_price_needs_a_driving_source(sim: ExchangeSimulator) -> None:
    from gpt_trader.features.brokerages.core.interfaces import NotFoundError

    with pytest.raises(NotFoundError, match="no market source"):
        sim.venue.set_price("ETH-USD", Decimal(3000))
    sim.venue.pin_book("ETH-USD", [BookLevel(Decimal(10), Decimal(1))], [BookLevel(Decimal(11), Decimal(1))])
    sim.venue.set_price("ETH-USD", Decimal(3000))  # a pinned book is re-shaped around the new price
    mid = sim.engine.mid("ETH-USD")
    assert mid is not None and abs(mid - Decimal(3000)) < Decimal(5)
    assert sim.venue.release_book("ETH-USD")


async def test_info_line_and_option_validation(sim: ExchangeSimulator) -> None:
    info = sim.info()
    assert info["rest_url"] == f"http://127.0.0.1:{sim.port}" and "cert_path" not in info
    assert info["cdp_private_key"].startswith("-----BEGIN EC PRIVATE KEY-----")
    with pytest.raises(TypeError, match="unknown simulator option 'colour'"):
        ExchangeSimulator(colour="red")
    with pytest.raises(ValueError, match="hmac_key and hmac_secret"):
        ExchangeSimulator(hmac_key="k")
