"""What a portfolio backtest returns, in one shape for both engines."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from gpt_trader.features.backtest.result import iso, ns_to_dt


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
