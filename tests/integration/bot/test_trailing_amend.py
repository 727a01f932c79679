"""A trailing stop moved by edit_order, in place, on the exchange simulator over 127.0.0.1.

The venue amends only GTC limits (COINBASE.md, Edit), so a stop that must trail is held by the adapter's
client-side triggers (`coinbase.client_side_stops: always`): the bot amends it with `edit_order` (same
order id, nothing cancelled, nothing re-sent) each time the mark sets a new high. The market is still
(`protected_bot`): only the test moves the price, always up, so no random dip can fire the trailed stop."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from trailing_bot_support import SYMBOL, protected_bot

from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import OrderType
from gpt_trader.orchestration.protection import is_protective_intent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_trailing_stop_is_amended_in_place_by_edit_order(tmp_path: Path) -> None:
    async with protected_bot(tmp_path) as run:
        bot, sim = run.bot, run.sim
        first = bot.protection.working(SYMBOL)[0]
        assert first.order_type is OrderType.STOP_LIMIT and first.stop_price is not None
        order_id, stops = first.order_id, [first.stop_price]
        edits_before = run.metric("protection.amended")
        for _ in range(6):  # six new highs, 3 % apart: the stop must follow each one
            mark = bot.quotes[SYMBOL].mark_price if SYMBOL in bot.quotes else stops[-1] / Decimal("0.98")
            sim.venue.set_price(SYMBOL, (mark * Decimal("1.03")).quantize(Decimal("0.01")))
            await run.until(
                lambda: (
                    (w := bot.protection.working(SYMBOL))
                    and w[0].stop_price is not None
                    and w[0].stop_price > stops[-1]
                ),
                timeout=30,
                what="the stop to move up",
            )
            now = bot.protection.working(SYMBOL)
            assert len(now) == 1 and now[0].order_id == order_id, "the trail must keep one order id"
            assert now[0].stop_price is not None
            stops.append(now[0].stop_price)
        amended = run.metric("protection.amended") - edits_before
        assert amended >= 5, f"{amended} amends"
        assert run.metric("protection.replaced") == 0, "never cancel-and-replace when the stop can be amended"
        assert stops == sorted(stops) and len(set(stops)) == len(stops)
        # the store holds one protective order for this entry, under the same id, its amends journaled
        protective = [o for o in bot.registry.orders.list_orders() if is_protective_intent(o.intent_id)]
        assert [o.order_id for o in protective] == [order_id]
        journal = list(bot.registry.events.iter_events(kind="protection_amended"))
        assert len(journal) >= 5 and {e["payload"]["order_id"] for e in journal} == {order_id}
        assert isinstance(bot.broker, CoinbaseBroker)
        assert bot.broker.counters["triggers.amended"] >= 5
        # nothing was cancelled or re-sent at the venue: the stop never reached it (still armed)
        venue = [o for o in sim.venue.all_orders(sim.account_id) if o.order_type is not OrderType.MARKET]
        assert venue == []
