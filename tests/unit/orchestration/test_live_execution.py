"""LiveExecutionEngine on the MockBroker: limit orders worked to the end (amend, cancel, partial
fills), every move through the validated lifecycle and into the store, ambiguous sends resolved by
client_order_id without a second order at the venue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TransientError,
)
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.live_execution import LiveExecutionEngine, client_order_id_for
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database

SYM = "BTC-USD"
Setup = tuple[MockBroker, LiveExecutionEngine, OrdersStore, MetricsRegistry]


async def _build(tmp_path: Path, calls: list[tuple[bool, str]] | None = None) -> Setup:
    broker = MockBroker(symbols=[SYM], seed=3, start=datetime(2025, 1, 6, 12, tzinfo=UTC))
    await broker.connect()
    conn = open_database(tmp_path / "bot.sqlite3")
    store = OrdersStore(conn)
    metrics = MetricsRegistry()
    hook = None if calls is None else (lambda ok, endpoint: calls.append((ok, endpoint)))
    engine = LiveExecutionEngine(
        broker, store, EventStore(conn, "s1"), metrics, PositionBook(), bot_id="t", on_api_call=hook
    )
    return broker, engine, store, metrics


@pytest.fixture
async def setup(tmp_path: Path) -> Setup:
    return await _build(tmp_path)


@pytest.fixture
def calls() -> list[tuple[bool, str]]:
    """(ok, endpoint) of every exchange call, as PerpsBot's risk feed sees them (`recorded` engines)."""
    return []


@pytest.fixture
async def recorded(tmp_path: Path, calls: list[tuple[bool, str]]) -> Setup:
    return await _build(tmp_path, calls)


def _limit(price: Decimal, size: str = "0.01", side: OrderSide = OrderSide.BUY) -> OrderRequest:
    return OrderRequest(symbol=SYM, side=side, order_type=OrderType.LIMIT, size=Decimal(size), limit_price=price)


async def _below_mid(broker: MockBroker, pct: str) -> Decimal:
    quote = await broker.get_quote(SYM)
    return (quote.mid * (1 - Decimal(pct))).quantize(Decimal("0.01"))


async def test_resting_limit_amend_then_cancel(setup: Setup) -> None:
    broker, engine, store, _ = setup
    price = await _below_mid(broker, "0.05")
    result = await engine.submit(_limit(price), intent_id="i-amend")
    assert result.status == "sent" and result.order is not None and result.order.status is OrderStatus.OPEN
    coid = result.client_order_id
    assert coid == client_order_id_for("t", "i-amend")

    new_price = await _below_mid(broker, "0.06")
    amended = await engine.amend(coid, price=new_price)
    assert amended.limit_price == new_price and amended.status is OrderStatus.OPEN
    assert (await broker.get_order(amended.order_id)).limit_price == new_price

    assert await engine.cancel(coid)
    stored = store.get(coid)
    assert stored is not None and stored.status is OrderStatus.CANCELLED
    moves = [to for _, to in store.transitions(coid)]
    assert moves == ["PENDING_SUBMIT", "OPEN", "PENDING_AMEND", "OPEN", "PENDING_CANCEL", "CANCELLED"]
    assert coid not in engine.tracked
    assert [o for o in await broker.list_orders(SYM) if o.client_order_id == coid] == []


async def test_resting_order_filled_when_market_crosses_is_tracked_to_the_end(setup: Setup) -> None:
    broker, engine, store, metrics = setup
    price = await _below_mid(broker, "0.02")
    result = await engine.submit(_limit(price), intent_id="i-fill")
    broker.set_price(SYM, price * Decimal("0.97"))  # the market falls through the bid
    await broker.advance_time(5)
    await engine.poll()
    stored = store.get(result.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert stored.filled_size == Decimal("0.01")
    fills = store.fills(order_id=stored.order_id)
    assert sum(f.size for f in fills) == Decimal("0.01") and all(f.price <= price for f in fills)
    assert engine.positions.size(SYM) == Decimal("0.01")
    assert metrics.counter("fills.count") == len(fills)


async def test_failed_send_stays_pending_and_is_resent_with_the_same_id(setup: Setup) -> None:
    broker, engine, store, metrics = setup
    broker.fail_next(1, TransientError)
    request = OrderRequest(symbol=SYM, side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("0.001"))
    result = await engine.submit(request, intent_id="i-ambiguous")
    assert result.status == "pending"
    pending = store.get(result.client_order_id)
    assert pending is not None and pending.status is OrderStatus.PENDING_SUBMIT
    await engine.poll()  # looks it up by client_order_id, finds nothing, resends the same id
    await engine.poll()
    venue = [o for o in await broker.list_orders(SYM, open_only=False) if o.client_order_id == result.client_order_id]
    assert len(venue) == 1 and venue[0].status is OrderStatus.FILLED
    resent = store.get(result.client_order_id)
    assert resent is not None and resent.status is OrderStatus.FILLED
    assert metrics.counter("orders.ambiguous") == 1 and engine.pending_count == 0


async def test_same_intent_twice_sends_once(setup: Setup) -> None:
    broker, engine, _, metrics = setup
    request = OrderRequest(symbol=SYM, side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("0.001"))
    first = await engine.submit(request, intent_id="same")
    second = await engine.submit(request, intent_id="same")
    assert first.status == "sent" and second.status == "duplicate"
    orders = [o for o in await broker.list_orders(SYM, open_only=False) if o.client_order_id == first.client_order_id]
    assert len(orders) == 1 and metrics.counter("orders.duplicate_intents") == 1


async def test_venue_rejection_is_recorded_with_its_reason(setup: Setup) -> None:
    _, engine, store, metrics = setup
    huge = OrderRequest(symbol=SYM, side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("50"))
    result = await engine.submit(huge, intent_id="too-big")
    assert result.status == "rejected" and result.reason
    stored = store.get(result.client_order_id)
    assert stored is not None and stored.status is OrderStatus.REJECTED and stored.reject_reason == result.reason
    assert metrics.counter("orders.rejected") == 1


# ------------------------------------------------------------------ venue failures while working orders
async def test_a_failed_cancel_leaves_the_order_pending_cancel_then_cancel_all_finishes_it(
    recorded: Setup, calls: list[tuple[bool, str]]
) -> None:
    broker, engine, store, _ = recorded
    result = await engine.submit(_limit(await _below_mid(broker, "0.05")), intent_id="i-cancel-fails")
    coid = result.client_order_id
    calls.clear()
    broker.fail_next(1, TransientError)
    assert await engine.cancel(coid) is False
    assert calls == [(False, "cancel_orders")]
    stored = store.get(coid)
    assert stored is not None and stored.status is OrderStatus.PENDING_CANCEL
    assert [o.client_order_id for o in await broker.list_orders(SYM)] == [coid]  # still working at the venue
    await engine.poll()  # the venue says OPEN: the local order follows it back
    assert engine.tracked[coid].status is OrderStatus.OPEN
    assert await engine.cancel_all() == 1
    final = store.get(coid)
    assert final is not None and final.status is OrderStatus.CANCELLED and not engine.tracked
    assert await engine.cancel(coid) is False  # nothing left to cancel


async def test_a_refused_amend_raises_and_keeps_the_venues_order(
    recorded: Setup, calls: list[tuple[bool, str]]
) -> None:
    broker, engine, store, _ = recorded
    price = await _below_mid(broker, "0.05")
    result = await engine.submit(_limit(price), intent_id="i-amend-fails")
    coid = result.client_order_id
    new_price = await _below_mid(broker, "0.06")
    calls.clear()
    broker.fail_next(1, TransientError)
    with pytest.raises(TransientError):
        await engine.amend(coid, price=new_price)
    assert calls == [(False, "edit_order")]
    assert engine.tracked[coid].status is OrderStatus.OPEN and engine.tracked[coid].limit_price == price
    stored = store.get(coid)
    assert stored is not None and stored.status is OrderStatus.OPEN
    with pytest.raises(KeyError, match="no working order nope"):
        await engine.amend("nope", price=price)


async def test_a_failed_refresh_keeps_tracking_and_a_failed_lookup_keeps_the_pending_submit(
    recorded: Setup, calls: list[tuple[bool, str]]
) -> None:
    broker, engine, store, metrics = recorded
    resting = await engine.submit(_limit(await _below_mid(broker, "0.05")), intent_id="i-refresh")
    calls.clear()
    broker.fail_next(1, TransientError)
    await engine.poll()
    assert calls == [(False, "get_order")] and resting.client_order_id in engine.tracked

    broker.fail_next(1, TransientError)
    market = OrderRequest(symbol=SYM, side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("0.001"))
    pending = await engine.submit(market, intent_id="i-lookup")
    assert pending.status == "pending"
    broker.fail_next(1, TransientError)
    await engine.resolve_pending()
    assert engine.pending_count == 1 and (False, "get_order_by_client_id") in calls
    await engine.resolve_pending(resend=False)  # looks, finds nothing, sends nothing
    assert engine.pending_count == 1 and metrics.counter("orders.resent_same_id") == 0
    stored = store.get(pending.client_order_id)
    assert stored is not None and stored.status is OrderStatus.PENDING_SUBMIT


async def test_a_pending_submit_the_venue_did_get_is_adopted_not_resent(setup: Setup) -> None:
    broker, engine, store, metrics = setup
    broker.fail_next(1, TransientError)
    market = OrderRequest(symbol=SYM, side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("0.001"))
    pending = await engine.submit(market, intent_id="i-reached-venue")
    coid = pending.client_order_id
    # the send did reach the venue after all (the timeout came after it): the same id is there
    from msgspec.structs import replace

    await broker.place_order(replace(market, client_order_id=coid))
    await engine.resolve_pending()
    assert engine.pending_count == 0 and metrics.counter("orders.pending_resolved") == 1
    assert metrics.counter("orders.resent_same_id") == 0
    venue = [o for o in await broker.list_orders(SYM, open_only=False) if o.client_order_id == coid]
    assert len(venue) == 1
    stored = store.get(coid)
    assert stored is not None and stored.status is OrderStatus.FILLED


async def test_prepare_writes_the_intent_and_sends_nothing_then_send_sends_it_once(setup: Setup) -> None:
    broker, engine, store, _ = setup
    request = OrderRequest(symbol=SYM, side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("0.001"))
    prepared = engine.prepare(request, intent_id="prep")
    assert isinstance(prepared, OrderRequest) and prepared.client_order_id
    stored = store.get(prepared.client_order_id)
    assert stored is not None and stored.status is OrderStatus.PENDING_SUBMIT  # on disk before any send
    coid = stored.client_order_id
    assert [o for o in await broker.list_orders(SYM, open_only=False) if o.client_order_id == coid] == []
    again = engine.prepare(request, intent_id="prep")  # the same intent prepared twice is not sent twice
    assert not isinstance(again, OrderRequest) and again.status == "duplicate"
    sent = await engine.send(prepared)
    assert sent.status == "sent"
    venue = [o for o in await broker.list_orders(SYM, open_only=False) if o.client_order_id == coid]
    assert len(venue) == 1
