"""Start-up reconciliation against the exchange simulator through the real CoinbaseBroker (REST over
127.0.0.1): every path in one crash story, then a refusal on an unexplained position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.live_execution import LiveExecutionEngine, client_order_id_for
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.orchestration.reconciliation import Reconciler, ReconcileSettings, ReconciliationRefusedError
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

pytestmark = pytest.mark.integration
SYMBOLS = ("BTC-USD", "ETH-USD")


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    products = [p for p in default_products() if p.symbol in SYMBOLS]
    async with ExchangeSimulator(port=0, seed=9, tick_interval_s=3600, products=products) as s:
        s.fund("USD", "100000")
        s.fund("USD", "1000000", account_id="other-trader")
        yield s


class Process:
    """One bot 'process': a fresh CoinbaseBroker + engine over the same SQLite file."""

    def __init__(self, sim: ExchangeSimulator, db: Path, n: int) -> None:
        env = {
            "COINBASE_API_BASE_URL": sim.rest_url,
            "COINBASE_WS_URL": sim.ws_url,
            "COINBASE_WS_USER_URL": sim.ws_user_url,
            "COINBASE_AUTH_TYPE": "cdp",
            "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
            "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
        }
        self.broker = CoinbaseBroker(coinbase_settings_from_env(env))
        conn = open_database(db)
        self.orders, self.state = OrdersStore(conn), StateStore(conn)
        self.events = EventStore(conn, f"s{n}")
        self.engine = LiveExecutionEngine(
            self.broker, self.orders, self.events, MetricsRegistry(), PositionBook(), bot_id="sim-bot"
        )

    async def reconciler(self) -> Reconciler:
        await self.broker.connect()
        products = {p.symbol: p for p in await self.broker.list_products() if p.symbol in SYMBOLS}
        return Reconciler(self.engine, products, state=self.state, settings=ReconcileSettings(), profile="canary")


async def test_every_path_after_a_crash_then_refusal(sim: ExchangeSimulator, tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    p1 = Process(sim, db, 1)
    assert (await (await p1.reconciler()).startup()).ok
    btc = await p1.broker.get_quote("BTC-USD")
    eth = await p1.broker.get_quote("ETH-USD")
    buy = await p1.engine.submit(
        OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=Decimal("0.01"),
            time_in_force=TimeInForce.IOC,
        ),
        intent_id="BTC-USD:20250106T140000:BUY",
    )
    assert buy.status == "sent"
    offer_px = btc.ask - Decimal("0.01")  # inside the spread: the best offer, first to be lifted
    assert offer_px > btc.bid
    offer = await p1.engine.submit(
        OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.SELL,
            order_type=OrderType.LIMIT,
            size=Decimal("0.004"),
            limit_price=offer_px,
        ),
        intent_id="BTC-USD:20250106T140100:SELL",
    )
    bid = await p1.engine.submit(
        OrderRequest(
            symbol="ETH-USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.1"),
            limit_price=(eth.bid * Decimal("0.9")).quantize(Decimal("0.01")),
        ),
        intent_id="ETH-USD:20250106T140100:BUY",
    )
    assert offer.order is not None and offer.order.status is OrderStatus.OPEN
    assert bid.order is not None and bid.order.status is OrderStatus.OPEN
    # killed between send and acknowledgement: recorded, sent over REST, never acknowledged in the store
    coid = client_order_id_for("sim-bot", "ETH-USD:20250106T140200:BUY")
    unacked = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.05"),
        time_in_force=TimeInForce.IOC,
        client_order_id=coid,
    )
    p1.orders.record_intent(unacked, intent_id="ETH-USD:20250106T140200:BUY", session_id="s1", at=p1.broker.now())
    await p1.broker.place_order(unacked)
    await p1.broker.close()

    # while the bot is down: another trader lifts its offer, a human cancels its bid and leaves an order
    taker = sim.engine.submit(
        "other-trader",
        OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.004"),
            limit_price=offer_px,
            client_order_id="other-1",
        ),
    )
    assert taker.order.status is OrderStatus.FILLED
    sim.engine.cancel(sim.account_id, bid.order.order_id)
    manual = sim.engine.submit(
        sim.account_id,
        OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.001"),
            limit_price=(btc.bid * Decimal("0.5")).quantize(Decimal("0.01")),
            client_order_id="human-ui-1",
        ),
    ).order

    p2 = Process(sim, db, 2)
    report = await (await p2.reconciler()).startup()
    kinds = sorted(c.kind for c in report.corrections)
    assert report.ok, report.mismatches
    assert {
        "order_filled_while_down",
        "order_cancelled_while_down",
        "pending_found_at_exchange",
        "unknown_order_flagged",
    } <= set(kinds), kinds
    assert report.flagged_orders == [manual.order_id]
    stored_offer = p2.orders.get(offer.client_order_id)
    stored_bid = p2.orders.get(bid.client_order_id)
    stored_pending = p2.orders.get(coid)
    assert stored_offer is not None and stored_offer.status is OrderStatus.FILLED
    assert stored_bid is not None and stored_bid.status is OrderStatus.CANCELLED
    assert stored_pending is not None and stored_pending.status is OrderStatus.FILLED
    assert p2.engine.positions.size("BTC-USD") == Decimal("0.006")
    assert p2.engine.positions.size("ETH-USD") == Decimal("0.05")
    await p2.broker.close()

    sim.fund("BTC", "0.5")  # a deposit the bot cannot explain
    p3 = Process(sim, db, 3)
    with pytest.raises(ReconciliationRefusedError) as err:
        await (await p3.reconciler()).startup()
    assert "BTC: store (bot fills) 0.006 vs exchange 0.506" in str(err.value)
    assert "perps-bot reconcile --accept-exchange --profile canary" in str(err.value)
    await p3.broker.close()
