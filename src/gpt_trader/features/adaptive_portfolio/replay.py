"""Portfolio replay engine: `decide` bar by bar for every symbol, Decimal money, and fills from the
shared MatchingEngine (one account, one quote balance, every product's book at the bar's open)."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

import numpy as np

from gpt_trader.features.adaptive_portfolio.policy import below_minimum, entry_qty_ticks, plan_bar, refuse_perpetuals
from gpt_trader.features.adaptive_portfolio.result import PortfolioResult, PortfolioTrade, TierEvent
from gpt_trader.features.adaptive_portfolio.universe import Universe
from gpt_trader.features.backtest import pricing
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.fast.engine import product_scales
from gpt_trader.features.backtest.result import ns_to_dt
from gpt_trader.features.backtest.strategy_signals import BarColumns
from gpt_trader.features.brokerages.core.interfaces import BookLevel, OrderRequest, OrderSide, OrderType, TimeInForce
from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine
from gpt_trader.features.live_trade.strategies.base import Action, Strategy
from gpt_trader.features.live_trade.tiers import TierTable, TierTracker

ACCOUNT = "portfolio"
DEPTH = Decimal(10) ** 9
ZERO = Decimal(0)


def run_replay_portfolio(
    universe: Universe, strategy: Strategy, config: BacktestConfig, tiers: TierTable
) -> PortfolioResult:
    products = [config.product_for(s) for s in universe.symbols]
    refuse_perpetuals(products)
    quotes = {p.quote_asset for p in products}
    if len(quotes) != 1:
        raise ValueError(f"one cash balance needs one quote currency; the universe has {sorted(quotes)}")
    quote = quotes.pop()
    scales = [product_scales(p, config) for p in products]
    slip_num, slip_den = config.slippage_ratio()
    fee_rate = config.fee_rate
    clock: list[datetime] = [ns_to_dt(int(universe.ts_ns[0]))]
    engine = MatchingEngine(
        products, fees=FeeSchedule.flat(maker=fee_rate, taker=fee_rate), clock=lambda: clock[0], book_events=False
    )
    engine.fund(ACCOUNT, quote, config.initial_cash)
    cols = [BarColumns(b, strategy.history_needed) for b in universe.bars]
    closes = [b.close.tolist() for b in universe.bars]
    opens = [b.open.tolist() for b in universe.bars]
    m, n = len(products), len(universe)
    perpetual = [p.is_perpetual for p in products]
    pos = [ZERO] * m
    open_trade: list[PortfolioTrade | None] = [None] * m
    trades: list[PortfolioTrade] = []
    tracker = TierTracker(tiers, equity=float(config.initial_cash))
    tier_events: list[TierEvent] = []
    counters: dict[str, int] = {}
    equity = np.empty(n)
    pending_exits: list[int] = []
    pending_entries: list[int] = []
    budget = 0.0
    started = time.perf_counter()

    def fill(i: int, side: OrderSide, size: Decimal, k: int) -> tuple[Decimal, Decimal]:
        sc, product = scales[i], products[i]
        ticks = pricing.open_ticks(opens[i][k], sc.price_scale)
        ask = Decimal(pricing.buy_ticks(ticks, slip_num, slip_den)) * product.price_increment
        bid = Decimal(pricing.sell_ticks(ticks, slip_num, slip_den)) * product.price_increment
        engine.set_book(product.symbol, bids=[BookLevel(bid, DEPTH)], asks=[BookLevel(ask, DEPTH)], ts=clock[0])
        result = engine.submit(
            ACCOUNT,
            OrderRequest(
                symbol=product.symbol,
                side=side,
                order_type=OrderType.MARKET,
                size=size,
                time_in_force=TimeInForce.IOC,
                client_order_id=f"pf-{k}-{product.symbol}-{side.value}",
            ),
        )
        filled = sum((f.size for f in result.fills), ZERO)
        if filled != size:
            raise RuntimeError(f"portfolio replay bar {k}: {side.value} {size} {product.symbol} filled {filled} only")
        return result.fills[0].price, sum((f.fee for f in result.fills), ZERO)

    for t in range(n):
        clock[0] = ns_to_dt(int(universe.ts_ns[t]))
        if pending_exits or pending_entries:
            engine.advance(clock[0])
        for i in pending_exits:
            px, fee = fill(i, OrderSide.SELL, pos[i], t)
            tr = open_trade[i]
            assert tr is not None
            trades.append(PortfolioTrade(tr.symbol, tr.entry_k, t, tr.size, tr.entry_price, px, tr.fees + float(fee)))
            open_trade[i] = None
        for i in pending_entries:
            sc, product = scales[i], products[i]
            ask_ticks = pricing.buy_ticks(pricing.open_ticks(opens[i][t], sc.price_scale), slip_num, slip_den)
            cash_now = engine.balance(ACCOUNT, quote).total
            q_ticks = entry_qty_ticks(float(cash_now), budget, ask_ticks, sc, float(fee_rate))
            if below_minimum(q_ticks, ask_ticks, product, sc):
                counters["skipped_below_min_size"] = counters.get("skipped_below_min_size", 0) + 1
                continue
            size = Decimal(q_ticks) * product.base_increment
            px, fee = fill(i, OrderSide.BUY, size, t)
            open_trade[i] = PortfolioTrade(product.symbol, t, None, size, px, None, float(fee))
        pending_exits, pending_entries = [], []
        cash = engine.balance(ACCOUNT, quote).total
        eq_d = cash
        for i, product in enumerate(products):
            pos[i] = engine.balance(ACCOUNT, product.base_asset).total
            eq_d += pos[i] * Decimal(repr(closes[i][t]))
        eq = float(eq_d)
        equity[t] = eq
        if t == n - 1:
            break
        change = tracker.update(eq)
        if change is not None:
            tier_events.append(TierEvent(t, change.previous, change.tier, change.equity))
        held, exit_sig, entry_sig = [], [], []
        for i, product in enumerate(products):
            action = strategy.decide(product.symbol, cols[i].window_at(t), pos[i]).action
            held.append(pos[i] > 0)
            exit_sig.append(pos[i] > 0 and (action is Action.CLOSE or action is Action.SELL))
            entry_sig.append(pos[i] == 0 and action is Action.BUY)
        pending_exits, pending_entries = plan_bar(held, exit_sig, entry_sig, perpetual, tracker.tier, counters)
        budget = tracker.tier.budget(eq)
    trades.extend(tr for tr in open_trade if tr is not None)
    return PortfolioResult.build(
        "replay", universe, strategy.name, config.initial_cash, equity, trades, tier_events, counters, started
    )
