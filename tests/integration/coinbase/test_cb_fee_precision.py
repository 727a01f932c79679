"""Fees at full precision: a real Coinbase fill of 10 ADA at 0.392 with a 0.8 % taker rate carries
`commission: "0.03136"`, finer than the quote increment. The simulator's REST fill, the user WebSocket's
`total_fees`, the adapter's parsed Fill, the mock broker and the bot's ledger must all carry exactly that."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cb_sim import pin, sim_env

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import (
    BookLevel,
    OrderRequest,
    OrderSide,
    OrderType,
    OrderUpdate,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching import FeeSchedule, FeeTier
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.brokerages.mock.broker import MockBroker
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database

pytestmark = pytest.mark.integration
ADA = "ADA-USD"
COMMISSION = Decimal("0.03136")  # 10 x 0.392 x 0.008, exactly
TAKER = FeeTier(
    name="0.8%", usd_from=Decimal(0), usd_to=None, maker_fee_rate=Decimal("0.004"), taker_fee_rate=Decimal("0.008")
)


def buy_10_ada(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        symbol=ADA,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("10"),
        time_in_force=TimeInForce.IOC,
        client_order_id=client_order_id,
    )


async def test_ada_commission_exact_on_the_wire_in_the_adapter_and_in_the_ledger(tmp_path: Path) -> None:
    products = [p for p in default_products() if p.symbol == ADA]
    assert products[0].quote_increment > Decimal("0.00001")  # the commission is finer than the venue's grid
    async with ExchangeSimulator(port=0, seed=5, tick_interval_s=3600, products=products) as sim:
        sim.engine.set_fee_tier(sim.account_id, TAKER)
        pin(sim, ADA, [("0.391", "1000")], [("0.392", "1000")])
        broker = CoinbaseBroker(coinbase_settings_from_env(sim_env(sim)))
        await broker.connect()
        updates: list[OrderUpdate] = []

        async def drain() -> None:
            async for u in broker.stream_user_events():
                updates.append(u)

        task = asyncio.create_task(drain())
        try:
            await asyncio.sleep(0.3)  # the user stream is subscribed before the order goes out
            before = {b.asset: b.total for b in await broker.list_balances()}["USD"]
            order = await broker.place_order(buy_10_ada("ada-1"))
            # the simulator's REST fill, as the wire carries it
            raw = json.loads(
                await broker.rest.request("GET", "/orders/historical/fills", params={"order_ids": [order.order_id]})
            )
            [wire_fill] = raw["fills"]
            assert (wire_fill["price"], wire_fill["size"], wire_fill["commission"]) == ("0.392", "10", "0.03136")
            raw_order = json.loads(await broker.rest.request("GET", f"/orders/historical/{order.order_id}"))["order"]
            assert (raw_order["total_fees"], raw_order["filled_value"]) == ("0.03136", "3.92")
            assert raw_order["total_value_after_fees"] == "3.95136"
            # the adapter's parsed order and Fill
            parsed = await broker.get_order(order.order_id)
            assert (parsed.fees, parsed.filled_value) == (COMMISSION, Decimal("3.92"))
            [fill] = await broker.list_fills(ADA, order_id=order.order_id)
            assert fill.fee == COMMISSION and fill.price * fill.size == Decimal("3.92")
            # the user WebSocket: total_fees of the filled order, parsed by the adapter's stream
            deadline = asyncio.get_running_loop().time() + 5
            while not any(u.order.fees == COMMISSION and u.order.filled_value == Decimal("3.92") for u in updates):
                assert asyncio.get_running_loop().time() < deadline, [u.order.fees for u in updates]
                await asyncio.sleep(0.02)
            # the venue's balance follows the exact amounts, and its own audit agrees
            usd = {b.asset: b.total for b in await broker.list_balances()}["USD"]
            assert usd == before - Decimal("3.92") - COMMISSION
            assert sim.venue.audit(sim.account_id)["ok"]
        finally:
            task.cancel()
            await broker.close()

    # the bot's ledger: the fill stored in SQLite and replayed into the position book
    store = OrdersStore(open_database(tmp_path / "orders.sqlite3"))
    at = datetime.now(UTC)
    store.record_intent(buy_10_ada("ada-1"), intent_id="ada-1", session_id="s", at=at)
    store.update_from_order(order, at=at)
    store.add_fills([fill])
    book = PositionBook()
    for entry in store.ledger_entries():
        book.apply_fill(entry)
    assert book.ledger(ADA).fees == COMMISSION and book.ledger(ADA).volume == Decimal("3.92")


async def test_ada_commission_exact_in_the_mock() -> None:
    products = [p for p in default_products() if p.symbol == ADA]
    mock = MockBroker(products=products, fees=FeeSchedule(override=TAKER), starting_cash=Decimal("1000"))
    await mock.connect()
    mock.engine.set_book(
        ADA, bids=[BookLevel(Decimal("0.391"), Decimal(1000))], asks=[BookLevel(Decimal("0.392"), Decimal(1000))]
    )
    order = await mock.place_order(buy_10_ada("ada-mock"))
    [fill] = await mock.list_fills(ADA, order_id=order.order_id)
    assert (fill.price, fill.size, fill.fee) == (Decimal("0.392"), Decimal("10"), COMMISSION)
    assert order.fees == COMMISSION and order.filled_value == Decimal("3.92")
    usd = {b.asset: b.total for b in await mock.list_balances()}["USD"]
    assert usd == Decimal("1000") - Decimal("3.92") - COMMISSION
