"""Portfolio fast engine: each symbol's signals up front, then one sequential pass with a float ledger
and the single-symbol kernel's fill arithmetic (integer-tick prices and sizes, `kernel.settle`)."""

from __future__ import annotations

import time
from decimal import Decimal

import numpy as np

from gpt_trader.features.adaptive_portfolio.policy import below_minimum, entry_qty_ticks, plan_bar, refuse_perpetuals
from gpt_trader.features.adaptive_portfolio.result import PortfolioResult, PortfolioTrade, TierEvent
from gpt_trader.features.adaptive_portfolio.universe import Universe
from gpt_trader.features.backtest import pricing
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.fast import kernel as K
from gpt_trader.features.backtest.fast.engine import product_scales
from gpt_trader.features.backtest.strategy_signals import strategy_signals
from gpt_trader.features.brokerages.core.interfaces import Product
from gpt_trader.features.live_trade.strategies.base import Strategy
from gpt_trader.features.live_trade.tiers import TierTable, TierTracker


def run_fast_portfolio(
    universe: Universe, strategy: Strategy, config: BacktestConfig, tiers: TierTable
) -> PortfolioResult:
    products = [config.product_for(s) for s in universe.symbols]
    refuse_perpetuals(products)
    scales = [product_scales(p, config) for p in products]
    slip_num, slip_den = config.slippage_ratio()
    fee_rate = float(config.fee_rate)
    settle = K.settle
    started = time.perf_counter()
    sigs = [strategy_signals(strategy, b, shorts=False)[0] for b in universe.bars]
    entries = [s.long_entry.tolist() for s in sigs]
    exits = [s.long_exit.tolist() for s in sigs]
    opens = [b.open.tolist() for b in universe.bars]
    closes = [b.close.tolist() for b in universe.bars]
    m, n = len(products), len(universe)
    perpetual = [p.is_perpetual for p in products]
    cash = float(config.initial_cash)
    pos_ticks = [0] * m
    pos = [0.0] * m
    open_trade: list[_Open | None] = [None] * m
    trades: list[PortfolioTrade] = []
    tracker = TierTracker(tiers, equity=cash)
    tier_events: list[TierEvent] = []
    counters: dict[str, int] = {}
    equity = np.empty(n)
    pending_exits: list[int] = []
    pending_entries: list[int] = []
    budget = 0.0
    for t in range(n):
        for i in pending_exits:
            sc = scales[i]
            px_ticks = pricing.sell_ticks(pricing.open_ticks(opens[i][t], sc.price_scale), slip_num, slip_den)
            px = px_ticks / sc.price_scale
            value, fee = settle(pos_ticks[i], px_ticks, pos[i], px, fee_rate, sc.value_scale, sc.fee_num, sc.fee_den)
            cash += value - fee
            tr = open_trade[i]
            assert tr is not None
            trades.append(tr.closed(products[i], t, px_ticks, fee))
            open_trade[i] = None
            pos_ticks[i], pos[i] = 0, 0.0
        for i in pending_entries:
            sc = scales[i]
            px_ticks = pricing.buy_ticks(pricing.open_ticks(opens[i][t], sc.price_scale), slip_num, slip_den)
            q_ticks = entry_qty_ticks(cash, budget, px_ticks, sc, fee_rate)
            if below_minimum(q_ticks, px_ticks, products[i], sc):
                counters["skipped_below_min_size"] = counters.get("skipped_below_min_size", 0) + 1
                continue
            qty, px = q_ticks / sc.qty_scale, px_ticks / sc.price_scale
            value, fee = settle(q_ticks, px_ticks, qty, px, fee_rate, sc.value_scale, sc.fee_num, sc.fee_den)
            cash -= value + fee
            pos_ticks[i], pos[i] = q_ticks, qty
            open_trade[i] = _Open(t, q_ticks, px_ticks, fee)
        pending_exits, pending_entries = [], []
        eq = cash
        for i in range(m):
            eq += pos[i] * closes[i][t]
        equity[t] = eq
        if t == n - 1:
            break
        change = tracker.update(eq)
        if change is not None:
            tier_events.append(TierEvent(t, change.previous, change.tier, change.equity))
        held = [q != 0 for q in pos_ticks]
        pending_exits, pending_entries = plan_bar(
            held, [x[t] for x in exits], [e[t] for e in entries], perpetual, tracker.tier, counters
        )
        budget = tracker.tier.budget(eq)
    for i in range(m):
        tr = open_trade[i]
        if tr is not None:
            trades.append(tr.closed(products[i], None, None, 0.0))
    return PortfolioResult.build(
        "fast", universe, strategy.name, config.initial_cash, equity, trades, tier_events, counters, started
    )


class _Open:
    __slots__ = ("fees", "k", "px_ticks", "q_ticks")

    def __init__(self, k: int, q_ticks: int, px_ticks: int, fees: float) -> None:
        self.k, self.q_ticks, self.px_ticks, self.fees = k, q_ticks, px_ticks, fees

    def closed(self, product: Product, exit_k: int | None, exit_ticks: int | None, fee: float) -> PortfolioTrade:
        """The trade, exited at bar `exit_k` (None: still open after the last bar)."""
        return PortfolioTrade(
            symbol=product.symbol,
            entry_k=self.k,
            exit_k=exit_k,
            size=Decimal(self.q_ticks) * product.base_increment,
            entry_price=Decimal(self.px_ticks) * product.price_increment,
            exit_price=None if exit_ticks is None else Decimal(exit_ticks) * product.price_increment,
            fees=self.fees + fee,
        )
