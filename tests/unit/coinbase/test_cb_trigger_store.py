"""Trigger records: the SQLite-backed store, the record codec, and the orchestrator hook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings
from gpt_trader.features.brokerages.coinbase.trigger_store import (
    StateTriggerStore,
    TriggerStore,
    attach_trigger_store,
)
from gpt_trader.features.brokerages.coinbase.triggers import Emulated, from_record, parent_order, to_record
from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
)
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

PRODUCTS = {p.symbol: p for p in default_products()}
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def store_at(path: Path, prefix: str = "coinbase.trigger.") -> StateTriggerStore:
    return StateTriggerStore(StateStore(open_database(path)), prefix=prefix)


def test_records_are_durable_and_isolated(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    store = store_at(db)
    assert isinstance(store, TriggerStore)
    store.save("cs-a", {"v": 1, "size": "0.5"})
    store.save("cs-b", {"v": 1})
    store.state.put("risk.guard", {"other": True})  # someone else's key in the same store
    store.save("cs-a", {"v": 1, "size": "0.25"})  # overwrite
    again = store_at(db)  # a new connection, as after a restart
    assert again.load_all() == {"cs-a": {"v": 1, "size": "0.25"}, "cs-b": {"v": 1}}
    again.delete("cs-b")
    again.delete("cs-missing")  # deleting what is not there is fine
    assert set(store_at(db).load_all()) == {"cs-a"}
    assert store_at(db).state.get("risk.guard") == {"other": True}
    with pytest.raises(ValueError, match="trigger_id must be non-empty"):
        store.save("", {})
    with pytest.raises(ValueError, match="prefix must be non-empty"):
        store_at(db, prefix="")


def test_like_wildcards_in_the_prefix_do_not_leak_other_keys(tmp_path: Path) -> None:
    store = store_at(tmp_path / "s.sqlite3", prefix="cb_t.")
    store.state.put("cbXt.intruder", {"v": 9})  # '_' is a LIKE wildcard: matched by the query, then dropped
    store.save("cs-1", {"v": 1})
    assert store.load_all() == {"cs-1": {"v": 1}}


def _emulated(order_type: OrderType, **extra: Any) -> Emulated:
    req = OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.SELL,
        order_type=order_type,
        size=D("0.5"),
        limit_price=D("94000"),
        client_order_id="c-1",
        **extra,
    )
    return Emulated(order=parent_order(req, T0), request=req, product=PRODUCTS["BTC-USD"])


def test_record_round_trips_through_json() -> None:
    em = _emulated(OrderType.STOP_LIMIT, stop_price=D("95000"), stop_direction=StopDirection.STOP_DOWN)
    em.phase = "working"
    em.order.triggered = True
    em.children = {"sl": "venue-1"}
    record = json.loads(json.dumps(to_record(em)))  # plain JSON types only
    assert record["request"]["size"] == "0.5" and record["children"] == {"sl": "venue-1"}
    back = from_record(record, PRODUCTS)
    assert back.request == em.request and back.phase == "working" and back.children == {"sl": "venue-1"}
    assert back.order.order_id == "cs-c-1" and back.order.triggered and back.order.created_at == T0
    assert back.order.stop_direction is StopDirection.STOP_DOWN and back.order.size == D("0.5")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"v": 2}, "record version 2 is not supported; allowed: 1"),
        ({"phase": "done"}, "finished record has no final Order"),
        ({"phase": "sleeping"}, "allowed: armed, working, stopping, cancelling, done"),
        ({"request": {"symbol": "BTC-USD"}}, "record request is not an OrderRequest"),
        ({"children": {"xx": "id"}}, "must map tp, sl, st to order ids"),
    ],
)
def test_bad_records_name_the_problem(change: dict[str, Any], needle: str) -> None:
    em = _emulated(OrderType.BRACKET, stop_trigger_price=D("96000"))
    em.phase = "working"
    record = {**to_record(em), **change}
    with pytest.raises(ValueError, match=needle):
        from_record(record, PRODUCTS)


def test_finished_record_round_trips_its_final_state() -> None:
    em = _emulated(OrderType.BRACKET, stop_trigger_price=D("96000"))
    em.phase = "done"
    em.order.filled_size = D("0.5")
    em.order.avg_fill_price = D("91200")
    em.order.transition(OrderStatus.FILLED, at=T0)
    back = from_record(json.loads(json.dumps(to_record(em))), PRODUCTS)
    assert back.phase == "done" and back.order == em.order
    em.order.status = OrderStatus.OPEN
    with pytest.raises(ValueError, match="final status OPEN is not terminal"):
        from_record(to_record(em), PRODUCTS)


def test_record_for_an_unlisted_product_is_refused() -> None:
    em = _emulated(OrderType.BRACKET, stop_trigger_price=D("96000"))
    with pytest.raises(ValueError, match="product 'BTC-USD' is not listed by the venue now"):
        from_record(to_record(em), {})


def test_attach_only_touches_coinbase_brokers(tmp_path: Path) -> None:
    state = StateStore(open_database(tmp_path / "bot.sqlite3"))

    class OtherVenue:
        name = "mock"

    assert attach_trigger_store(OtherVenue(), state) is False
    broker = CoinbaseBroker(CoinbaseSettings())
    assert broker.triggers.store is None
    assert attach_trigger_store(broker, state) is True
    assert isinstance(broker.triggers.store, StateTriggerStore) and broker.triggers.store.state is state


@pytest.mark.parametrize(
    ("record", "expired"),
    [
        ({"phase": "done", "final": {"updated_at": "2020-01-01T00:00:00Z"}}, True),
        ({"phase": "done", "final": {"updated_at": "2020-01-01T00:00:00"}}, True),  # naive: read as UTC
        ({"phase": "done", "final": {"updated_at": datetime.now(UTC).isoformat()}}, False),
        ({"phase": "done", "final": {"updated_at": "yesterday"}}, False),  # unreadable: kept, reported later
        ({"phase": "armed", "final": {"updated_at": "2020-01-01T00:00:00Z"}}, False),  # live: never pruned
    ],
)
def test_only_long_finished_records_are_pruned(record: dict[str, Any], expired: bool) -> None:
    triggers = CoinbaseBroker(CoinbaseSettings()).triggers
    assert triggers._expired(record) is expired
