"""Risk arithmetic against plain reference implementations."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from risk_builders import D, book, perp, position

from gpt_trader.features.brokerages.core.interfaces import MarginType, OrderSide, ProductType
from gpt_trader.features.live_trade.risk_calculations import (
    MarketStats,
    annualized_volatility,
    depth_usd,
    estimate_liquidation_price,
    impact_bps,
    liquidation_distance_pct,
    pearson,
    walk_book,
)


def paths(n: int, seed: int = 1) -> tuple[list[float], list[float], list[float]]:
    rng = random.Random(seed)
    a, b, c = [100.0], [50.0], [10.0]
    for _ in range(n):
        r = rng.gauss(0, 0.01)
        a.append(a[-1] * math.exp(r))
        b.append(b[-1] * math.exp(0.7 * r + rng.gauss(0, 0.007)))
        c.append(c[-1] * math.exp(rng.gauss(0, 0.02)))
    return a, b, c


def rets(xs: list[float]) -> list[float]:
    return [math.log(y / x) for x, y in itertools.pairwise(xs)]


@pytest.mark.parametrize("n", [25, 150, 4100])  # short of the window, rolled past it, past a full re-sum
def test_rolling_stats_match_reference(n: int) -> None:
    stats = MarketStats(short_window=10, long_window=120, corr_window=60)
    a, b, c = paths(n)
    for pa, pb, pc in zip(a, b, c, strict=True):
        stats.update({"A": pa, "B": pb, "C": pc})
    ra, rb = rets(a), rets(b)
    corr, samples = stats.correlation("A", "B")
    assert samples == min(60, n)
    assert corr == pytest.approx(pearson(ra[-60:], rb[-60:]), abs=1e-9)
    best, with_ = stats.max_correlation("A", [("B", 1), ("C", 1)], min_samples=2)
    assert corr is not None and with_ == "B" and best == pytest.approx(abs(corr), abs=1e-9)
    assert stats.short_vol("A") == pytest.approx(statistics.stdev(ra[-10:]), rel=1e-9)
    assert stats.long_vol("A") == pytest.approx(statistics.stdev(ra[-120:]), rel=1e-9)
    window = a[-11:]
    expected_move = max(abs(window[-1] / p - 1) for p in window) * 100
    assert stats.move_pct("A") == pytest.approx(expected_move, rel=1e-12)


def test_max_correlation_respects_direction() -> None:
    stats = MarketStats(short_window=5, long_window=30, corr_window=30)
    a, b, _ = paths(40)
    for pa, pb in zip(a, b, strict=True):
        stats.update({"A": pa, "B": pb})
    corr, _n = stats.correlation("A", "B")
    assert corr is not None and corr > 0.5
    # a long entry in A against a long B repeats the bet; against a short B it hedges
    assert stats.max_correlation("A", [("B", 1)], 20, sign=1)[0] == pytest.approx(corr)
    assert stats.max_correlation("A", [("B", -1)], 20, sign=1) == (0.0, "")
    assert stats.max_correlation("A", [("B", 1)], 31) == (0.0, "")  # too few samples


def test_flat_series_has_no_correlation() -> None:
    stats = MarketStats(short_window=5, long_window=30, corr_window=30)
    for i in range(40):
        stats.update({"A": 100.0, "B": 100.0 + i})
    assert stats.correlation("A", "B") == (None, 30)
    assert stats.max_correlation("A", [("B", 1)], 2) == (0.0, "")
    assert stats.short_vol("A") == 0.0


def test_walk_book_impact_and_depth() -> None:
    bk = book("SOL-USD", "100", sizes=("1", "2", "3"))  # asks 100.01, 101.01, 102.01
    assert walk_book(bk, OrderSide.BUY, D("2")) == (D("100.01") + D("101.01")) / 2
    assert walk_book(bk, OrderSide.SELL, D("1")) == D("99.99")
    assert walk_book(bk, OrderSide.BUY, D("7")) is None
    imp, avg = impact_bps(bk, OrderSide.BUY, D("3"))
    assert avg == (D("100.01") + 2 * D("101.01")) / 3
    assert avg is not None and imp == (avg - 100) / 100 * 10000
    assert depth_usd(bk, OrderSide.BUY, 2) == D("100.01") + 2 * D("101.01")
    assert depth_usd(bk, OrderSide.BUY, 3, enough=D("50")) == D("100.01")  # stops once enough


def test_liquidation_estimates() -> None:
    prod = perp("BTC-PERP-INTX", mmr="0.025")
    iso_long = position(
        "BTC-PERP-INTX",
        "1",
        entry="100000",
        product_type=ProductType.PERPETUAL,
        leverage="10",
        margin_type=MarginType.ISOLATED,
    )
    assert estimate_liquidation_price(iso_long, prod) == D("92500.000")
    iso_short = position(
        "BTC-PERP-INTX",
        "-1",
        entry="100000",
        product_type=ProductType.PERPETUAL,
        leverage="10",
        margin_type=MarginType.ISOLATED,
    )
    assert estimate_liquidation_price(iso_short, prod) == D("107500.000")
    cross_short = position("BTC-PERP-INTX", "-2", entry="100000", product_type=ProductType.PERPETUAL)
    # (2 * 100000 + 50000) / (2 * 1.025)
    liq = estimate_liquidation_price(cross_short, prod, equity=D("50000"), mark=D("100000"))
    assert liq is not None and liq.quantize(D("0.01")) == D("121951.22")
    fully_backed = position("BTC-PERP-INTX", "1", entry="100000", product_type=ProductType.PERPETUAL)
    assert estimate_liquidation_price(fully_backed, prod, equity=D("100000"), mark=D("100000")) is None
    assert liquidation_distance_pct(D("100"), D("85"), long=True) == D("15")
    assert liquidation_distance_pct(D("100"), D("110"), long=False) == D("10")


def test_annualized_volatility() -> None:
    closes = [100.0, 101.0, 99.0, 102.0, 100.5]
    r = rets(closes)
    expected = statistics.stdev(r) * math.sqrt(365.25 * 24 * 3600 / 86400)
    assert annualized_volatility(closes, 86400) == pytest.approx(expected)
    assert annualized_volatility([1.0, 2.0], 60) is None
