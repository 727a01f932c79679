"""What a backtest returns, in one shape for both engines, and its JSON form.

Trades come back as a `TradeLog`: numpy columns (what metrics, optimizers and plots read), turned into
`Trade` objects only when a report, JSON or a test asks for `result.trades`. The fast engine fills the
columns straight from its kernel; the replay engines, which build `Trade` objects anyway, wrap their list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


EXACT_INT = 2**53  # integers below this are exact in a float64


class TradeLog:
    """A backtest's round trips as columns; the `Trade` objects are built (once) only when asked for.

    Columns: `entry_ns`, `exit_ns` (-1 while still open), `pnl`, `fees`, `funding` (floats: analytics),
    `closed` (bool). Built by `from_ticks` (the fast kernel's integer-tick output) or `from_trades`.
    """

    __slots__ = ("_build", "_trades", "closed", "entry_ns", "exit_ns", "fees", "funding", "pnl")

    def __init__(
        self,
        entry_ns: np.ndarray,
        exit_ns: np.ndarray,
        pnl: np.ndarray,
        fees: np.ndarray,
        funding: np.ndarray,
        build: Any = None,
        trades: list[Trade] | None = None,
    ) -> None:
        self.entry_ns, self.exit_ns, self.pnl, self.fees, self.funding = entry_ns, exit_ns, pnl, fees, funding
        self.closed = exit_ns >= 0
        self._build = build
        self._trades = trades

    def __len__(self) -> int:
        return int(self.entry_ns.shape[0])

    @classmethod
    def from_trades(cls, trades: Sequence[Trade]) -> TradeLog:
        n = len(trades)
        return cls(
            np.fromiter((dt_to_ns(t.entry_time) for t in trades), np.int64, n),
            np.fromiter((-1 if t.exit_time is None else dt_to_ns(t.exit_time) for t in trades), np.int64, n),
            np.fromiter((t.pnl for t in trades), np.float64, n),
            np.fromiter((t.fees for t in trades), np.float64, n),
            np.fromiter((t.funding for t in trades), np.float64, n),
            trades=list(trades),
        )

    @classmethod
    def from_ticks(
        cls,
        *,
        entry_ns: np.ndarray,
        exit_ns: np.ndarray,
        size_ticks: np.ndarray,
        entry_ticks: np.ndarray,
        exit_ticks: np.ndarray,
        fees: np.ndarray,
        funding: np.ndarray,
        price_increment: Decimal,
        base_increment: Decimal,
        last_close: float,
    ) -> TradeLog:
        """From integer ticks (size in base increments, prices in price increments). A closed trade's
        pnl is the exact integer value difference rounded once, as `trade_pnl` computes it in Decimal;
        a trade still open is valued at the last close (not a tick price) through `trade_pnl` itself."""
        closed = exit_ns >= 0
        value_scale = float(Decimal(1) / (price_increment * base_increment))
        diff = size_ticks * (exit_ticks - entry_ticks)  # exact while every factor is small (checked)
        pnl = diff / value_scale - fees - funding
        big = closed & (
            (np.abs(exit_ticks - entry_ticks) > EXACT_INT // np.maximum(size_ticks, 1)) | (np.abs(diff) >= EXACT_INT)
        )

        def trade_at(i: int) -> Trade:
            size = Decimal(int(size_ticks[i])) * base_increment
            entry_px = Decimal(int(entry_ticks[i])) * price_increment
            is_open = exit_ns[i] < 0
            exit_px = Decimal(repr(last_close)) if is_open else Decimal(int(exit_ticks[i])) * price_increment
            f, fund = float(fees[i]), float(funding[i])
            return Trade(
                entry_time=ns_to_dt(int(entry_ns[i])),
                exit_time=None if is_open else ns_to_dt(int(exit_ns[i])),
                side="long",
                size=size,
                entry_price=entry_px,
                exit_price=exit_px,
                fees=f,
                pnl=trade_pnl(size, entry_px, exit_px, f, fund),
                funding=fund,
            )

        for i in np.flatnonzero(big | ~closed):  # outside the exact integer range, or open: the Decimal path
            pnl[i] = trade_at(int(i)).pnl
        return cls(entry_ns, exit_ns, pnl, fees, funding, build=trade_at)

    def trades(self) -> list[Trade]:
        if self._trades is None:
            self._trades = [self._build(i) for i in range(len(self))]
        return self._trades


def dt_to_ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


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
    trade_log: TradeLog
    total_fees: float
    total_funding: float
    exposure_bars: int
    granularity_s: int
    rules_acted: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    signals_source: str = "decide per bar"  # fast engine: "vectorized signals" when the strategy has them
    maker_fees: float = 0.0  # the part of total_fees paid as maker (limit entries); the rest is taker

    @property
    def trades(self) -> list[Trade]:
        """The round trips as objects (built on first access from the columns)."""
        return self.trade_log.trades()

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
