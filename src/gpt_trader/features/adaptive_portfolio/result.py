"""What a portfolio backtest returns, in one shape for both engines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.features.backtest.result import iso, ns_to_dt

if TYPE_CHECKING:
    from gpt_trader.features.adaptive_portfolio.universe import Universe


@dataclass(frozen=True)
class PortfolioTrade:
    symbol: str
    entry_k: int
    exit_k: int | None  # None: still open after the last bar
    size: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    fees: float

    def key(self) -> tuple[Any, ...]:
        return (self.symbol, self.entry_k, self.exit_k, self.size, self.entry_price, self.exit_price)


@dataclass(frozen=True)
class TierEvent:
    k: int  # bar whose close moved the tier
    previous: str
    tier: str
    equity: float


@dataclass
class PortfolioResult:
    engine: str
    symbols: list[str]
    strategy: str
    ts_ns: np.ndarray
    initial_cash: float
    final_equity: float
    equity: np.ndarray
    trades: list[PortfolioTrade]
    tier_events: list[TierEvent]
    counters: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @classmethod
    def build(
        cls,
        engine: str,
        universe: Universe,
        strategy: str,
        initial_cash: Decimal,
        equity: np.ndarray,
        trades: list[PortfolioTrade],
        tier_events: list[TierEvent],
        counters: dict[str, int],
        started: float,
    ) -> PortfolioResult:
        """The result of a finished run: trades in entry order (universe order within a bar)."""
        order = {s: i for i, s in enumerate(universe.symbols)}
        trades.sort(key=lambda tr: (tr.entry_k, order[tr.symbol]))
        return cls(
            engine=engine,
            symbols=universe.symbols,
            strategy=strategy,
            ts_ns=universe.ts_ns,
            initial_cash=float(initial_cash),
            final_equity=float(equity[-1]) if len(equity) else float(initial_cash),
            equity=equity,
            trades=trades,
            tier_events=tier_events,
            counters=counters,
            elapsed_s=time.perf_counter() - started,
        )

    def to_dict(self) -> dict[str, Any]:
        def ts(k: int | None) -> str | None:
            return None if k is None else iso(ns_to_dt(int(self.ts_ns[k])))

        return {
            "engine": self.engine,
            "symbols": self.symbols,
            "strategy": self.strategy,
            "bars": int(self.ts_ns.shape[0]),
            "initial_cash": self.initial_cash,
            "final_equity": self.final_equity,
            "elapsed_s": self.elapsed_s,
            "counters": self.counters,
            "tier_changes": [
                {"at": ts(e.k), "from": e.previous, "to": e.tier, "equity": e.equity} for e in self.tier_events
            ],
            "trades": [
                {
                    "symbol": t.symbol,
                    "entry_time": ts(t.entry_k),
                    "exit_time": ts(t.exit_k),
                    "size": str(t.size),
                    "entry_price": str(t.entry_price),
                    "exit_price": None if t.exit_price is None else str(t.exit_price),
                    "fees": t.fees,
                }
                for t in self.trades
            ],
        }
