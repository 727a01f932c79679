"""Cross-check against an independent engine (vectorbt): same sma_cross trades and final equity within
1e-6 relative on the shared real data. vectorbt does not round notional and fees to the cent like the
venue does, so the fast engine runs with `venue_rounding=False` here."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from btint_helpers import SHARED_FILES, shared_bars

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.live_trade.strategies import get_strategy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("params", "fee_bps"), [({}, 60), ({"fast": 10, "slow": 30}, 10)])
@pytest.mark.parametrize("file", SHARED_FILES, ids=lambda f: f[0].split("_")[0] + "_" + f[2])
def test_sma_cross_matches_vectorbt(file: tuple[str, str, str], params: dict[str, int], fee_bps: int) -> None:
    vbt = pytest.importorskip("vectorbt")
    bars = shared_bars(*file)
    strategy = get_strategy("sma_cross", **params)
    cash = 1_000_000.0  # large enough that whole-satoshi sizes stay negligible after heavy fee drag
    cfg = BacktestConfig(initial_cash=Decimal(int(cash)), fee_bps=Decimal(fee_bps), venue_rounding=False)
    ours = run_backtest(bars, strategy, cfg, "fast")

    idx = pd.to_datetime(bars.ts_ns, utc=True)
    entries, exits = strategy.signals(bars.close)
    e_next = pd.Series(entries, index=idx).shift(1, fill_value=False)  # decided on t's close, filled at t+1
    x_next = pd.Series(exits, index=idx).shift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(
        close=pd.Series(bars.close, index=idx),
        entries=e_next,
        exits=x_next,
        price=pd.Series(bars.open, index=idx),
        fees=fee_bps / 10_000,
        size=np.inf,
        init_cash=cash,
        direction="longonly",
        size_granularity=np.where(e_next.to_numpy(), 1e-8, np.nan),  # buys in whole satoshis; sells close all
    )
    theirs = pf.trades.records_readable
    assert len(theirs) == len(ours.trades)
    got = [(t.entry_time, t.exit_time) for t in ours.trades]
    want = [
        (r["Entry Timestamp"].to_pydatetime(), None if r["Status"] == "Open" else r["Exit Timestamp"].to_pydatetime())
        for _, r in theirs.iterrows()
    ]
    assert got == want
    for t, (_, r) in zip(ours.trades, theirs.iterrows(), strict=True):
        assert float(t.entry_price) == pytest.approx(r["Avg Entry Price"], rel=1e-12)
        # vectorbt floors sizes with float division, which can land one satoshi lower; cash paths then
        # differ by a few satoshis of value, never by a trade
        assert float(t.size) == pytest.approx(r["Size"], rel=1e-6)
    final_vbt = float(pf.value().iloc[-1])
    assert abs(ours.final_equity / final_vbt - 1.0) <= 1e-6, (ours.final_equity, final_vbt)
