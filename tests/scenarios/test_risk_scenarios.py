"""Risk scenarios on the full bot: PerpsBot + MockBroker, a scripted strategy, and the venue's hooks.

Each test stages one market event and asserts the exact action the bot took and the counter it bumped.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from scenario_support import (
    D,
    config,
    cycle,
    entries_blocked,
    filled_orders,
    guard_events,
    queue,
    start_bot,
)

from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
    TransientError,
)
from gpt_trader.features.brokerages.core.quantization import quantize_size
from gpt_trader.features.live_trade.strategies.base import Action
from gpt_trader.orchestration.perps_bot import PerpsBot

BTC, ETH, SOL = "BTC-USD", "ETH-USD", "SOL-USD"
PERP = "BTC-PERP-INTX"
BUY, SELL, CLOSE = Action.BUY, Action.SELL, Action.CLOSE


def mark(bot: PerpsBot, symbol: str) -> Decimal:
    return bot.quotes[symbol].mark_price


async def test_flash_crash_trips_volatility_and_flattens(tmp_path: Path) -> None:
    cfg = config(tmp_path, [BTC, ETH], sizes={BTC: "0.01", ETH: "0.1"}, risk={"actions": {"volatility": "flatten"}})
    bot, broker = await start_bot(cfg)
    queue(BTC, BUY)
    await cycle(bot, broker)
    assert filled_orders(bot, BTC) == [("BUY", D("0.01000000"))]
    before = bot.metrics.counter("risk.guards.volatility.critical_failures")

    broker.set_price(BTC, (mark(bot, BTC) * D("0.8")).quantize(D("0.01")))  # -20 % at once
    queue(BTC, BUY)  # the strategy tries to buy the dip
    await cycle(bot, broker)

    assert guard_events(bot, "volatility") == [("volatility", "flatten")]
    assert bot.metrics.counter("risk.guards.volatility.critical_failures") == before + 1
    assert filled_orders(bot, BTC) == [("BUY", D("0.01000000")), ("SELL", D("0.01000000"))]
    assert entries_blocked(bot, BTC)[0].startswith("volatility: BTC-USD: price moved")
    assert not bot.risk.reduce_only  # a symbol-scoped flatten does not latch the account
    assert bot.risk.state.trips["volatility:BTC-USD"].action == "flatten"


async def test_stale_feed_blocks_new_risk_on_that_symbol_only(tmp_path: Path) -> None:
    cfg = config(tmp_path, [BTC, ETH], sizes={BTC: "0.01", ETH: "0.1"})
    bot, broker = await start_bot(cfg)
    await cycle(bot, broker)
    broker.freeze_feed(ETH)
    await cycle(bot, broker, advance=20)  # 20 s old: still fresh
    assert guard_events(bot, "stale_mark") == []
    queue(ETH, BUY)
    queue(BTC, BUY)
    await cycle(bot, broker, advance=40)  # 60 s old
    assert guard_events(bot, "stale_mark") == [("stale_mark", "block_entries")]
    assert bot.metrics.counter("risk.guards.stale_mark.recoverable_failures") == 1
    assert entries_blocked(bot, ETH)[0].startswith("stale_mark: ETH-USD: mark is 60.0s old")
    assert filled_orders(bot, ETH) == []
    assert filled_orders(bot, BTC) == [("BUY", D("0.01000000"))]  # the live symbol still trades
    broker.freeze_feed(ETH, frozen=False)
    await cycle(bot, broker)
    assert guard_events(bot, "stale_mark")[-1] == ("stale_mark", "cleared")


async def test_api_failure_burst_halts_the_bot(tmp_path: Path) -> None:
    cfg = config(tmp_path, [BTC], sizes={BTC: "0.01"})
    bot, broker = await start_bot(cfg)
    queue(BTC, BUY)
    await cycle(bot, broker)
    broker.fail_next(6, TransientError)  # two cycles of failing quote, book and balances calls
    await cycle(bot, broker)
    assert guard_events(bot, "api_errors") == [] and not bot.risk.halted  # 3 in a row, 3 of 11 recent
    await cycle(bot, broker)
    # 6 in a row: the breaker latches reduce-only; 6 of the last 10 calls failed (> 50 %): halt
    assert guard_events(bot, "api_errors") == [("api_errors", "reduce_only")]
    assert guard_events(bot, "error_rate") == [("error_rate", "halt")]
    assert bot.metrics.counter("risk.guards.error_rate.critical_failures") == 1
    assert bot.metrics.counter("risk.guards.api_errors.critical_failures") == 1
    assert bot.risk.halted and bot.risk.reduce_only
    # the bot acts on the halt in the same cycle, even though that cycle had no account snapshot
    assert bot.halted and bot.stopping
    assert bot.risk.trading_state.guard == "error_rate"
    assert bot.halt_reason is not None and bot.halt_reason.startswith("error_rate: ")
    saved = bot.registry.state.get("risk.guard_state")
    assert saved is not None and saved["mode"] == "halted" and saved["mode_guard"] == "error_rate"


async def test_losing_streak_pauses_entries(tmp_path: Path) -> None:
    cfg = config(tmp_path, [SOL], sizes={SOL: "1"}, risk={"max_consecutive_losses": 2, "loss_cooldown_s": 600})
    bot, broker = await start_bot(cfg)
    for _ in range(2):
        queue(SOL, BUY)
        await cycle(bot, broker)
        broker.set_price(SOL, (mark(bot, SOL) * D("0.98")).quantize(D("0.01")))
        queue(SOL, CLOSE)
        await cycle(bot, broker)
    assert [r < 0 for r in bot.risk.trade_history(SOL)] == [True, True]
    queue(SOL, BUY)
    await cycle(bot, broker)  # the next evaluation sees the streak before the strategy acts
    assert guard_events(bot, "consecutive_losses") == [("consecutive_losses", "block_entries")]
    assert bot.metrics.counter("risk.guards.consecutive_losses.recoverable_failures") == 1
    assert entries_blocked(bot, SOL)[-1].startswith("consecutive_losses: 2 losing trades in a row")
    assert len(filled_orders(bot, SOL)) == 4
    for _ in range(10):  # 600 s of cooldown at 60 s a bar
        await cycle(bot, broker)
    queue(SOL, BUY)
    await cycle(bot, broker)
    assert len(filled_orders(bot, SOL)) == 5 and guard_events(bot, "consecutive_losses")[-1][1] == "cleared"


async def test_correlated_second_entry_is_scaled_down(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        [BTC, ETH],
        sizes={BTC: "0.01", ETH: "0.2"},
        risk={"correlation_window": 20, "correlation_min_samples": 20},
    )
    bot, broker = await start_bot(cfg)
    queue(BTC, BUY)
    await cycle(bot, broker)
    # both markets follow the same path (ETH with a little noise of its own) for 25 bars
    steps = [1.004, 0.997, 1.003, 0.996, 1.005, 0.998, 1.002, 0.995, 1.004, 0.999] * 3
    noise = [1.003, 0.997, 1.0, 1.0024, 0.9976, 1.0, 1.002, 0.998, 1.001, 0.999] * 3  # corr ~0.89
    for i in range(25):
        await broker.advance_time(60)
        broker.set_price(BTC, (mark(bot, BTC) * D(repr(steps[i]))).quantize(D("0.01")))
        broker.set_price(ETH, (mark(bot, ETH) * D(repr(steps[i] * noise[i]))).quantize(D("0.01")))
        await bot.run_cycle()
    events = guard_events(bot, "correlation")
    assert events == [("correlation", "scale_down")]
    assert bot.metrics.counter("risk.guards.correlation.recoverable_failures") == 1
    queue(ETH, BUY)
    await cycle(bot, broker)
    product = bot.products[ETH]
    assert filled_orders(bot, ETH) == [("BUY", quantize_size(D("0.2") * D("0.5"), product))]


async def test_perp_drifting_toward_liquidation_is_flattened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5x long opened by hand on the venue during the session (PerpsBot sends 1x orders): the risk
    rails still see it in the venue's positions and close it before liquidation."""
    monkeypatch.setenv("GPT_TRADER_RECONCILE_EVERY_CYCLES", "1000")  # the manual trade is not the subject
    cfg = config(
        tmp_path,
        [PERP],
        sizes={PERP: "0.1"},
        risk={
            "max_leverage": D("5"),
            "max_move_pct": D("50"),
            "max_daily_loss_pct": D("90"),
            "max_drawdown_pct": D("90"),
            "liquidation_buffer_pct": D("15"),
        },
        **{"coinbase.enable_derivatives": True},
    )

    bot, broker = await start_bot(cfg)
    req = OrderRequest(
        symbol=PERP,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=D("4"),
        time_in_force=TimeInForce.IOC,
        leverage=D("5"),
    )
    assert (await broker.place_order(req)).filled_size == D("4")
    await cycle(bot, broker)
    assert guard_events(bot, "liquidation_buffer") == []
    tripped_at = None
    for i in range(30):  # the market slides 1 % a bar
        broker.set_price(PERP, (mark(bot, PERP) * D("0.99")).quantize(D("0.1")))
        await cycle(bot, broker)
        if guard_events(bot, "liquidation_buffer"):
            tripped_at = i
            break
    assert tripped_at is not None, "the liquidation buffer never tripped"
    assert guard_events(bot, "liquidation_buffer") == [("liquidation_buffer", "flatten")]
    assert bot.metrics.counter("risk.guards.liquidation_buffer.critical_failures") == 1
    assert filled_orders(bot, PERP) == [("SELL", D("4.0000"))]  # the bot closed the whole position
    assert await broker.list_positions() == [] or all(p.size == 0 for p in await broker.list_positions())
    event = bot.registry.events.latest("guard_event")
    assert event is not None
    assert float(event["payload"]["details"]["distance_pct"]) < 15


async def test_thin_book_refuses_the_entry_on_impact_cost(tmp_path: Path) -> None:
    cfg = config(tmp_path, [SOL], sizes={SOL: "50"})
    bot, broker = await start_bot(cfg)
    await cycle(bot, broker)
    broker.set_liquidity(SOL, depth_scale=0.001)
    queue(SOL, BUY)
    await cycle(bot, broker)
    assert [r["rule"] for r in bot.risk_rejections] == ["impact_cost"]
    assert bot.metrics.counter("risk.pretrade.impact_cost.rejections") == 1
    assert filled_orders(bot, SOL) == []


async def test_wide_spread_trips_the_liquidity_breaker(tmp_path: Path) -> None:
    cfg = config(tmp_path, [SOL], sizes={SOL: "1"})
    bot, broker = await start_bot(cfg)
    await cycle(bot, broker)
    broker.set_liquidity(SOL, spread_bps=400)
    queue(SOL, BUY)
    await cycle(bot, broker)
    assert guard_events(bot, "liquidity") == [("liquidity", "block_entries")]
    assert bot.metrics.counter("risk.guards.liquidity.recoverable_failures") == 1
    assert entries_blocked(bot, SOL)[0].startswith("liquidity: SOL-USD: spread")
    assert filled_orders(bot, SOL) == []


@pytest.mark.parametrize("action", ["reduce_only", "halt"])
async def test_daily_loss_on_a_crash_switches_mode(tmp_path: Path, action: str) -> None:
    cfg = config(
        tmp_path,
        [BTC],
        sizes={BTC: "0.25"},  # ~23750 USD, under the 25000 BTC-USD cap
        risk={"max_daily_loss_pct": D("2"), "max_move_pct": D("50"), "actions": {"daily_loss": action}},
    )
    bot, broker = await start_bot(cfg)
    queue(BTC, BUY)
    await cycle(bot, broker)
    assert filled_orders(bot, BTC) == [("BUY", D("0.25000000"))]
    broker.set_price(BTC, (mark(bot, BTC) * D("0.9")).quantize(D("0.01")))  # ~2400 USD on 100000
    await cycle(bot, broker)
    assert guard_events(bot, "daily_loss") == [("daily_loss", action)]
    assert bot.metrics.counter("risk.guards.daily_loss.critical_failures") == 1
    if action == "halt":
        assert bot.halted and bot.stopping
    else:
        assert bot.risk.reduce_only and not bot.halted
        queue(BTC, BUY)
        await cycle(bot, broker)
        assert len(filled_orders(bot, BTC)) == 1  # no new entry
        queue(BTC, CLOSE)
        await cycle(bot, broker)
        assert filled_orders(bot, BTC)[-1][0] == "SELL"  # exits still go through
