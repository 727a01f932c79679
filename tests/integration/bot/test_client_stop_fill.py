"""A client-side stop that fires and fills is the bot's own trade, never an external transfer.

The adapter holds the stop (`cs-<coid>`) and, once the price crosses it, sends a venue child (`<coid>-sl`)
that fills. The venue knows the fill under the child's order id only; the bot must still record it under
the stop it placed, so the cash-flow detector sees the USD it brought in explained by a fill. (Before the
fix the fill was never recorded: the detector booked the sale's proceeds as a deposit, lifted the
daily-loss baseline, and the BTC that left read as a loss that HALTED the session.)"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from stream_bot_support import assert_fills_equal_venue
from trailing_bot_support import SYMBOL, protected_bot

from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import Fill, OrderSide, OrderStatus, OrderType

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_client_side_stops_fill_is_recorded_not_booked_as_a_deposit(tmp_path: Path) -> None:
    async with protected_bot(tmp_path) as run:
        bot, sim = run.bot, run.sim
        stop = bot.protection.working(SYMBOL)[0]
        coid = stop.client_order_id
        assert stop.order_type is OrderType.STOP_LIMIT and stop.stop_price is not None
        assert stop.order_id == f"cs-{coid}", "the stop is held by the adapter, not the venue"
        assert bot.cash_flows.state.balances is not None, "the cash-flow baseline is taken at start"

        # through the stop, above its limit (1 % below the stop): the child limit sells at once
        sim.venue.set_price(SYMBOL, (stop.stop_price * Decimal("0.995")).quantize(Decimal("0.01")))

        def child_filled() -> bool:
            child = [o for o in sim.venue.all_orders(sim.account_id) if o.client_order_id == f"{coid}-sl"]
            return len(child) == 1 and child[0].filled_size == stop.size

        await run.until(child_filled, timeout=30, what="the stop's venue child to fill")

        def stop_fills() -> list[Fill]:
            return [f for f in bot.registry.orders.fills() if f.client_order_id == coid]

        await run.until(
            lambda: sum((f.size for f in stop_fills()), Decimal(0)) == stop.size,
            timeout=30,
            what="the bot to record the stop's fill",
        )
        # two more balance reads after the fill: a residual would have been seen, then booked, by now
        reads: list[datetime] = []

        def read_twice() -> bool:
            at = bot.cash_flows.state.observed_at
            if at is not None and at not in reads:
                reads.append(at)
            return len(reads) >= 3

        await run.until(read_twice, timeout=30, what="two balance reads after the fill")

        fills = stop_fills()
        assert {f.side for f in fills} == {OrderSide.SELL}
        assert {f.order_id for f in fills} == {stop.order_id}, "fills are reported under the stop's id"
        stored = bot.registry.orders.get(coid)
        assert stored is not None and stored.status is OrderStatus.FILLED
        assert coid not in bot.execution.tracked
        assert isinstance(bot.broker, CoinbaseBroker)
        assert bot.broker.counters["triggers.child_events"] >= 1, "the child's events came as the stop's"
        assert_fills_equal_venue(run)
        # the proceeds are explained by the fill: no deposit booked, nothing pending, no halt
        assert bot.transfers == []
        assert run.metric("cash_flows.transfers") == 0
        assert list(bot.registry.events.iter_events(kind="transfer")) == []
        assert bot.cash_flows.state.pending == {}
        assert not bot.halted, bot.halt_reason
