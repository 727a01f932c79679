import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import migrate, open_database
from gpt_trader.persistence.state_store import StateStore

T0 = datetime(2025, 1, 6, 12, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_database(tmp_path / "db.sqlite3")


def test_database_uses_wal_and_full_sync(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_order_intent_then_ack_then_fill(conn: sqlite3.Connection) -> None:
    store = OrdersStore(conn)
    req = OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.001"),
        client_order_id="coid-1",
    )
    assert store.record_intent(req, intent_id="i1", session_id="s1", at=T0)
    assert not store.record_intent(req, intent_id="i1", session_id="s1", at=T0)  # same id: nothing new
    intent = store.get("coid-1")
    assert intent is not None and intent.status is OrderStatus.PENDING_SUBMIT
    order = Order(
        order_id="X1",
        client_order_id="coid-1",
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.001"),
        status=OrderStatus.FILLED,
        filled_size=Decimal("0.001"),
        avg_fill_price=Decimal("100.5"),
        fees=Decimal("0.01"),
    )
    store.update_from_order(order, at=T0)
    got = store.get("coid-1")
    assert got is not None
    assert got.status is OrderStatus.FILLED and got.order_id == "X1" and got.avg_fill_price == Decimal("100.5")
    assert store.transitions("coid-1") == [(None, "PENDING_SUBMIT"), ("PENDING_SUBMIT", "FILLED")]
    fill = Fill(
        trade_id="T1",
        order_id="X1",
        client_order_id="coid-1",
        symbol="BTC-USD",
        side=OrderSide.BUY,
        price=Decimal("100.5"),
        size=Decimal("0.001"),
        fee=Decimal("0.01"),
        liquidity=Liquidity.TAKER,
        ts=T0,
    )
    assert store.add_fills([fill, fill]) == [fill]
    assert store.add_fills([fill]) == []
    assert store.fills(order_id="X1") == [fill]
    assert store.open_orders() == []


def test_update_unknown_order_is_an_error(conn: sqlite3.Connection) -> None:
    store = OrdersStore(conn)
    order = Order(
        order_id="X",
        client_order_id="never",
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("1"),
    )
    with pytest.raises(KeyError):
        store.update_from_order(order, at=T0)


def test_event_store_is_append_only(conn: sqlite3.Connection) -> None:
    ev = EventStore(conn, "s1")
    ev.append("decision", {"action": "BUY"}, ts=T0, symbol="BTC-USD")
    ev.append("fill", {"size": "1"}, ts=T0, symbol="BTC-USD")
    assert [e["kind"] for e in ev.iter_events()] == ["decision", "fill"]
    assert ev.count("fill") == 1 and ev.sessions() == ["s1"]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET kind='x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")


def test_state_store_roundtrip_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    StateStore(open_database(path)).put("risk.guards", {"peak_equity": "105.5", "tripped": ["daily_loss"]})
    store = StateStore(open_database(path))
    assert store.get("risk.guards") == {"peak_equity": "105.5", "tripped": ["daily_loss"]}
    assert store.get("missing") is None and store.keys("risk") == ["risk.guards"]
    store.delete("risk.guards")
    assert store.get("risk.guards") is None


def test_migrations_apply_in_order_and_refuse_newer_schema(conn: sqlite3.Connection) -> None:
    applied: list[int] = []
    steps = [lambda c: applied.append(1), lambda c: applied.append(2)]
    assert migrate(conn, "demo", steps[:1]) == 1
    assert migrate(conn, "demo", steps) == 2
    assert applied == [1, 2]
    assert migrate(conn, "demo", steps) == 2 and applied == [1, 2]
    with pytest.raises(RuntimeError, match="newer than this code"):
        migrate(conn, "demo", steps[:1])
