"""Parquet candles straight into `Bars` with pyarrow and numpy, without importing pandas.

pandas costs about half a second to import; a CLI backtest on a Parquet file (or the store, which is
Parquet) does not need it. Files that are not plain candle tables (several timeframes, unsorted or
duplicate times, unknown columns) return None and take the pandas importer instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gpt_trader.features.backtest.bars import Bars

_TIME = ("timestamp", "date", "datetime", "time", "open_time", "__index_level_0__")
_PRICES = ("open", "high", "low", "close")


def _epoch_ns(values: np.ndarray) -> np.ndarray:
    biggest = float(np.abs(values).max()) if values.size else 0.0
    scale = 1 if biggest > 1e17 else 1_000 if biggest > 1e14 else 1_000_000 if biggest > 1e11 else 1_000_000_000
    return values.astype(np.int64) * scale


_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _int64_values(chunk: Any) -> np.ndarray:
    """The 64-bit values of a null-free fixed-width chunk, straight from its data buffer."""
    data = chunk.buffers()[1]
    return np.frombuffer(data, dtype=np.int64, count=len(chunk), offset=chunk.offset * 8).copy()


def _float_column(column: Any) -> np.ndarray | None:
    import pyarrow as pa

    if column.type != pa.float64() or column.null_count:
        return None
    parts = [np.frombuffer(c.buffers()[1], dtype=np.float64, count=len(c), offset=c.offset * 8) for c in column.chunks]
    return np.concatenate(parts) if parts else np.empty(0)


def _time_ns(column: Any) -> np.ndarray | None:
    """int64 ns since the epoch; views the raw integers (pyarrow.compute would import pandas)."""
    import pyarrow as pa

    typ = column.type
    if pa.types.is_timestamp(typ):
        if typ.tz is not None and typ.tz.upper() not in ("UTC", "+00:00", "Z", "ETC/UTC"):
            return None
        if column.null_count:
            return None
        parts = [_int64_values(chunk) for chunk in column.chunks]
        raw = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        return raw * _UNIT_NS[typ.unit]
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        if column.null_count or (pa.types.is_integer(typ) and typ.bit_width != 64):
            return None
        dtype = np.int64 if pa.types.is_integer(typ) else np.float64
        parts = [np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * 8) for c in column.chunks]
        return _epoch_ns(np.concatenate(parts) if parts else np.empty(0, dtype=dtype))
    return None


def read_parquet_bars(
    path: Path, symbol: str, granularity_s: int | None, start_ns: int | None = None, end_ns: int | None = None
) -> Bars | None:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()  # read_table would load pyarrow.dataset, which imports pandas
    cols = {name.strip().lower(): name for name in table.column_names}
    if "timeframe" in cols or "interval" in cols:
        return None
    time_name = next((cols[c] for c in _TIME if c in cols), None)
    if time_name is None or any(c not in cols for c in _PRICES):
        return None
    base = symbol.split("-")[0].lower()
    vol_name = cols.get("volume", cols.get(f"volume_{base}"))
    if vol_name is None:
        return None
    ts = _time_ns(table.column(time_name))
    if ts is None or ts.size < 2 or not bool(np.all(np.diff(ts) > 0)):
        return None
    arrays = {}
    for name in _PRICES:
        arr = _float_column(table.column(cols[name]))
        if arr is None:
            return None
        if np.isnan(arr).any():
            return None
        arrays[name] = arr
    volume = _float_column(table.column(vol_name))
    if volume is None:
        return None
    step = granularity_s
    if step is None:
        diffs, counts = np.unique(np.diff(ts), return_counts=True)
        step = int(diffs[np.argmax(counts)] // 1_000_000_000)
    lo = 0 if start_ns is None else int(np.searchsorted(ts, start_ns, side="left"))
    hi = ts.size if end_ns is None else int(np.searchsorted(ts, end_ns, side="left"))
    if hi <= lo:
        raise ValueError(f"no bars for {symbol} in the requested range")
    sl = slice(lo, hi)
    return Bars(
        symbol=symbol,
        ts_ns=np.ascontiguousarray(ts[sl]),
        open=np.ascontiguousarray(arrays["open"][sl]),
        high=np.ascontiguousarray(arrays["high"][sl]),
        low=np.ascontiguousarray(arrays["low"][sl]),
        close=np.ascontiguousarray(arrays["close"][sl]),
        volume=np.ascontiguousarray(volume[sl]),
        granularity_s=step,
        funding=np.zeros(hi - lo),
    )
