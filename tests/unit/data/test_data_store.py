"""Parquet store, gaps, resampling, funding and granularity names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpt_trader.features.data import granularity as gran
from gpt_trader.features.data.funding import load_funding
from gpt_trader.features.data.gaps import find_gaps
from gpt_trader.features.data.importer import load_candle_file
from gpt_trader.features.data.resample import resample
from gpt_trader.features.data.store import CandleStore

MARKET = Path("/work/shared/data/market")


def _frame(start: str, n: int, freq: str = "1min", base: float = 100.0) -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    close = base + np.arange(n, dtype=float)
    return pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0}, index=idx)


def test_store_round_trip_merge_and_range(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    assert store.write("src", "BTC-USD", "1m", _frame("2024-01-01", 10)) == 10
    newer = _frame("2024-01-01 00:05", 10, base=500.0)  # overlaps 5 bars; new rows win
    assert store.write("src", "BTC-USD", "1m", newer) == 15
    df = store.read("src", "BTC-USD", "1m")
    assert len(df) == 15 and df.index.is_monotonic_increasing
    assert df.loc[pd.Timestamp("2024-01-01 00:05", tz="UTC"), "close"] == 500.0
    assert df.loc[pd.Timestamp("2024-01-01 00:04", tz="UTC"), "close"] == 104.0
    part = store.read(
        "src",
        "BTC-USD",
        "1m",
        start=pd.Timestamp("2024-01-01 00:02", tz="UTC"),
        end=pd.Timestamp("2024-01-01 00:04", tz="UTC"),
    )
    assert len(part) == 2
    assert store.path("src", "BTC-USD", "ONE_MINUTE") == tmp_path / "src" / "BTC-USD" / "1m" / "candles.parquet"
    assert [(k.source, k.symbol, k.granularity) for k in store.series()] == [("src", "BTC-USD", "1m")]
    assert store.find_sources("BTC-USD", "1m") == ["src"]
    assert store.last_timestamp("src", "BTC-USD", "1m") == pd.Timestamp("2024-01-01 00:14", tz="UTC")
    assert not list(tmp_path.rglob("*.tmp"))


def test_store_errors(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    with pytest.raises(FileNotFoundError, match="no stored candles for x/BTC-USD/1m"):
        store.read("x", "BTC-USD", "1m")
    with pytest.raises(ValueError, match="invalid symbol"):
        store.path("x", "../etc", "1m")
    with pytest.raises(ValueError, match="not a canonical candle frame"):
        store.write("x", "BTC-USD", "1m", pd.DataFrame({"open": [1.0]}))


def test_gap_report() -> None:
    df = _frame("2024-01-01", 10)
    holes = df.drop(df.index[[3, 4, 7]])
    report = find_gaps(holes.index, 60)
    assert report.missing_bars == 3 and report.expected_bars == 10 and report.bars == 7
    assert [g.missing_bars for g in report.gaps] == [2, 1]
    assert report.gaps[0].after == pd.Timestamp("2024-01-01 00:02", tz="UTC")
    assert not report.complete
    gaps = report.to_dict()["gaps"]
    assert isinstance(gaps, list) and gaps[1]["missing_bars"] == 1
    assert find_gaps(df.index, 60).complete


def test_shared_file_gap_is_found() -> None:
    df = load_candle_file(
        MARKET / "ohlcv/binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", symbol="BTCUSDT", granularity="1m"
    )
    report = find_gaps(df.index, 60)
    assert report.missing_bars == 1
    assert report.gaps[0].before == pd.Timestamp("2018-04-28 10:13", tz="UTC")


def test_resample_matches_the_venue_5m_bars() -> None:
    """Aggregating Binance's 1m bars reproduces its own 5m bars wherever all five minutes exist."""
    f = MARKET / "ohlcv/binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz"
    m1 = load_candle_file(f, symbol="BTCUSDT", granularity="1m")
    m5 = load_candle_file(f, symbol="BTCUSDT", granularity="5m")
    r5 = resample(m1, "1m", "5m")
    counts = m1["close"].resample("5min", origin="epoch").count()
    full = counts[counts == 5].index.intersection(m5.index)[:-1]  # the venue's last bar was still forming
    assert len(full) > 80
    pd.testing.assert_frame_equal(
        r5.loc[full, ["open", "high", "low", "close"]],
        m5.loc[full, ["open", "high", "low", "close"]],
        check_freq=False,
    )
    assert np.allclose(r5.loc[full, "volume"], m5.loc[full, "volume"], rtol=1e-6)


def test_resample_refuses_finer_target() -> None:
    with pytest.raises(ValueError, match="multiple of the source"):
        resample(_frame("2024-01-01", 10), "5m", "1m")


def test_resample_drops_empty_buckets() -> None:
    df = _frame("2024-01-01", 30)
    holes = df.drop(df.index[10:20])
    out = resample(holes, "1m", "5m")
    assert len(out) == 4  # buckets 00:10 and 00:15 had no bars


def test_funding_series() -> None:
    f = MARKET / "funding/funding_rates_BTC-ETH-USDT-perps_7-venues_utc.csv.gz"
    s = load_funding(f, exchange="binance", symbol="BTC-USDT")
    assert s.index[0] == pd.Timestamp("2020-01-01T00:00:00Z")
    assert s.iloc[0] == pytest.approx(-0.00012359)
    assert s.index.is_monotonic_increasing
    with pytest.raises(ValueError, match="pass exchange"):
        load_funding(f)
    with pytest.raises(ValueError, match="no rows for exchange 'nope'"):
        load_funding(f, exchange="nope")


@pytest.mark.parametrize(
    ("value", "name", "secs"),
    [("1m", "1m", 60), ("ONE_HOUR", "1h", 3600), ("1H", "1h", 3600), ("300", "5m", 300), ("1d", "1d", 86400)],
)
def test_granularity_names(value: str, name: str, secs: int) -> None:
    assert gran.normalize(value) == name and gran.seconds(value) == secs


def test_granularity_errors() -> None:
    with pytest.raises(ValueError, match="unknown granularity '7m'"):
        gran.normalize("7m")
    with pytest.raises(ValueError, match="not offered by the Coinbase candles endpoint"):
        gran.coinbase_name("3m")
    assert gran.coinbase_name("4h") == "FOUR_HOUR"


def test_funding_series_in_the_store(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    s = load_funding(
        MARKET / "funding/funding_rates_BTC-ETH-USDT-perps_7-venues_utc.csv.gz", exchange="binance", symbol="BTC-USDT"
    )
    assert store.write_funding("binance", "BTC-USDT", s.iloc[:100]) == 100
    assert store.write_funding("binance", "BTC-USDT", s.iloc[50:200]) == 200
    back = store.read_funding("binance", "BTC-USDT")
    pd.testing.assert_series_equal(back, s.iloc[:200], check_names=False, check_freq=False)
    assert (
        store.funding_path("binance", "BTC-USDT") == tmp_path / "binance" / "BTC-USDT" / "funding" / "funding.parquet"
    )
    with pytest.raises(FileNotFoundError, match="no stored funding"):
        store.read_funding("x", "BTC-USDT")
