"""The orders of one bar boundary (PerpsBot on the MockBroker): every intent is committed to disk before
the first of them is sent, they are sent together (not each waiting for the previous one's acknowledgement),
each reaches the venue once, and the pre-trade check of each counted the ones before it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from scenario_support import D, config, cycle, filled_orders, queue, start_bot

from gpt_trader.features.brokerages.core.interfaces import Order, OrderRequest
from gpt_trader.features.live_trade.strategies.base import Action

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]


async def test_a_boundarys_orders_go_out_together_after_all_their_intents_are_on_disk(tmp_path: Path) -> None:
    cfg = config(tmp_path, SYMBOLS, sizes={"BTC-USD": "0.001", "ETH-USD": "0.01", "SOL-USD": "0.1"})
    bot, broker = await start_bot(cfg)
    db = bot.registry.db
    assert db is not None
    db_file = db.execute("PRAGMA database_list").fetchone()[2]
    place = broker.place_order
    in_flight = peak = 0
    seen_on_disk: list[set[str]] = []

    async def slow_place(request: OrderRequest) -> Order:
        nonlocal in_flight, peak
        assert not db.in_transaction  # nothing is sent while the boundary's writes are uncommitted
        with sqlite3.connect(db_file) as reader:  # another connection sees only what was committed
            rows = reader.execute("SELECT client_order_id FROM orders WHERE status='PENDING_SUBMIT'").fetchall()
        seen_on_disk.append({r[0] for r in rows})
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)  # the venue's round trip
        in_flight -= 1
        return await place(request)

    broker.place_order = slow_place  # type: ignore[method-assign]
    for sym in SYMBOLS:
        queue(sym, Action.BUY)
    await cycle(bot, broker)

    assert peak == len(SYMBOLS)  # sent together
    intents = {o.client_order_id for o in bot.registry.orders.list_orders(session_id=bot.registry.session_id)}
    assert len(intents) == len(SYMBOLS) and all(seen == intents for seen in seen_on_disk)
    for sym in SYMBOLS:
        assert len(filled_orders(bot, sym)) == 1
        assert len(await broker.list_orders(sym, open_only=False)) == 1  # once each
    await bot.shutdown()


async def test_each_order_of_a_boundary_is_checked_against_the_ones_before_it(tmp_path: Path) -> None:
    cfg = config(tmp_path, SYMBOLS, sizes={"BTC-USD": "0.001", "ETH-USD": "0.01", "SOL-USD": "0.1"})
    bot, broker = await start_bot(cfg)
    costs = {s: bot.quotes[s].mark_price * cfg.sizing.sizes[s] for s in SYMBOLS}
    await bot.shutdown()
    # cash for the first two entries only: the third, affordable alone, must be refused for what they commit
    cash = (costs["BTC-USD"] + costs["ETH-USD"] + costs["SOL-USD"] / 2).quantize(D("0.01"))
    assert costs["SOL-USD"] < cash
    bot, broker = await start_bot(cfg, cash=str(cash))
    for sym in SYMBOLS:
        queue(sym, Action.BUY)
    await cycle(bot, broker)
    sent = {o.symbol for o in bot.registry.orders.list_orders(session_id=bot.registry.session_id)}
    assert sent == {"BTC-USD", "ETH-USD"}
    refused = [r for r in bot.risk_rejections if r["symbol"] == "SOL-USD"]
    assert refused and refused[0]["rule"] in ("insufficient_cash", "leverage")  # cash or notional, both cumulative
    await bot.shutdown()
