"""Replay under a live profile's full rails: the real `PerpsBot`, one cycle per bar, on `BacktestBroker`.

The default replay (engine.py) runs the strategy, the sizing rule and the shared fill model exactly as
the fast kernel models them, which is what parity needs. This one builds the bot from a profile
(`--risk-profile`): session window, every runtime guard, circuit breakers, the profile's position sizer,
pre-trade checks and the LiveExecutionEngine all act, and the result lists which rules acted. Its
stores, metrics and health files go to a throw-away directory, never the live profile's.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.metrics import compute_metrics
from gpt_trader.features.backtest.replay.broker import BacktestBroker
from gpt_trader.features.backtest.result import BacktestResult, Trade, TradeLog, trade_pnl
from gpt_trader.features.brokerages.core.interfaces import Fill, OrderSide

ZERO = Decimal(0)


def run_bot_replay(
    bars: Bars,
    strategy_name: str,
    params: dict[str, Any],
    config: BacktestConfig,
    profile: str,
    *,
    work_dir: Path | None = None,
) -> BacktestResult:
    if not re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+(-[A-Z0-9]+)?", bars.symbol):
        raise ValueError(
            f"--risk-profile runs the bot, which needs a symbol like BTC-USD; got {bars.symbol!r} (pass --symbol)"
        )
    import structlog

    from gpt_trader.features.monitor.logging_setup import configure_logging

    saved = structlog.get_config()
    configure_logging(level="WARNING")  # the bot narrates every decision at INFO; a backtest wants results
    try:
        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="gpt-trader-bt-") as tmp:
                return asyncio.run(_run(bars, strategy_name, params, config, profile, Path(tmp)))
        return asyncio.run(_run(bars, strategy_name, params, config, profile, work_dir))
    finally:
        structlog.configure(**saved)


BACKTEST_PROFILE = "backtest"


def backtest_rails(symbol: str, config: BacktestConfig) -> dict[str, Any]:
    """The `backtest` risk configuration: live-only rails off (no notional caps, no circuit breakers,
    no impact/spread/staleness refusals, loss limits only at a total loss), sizing the fixed quantity.
    Used to show that the bot and the replay driver trade identically when their rules are the same."""
    from gpt_trader.features.live_trade.risk.config import RiskConfig
    from gpt_trader.orchestration.configuration import SizingConfig

    if config.size_qty is None:
        raise ValueError("the bot's sizer has no all-in-at-the-fill-price method yet; use size_qty here")
    risk = RiskConfig(
        max_daily_loss_pct=Decimal(100),
        max_drawdown_pct=Decimal(100),
        circuit_breakers_enabled=False,
        max_impact_bps=Decimal(10000),
        max_spread_bps=Decimal(10000),
        max_move_pct=Decimal(100),
        stale_mark_s=1e9,
        max_consecutive_losses=10**9,
        max_orders_per_minute=10**6,
    )
    return {"risk": risk, "sizing": SizingConfig(method="fixed_size", sizes={symbol: config.size_qty})}


def _bot_config(
    profile: str, bars: Bars, strategy_name: str, params: dict[str, Any], work_dir: Path, config: BacktestConfig
) -> Any:
    import msgspec

    from gpt_trader.orchestration.configuration import ConfigManager, StrategyConfig

    overrides: dict[str, Any] = {}
    if profile == BACKTEST_PROFILE:
        base = ConfigManager().load("dev")
        overrides = backtest_rails(bars.symbol, config) | {"trading_window": None}
    else:
        base = ConfigManager().load(profile)
    return msgspec.structs.replace(
        base,
        **overrides,
        symbols=[bars.symbol],
        strategy=StrategyConfig(name=strategy_name, params=dict(params), granularity_s=bars.granularity_s),
        data_root=str(work_dir / "data"),
        log_dir=str(work_dir / "logs"),
        health_file=str(work_dir / "health.json"),
        dry_run=False,
        cycles=None,
    )


async def _run(
    bars: Bars, strategy_name: str, params: dict[str, Any], config: BacktestConfig, profile: str, work_dir: Path
) -> BacktestResult:
    from gpt_trader.orchestration.perps_bot import PerpsBot
    from gpt_trader.orchestration.service_registry import build_registry

    bot_config = _bot_config(profile, bars, strategy_name, params, work_dir, config)
    broker = BacktestBroker(bars, config)
    registry = build_registry(bot_config, broker=broker, fresh_store=True)
    bot = PerpsBot(registry)
    product = broker.product
    closes = bars.close
    n = len(bars)
    equity = np.empty(n)
    equity[0] = float(config.initial_cash)
    exposure = 0
    started = time.perf_counter()
    try:
        for k in range(1, n):
            broker.set_bar(k)  # bar k-1 has just closed; the bot sees the book at bar k's open
            await bot.run_cycle()
            base = broker.balance(product.base_asset).total
            cash = broker.balance(product.quote_asset).total
            equity[k - 1] = float(cash + base * Decimal(repr(float(closes[k - 1]))))
            if base > 0:
                exposure += 1
            if bot.stopping:
                equity[k:] = equity[k - 1]
                break
    finally:
        await bot.shutdown()
    base = broker.balance(product.base_asset).total
    cash = broker.balance(product.quote_asset).total
    final = cash + base * Decimal(repr(float(closes[-1])))
    equity[n - 1] = float(final)
    elapsed = time.perf_counter() - started
    fills = sorted(await broker.list_fills(product.symbol), key=lambda f: f.ts)
    trades = _round_trips(fills, Decimal(repr(float(closes[-1]))))
    acted: Counter[str] = Counter(f"guard:{e.name}:{e.action}" for e in bot.guard_events)
    acted.update(f"pre_trade:{r['rule']}" for r in bot.risk_rejections)
    for event in registry.events.iter_events(kind="entry_blocked"):
        acted[f"entry_blocked:{_reason_key(str(event['payload'].get('reason', '?')))}"] += 1
    if bot.halted:
        acted[f"halt:{bot.halt_reason}"] += 1
    initial = float(config.initial_cash)
    result = BacktestResult(
        engine=f"replay-bot:{profile}",
        symbol=bars.symbol,
        strategy=strategy_name,
        params=dict(params),
        bars=n,
        elapsed_s=elapsed,
        initial_cash=initial,
        final_equity=float(final),
        ts_ns=bars.ts_ns,
        equity=equity,
        close=bars.close,
        trade_log=TradeLog.from_trades(trades),
        total_fees=float(sum((f.fee for f in fills), ZERO)),
        total_funding=0.0,
        exposure_bars=exposure,
        granularity_s=bars.granularity_s,
        rules_acted=dict(acted),
    )
    result.metrics = compute_metrics(
        equity,
        bars.ts_ns,
        result.trade_log,
        initial_cash=initial,
        granularity_s=bars.granularity_s,
        total_fees=result.total_fees,
        exposure_bars=exposure,
    )
    return result


def _reason_key(reason: str) -> str:
    """ "consecutive_losses: 4 losing ..." -> "consecutive_losses"; "stale mark (40s > 30s)" -> "stale mark"."""
    first = reason.split(" ", 1)[0]
    if first.endswith(":"):
        return first[:-1]
    return reason.split(" (", 1)[0]


def _round_trips(fills: list[Fill], last_close: Decimal) -> list[Trade]:
    """Long round trips from spot fills: a trade opens on the first buy from flat and closes when the
    position is back to zero (several fills on either side are averaged)."""
    trades: list[Trade] = []
    pos = ZERO
    entry_cost = exit_value = fees = ZERO
    bought = ZERO
    entry_time = None
    for f in fills:
        if f.side is OrderSide.BUY:
            if pos == 0:
                entry_time, entry_cost, exit_value, fees, bought = f.ts, ZERO, ZERO, ZERO, ZERO
            pos += f.size
            bought += f.size
            entry_cost += f.price * f.size
        else:
            pos -= f.size
            exit_value += f.price * f.size
        fees += f.fee
        if pos == 0 and entry_time is not None and bought > 0:
            entry_px, exit_px = entry_cost / bought, exit_value / bought
            trades.append(
                Trade(
                    entry_time=entry_time,
                    exit_time=f.ts,
                    side="long",
                    size=bought,
                    entry_price=entry_px,
                    exit_price=exit_px,
                    fees=float(fees),
                    pnl=trade_pnl(bought, entry_px, exit_px, float(fees), 0.0),
                )
            )
            entry_time = None
    if pos > 0 and entry_time is not None:
        entry_px = entry_cost / bought
        trades.append(
            Trade(
                entry_time=entry_time,
                exit_time=None,
                side="long",
                size=pos,
                entry_price=entry_px,
                exit_price=last_close,
                fees=float(fees),
                pnl=trade_pnl(pos, entry_px, last_close, float(fees), 0.0),
            )
        )
    return trades
