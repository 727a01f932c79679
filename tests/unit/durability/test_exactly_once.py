"""The exactly-once invariants of LiveExecutionEngine: intent durable before send, stable ids, kill points."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from durability_harness import Harness

from gpt_trader.features.brokerages.core.interfaces import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from gpt_trader.orchestration.live_execution import (
    CHAOS_KILL_ENV,
    _parse_kill_point,
    client_order_id_for,
    stable_intent_id,
)
from gpt_trader.persistence.sqlite import open_database

MARKET = OrderRequest(
    symbol="ETH-USD",
    side=OrderSide.BUY,
    order_type=OrderType.MARKET,
    size=Decimal("0.1"),
    time_in_force=TimeInForce.IOC,
)


async def test_intent_is_durable_before_the_venue_sees_the_order(harness: Harness) -> None:
    bot = await harness.boot()
    seen: list[tuple[str, OrderStatus | None]] = []
    original = harness.broker.place_order

    async def spy(request: OrderRequest) -> Order:
        # Read through a separate connection: what a crash right now would leave on disk.
        from gpt_trader.persistence.orders_store import OrdersStore

        other = OrdersStore(open_database(harness.db))
        stored = other.get(request.client_order_id)
        seen.append((request.client_order_id, None if stored is None else stored.status))
        return await original(request)

    harness.broker.place_order = spy  # type: ignore[method-assign]
    res = await bot.engine.submit(MARKET, intent_id="ETH-USD:20250106T120000:BUY")
    assert res.status == "sent"
    assert seen == [(res.client_order_id, OrderStatus.PENDING_SUBMIT)]


def test_client_order_id_is_stable_across_sessions_for_bar_intents() -> None:
    intent = "BTC-USD:20250106T120000:BUY"
    assert stable_intent_id(intent, "session-a") == stable_intent_id(intent, "session-b") == intent
    assert client_order_id_for("bot", intent) == client_order_id_for("bot", intent)
    assert client_order_id_for("bot", intent) != client_order_id_for("other-bot", intent)
    # cycle-keyed intents restart at zero each session, so they are scoped to it
    assert stable_intent_id("BTC-USD:flatten-3:CLOSE", "s1") == "s1/BTC-USD:flatten-3:CLOSE"
    assert stable_intent_id("BTC-USD:flatten-3:CLOSE", "s1") != stable_intent_id("BTC-USD:flatten-3:CLOSE", "s2")


async def test_a_restarted_bot_re_deciding_the_same_bar_sends_nothing_new(harness: Harness) -> None:
    intent = "ETH-USD:20250106T120000:BUY"
    first = await (await harness.boot()).engine.submit(MARKET, intent_id=intent)
    restarted = await harness.boot()
    second = await restarted.engine.submit(MARKET, intent_id=intent)
    assert first.client_order_id == second.client_order_id == client_order_id_for("test-bot", intent)
    assert first.status == "sent" and second.status == "duplicate"
    orders = await harness.broker.list_orders(open_only=False)
    assert [o.client_order_id for o in orders] == [first.client_order_id]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("between_lunch", "point must be one of"),
        ("after_send:x", "must be an integer"),
        ("after_send:0", ">= 1"),
    ],
)
def test_bad_kill_point_spec_names_the_variable(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        _parse_kill_point(spec)
    assert CHAOS_KILL_ENV in str(err.value)


def test_kill_point_parsing() -> None:
    assert _parse_kill_point(None) == (None, 0)
    assert _parse_kill_point("after_intent") == ("after_intent", 1)
    assert _parse_kill_point("after_send:3") == ("after_send", 3)


_CHILD = """
import asyncio, sys
from decimal import Decimal
sys.path.insert(0, sys.argv[2])
from durability_harness import Harness
from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, OrderType, TimeInForce

async def main():
    h = Harness.__new__(Harness)
    Harness.__init__(h, __import__("pathlib").Path(sys.argv[1]))
    bot = await h.boot()
    req = OrderRequest(symbol="ETH-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("0.1"),
                       time_in_force=TimeInForce.IOC)
    await bot.engine.submit(req, intent_id="ETH-USD:20250106T120000:BUY")
    print("survived")

asyncio.run(main())
"""


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
@pytest.mark.parametrize("point", ["after_intent", "after_send"])
def test_kill_point_sigkills_the_process_with_the_intent_on_disk(tmp_path: Path, point: str, sync: str) -> None:
    """`store_sync: normal` (no fsync at commit) keeps a committed intent through a SIGKILL as FULL does:
    the commit is in the OS's cache, which outlives the process."""
    env = {**os.environ, CHAOS_KILL_ENV: point, "HARNESS_STORE_SYNC": sync}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert "survived" not in proc.stdout
    from gpt_trader.persistence.orders_store import OrdersStore

    store = OrdersStore(open_database(tmp_path / "bot.sqlite3"))
    coid = client_order_id_for("test-bot", "ETH-USD:20250106T120000:BUY")
    stored = store.get(coid)
    assert stored is not None and stored.status is OrderStatus.PENDING_SUBMIT and stored.order_id is None


def test_sqlite_stores_implement_the_store_protocols(tmp_path: Path) -> None:
    from gpt_trader.persistence.event_store import EventStore
    from gpt_trader.persistence.interfaces import EventStoreProtocol, OrdersStoreProtocol, StateStoreProtocol
    from gpt_trader.persistence.orders_store import OrdersStore
    from gpt_trader.persistence.state_store import StateStore

    conn = open_database(tmp_path / "p.sqlite3")
    assert isinstance(OrdersStore(conn), OrdersStoreProtocol)
    assert isinstance(EventStore(conn, "s"), EventStoreProtocol)
    assert isinstance(StateStore(conn), StateStoreProtocol)
    assert not isinstance(object(), OrdersStoreProtocol)


def test_reconcile_settings_from_env_and_bad_values_name_the_key() -> None:
    from gpt_trader.orchestration.configuration import ConfigError, ConfigManager
    from gpt_trader.orchestration.reconciliation import ReconcileSettings

    env = {"GPT_TRADER_RECONCILE_UNKNOWN_ORDERS": "adopt", "GPT_TRADER_RECONCILE_EVERY_CYCLES": "3"}
    s = ConfigManager(env=env, dotenv_path=None).load("dev").reconciliation
    assert s.unknown_orders == "adopt" and s.periodic_every_cycles == 3
    with pytest.raises(ConfigError, match="GPT_TRADER_RECONCILE_EVERY_CYCLES='x'"):
        ConfigManager(env={"GPT_TRADER_RECONCILE_EVERY_CYCLES": "x"}, dotenv_path=None).load("dev")
    with pytest.raises(ValueError, match="unknown_orders must be 'adopt' or 'flag'"):
        ReconcileSettings(unknown_orders="ignore")  # type: ignore[arg-type]
