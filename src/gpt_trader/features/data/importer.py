"""Read third-party candle files (CSV, CSV.gz, Parquet) into the store's canonical frame.

Canonical frame: a UTC `DatetimeIndex` named "timestamp" (bar open time) and float64 columns
open, high, low, close, volume (volume in base units when the file says which).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from gpt_trader.features.data import granularity as gran

if TYPE_CHECKING:
    import pandas as pd

TIME_COLUMNS = ("timestamp", "date", "datetime", "time", "open_time")
TIMEFRAME_COLUMNS = ("timeframe", "interval")
PRICE_COLUMNS = ("open", "high", "low", "close")
CANONICAL_COLUMNS = ("open", "high", "low", "close", "volume")


class CandleFileError(ValueError):
    """The file cannot be mapped onto candles; the message names what was found."""


def base_asset(symbol: str) -> str:
    """ "BTC-USD" -> "btc", "BTCUSDT" -> "btc", "BTC-PERP" -> "btc"."""
    s = symbol.strip().lower()
    for sep in ("-", "/", "_"):
        if sep in s:
            return s.split(sep, 1)[0]
    for quote in ("usdt", "usdc", "usd", "eur", "gbp", "btc"):
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)]
    return s


def _read_raw(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.exists():
        raise CandleFileError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(".parquet") or name.endswith(".pq"):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".gz", ".txt")):
            return pd.read_csv(path)
    except (ValueError, OSError, ImportError) as exc:  # empty, not UTF-8, not CSV/Parquet, unreadable
        raise CandleFileError(f"{path}: cannot be read as a candle file ({type(exc).__name__}: {exc})") from None
    raise CandleFileError(f"{path}: unsupported file type; allowed: .csv, .csv.gz, .parquet")


def _parse_time(col: pd.Series, column_name: str) -> pd.DatetimeIndex:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        ts = pd.to_datetime(col)
    elif pd.api.types.is_numeric_dtype(col):
        values = col.astype("float64")
        if not values.map(math.isfinite).all():
            raise CandleFileError(f"time column {column_name!r}: empty or non-finite epoch values")
        biggest = float(values.abs().max()) if len(values) else 0.0
        unit = "ns" if biggest > 1e17 else "us" if biggest > 1e14 else "ms" if biggest > 1e11 else "s"
        try:
            ts = pd.to_datetime(col.astype("int64"), unit=unit, utc=True)
        except (ValueError, OverflowError) as exc:
            raise CandleFileError(f"time column {column_name!r}: epoch values out of range: {exc}") from None
    else:
        try:
            ts = pd.to_datetime(col, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise CandleFileError(f"time column {column_name!r}: cannot parse as ISO 8601 or epoch: {exc}") from exc
    index = pd.DatetimeIndex(ts)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns")


def to_canonical(raw: pd.DataFrame, *, symbol: str, granularity: str, origin: str = "input") -> pd.DataFrame:
    """Map a raw frame onto the canonical frame; raises CandleFileError listing the columns found."""
    import pandas as pd

    g = gran.normalize(granularity)
    found = [str(c) for c in raw.columns]
    cols = {str(c).strip().lower(): c for c in raw.columns}
    if isinstance(raw.index, pd.DatetimeIndex) and not any(c in cols for c in TIME_COLUMNS):
        raw = raw.reset_index(names="timestamp")
        cols["timestamp"] = "timestamp"

    tf_col = next((cols[c] for c in TIMEFRAME_COLUMNS if c in cols), None)
    if tf_col is not None:
        available = sorted({str(v) for v in raw[tf_col].unique()})
        raw = raw[raw[tf_col].astype(str) == g]
        if raw.empty:
            raise CandleFileError(f"{origin}: no rows with {tf_col}={g!r}; timeframes in file: {available}")

    time_col = next((cols[c] for c in TIME_COLUMNS if c in cols), None)
    missing = [c for c in PRICE_COLUMNS if c not in cols]
    base = base_asset(symbol)
    volume_col = cols.get("volume", cols.get(f"volume_{base}"))
    if volume_col is None:
        candidates = [c for c in cols if c.startswith("volume_")]
        if len(candidates) == 1:
            volume_col = cols[candidates[0]]
    problems = []
    if time_col is None:
        problems.append(f"a time column (one of {list(TIME_COLUMNS)})")
    if missing:
        problems.append(f"price columns {missing}")
    if volume_col is None:
        problems.append(f"a volume column ('volume' or 'volume_{base}')")
    if problems:
        raise CandleFileError(f"{origin}: cannot map to candles: missing {'; '.join(problems)}; columns found: {found}")

    assert time_col is not None and volume_col is not None
    index = _parse_time(raw[time_col], str(time_col))
    out = pd.DataFrame(
        {name: pd.to_numeric(raw[cols[name]], errors="coerce").to_numpy("float64") for name in PRICE_COLUMNS},
        index=index,
    )
    out["volume"] = pd.to_numeric(raw[volume_col], errors="coerce").to_numpy("float64")
    out.index.name = "timestamp"
    bad = out[list(PRICE_COLUMNS)].isna().any(axis=1)
    if bad.any():
        first = out.index[bad.to_numpy()][0]
        raise CandleFileError(f"{origin}: {int(bad.sum())} row(s) with non-numeric prices, first at {first}")
    out["volume"] = out["volume"].fillna(0.0)
    _check_values(out, origin)
    out = out.sort_index()
    out = out[~out.index.duplicated(keep="last")]
    _check_spacing(out, g, origin)
    return out


def _check_values(df: pd.DataFrame, origin: str) -> None:
    """Bars a strategy may trust: at least one; prices finite and > 0, high >= low; volume finite, >= 0."""
    import numpy as np

    if df.empty:
        raise CandleFileError(f"{origin}: no bars (a header without rows)")
    prices = df[list(PRICE_COLUMNS)].to_numpy("float64")
    bad = ~(np.isfinite(prices) & (prices > 0)).all(axis=1)
    bad |= ~(np.isfinite(df["volume"].to_numpy("float64")) & (df["volume"].to_numpy("float64") >= 0))
    bad |= (df["high"] < df["low"]).to_numpy()
    if bad.any():
        first = df.index[bad][0]
        raise CandleFileError(
            f"{origin}: {int(bad.sum())} bar(s) with a price that is not a positive finite number, a negative "
            f"or infinite volume, or high < low; first at {first}"
        )


def _check_spacing(df: pd.DataFrame, granularity: str, origin: str) -> None:
    """Catch a wrong --granularity: the most common bar spacing must equal it."""
    if len(df) < 3:
        return
    diffs = df.index.to_series().diff().dropna().dt.total_seconds()
    mode = int(diffs.mode().iloc[0])
    expected = gran.seconds(granularity)
    if mode != expected:
        raise CandleFileError(
            f"{origin}: bars are {mode}s apart but granularity {granularity!r} means {expected}s; "
            f"pass the matching --granularity"
        )


def load_candle_file(path: str | Path, *, symbol: str, granularity: str) -> pd.DataFrame:
    p = Path(path)
    return to_canonical(_read_raw(p), symbol=symbol, granularity=granularity, origin=str(p))


def detect_granularity(path: str | Path) -> str:
    """The granularity a single-timeframe file is spaced at (most common gap between bars)."""
    p = Path(path)
    raw = _read_raw(p)
    cols = {str(c).strip().lower(): c for c in raw.columns}
    if any(c in cols for c in TIMEFRAME_COLUMNS):
        tf = next(cols[c] for c in TIMEFRAME_COLUMNS if c in cols)
        raise CandleFileError(f"{p} holds several timeframes {sorted(map(str, raw[tf].unique()))}; pass --granularity")
    time_col = next((cols[c] for c in TIME_COLUMNS if c in cols), None)
    if time_col is None:
        raise CandleFileError(f"{p}: no time column (one of {list(TIME_COLUMNS)}); columns found: {list(raw.columns)}")
    index = _parse_time(raw[time_col], str(time_col)).sort_values()
    if len(index) < 2:
        raise CandleFileError(f"{p}: fewer than 2 bars; pass --granularity")
    step = int(index.to_series().diff().dropna().dt.total_seconds().mode().iloc[0])
    try:
        return gran.normalize(str(step))
    except ValueError:
        raise CandleFileError(f"{p}: bars are {step}s apart, which is no known granularity") from None
