"""Schema migrations run forward from every earlier version, keep data, and are idempotent."""

import sqlite3
import threading
import time
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
    TimeInForce,
)
from gpt_trader.persistence import event_store, orders_store, state_store
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import ORIGIN_BOT, OrdersStore
from gpt_trader.persistence.sqlite import migrate, open_database, schema_version
from gpt_trader.persistence.state_store import StateStore

T0 = datetime(2025, 1, 6, 12, tzinfo=UTC)


def _seed_v1_orders(conn: sqlite3.Connection) -> None:
    """Write rows exactly as a v1 bot did (raw SQL, v1 columns only)."""
    conn.execute(
        "INSERT INTO orders(client_order_id, intent_id, session_id, order_id, symbol, side, order_type, "
        "time_in_force, size, limit_price, status, request_json, created_at, updated_at) "
        "VALUES('c1','i1','s1','X1','BTC-USD','BUY','MARKET','IOC','0.5',NULL,'FILLED',?,?,?)",
        (
            '{"symbol":"BTC-USD","side":"BUY","order_type":"MARKET","size":"0.5","time_in_force":"IOC",'
            '"client_order_id":"c1"}',
            T0.isoformat(),
            T0.isoformat(),
        ),
    )
    conn.execute(
        "INSERT INTO fills(trade_id, order_id, client_order_id, symbol, side, price, size, fee, "
        "liquidity, ts) "
        "VALUES('t1','X1','c1','BTC-USD','BUY','100','0.5','0.1','TAKER',?)",
        (T0.isoformat(),),
    )


@pytest.mark.parametrize("start_version", range(len(orders_store.MIGRATIONS)))
def test_orders_store_migrates_from_every_earlier_version(tmp_path: Path, start_version: int) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    if start_version:
        migrate(conn, "orders_store", orders_store.MIGRATIONS[:start_version])
    if start_version >= 1:
        _seed_v1_orders(conn)
    store = OrdersStore(conn)
    assert schema_version(conn, "orders_store") == len(orders_store.MIGRATIONS)
    if start_version >= 1:
        old = store.get("c1")
        assert old is not None and old.status is OrderStatus.FILLED and old.origin == ORIGIN_BOT
        assert store.request_for("c1") == OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=Decimal("0.5"),
            time_in_force=TimeInForce.IOC,
            client_order_id="c1",
        )
        assert [f.trade_id for f in store.fills()] == ["t1"]
        assert store.last_fill_ts() == T0  # v1 had no cursor table: falls back to the newest fill
    # v2 features work on a migrated database
    assert store.baseline() is None
    store.set_baseline({"BTC": Decimal("2")}, at=T0)
    assert store.baseline() == {"BTC": Decimal("2")}
    store.add_adjustment("BTC-USD", Decimal("-0.1"), price=Decimal("101"), reason="test", at=T0)
    assert [(a.side, a.size) for a in store.adjustments()] == [(OrderSide.SELL, Decimal("0.1"))]
    # reopening is a no-op
    OrdersStore(conn)
    assert schema_version(conn, "orders_store") == len(orders_store.MIGRATIONS)


@pytest.mark.parametrize("start_version", range(len(event_store.MIGRATIONS)))
def test_event_store_migrates_from_every_earlier_version(tmp_path: Path, start_version: int) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    if start_version:
        migrate(conn, "event_store", event_store.MIGRATIONS[:start_version])
        conn.execute(
            "INSERT INTO events(session_id, ts, kind, symbol, payload) VALUES('old', ?, 'decision', 'BTC-USD', '{}')",
            (T0.isoformat(),),
        )
    ev = EventStore(conn, "new")
    ev.append("decision", {"a": 1}, ts=T0)
    assert schema_version(conn, "event_store") == len(event_store.MIGRATIONS)
    assert ev.sessions() == (["old", "new"] if start_version else ["new"])
    latest = ev.latest("decision")
    assert latest is not None and latest["session_id"] == "new"
    indexes = {r[1] for r in conn.execute("PRAGMA index_list('events')")}
    assert "events_session_kind" in indexes


@pytest.mark.parametrize("start_version", range(len(state_store.MIGRATIONS)))
def test_state_store_migrates_from_every_earlier_version(tmp_path: Path, start_version: int) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    if start_version:
        migrate(conn, "state_store", state_store.MIGRATIONS[:start_version])
    store = StateStore(conn)
    store.put("k", {"v": 1})
    assert store.get("k") == {"v": 1}
    assert schema_version(conn, "state_store") == len(state_store.MIGRATIONS)


def test_a_failed_migration_rolls_back_and_keeps_the_old_version(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    migrate(conn, "orders_store", orders_store.MIGRATIONS[:1])

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        migrate(conn, "orders_store", [orders_store.MIGRATIONS[0], broken])
    assert schema_version(conn, "orders_store") == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchone() is None
    OrdersStore(conn)  # the real migrations still apply afterwards
    assert schema_version(conn, "orders_store") == len(orders_store.MIGRATIONS)


def test_two_connections_migrating_one_file_apply_each_step_once(tmp_path: Path) -> None:
    """A reader (CLI, test, second bot) may open the store while the bot is still migrating it."""
    path = tmp_path / "db.sqlite3"
    inside_first = threading.Event()
    applied: list[str] = []

    def slow_first(c: sqlite3.Connection) -> None:
        applied.append("v1")
        c.execute("CREATE TABLE t (x INTEGER)")
        inside_first.set()
        time.sleep(0.3)  # hold the write lock while the other connection starts its own migrate()

    def second(c: sqlite3.Connection) -> None:
        applied.append("v2")
        c.execute("ALTER TABLE t ADD COLUMN y TEXT")

    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(open_database(path), "demo", [slow_first, second])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    first = threading.Thread(target=run)
    first.start()
    assert inside_first.wait(5)
    other = threading.Thread(target=run)
    other.start()
    first.join(10)
    other.join(10)
    assert errors == []
    assert applied == ["v1", "v2"]
    assert schema_version(open_database(path), "demo") == 2


def test_open_database_rejects_an_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of"):
        open_database(tmp_path / "x.sqlite3", synchronous="SOMETIMES")


def test_order_and_its_transition_row_are_written_atomically(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    store = OrdersStore(conn)
    req = OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("1"),
        client_order_id="c9",
    )
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON order_transitions BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        store.record_intent(req, intent_id="i", session_id="s", at=T0)
    assert store.get("c9") is None  # no order row without its transition row
    conn.execute("DROP TRIGGER boom")
    assert store.record_intent(req, intent_id="i", session_id="s", at=T0)
    assert store.transitions("c9") == [(None, "PENDING_SUBMIT")]


def test_record_intent_requires_a_client_order_id(tmp_path: Path) -> None:
    store = OrdersStore(open_database(tmp_path / "db.sqlite3"))
    req = OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, size=Decimal("1"))
    with pytest.raises(ValueError, match="client_order_id"):
        store.record_intent(req, intent_id="i", session_id="s", at=T0)


def test_fill_cursor_only_moves_forward_and_adopted_orders_are_marked(tmp_path: Path) -> None:
    store = OrdersStore(open_database(tmp_path / "db.sqlite3"))
    later, earlier = datetime(2025, 1, 6, 13, tzinfo=UTC), T0

    def fill(tid: str, ts: datetime) -> Fill:
        return Fill(
            trade_id=tid,
            order_id="X",
            symbol="BTC-USD",
            side=OrderSide.BUY,
            price=Decimal("1"),
            size=Decimal("1"),
            fee=Decimal("0"),
            liquidity=Liquidity.MAKER,
            ts=ts,
        )

    store.add_fills([fill("a", later)])
    store.add_fills([fill("b", earlier)])
    assert store.last_fill_ts() == later
    ext = Order(
        order_id="EXT1",
        client_order_id="",
        symbol="BTC-USD",
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        size=Decimal("2"),
        limit_price=Decimal("110"),
        status=OrderStatus.OPEN,
    )
    key = store.adopt_external(ext, session_id="s", at=T0, note="adopted")
    stored = store.get(key)
    assert key == "exchange:EXT1" and stored is not None
    assert stored.origin == "adopted" and stored.status is OrderStatus.OPEN and stored.order_id == "EXT1"
    assert store.get_by_order_id("EXT1") == stored
    assert store.transitions(key) == [(None, "PENDING_SUBMIT"), ("PENDING_SUBMIT", "OPEN")]
