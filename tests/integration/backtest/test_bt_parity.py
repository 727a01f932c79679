"""Parity (DESIGN §1.2): on every shared OHLCV file, for every shipped strategy, the fast engine and the
replay engine produce the same trades (times exact, prices and sizes to the increment) and final equity
within 1e-9 relative."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from btint_helpers import SHARED_FILES, assert_parity, shared_bars

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.live_trade.strategies import default_strategies, get_strategy

pytestmark = pytest.mark.slow
STRATEGIES = default_strategies()  # every shipped strategy, vectorized or decide-only


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("file", SHARED_FILES, ids=lambda f: f[0].split("_")[0] + "_" + f[2])
def test_fast_and_replay_agree(name: str, file: tuple[str, str, str]) -> None:
    bars = shared_bars(*file)
    strategy = get_strategy(name)
    fast = run_backtest(bars, strategy, BacktestConfig(), "fast")
    replay = run_backtest(bars, strategy, BacktestConfig(), "replay")
    assert_parity(fast, replay)


CONFIGS = {
    "slippage_half_size": BacktestConfig(slippage_bps=Decimal("7.5"), size_pct=Decimal(50), fee_bps=Decimal(25)),
    "guards": BacktestConfig(
        slippage_bps=Decimal(3),
        stop_loss_pct=Decimal("1.5"),
        take_profit_pct=Decimal(3),
        max_daily_loss_pct=Decimal(2),
        max_drawdown_pct=Decimal(40),
        fee_bps=Decimal(10),
    ),
    "fixed_qty": BacktestConfig(size_pct=None, size_qty=Decimal("0.05"), fee_bps=Decimal(40)),
    # intrabar protective exits (pricing.intrabar_exit): a trailing stop under a fixed stop and a target
    "trailing": BacktestConfig(
        slippage_bps=Decimal(2),
        stop_loss_pct=Decimal(3),
        take_profit_pct=Decimal(4),
        trailing_pct=Decimal("1.2"),
        fee_bps=Decimal(20),
    ),
    # post-only limit entries 10 bps under the signal close, 3 bars to fill, maker fee, with a bracket
    "limit_entries": BacktestConfig(
        entry_limit_bps=Decimal(10),
        entry_timeout_bars=3,
        maker_fee_bps=Decimal(25),
        fee_bps=Decimal(60),
        stop_loss_pct=Decimal(2),
        take_profit_pct=Decimal(3),
    ),
}


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("file", [SHARED_FILES[0], SHARED_FILES[3]], ids=lambda f: f[0].split("_")[0])
def test_parity_under_slippage_sizing_and_guards(config_name: str, name: str, file: tuple[str, str, str]) -> None:
    bars = shared_bars(*file)
    strategy = get_strategy(name, **({"fast": 10, "slow": 30} if name == "sma_cross" else {}))
    cfg = CONFIGS[config_name]
    fast = run_backtest(bars, strategy, cfg, "fast")
    replay = run_backtest(bars, strategy, cfg, "replay")
    assert_parity(fast, replay)
    if config_name == "guards":
        assert fast.rules_acted, "the guard configuration should make at least one rule act"
    if config_name == "trailing" and fast.trades:
        assert fast.rules_acted.get("trailing_stop"), "the trailing stop should act on real data"
    if config_name == "limit_entries" and fast.trades:
        assert fast.rules_acted.get("limit_entry_filled") == len(fast.trades)


def test_coinbase_product_definition_is_used_for_coinbase_symbols() -> None:
    """BTC-USD backtests use the catalog's BTC-USD product (quote_min_size 1) in both engines."""
    bars = shared_bars(*SHARED_FILES[3])
    cfg = BacktestConfig()
    assert cfg.product_for("BTC-USD").quote_min_size == Decimal(1)
    assert cfg.product_for("BTCUSDT").base_increment == Decimal("0.00000001")
    assert_parity(
        run_backtest(bars, get_strategy("sma_cross"), cfg, "fast"),
        run_backtest(bars, get_strategy("sma_cross"), cfg, "replay"),
    )


def test_parity_with_real_funding_on_the_perp_file() -> None:
    """FTX BTC-PERP bars with Binance BTC-USDT funding (UTC file): both engines charge the same funding."""
    from gpt_trader.features.backtest.bars import Bars
    from gpt_trader.features.data.funding import load_funding

    base = shared_bars(*SHARED_FILES[4])
    funding = load_funding(
        "/work/shared/data/market/funding/funding_rates_BTC-ETH-USDT-perps_7-venues_utc.csv.gz",
        exchange="binance",
        symbol="BTC-USDT",
    )
    import pandas as pd

    df = pd.DataFrame(
        {"open": base.open, "high": base.high, "low": base.low, "close": base.close, "volume": base.volume},
        index=pd.to_datetime(base.ts_ns, utc=True),
    )
    bars = Bars.from_frame(df, base.symbol, base.granularity_s, funding=funding)
    assert np.count_nonzero(bars.funding) == 94  # 8-hourly, 2022-01-01T00:00 .. 2022-02-01T00:00
    strategy = get_strategy("mean_reversion", window=60, entry_pct=1.0)
    fast = run_backtest(bars, strategy, BacktestConfig(fee_bps=Decimal(5)), "fast")
    replay = run_backtest(bars, strategy, BacktestConfig(fee_bps=Decimal(5)), "replay")
    assert_parity(fast, replay)
    assert fast.total_funding != 0.0 and abs(fast.total_funding - replay.total_funding) < 1e-9
