"""Bars as plain numpy columns (what both engines iterate), plus funding aligned to bar opens."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

NS_PER_DAY = 86_400_000_000_000


@dataclass(frozen=True)
class Bars:
    symbol: str
    ts_ns: np.ndarray  # int64 UTC bar-open times
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    granularity_s: int
    funding: np.ndarray  # rate charged at each bar's open (0.0 where none)

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @cached_property
    def day(self) -> np.ndarray:
        """UTC day number of each bar (computed once: every backtest over these bars reads it)."""
        return self.ts_ns // NS_PER_DAY

    @classmethod
    def from_frame(cls, df: pd.DataFrame, symbol: str, granularity_s: int, funding: pd.Series | None = None) -> Bars:
        import pandas as pd

        ts = np.ascontiguousarray(pd.DatetimeIndex(df.index).as_unit("ns").asi8, dtype=np.int64)
        if len(ts) and np.any(np.diff(ts) <= 0):
            raise ValueError(f"{symbol}: bar times must be strictly increasing")
        return cls(
            symbol=symbol,
            ts_ns=ts,
            open=_column(df, "open"),
            high=_column(df, "high"),
            low=_column(df, "low"),
            close=_column(df, "close"),
            volume=_column(df, "volume"),
            granularity_s=granularity_s,
            funding=align_funding(ts, funding),
        )

    def head(self, n: int) -> Bars:
        """The first n bars (look-ahead tests: a prefix must give the same past)."""
        return self.window(0, n)

    def window(self, lo: int, hi: int) -> Bars:
        """Bars [lo, hi) as views (no copy): a walk-forward fold, an optimizer's train window."""
        if lo == 0 and hi >= len(self):
            return self
        return Bars(
            self.symbol,
            self.ts_ns[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
            self.granularity_s,
            self.funding[lo:hi],
        )

    def writeable(self) -> Bars:
        """A copy whose columns are writeable (arrays from Ray's object store are read-only, and numba
        compiles read-only arrays as a separate type)."""
        return Bars(
            self.symbol,
            np.array(self.ts_ns, copy=True),
            np.array(self.open, copy=True),
            np.array(self.high, copy=True),
            np.array(self.low, copy=True),
            np.array(self.close, copy=True),
            np.array(self.volume, copy=True),
            self.granularity_s,
            np.array(self.funding, copy=True),
        )


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    """A writeable contiguous float64 copy (numba compiles read-only arrays as a separate type)."""
    return np.array(df[name].to_numpy(np.float64), dtype=np.float64, copy=True, order="C")


def align_funding(ts_ns: np.ndarray, funding: pd.Series | None) -> np.ndarray:
    """A settlement at time f is charged at the open of the first bar opening at or after f.

    Settlements before the first bar are dropped; several inside one bar are summed.
    """
    out = np.zeros(ts_ns.shape[0])
    if funding is None or len(funding) == 0 or ts_ns.shape[0] == 0:
        return out
    import pandas as pd

    f_ns = pd.DatetimeIndex(funding.index).as_unit("ns").asi8
    rates = funding.to_numpy(np.float64)
    keep = (f_ns > ts_ns[0]) & (f_ns <= ts_ns[-1])
    idx = np.searchsorted(ts_ns, f_ns[keep], side="left")
    np.add.at(out, idx, rates[keep])
    return out
