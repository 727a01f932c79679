"""Shared helpers for the backtest tests (bars from arrays, a scripted strategy, trade comparison)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.result import BacktestResult
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Signals, Strategy, VectorBars

OHLCV = "/work/shared/data/market/ohlcv/"
SHARED_FILES = [
    ("binance-usdm_BTCUSDT_5m_2023-01-02_2023-02-09.csv.gz", "BTCUSDT", "5m"),
    ("binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", "BTCUSDT", "1m"),
    ("bitstamp_BTC-USD_1m_2020-01-01.csv.gz", "BTC-USD", "1m"),
    ("coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", "BTC-USD", "1h"),
    ("ftx_BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz", "BTC-PERP", "1m"),
]


def shared_bars(name: str, symbol: str, g: str) -> Bars:
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.importer import load_candle_file

    return Bars.from_frame(load_candle_file(OHLCV + name, symbol=symbol, granularity=g), symbol, gran.seconds(g))


def make_bars(
    opens: Sequence[float],
    closes: Sequence[float],
    *,
    symbol: str = "TEST-USD",
    start: str = "2024-01-01",
    freq: str = "1h",
    funding: pd.Series | None = None,
) -> Bars:
    idx = pd.date_range(start, periods=len(opens), freq=freq, tz="UTC")
    o, c = np.asarray(opens, float), np.asarray(closes, float)
    df = pd.DataFrame(
        {"open": o, "high": np.maximum(o, c), "low": np.minimum(o, c), "close": c, "volume": 1.0}, index=idx
    )
    return Bars.from_frame(df, symbol, int(pd.Timedelta(freq).total_seconds()), funding=funding)


class Scripted(Strategy):
    """Entries/exits given per bar index; `decide` reads the index from the history length."""

    name: ClassVar[str] = "scripted_test"

    def __init__(self, entries: Sequence[int], exits: Sequence[int], n: int) -> None:
        super().__init__()
        self.entries, self.exits, self.n = set(entries), set(exits), n

    @property
    def history_needed(self) -> int:
        return self.n + 1  # the whole history: len(closes) - 1 is the bar index

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        t = len(window) - 1
        if position_size > 0 and t in self.exits:
            return Decision(action=Action.CLOSE, reason="scripted exit")
        if position_size == 0 and t in self.entries:
            return Decision(action=Action.BUY, reason="scripted entry")
        return Decision.hold()

    def signals(self, bars: VectorBars) -> Signals:
        n = len(bars.close)
        e = np.zeros(n, bool)
        x = np.zeros(n, bool)
        e[[i for i in self.entries if i < n]] = True
        x[[i for i in self.exits if i < n]] = True
        return Signals(e, x)


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
