"""Tier-based portfolio: a 10-symbol backtest sharing one cash balance, fast and replay engines agreeing
trade for trade (tier changes included); tier rules, hysteresis and their errors."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

import msgspec
import numpy as np
import pytest

from gpt_trader.features.adaptive_portfolio.engine import run_portfolio
from gpt_trader.features.adaptive_portfolio.result import PortfolioResult
from gpt_trader.features.adaptive_portfolio.universe import Universe
from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig, resolve_product
from gpt_trader.features.brokerages.core.interfaces import ProductType
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.data.synth import synth_candles
from gpt_trader.features.live_trade.strategies import get_strategy
from gpt_trader.features.live_trade.tiers import DEFAULT_TIERS, Tier, TierTable, TierTracker, load_tiers

SPOT = [p.symbol for p in default_products() if not p.is_perpetual]


@cache
def universe(bars: int = 3000) -> Universe:
    assert len(SPOT) == 10
    return Universe.aligned([Bars.from_frame(synth_candles(s, "1h", bars, seed=11), s, 3600) for s in SPOT])


def assert_same(fast: PortfolioResult, replay: PortfolioResult) -> None:
    assert [t.key() for t in fast.trades] == [t.key() for t in replay.trades]
    for a, b in zip(fast.trades, replay.trades, strict=True):
        assert abs(a.fees - b.fees) <= 1e-6
    assert [(e.k, e.previous, e.tier) for e in fast.tier_events] == [
        (e.k, e.previous, e.tier) for e in replay.tier_events
    ]
    assert fast.counters == replay.counters
    np.testing.assert_allclose(fast.equity, replay.equity, rtol=1e-9)
    assert abs(fast.final_equity / replay.final_equity - 1.0) <= 1e-9


@pytest.mark.parametrize("name", ["sma_cross", "rsi_reversion"])
def test_ten_symbol_portfolio_with_tiers_fast_equals_replay(name: str) -> None:
    u = universe()
    cfg = BacktestConfig(initial_cash=Decimal(9500), fee_bps=Decimal(10), slippage_bps=Decimal(2))
    strategy = get_strategy(name)
    fast = run_portfolio(u, strategy, cfg, engine="fast")
    replay = run_portfolio(u, strategy, cfg, engine="replay")
    assert_same(fast, replay)
    assert len({t.symbol for t in fast.trades}) == 10 and len(fast.trades) > 100
    assert fast.counters.get("entry_blocked_slots", 0) > 0  # the tier's slot limit really bit
    if name == "rsi_reversion":
        assert [e.tier for e in fast.tier_events][:2] == ["medium", "small"]  # up through 10k, then back down


def test_slot_limit_and_sizing_method() -> None:
    u = universe()
    one = TierTable(
        tiers=[
            Tier(
                name="only",
                min_equity=Decimal(0),
                max_positions=2,
                risk_per_trade_pct=Decimal(30),
                sizing="equal_weight",
            )
        ]
    )
    cfg = BacktestConfig(initial_cash=Decimal(20_000), fee_bps=Decimal(10))
    fast = run_portfolio(u, get_strategy("sma_cross", fast=10, slow=30), cfg, one, engine="fast")
    assert_same(fast, run_portfolio(u, get_strategy("sma_cross", fast=10, slow=30), cfg, one, engine="replay"))
    n = len(u)
    held = np.zeros(n, dtype=int)
    for t in fast.trades:
        held[t.entry_k : (t.exit_k if t.exit_k is not None else n)] += 1
        # equal weight: half of equity at the decision (never more than the cash left)
        assert t.size * t.entry_price <= Decimal(fast.equity[t.entry_k - 1]) / 2 * Decimal("1.0001")
    assert held.max() == 2


def test_tier_rules_hysteresis_and_errors() -> None:
    tracker = TierTracker(DEFAULT_TIERS, equity=950.0)
    assert tracker.tier.name == "micro"
    change = tracker.update(1_000.0)
    assert change is not None and (change.previous, change.tier) == ("micro", "small")
    assert tracker.update(960.0) is None and tracker.tier.name == "small"  # within 5 % hysteresis
    change = tracker.update(949.0)
    assert change is not None and change.tier == "micro"
    assert tracker.update(250_000.0) is not None and tracker.tier.name == "large"
    assert not DEFAULT_TIERS.tiers[1].allow_perps and DEFAULT_TIERS.tiers[2].allow_perps
    assert DEFAULT_TIERS.tiers[0].budget(1000.0) == 500.0 and DEFAULT_TIERS.tiers[1].budget(1000.0) == 250.0
    with pytest.raises(ValueError, match="tiers must start at min_equity 0"):
        load_tiers({"tiers": [{"name": "a", "min_equity": 5, "max_positions": 1, "risk_per_trade_pct": 1}]})
    with pytest.raises(ValueError, match=r"Expected `int` >= 1 - at `\$.tiers\[0\].max_positions`"):
        load_tiers({"tiers": [{"name": "a", "min_equity": 0, "max_positions": 0, "risk_per_trade_pct": 1}]})
    with pytest.raises(ValueError, match=r"tier 'a': risk_per_trade_pct must be in \(0, 100\], got 0"):
        load_tiers({"tiers": [{"name": "a", "min_equity": 0, "max_positions": 1, "risk_per_trade_pct": 0}]})
    with pytest.raises(ValueError, match="strictly ascending"):
        load_tiers(
            {
                "tiers": [
                    {"name": "a", "min_equity": 0, "max_positions": 1, "risk_per_trade_pct": 1},
                    {"name": "b", "min_equity": 0, "max_positions": 1, "risk_per_trade_pct": 1},
                ]
            }
        )


def test_universe_and_product_refusals() -> None:
    a = universe().bars[0]
    with pytest.raises(ValueError, match="must share BTC-USD's timeline"):
        Universe((a, a.head(10).__class__(**{**a.__dict__, "symbol": "ETH-USD", "ts_ns": a.ts_ns + 1})))
    with pytest.raises(ValueError, match="symbols must be unique"):
        Universe((a, a))
    perp = msgspec.structs.replace(resolve_product("BTC-USD"), product_type=ProductType.PERPETUAL)
    for engine in ("fast", "replay"):
        with pytest.raises(NotImplementedError, match=r"perpetuals \(margin, funding, shorts\) in the portfolio"):
            run_portfolio(Universe((a,)), get_strategy("sma_cross"), BacktestConfig(product=perp), engine=engine)
    with pytest.raises(ValueError, match=r"unknown engine 'vector'; allowed: \['fast', 'replay'\]"):
        run_portfolio(Universe((a,)), get_strategy("sma_cross"), BacktestConfig(), engine="vector")


def test_portfolio_command_json() -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from gpt_trader.features.adaptive_portfolio.cli import portfolio_command

    app = typer.Typer()
    app.command("portfolio")(portfolio_command)
    app.command("other")(lambda: None)
    args = ["portfolio", "--synthetic", "3", "--bars", "800", "--strategy", "sma_cross", "--param", "fast=5"]
    res = CliRunner().invoke(app, [*args, "--param", "slow=15", "--fee-bps", "10", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["symbols"] == SPOT[:3] and out["bars"] == 800 and out["trades"]
    assert set(out["trades"][0]) == {"symbol", "entry_time", "exit_time", "size", "entry_price", "exit_price", "fees"}
    bad = CliRunner().invoke(app, ["portfolio", "--data", "BTC-USD"])
    assert bad.exit_code == 2 and "--data takes SYMBOL=FILE, got 'BTC-USD'" in bad.output
