"""Parquet straight to Bars (no pandas import on the CLI path) equals the pandas importer's result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bt_helpers import OHLCV

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.engine import BarSource, load_bars
from gpt_trader.features.backtest.fastload import read_parquet_bars
from gpt_trader.features.data.importer import load_candle_file
from gpt_trader.features.data.store import CandleStore


@pytest.fixture(scope="module")
def coinbase() -> pd.DataFrame:
    return load_candle_file(
        OHLCV + "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", symbol="BTC-USD", granularity="1h"
    )


def _same(a: Bars, b: Bars) -> None:
    for name in ("ts_ns", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.granularity_s == b.granularity_s and a.open.flags.writeable


def test_store_file_fast_path_matches_pandas(tmp_path: Path, coinbase: pd.DataFrame) -> None:
    store = CandleStore(tmp_path)
    store.write("cb", "BTC-USD", "1h", coinbase)
    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 2, 1, tzinfo=UTC)
    fast = load_bars(BarSource(symbol="BTC-USD", granularity="1h", store_root=tmp_path), start, end)
    ref = Bars.from_frame(coinbase[(coinbase.index >= start) & (coinbase.index < end)], "BTC-USD", 3600)
    _same(fast, ref)
    assert len(fast) == 31 * 24


def test_epoch_ms_parquet_and_inferred_granularity(tmp_path: Path, coinbase: pd.DataFrame) -> None:
    raw = coinbase.reset_index()
    raw["timestamp"] = raw["timestamp"].astype("int64") // 1_000_000  # epoch ms
    f = tmp_path / "ms.parquet"
    raw.to_parquet(f)
    bars = read_parquet_bars(f, "BTC-USD", None)
    assert bars is not None
    _same(bars, Bars.from_frame(coinbase, "BTC-USD", 3600))


def test_files_that_need_the_pandas_importer_return_none(tmp_path: Path, coinbase: pd.DataFrame) -> None:
    multi = coinbase.reset_index().assign(timeframe="1h")
    f1 = tmp_path / "multi.parquet"
    multi.to_parquet(f1)
    assert read_parquet_bars(f1, "BTC-USD", 3600) is None
    unsorted = coinbase.reset_index().iloc[::-1]
    f2 = tmp_path / "unsorted.parquet"
    unsorted.to_parquet(f2)
    assert read_parquet_bars(f2, "BTC-USD", 3600) is None
    _same(
        load_bars(BarSource(symbol="BTC-USD", granularity="1h", data_file=f2)),
        Bars.from_frame(coinbase, "BTC-USD", 3600),
    )  # the pandas importer sorts it
