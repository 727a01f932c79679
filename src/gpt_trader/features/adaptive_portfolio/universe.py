"""A universe of symbols whose bars share one timeline (what a portfolio backtest iterates)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpt_trader.features.backtest.bars import Bars


@dataclass(frozen=True)
class Universe:
    """Bars per symbol (in the order entries are served), all on the same bar-open times."""

    bars: tuple[Bars, ...]

    def __post_init__(self) -> None:
        if not self.bars:
            raise ValueError("a universe needs at least one symbol")
        symbols = [b.symbol for b in self.bars]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols must be unique, got {symbols}")
        first = self.bars[0]
        for b in self.bars[1:]:
            if b.granularity_s != first.granularity_s or not np.array_equal(b.ts_ns, first.ts_ns):
                raise ValueError(
                    f"{b.symbol}: bars must share {first.symbol}'s timeline and granularity; use Universe.aligned"
                )

    @classmethod
    def aligned(cls, bars: list[Bars]) -> Universe:
        """Keep only the bar times every symbol has (the intersection), in each symbol's order."""
        common = bars[0].ts_ns
        for b in bars[1:]:
            common = np.intersect1d(common, b.ts_ns, assume_unique=True)
        out = []
        for b in bars:
            keep = np.isin(b.ts_ns, common)
            out.append(
                Bars(
                    b.symbol,
                    b.ts_ns[keep],
                    b.open[keep].copy(),
                    b.high[keep].copy(),
                    b.low[keep].copy(),
                    b.close[keep].copy(),
                    b.volume[keep].copy(),
                    b.granularity_s,
                    b.funding[keep].copy(),
                )
            )
        return cls(tuple(out))

    @property
    def symbols(self) -> list[str]:
        return [b.symbol for b in self.bars]

    @property
    def ts_ns(self) -> np.ndarray:
        return self.bars[0].ts_ns

    def __len__(self) -> int:
        return len(self.bars[0])

    def head(self, n: int) -> Universe:
        return Universe(tuple(b.head(n) for b in self.bars))
