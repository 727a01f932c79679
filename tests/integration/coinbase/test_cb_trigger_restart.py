"""Client-side stops/brackets survive a restart: SQLite-backed records, re-armed and reconciled on connect.

Each test arms with one broker, drops it without cleanup (its watch task dies, nothing is cancelled or
deleted), builds a second broker on a fresh connection to the same database, and moves the market
through the simulator's admin API. The simulator answers reused client ids with a rejection here, so
a duplicate send would be seen, not silently absorbed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
from cb_sim import eventually, sim_env, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.trigger_store import StateTriggerStore, attach_trigger_store
from gpt_trader.features.brokerages.core.interfaces import (
    BrokerageError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
)
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

pytestmark = pytest.mark.integration
BTC = "BTC-USD"
Factory = Callable[[], Awaitable[CoinbaseBroker]]


async def admin(sim: ExchangeSimulator, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.post(f"{sim.admin_url}{path}", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def move_price(sim: ExchangeSimulator, broker: CoinbaseBroker, price: str) -> None:
    await admin(sim, "/price", {"product_id": BTC, "price": price})

    async def last_near() -> bool:
        return abs((await broker.get_quote(BTC)).last - D(price)) < D("100")

    await eventually(last_near, what=f"last trade near {price}")


@pytest.fixture
async def store_path(sim: ExchangeSimulator, tmp_path: Path) -> Path:
    sim.venue.config.duplicate_client_order_id = "reject"
    sim.fund("BTC", "2")
    await admin(sim, "/price", {"product_id": BTC, "price": "100000"})
    return tmp_path / "bot.sqlite3"


@pytest.fixture
async def new_broker(sim: ExchangeSimulator, store_path: Path) -> AsyncIterator[Factory]:
    """Each call is a 'process start': a new SQLite connection and a broker wired like the orchestrator."""
    made: list[CoinbaseBroker] = []

    async def make() -> CoinbaseBroker:
        settings = coinbase_settings_from_env(sim_env(sim, COINBASE_CLIENT_SIDE_STOPS="always"))
        broker = CoinbaseBroker(settings)
        assert attach_trigger_store(broker, StateStore(open_database(store_path)))
        broker.triggers.poll_interval_s = 0.05
        await broker.connect()
        made.append(broker)
        return broker

    yield make
    for b in made:
        await b.close()


async def crash(broker: CoinbaseBroker) -> None:
    """The process dies: the watch loop stops mid-flight; nothing is cancelled, nothing deleted."""
    task = broker.triggers._task
    if task is not None:
        task.cancel()
    broker.triggers._task = None


def stop_request(coid: str) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.SELL,
        order_type=OrderType.STOP_LIMIT,
        size=D("0.5"),
        stop_price=D("95000"),
        limit_price=D("94000"),
        stop_direction=StopDirection.STOP_DOWN,
        client_order_id=coid,
    )


def stored(path: Path) -> dict[str, dict[str, Any]]:
    return StateTriggerStore(StateStore(open_database(path))).load_all()


async def status_is(broker: CoinbaseBroker, order_id: str, status: OrderStatus) -> bool:
    return (await broker.get_order(order_id)).status is status


async def test_armed_stop_survives_restart_and_fires_once(
    sim: ExchangeSimulator, new_broker: Factory, store_path: Path
) -> None:
    first = await new_broker()
    stop = await first.place_order(stop_request("rs-1"))
    assert stop.order_id == "cs-rs-1" and stop.status is OrderStatus.OPEN
    assert stored(store_path)["cs-rs-1"]["phase"] == "armed"
    await crash(first)

    second = await new_broker()
    assert second.counters["triggers.restored"] == 1 and second.triggers.owns("cs-rs-1")
    assert "cs-rs-1" in {o.order_id for o in await second.list_orders(BTC)}
    found = await second.get_order_by_client_id("rs-1")
    assert found is not None and found.order_id == "cs-rs-1" and not found.triggered
    assert venue_orders(sim, "rs-1-sl") == []  # re-arming sent nothing

    await move_price(sim, second, "94500")
    await eventually(lambda: status_is(second, "cs-rs-1", OrderStatus.FILLED), timeout=10, what="restored stop fills")
    children = venue_orders(sim, "rs-1-sl")
    assert len(children) == 1 and children[0].status is OrderStatus.FILLED
    done = await second.get_order("cs-rs-1")
    assert done.triggered and done.filled_size == D("0.5")
    assert second.counters["orders.placed"] == 1 and not second.counters["orders.rejected.INVALID_REQUEST"]
    record = stored(store_path)["cs-rs-1"]
    assert record["phase"] == "done" and record["final"]["status"] == "FILLED"
    await crash(second)

    third = await new_broker()  # how it ended is still answerable after another restart; nothing is re-armed
    assert third.counters["triggers.restored"] == 0 and third.counters["triggers.restored_terminal"] == 1
    again = await third.get_order("cs-rs-1")
    assert again.status is OrderStatus.FILLED and again.filled_size == D("0.5") and again.triggered
    assert len(venue_orders(sim, "rs-1-sl")) == 1 and third.counters["orders.placed"] == 0


async def test_fired_before_crash_is_adopted_not_resent(
    sim: ExchangeSimulator, new_broker: Factory, store_path: Path
) -> None:
    first = await new_broker()
    await first.place_order(stop_request("rs-2"))
    await admin(sim, "/book", {"product_id": BTC, "bids": [["90000", "0.1"]], "asks": [["94900", "1"]]})
    await move_price_via_print(sim, first, "94900")
    await eventually(lambda: stored(store_path)["cs-rs-2"]["children"], timeout=10, what="first broker fires")
    await crash(first)
    assert stored(store_path)["cs-rs-2"]["children"] == {"sl": venue_orders(sim, "rs-2-sl")[0].order_id}

    second = await new_broker()
    order = await second.get_order("cs-rs-2")
    assert order.triggered and order.status is OrderStatus.OPEN  # the sl child rests (limit 94000 > bid 90000)
    await admin(sim, "/book", {"product_id": BTC, "bids": [["94200", "5"]], "asks": [["94300", "5"]]})
    await eventually(lambda: status_is(second, "cs-rs-2", OrderStatus.FILLED), timeout=10, what="adopted child fills")
    assert len(venue_orders(sim, "rs-2-sl")) == 1
    assert second.counters["orders.placed"] == 0 and second.counters["triggers.child.sl"] == 0


async def move_price_via_print(sim: ExchangeSimulator, broker: CoinbaseBroker, ask: str) -> None:
    """A market buy prints at the pinned ask, so the last trade is exactly `ask`."""
    o = await broker.place_order(
        OrderRequest(symbol=BTC, side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.01"), client_order_id="p")
    )
    assert o.status is OrderStatus.FILLED and o.avg_fill_price == D(ask)


@pytest.mark.parametrize("sent_before_crash", [False, True])
async def test_crash_between_record_and_send(
    sim: ExchangeSimulator, new_broker: Factory, store_path: Path, sent_before_crash: bool
) -> None:
    """The record already says 'fired' (write-ahead); the child may or may not have left."""
    await admin(sim, "/book", {"product_id": BTC, "bids": [["90000", "1"]], "asks": [["100010", "1"]]})
    first = await new_broker()
    await first.place_order(stop_request("rs-3"))
    em = first.triggers._orders["cs-rs-3"]
    em.order.triggered = True
    em.phase = "working"
    first.triggers._save(em)  # what on_price writes just before it sends
    # the process dies now: its watch loop must not get to resume (adopt or send) the child itself, which
    # it did whenever the REST round trips below were faster than its next poll
    await crash(first)
    if sent_before_crash:
        await first.submit_native(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.SELL,
                order_type=OrderType.LIMIT,
                size=D("0.5"),
                limit_price=D("94000"),
                time_in_force=TimeInForce.GTC,
                client_order_id="rs-3-sl",
            )
        )

    second = await new_broker()
    assert len(venue_orders(sim, "rs-3-sl")) == 1
    assert second.counters["orders.placed"] == (0 if sent_before_crash else 1)
    assert second.counters["triggers.children_adopted"] == (1 if sent_before_crash else 0)
    assert not second.counters["orders.rejected.INVALID_REQUEST"]
    child = venue_orders(sim, "rs-3-sl")[0]
    assert child.status is OrderStatus.OPEN  # rests: the bid is below its limit
    assert stored(store_path)["cs-rs-3"]["children"] == {"sl": child.order_id}
    assert (await second.get_order("cs-rs-3")).triggered


async def test_bracket_survives_restart(sim: ExchangeSimulator, new_broker: Factory, store_path: Path) -> None:
    first = await new_broker()
    bracket = await first.place_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.SELL,
            order_type=OrderType.BRACKET,
            size=D("0.5"),
            limit_price=D("105000"),
            stop_trigger_price=D("96000"),
            client_order_id="rb-1",
        )
    )
    assert len(venue_orders(sim, "rb-1-tp")) == 1
    await crash(first)

    second = await new_broker()
    assert second.counters["orders.placed"] == 0  # the resting take-profit is adopted from the record
    await move_price(sim, second, "94500")
    await eventually(lambda: status_is(second, bracket.order_id, OrderStatus.FILLED), timeout=10, what="stop leg")
    tps, sts = venue_orders(sim, "rb-1-tp"), venue_orders(sim, "rb-1-st")
    assert len(tps) == 1 and tps[0].status is OrderStatus.CANCELLED
    assert len(sts) == 1 and sts[0].status is OrderStatus.FILLED
    assert second.counters["orders.placed"] == 1 and stored(store_path)["cs-rb-1"]["phase"] == "done"


async def test_cancelled_trigger_is_not_rearmed_and_bad_records_are_reported(
    sim: ExchangeSimulator, new_broker: Factory, store_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await new_broker()
    stop = await first.place_order(stop_request("rs-4"))
    assert (await first.cancel_orders([stop.order_id])) == {stop.order_id: True}
    cancelled = stored(store_path)["cs-rs-4"]
    assert cancelled["phase"] == "done" and cancelled["final"]["status"] == "CANCELLED"
    raw = StateTriggerStore(StateStore(open_database(store_path)))
    raw.save("cs-ghost", {"v": 1, "phase": "armed", "request": {"symbol": "DOGE-USD"}})
    old = {**cancelled, "final": {**cancelled["final"], "updated_at": "2020-01-01T00:00:00+00:00"}}
    raw.save("cs-old", old)  # finished long ago: pruned at the next start
    await crash(first)

    caplog.set_level(logging.ERROR, logger="gpt_trader.features.brokerages.coinbase")
    second = await new_broker()
    assert second.counters["triggers.restored"] == 0 and second.counters["triggers.restore_failed"] == 1
    assert second.counters["triggers.restored_terminal"] == 1 and second.counters["triggers.pruned"] == 1
    assert (await second.get_order(stop.order_id)).status is OrderStatus.CANCELLED
    assert venue_orders(sim, "rs-4-sl") == [] and second.counters["orders.placed"] == 0
    assert any("cs-ghost not re-armed" in r.getMessage() for r in caplog.records)
    assert set(stored(store_path)) == {"cs-ghost", "cs-rs-4"}  # the bad one is left for a human
    with pytest.raises(BrokerageError, match="before connect"):
        second.set_trigger_store(raw)


@pytest.mark.parametrize(
    ("venue", "needle"),
    [
        ({"url": "http://127.0.0.1:1", "portfolio": None}, "armed against 'http://127.0.0.1:1'"),
        ({"url": None, "portfolio": "another-portfolio"}, "armed in portfolio another-portfolio"),
    ],
)
async def test_records_from_another_venue_are_never_armed_here(
    sim: ExchangeSimulator,
    new_broker: Factory,
    store_path: Path,
    caplog: pytest.LogCaptureFixture,
    venue: dict[str, Any],
    needle: str,
) -> None:
    """A store reused across venues (a previous simulator, a different key) must not arm money here."""
    first = await new_broker()
    await first.place_order(stop_request("rs-5"))
    record = stored(store_path)["cs-rs-5"]
    assert record["venue"] == {"url": sim.rest_url, "portfolio": first.portfolio_uuid}
    theirs = {**venue, "url": venue["url"] or sim.rest_url}
    StateTriggerStore(StateStore(open_database(store_path))).save("cs-rs-5", {**record, "venue": theirs})
    await crash(first)

    caplog.set_level(logging.ERROR, logger="gpt_trader.features.brokerages.coinbase")
    second = await new_broker()
    assert second.counters["triggers.restored"] == 0 and second.counters["triggers.restore_other_venue"] == 1
    assert not second.triggers.owns("cs-rs-5")
    assert any(needle in r.getMessage() for r in caplog.records)
    await move_price(sim, second, "94500")  # would have fired
    assert venue_orders(sim, "rs-5-sl") == [] and second.counters["orders.placed"] == 0
    assert "cs-rs-5" in stored(store_path)  # left for a human
