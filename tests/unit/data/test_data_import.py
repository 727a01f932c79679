"""Importer: every shared OHLCV file maps; column and time variants; clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gpt_trader.features.data.importer import (
    CandleFileError,
    base_asset,
    detect_granularity,
    load_candle_file,
)

OHLCV = Path("/work/shared/data/market/ohlcv")
SHARED = [
    ("binance-usdm_BTCUSDT_5m_2023-01-02_2023-02-09.csv.gz", "BTCUSDT", "5m", 10_999, "2023-01-02T16:45:00"),
    ("binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", "BTCUSDT", "1m", 502, "2018-04-28T01:52:00"),
    ("binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", "BTCUSDT", "1h", 500, "2018-04-07T15:00:00"),
    ("bitstamp_BTC-USD_1m_2020-01-01.csv.gz", "BTC-USD", "1m", 1_440, "2020-01-01T00:00:00"),
    ("coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", "BTC-USD", "1h", 13_165, "2017-07-01T11:00:00"),
    ("ftx_BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz", "BTC-PERP", "1m", 45_031, "2021-12-31T23:01:00"),
]


@pytest.mark.parametrize(("name", "symbol", "g", "rows", "first"), SHARED)
def test_every_shared_file_imports(name: str, symbol: str, g: str, rows: int, first: str) -> None:
    df = load_candle_file(OHLCV / name, symbol=symbol, granularity=g)
    assert len(df) == rows
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert str(df.index.tz) == "UTC"
    assert df.index[0] == pd.Timestamp(first, tz="UTC")
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert (df["high"] >= df["low"]).all()


def test_shared_files_cover_the_directory() -> None:
    assert {n for n, *_ in SHARED} == {p.name for p in OHLCV.glob("*.csv.gz")}


def test_volume_base_column_is_chosen_over_quote_volume() -> None:
    df = load_candle_file(
        OHLCV / "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", symbol="BTC-USD", granularity="1h"
    )
    assert df["volume"].iloc[0] == pytest.approx(114.6)  # volume_btc, not volume_usd 287000.32


def test_unmappable_file_lists_columns(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("when,a,b,c\n2020-01-01,1,2,3\n")
    with pytest.raises(CandleFileError) as err:
        load_candle_file(f, symbol="BTC-USD", granularity="1m")
    msg = str(err.value)
    assert "columns found: ['when', 'a', 'b', 'c']" in msg
    assert "time column" in msg and "price columns" in msg and "volume" in msg


@pytest.mark.parametrize(("col", "scale"), [("time", 1), ("timestamp", 1000)])
def test_epoch_seconds_and_millis(tmp_path: Path, col: str, scale: int) -> None:
    f = tmp_path / "e.csv"
    rows = [f"{(1_600_000_000 + 60 * i) * scale},1,2,0.5,1.5,10" for i in range(5)]
    f.write_text(f"{col},open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    df = load_candle_file(f, symbol="BTC-USD", granularity="1m")
    assert df.index[0] == pd.Timestamp(1_600_000_000, unit="s", tz="UTC")
    assert len(df) == 5


def test_parquet_input_and_naive_times_are_utc(tmp_path: Path) -> None:
    idx = pd.date_range("2024-01-01", periods=4, freq="5min")
    raw = pd.DataFrame({"datetime": idx, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume_eth": 3.0})
    f = tmp_path / "p.parquet"
    raw.to_parquet(f)
    df = load_candle_file(f, symbol="ETH-USD", granularity="5m")
    assert df.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert df["volume"].tolist() == [3.0] * 4


def test_wrong_granularity_is_refused() -> None:
    with pytest.raises(CandleFileError, match="3600s apart but granularity '1m'"):
        load_candle_file(OHLCV / "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", symbol="BTC-USD", granularity="1m")


def test_multi_timeframe_missing_timeframe_lists_available() -> None:
    with pytest.raises(CandleFileError, match="timeframes in file"):
        load_candle_file(
            OHLCV / "binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", symbol="BTCUSDT", granularity="6h"
        )


def test_detect_granularity() -> None:
    assert detect_granularity(OHLCV / "bitstamp_BTC-USD_1m_2020-01-01.csv.gz") == "1m"
    with pytest.raises(CandleFileError, match="several timeframes"):
        detect_granularity(OHLCV / "binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz")


def test_unsupported_extension(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text("{}")
    with pytest.raises(CandleFileError, match="unsupported file type"):
        load_candle_file(f, symbol="BTC-USD", granularity="1m")


@pytest.mark.parametrize(
    ("symbol", "base"), [("BTC-USD", "btc"), ("BTCUSDT", "btc"), ("BTC-PERP", "btc"), ("eth/usd", "eth")]
)
def test_base_asset(symbol: str, base: str) -> None:
    assert base_asset(symbol) == base
