"""Perpetual funding-rate series: UTC settlement time -> rate per interval (0.0001 = 0.01%)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_TIME = ("funding_time_utc", "funding_time", "timestamp", "time", "date")
_RATE = ("funding_rate", "rate", "funding rate")


def load_funding(path: str | Path, *, exchange: str | None = None, symbol: str | None = None) -> pd.Series:
    """Read a funding CSV; the combined multi-venue file needs `exchange` and `symbol` to pick one series.

    Naive times are taken as UTC: use the `_utc` file for the venues whose published dates are local time.
    """
    import pandas as pd

    raw = pd.read_csv(path)
    cols = {c.strip().lower(): c for c in raw.columns}
    if "exchange" in cols:
        venues = sorted(raw[cols["exchange"]].unique())
        if exchange is None:
            raise ValueError(f"{path}: holds several venues; pass exchange, one of {venues}")
        raw = raw[raw[cols["exchange"]] == exchange]
        if raw.empty:
            raise ValueError(f"{path}: no rows for exchange {exchange!r}; venues: {venues}")
    if symbol is not None and "symbol" in cols:
        symbols = sorted(raw[cols["symbol"]].unique())
        raw = raw[raw[cols["symbol"]] == symbol]
        if raw.empty:
            raise ValueError(f"{path}: no rows for symbol {symbol!r}; symbols: {symbols}")
    t = next((cols[c] for c in _TIME if c in cols), None)
    r = next((cols[c] for c in _RATE if c in cols), None)
    if t is None or r is None:
        raise ValueError(
            f"{path}: need a time column {list(_TIME)} and a rate column {list(_RATE)}; "
            f"columns found: {list(raw.columns)}"
        )
    idx = pd.DatetimeIndex(pd.to_datetime(raw[t], utc=True, format="ISO8601")).as_unit("ns")
    series = pd.Series(raw[r].astype("float64").to_numpy(), index=idx, name="funding_rate").sort_index()
    series.index.name = "funding_time"
    return series[~series.index.duplicated(keep="last")]
