"""Parquet candle store: `<root>/<source>/<symbol>/<granularity>/candles.parquet`, UTC bar-open times.

One file per series keeps reads to a single open; writes merge with what is stored (new rows win) and
replace the file atomically, so an interrupted download never leaves a torn file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gpt_trader.features.data import granularity as gran
from gpt_trader.features.data.importer import CANONICAL_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ROOT = Path("var/data/market")
FILE_NAME = "candles.parquet"


@dataclass(frozen=True)
class SeriesKey:
    source: str
    symbol: str
    granularity: str


class CandleStore:
    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def path(self, source: str, symbol: str, granularity: str) -> Path:
        for label, value in (("source", source), ("symbol", symbol)):
            if not value or "/" in value or value.startswith("."):
                raise ValueError(f"invalid {label} {value!r}: must be non-empty, without '/' or a leading '.'")
        return self.root / source / symbol / gran.normalize(granularity) / FILE_NAME

    def write(self, source: str, symbol: str, granularity: str, df: pd.DataFrame) -> int:
        """Merge `df` (canonical frame) into the stored series; returns the stored row count."""
        import pandas as pd

        missing = [c for c in CANONICAL_COLUMNS if c not in df.columns]
        if missing or not isinstance(df.index, pd.DatetimeIndex):
            raise ValueError(f"not a canonical candle frame: missing {missing}, index {type(df.index).__name__}")
        path = self.path(source, symbol, granularity)
        new = df[list(CANONICAL_COLUMNS)].astype("float64")
        new.index = _utc_ns(new.index)
        if path.exists():
            old = self.read(source, symbol, granularity)
            merged = pd.concat([old, new])
            merged = merged[~merged.index.duplicated(keep="last")].sort_index()
        else:
            merged = new.sort_index()
        merged.index.name = "timestamp"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        merged.to_parquet(tmp, engine="pyarrow")
        os.replace(tmp, path)
        return len(merged)

    def read(
        self,
        source: str,
        symbol: str,
        granularity: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Bars with start <= open time < end."""
        import pandas as pd

        path = self.path(source, symbol, granularity)
        if not path.exists():
            have = [f"{k.source}/{k.symbol}/{k.granularity}" for k in self.series()]
            raise FileNotFoundError(
                f"no stored candles for {source}/{symbol}/{granularity} under {self.root}; stored series: {have}"
            )
        df = pd.read_parquet(path, engine="pyarrow")
        df.index = _utc_ns(df.index)
        df.index.name = "timestamp"
        if start is not None:
            df = df[df.index >= _utc_ts(start)]
        if end is not None:
            df = df[df.index < _utc_ts(end)]
        return df

    # ------------------------------------------------------------------ funding (perps)
    def funding_path(self, source: str, symbol: str) -> Path:
        return self.path(source, symbol, "1h").parent.parent / "funding" / "funding.parquet"

    def write_funding(self, source: str, symbol: str, rates: pd.Series) -> int:
        """Merge a funding series (UTC settlement time -> rate per interval); returns the stored count."""
        import pandas as pd

        new = pd.Series(rates.to_numpy("float64"), index=_utc_ns(rates.index), name="funding_rate")
        path = self.funding_path(source, symbol)
        if path.exists():
            merged = pd.concat([self.read_funding(source, symbol), new])
            new = merged[~merged.index.duplicated(keep="last")]
        frame = new.sort_index().to_frame()
        frame.index.name = "funding_time"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, engine="pyarrow")
        os.replace(tmp, path)
        return len(frame)

    def read_funding(self, source: str, symbol: str) -> pd.Series:
        import pandas as pd

        path = self.funding_path(source, symbol)
        if not path.exists():
            raise FileNotFoundError(f"no stored funding for {source}/{symbol} under {self.root}")
        frame = pd.read_parquet(path, engine="pyarrow")
        series = frame["funding_rate"]
        series.index = _utc_ns(series.index)
        series.index.name = "funding_time"
        return series

    def last_timestamp(self, source: str, symbol: str, granularity: str) -> datetime | None:
        path = self.path(source, symbol, granularity)
        if not path.exists():
            return None
        df = self.read(source, symbol, granularity)
        return None if df.empty else df.index[-1].to_pydatetime()

    def series(self) -> list[SeriesKey]:
        if not self.root.exists():
            return []
        keys = []
        for file in sorted(self.root.glob(f"*/*/*/{FILE_NAME}")):
            g_dir = file.parent
            keys.append(SeriesKey(source=g_dir.parent.parent.name, symbol=g_dir.parent.name, granularity=g_dir.name))
        return keys

    def find_sources(self, symbol: str, granularity: str) -> list[str]:
        g = gran.normalize(granularity)
        return [k.source for k in self.series() if k.symbol == symbol and k.granularity == g]


def _utc_ns(index: object) -> pd.DatetimeIndex:
    import pandas as pd

    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns")


def _utc_ts(value: datetime) -> pd.Timestamp:
    import pandas as pd

    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
