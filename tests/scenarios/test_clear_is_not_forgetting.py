"""Clearing is not forgetting (issue 12), end to end on PerpsBot + MockBroker with restarts.

After a daily-loss trip, `--clear-reduce-only` releases the latch but keeps the day's starting equity:
the guard still over its limit trips again before any entry. Only the separate operator action
`--rebase-daily-loss` gives the day a new loss budget; both are journaled and published.
"""

from __future__ import annotations

import io
from pathlib import Path

from scenario_support import D, ScriptedStrategy, config, cycle, filled_orders, queue, start_bot

from gpt_trader.features.brokerages.core.interfaces import OrderSide
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.live_trade.risk.trading_state import Cause, TradingMode, TradingStateChange
from gpt_trader.features.live_trade.strategies.base import Action
from gpt_trader.orchestration.banner import print_banner
from gpt_trader.orchestration.configuration import BotConfig
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import build_registry

BTC = "BTC-USD"


def _restart(cfg: BotConfig, broker: MockBroker) -> tuple[PerpsBot, list[TradingStateChange]]:
    """A new process on the same venue and store; returns the bot and what its subscriber heard."""
    registry = build_registry(cfg, broker=broker, fresh_store=False)
    heard: list[TradingStateChange] = []
    registry.risk.trading_state.subscribe(heard.append)
    return PerpsBot(registry), heard


def _journal(bot: PerpsBot) -> list[tuple[str, str]]:
    return [(e["payload"]["cause"], e["payload"]["mode"]) for e in bot.events.iter_events(kind="trading_state")]


async def _lose_more_than_the_limit(tmp_path: Path) -> tuple[PerpsBot, MockBroker, BotConfig]:
    cfg = config(tmp_path, [BTC], sizes={BTC: "0.25"}, risk={"max_daily_loss_usd": D("10"), "max_move_pct": D("50")})
    bot, broker = await start_bot(cfg)
    queue(BTC, Action.BUY)
    await cycle(bot, broker)
    assert filled_orders(bot, BTC) == [("BUY", D("0.25000000"))]
    price = bot.quotes[BTC].mark_price
    broker.set_price(BTC, (price - D("200")).quantize(D("0.01")))  # 0.25 BTC x -200 USD: ~50 USD down
    queue(BTC, Action.CLOSE)
    await cycle(bot, broker)
    assert bot.risk.trading_state.mode is TradingMode.REDUCING and bot.risk.trading_state.guard == "daily_loss"
    assert [side for side, _ in filled_orders(bot, BTC)] == ["BUY", "SELL"]  # the exit is allowed
    await bot.shutdown()
    return bot, broker, cfg


async def test_clear_releases_the_latch_but_the_days_loss_still_counts(tmp_path: Path) -> None:
    first, broker, cfg = await _lose_more_than_the_limit(tmp_path)
    day_start = first.risk.state.day_start_equity
    assert day_start is not None
    loss = day_start - (first.last_equity or D(0))
    assert loss > D("10")

    bot, heard = _restart(cfg, broker)
    shown = io.StringIO()
    print_banner(bot.registry, shown)  # the restarted process shows the restored latch before anything else
    mode_row = next(line for line in shown.getvalue().splitlines() if "limit: trading mode" in line)
    assert "REDUCING (daily_loss: daily loss" in mode_row
    bot.risk.clear_reduce_only()  # what `--clear-reduce-only` does, before start
    assert bot.risk.trading_state.mode is TradingMode.ACTIVE
    ScriptedStrategy.plan.clear()
    await bot.start()
    assert bot.risk.state.day_start_equity == day_start  # not re-based
    queue(BTC, Action.BUY)
    await cycle(bot, broker)
    # the guard, still over its limit, tripped again before the strategy's entry was considered
    assert bot.risk.trading_state.mode is TradingMode.REDUCING
    assert bot.metrics.counter("risk.guards.daily_loss.critical_failures") == 1
    assert not [
        o for o in bot.registry.orders.list_orders(session_id=bot.registry.session_id) if o.side is OrderSide.BUY
    ]
    blocked = [e["payload"]["reason"] for e in bot.events.iter_events(kind="entry_blocked")]
    assert blocked and blocked[0].startswith("trading reducing: daily_loss: daily loss")
    assert [(c.cause, c.current.mode) for c in heard] == [
        (Cause.RESTORED, TradingMode.REDUCING),
        (Cause.OPERATOR_CLEAR, TradingMode.ACTIVE),
        (Cause.GUARD, TradingMode.REDUCING),
    ]
    assert _journal(bot) == [("restored", "reducing"), ("operator_clear", "active"), ("guard", "reducing")]
    await bot.shutdown()


async def test_rebase_daily_loss_is_its_own_journaled_action_and_then_the_bot_trades(tmp_path: Path) -> None:
    first, broker, cfg = await _lose_more_than_the_limit(tmp_path)
    old_start = first.risk.state.day_start_equity

    bot, heard = _restart(cfg, broker)
    bot.risk.rebase_daily_loss()  # `--rebase-daily-loss`: applied to the first snapshot
    bot.risk.clear_reduce_only()
    ScriptedStrategy.plan.clear()
    await bot.start()
    new_start = bot.risk.state.day_start_equity
    assert new_start is not None and old_start is not None and new_start < old_start
    assert bot.metrics.counter("risk.rebase.daily_loss") == 1
    queue(BTC, Action.BUY)
    await cycle(bot, broker)
    assert bot.risk.trading_state.mode is TradingMode.ACTIVE
    assert [side for side, _ in filled_orders(bot, BTC)] == ["BUY"]
    rebase = [c for c in heard if c.cause is Cause.OPERATOR_REBASE_DAILY_LOSS]
    assert len(rebase) == 1 and not rebase[0].changed
    assert rebase[0].details["previous"] == str(old_start) and rebase[0].details["equity"] == str(new_start)
    journal = list(bot.events.iter_events(kind="trading_state"))
    rebased = [e for e in journal if e["payload"]["cause"] == "operator_rebase_daily_loss"]
    assert len(rebased) == 1 and rebased[0]["payload"]["details"]["baseline"] == "daily_loss"
    await bot.shutdown()
