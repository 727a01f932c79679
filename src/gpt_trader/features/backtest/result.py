"""What a backtest returns, in one shape for both engines, and its JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np


def ns_to_dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(microsecond=(ns // 1000) % 1_000_000)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def trade_pnl(
    size: Decimal,
    entry_price: Decimal,
    exit_price: Decimal,
    fees: float,
    funding: float,
) -> float:
    """Exit value - entry value - fees - funding; values exact (unrounded), as the venue settles them."""
    return float(size * exit_price - size * entry_price) - fees - funding


@dataclass(frozen=True)
class Trade:
    entry_time: datetime
    exit_time: datetime | None  # None: still open after the last bar, valued at the last close
    side: str
    size: Decimal
    entry_price: Decimal
    exit_price: Decimal  # the fill, or the last close for a trade still open
    fees: float
    pnl: float
    funding: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_time": iso(self.entry_time),
            "exit_time": iso(self.exit_time),
            "side": self.side,
            "size": float(self.size),
            "entry_price": float(self.entry_price),
            "exit_price": float(self.exit_price),
            "fees": self.fees,
            "pnl": self.pnl,
            "funding": self.funding,
        }


@dataclass
class BacktestResult:
    engine: str
    symbol: str
    strategy: str
    params: dict[str, Any]
    bars: int
    elapsed_s: float
    initial_cash: float
    final_equity: float
    ts_ns: np.ndarray
    equity: np.ndarray
    close: np.ndarray
    trades: list[Trade]
    total_fees: float
    total_funding: float
    exposure_bars: int
    granularity_s: int
    rules_acted: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    signals_source: str = "decide per bar"  # fast engine: "vectorized signals" when the strategy has them
    maker_fees: float = 0.0  # the part of total_fees paid as maker (limit entries); the rest is taker

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "symbol": self.symbol,
            "strategy": self.strategy,
            "params": self.params,
            "bars": self.bars,
            "elapsed_s": self.elapsed_s,
            "initial_cash": self.initial_cash,
            "final_equity": self.final_equity,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "rules_acted": self.rules_acted,
            "signals_source": self.signals_source,
            "trades": [t.to_dict() for t in self.trades],
        }


def _finite(v: float | None) -> float | None:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return v
