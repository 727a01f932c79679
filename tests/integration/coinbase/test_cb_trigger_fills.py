"""A client-side stop's fills and events are reported under the stop, over loopback.

The venue fills the stop's child (`<coid>-sl`); the caller placed, and knows, only the stop (`cs-<coid>`).
REST fills (for the stop, and in an unfiltered listing) and user-channel events must come under the
stop's ids, or the caller cannot tell its own fill from an external cash movement."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest
from cb_sim import MakeBroker, eventually, pin, user_updates, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.triggers import child_parent
from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    StopDirection,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
BTC = "BTC-USD"


def test_child_parent_reads_only_derived_child_ids() -> None:
    assert child_parent("abc-def-sl") == "abc-def"
    assert child_parent("abc-tp") == "abc" and child_parent("abc-st") == "abc"
    assert child_parent("abc-def") is None and child_parent("-sl") is None and child_parent("sl") is None


async def test_stop_fills_and_events_come_under_the_stop(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    broker = await make_broker(client_side_stops="always")
    broker.triggers.poll_interval_s = 0.05
    sim.fund("BTC", "1")
    pin(sim, BTC, [("99990", "3")], [("100010", "3")])
    async with user_updates(broker) as updates:
        stop = await broker.place_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.SELL,
                order_type=OrderType.STOP_LIMIT,
                size=D("0.5"),
                stop_price=D("95000"),
                limit_price=D("94000"),
                stop_direction=StopDirection.STOP_DOWN,
                client_order_id="tf-stop",
            )
        )
        assert stop.order_id == "cs-tf-stop"
        assert await broker.list_fills(order_id=stop.order_id) == []  # armed: nothing sent, nothing filled
        pin(sim, BTC, [("94500", "5")], [("94600", "5")])
        await broker.place_order(  # a print at 94500: the stop crosses, its child sells into the bid
            OrderRequest(
                symbol=BTC, side=OrderSide.SELL, order_type=OrderType.MARKET, size=D("0.001"), client_order_id="tf-p"
            )
        )

        def stop_filled_event() -> bool:
            return any(u.order.order_id == stop.order_id and u.order.status is OrderStatus.FILLED for u in updates)

        await eventually(stop_filled_event, timeout=10, what="the stop's FILLED event")
        (child,) = venue_orders(sim, "tf-stop-sl")
        venue = [f for f in sim.venue.fills(sim.account_id) if f.order_id == sim.venue.engine_id(child.order_id)]
        venue = venue or [f for f in sim.venue.fills(sim.account_id) if f.client_order_id == "tf-stop-sl"]
        assert sum(f.size for f in venue) == D("0.5")

        ours = await broker.list_fills(BTC, order_id=stop.order_id)
        assert {(f.trade_id, f.price, f.size, f.fee) for f in ours} == {
            (f.trade_id, f.price, f.size, f.fee) for f in venue
        }
        assert {(f.order_id, f.client_order_id) for f in ours} == {(stop.order_id, "tf-stop")}
        swept = [f for f in await broker.list_fills() if f.trade_id in {v.trade_id for v in venue}]
        assert {(f.order_id, f.client_order_id) for f in swept} == {(stop.order_id, "tf-stop")}, "unfiltered too"

        # the user channel: the child's events are told as the stop's; none carries the child's ids
        assert child.order_id not in {u.order.order_id for u in updates}
        mine = [u for u in updates if u.order.order_id == stop.order_id]
        assert mine and all(u.order.client_order_id == "tf-stop" for u in mine)
        last = mine[-1].order
        assert last.status is OrderStatus.FILLED and last.filled_size == D("0.5") and last.triggered
        assert all(f.order_id == stop.order_id for u in mine for f in u.fills)
        assert broker.counters["triggers.child_events"] >= 1

        # a late child event (working, nothing filled) never moves the finished stop back
        stale = msgspec.structs.replace(last, order_id=child.order_id, status=OrderStatus.OPEN, filled_size=D(0))
        told = broker.triggers.pushed(OrderUpdate(order=stale))
        assert told is not None and told.order.status is OrderStatus.FILLED and told.order.filled_size == D("0.5")
        got = await broker.get_order(stop.order_id)
        assert got.status is OrderStatus.FILLED and got.filled_size == D("0.5")
