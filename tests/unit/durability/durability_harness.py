"""Durability test harness. A bot 'process' is an engine + stores over one SQLite file; a restart
is a fresh one over the same file and the same (surviving) MockBroker venue."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gpt_trader.features.brokerages.core.interfaces import Product
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.live_execution import LiveExecutionEngine
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.orchestration.reconciliation import Reconciler, ReconcileSettings
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

START = datetime(2025, 1, 6, 12, tzinfo=UTC)
SYMBOLS = ["BTC-USD", "ETH-USD", "BTC-PERP-INTX"]


@dataclass
class BotProcess:
    engine: LiveExecutionEngine
    orders: OrdersStore
    events: EventStore
    state: StateStore
    metrics: MetricsRegistry
    products: dict[str, Product]

    def reconciler(self, **settings: object) -> Reconciler:
        return Reconciler(self.engine, self.products, state=self.state, settings=ReconcileSettings(**settings))  # type: ignore[arg-type]


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "bot.sqlite3"
        self.broker = MockBroker(symbols=SYMBOLS, seed=7, start=START)
        self.sessions = 0

    async def boot(self) -> BotProcess:
        self.sessions += 1
        # HARNESS_STORE_SYNC: the child processes of the kill-point tests run each store durability mode
        conn = open_database(self.db, synchronous=os.environ.get("HARNESS_STORE_SYNC", "FULL"))
        orders, state = OrdersStore(conn), StateStore(conn)
        events = EventStore(conn, f"session-{self.sessions}")
        metrics = MetricsRegistry()
        engine = LiveExecutionEngine(self.broker, orders, events, metrics, PositionBook(), bot_id="test-bot")
        products = {p.symbol: p for p in await self.broker.list_products()}
        return BotProcess(engine, orders, events, state, metrics, products)
