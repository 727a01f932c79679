"""Helpers for the parity and cross-check tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.result import BacktestResult

OHLCV = "/work/shared/data/market/ohlcv/"
SHARED_FILES = [
    ("binance-usdm_BTCUSDT_5m_2023-01-02_2023-02-09.csv.gz", "BTCUSDT", "5m"),
    ("binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", "BTCUSDT", "1m"),
    ("bitstamp_BTC-USD_1m_2020-01-01.csv.gz", "BTC-USD", "1m"),
    ("coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", "BTC-USD", "1h"),
    ("ftx_BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz", "BTC-PERP", "1m"),
]
_CACHE: dict[tuple[str, str, str], Bars] = {}


def shared_bars(name: str, symbol: str, g: str) -> Bars:
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.importer import load_candle_file

    key = (name, symbol, g)
    if key not in _CACHE:
        df = load_candle_file(OHLCV + name, symbol=symbol, granularity=g)
        _CACHE[key] = Bars.from_frame(df, symbol, gran.seconds(g))
    return _CACHE[key]


def trade_keys(result: BacktestResult) -> list[tuple[Any, ...]]:
    return [(t.entry_time, t.exit_time, t.size, t.entry_price, t.exit_price) for t in result.trades]


def assert_parity(a: BacktestResult, b: BacktestResult) -> None:
    assert trade_keys(a) == trade_keys(b)
    assert abs(a.final_equity / b.final_equity - 1.0) <= 1e-9, (a.final_equity, b.final_equity)
    for ta, tb in zip(a.trades, b.trades, strict=True):
        assert abs(ta.fees - tb.fees) <= 1e-6 and abs(ta.pnl - tb.pnl) <= 1e-6 * max(1.0, abs(tb.pnl))
    assert a.rules_acted == b.rules_acted
    assert abs(a.maker_fees - b.maker_fees) <= 1e-6 * max(1.0, abs(b.maker_fees)), (a.maker_fees, b.maker_fees)
    np.testing.assert_allclose(a.equity, b.equity, rtol=1e-9)
