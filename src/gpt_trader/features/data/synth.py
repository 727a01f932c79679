"""Seeded synthetic candles from the MockBroker's generator (`core.synthetic.SyntheticMarket`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gpt_trader.features.data import granularity as gran

if TYPE_CHECKING:
    import pandas as pd


def synth_candles(
    symbol: str, granularity: str, bars: int, *, seed: int = 42, end: datetime | None = None
) -> pd.DataFrame:
    """`bars` candles ending at `end` (default 2025-01-01 UTC); the same seed always gives the same bars."""
    import pandas as pd

    from gpt_trader.features.backtest.config import resolve_product
    from gpt_trader.features.brokerages.core.synthetic import SyntheticMarket

    if bars <= 0:
        raise ValueError(f"bars must be > 0, got {bars}")
    g_s = gran.seconds(granularity)
    product = resolve_product(symbol)
    market = SyntheticMarket([product], seed=seed, start=(end or datetime(2025, 1, 1, tzinfo=UTC)))
    candles = market.history(symbol, bars, g_s)
    df = pd.DataFrame(
        {
            "open": [float(c.open) for c in candles],
            "high": [float(c.high) for c in candles],
            "low": [float(c.low) for c in candles],
            "close": [float(c.close) for c in candles],
            "volume": [float(c.volume) for c in candles],
        },
        index=pd.DatetimeIndex([c.start for c in candles], name="timestamp").tz_convert("UTC"),
    )
    return df
