"""PositionSizer: each method with exact numbers, Kelly estimates, fallbacks, and the risk caps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import Product, ProductType
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.strategies.base import Action, Decision
from gpt_trader.features.position_sizing import PositionSizer, kelly_estimate
from gpt_trader.orchestration.configuration import SizingConfig

D = Decimal
BTC = Product(
    symbol="BTC-USD",
    base_asset="BTC",
    quote_asset="USD",
    base_increment=D("0.00000001"),
    quote_increment=D("0.01"),
    price_increment=D("0.01"),
    base_min_size=D("0.00000001"),
    base_max_size=D("3400"),
    quote_min_size=D("1"),
)
PERP = Product(
    symbol="BTC-PERP-INTX",
    base_asset="BTC",
    quote_asset="USD",
    product_type=ProductType.PERPETUAL,
    base_increment=D("0.0001"),
    quote_increment=D("0.01"),
    price_increment=D("0.1"),
    base_min_size=D("0.0001"),
    base_max_size=D("1000"),
    quote_min_size=D("10"),
    max_leverage=D("20"),
)
BUY = Decision(action=Action.BUY, reason="test", confidence=1.0)


def size(
    sizer: PositionSizer,
    *,
    decision: Decision = BUY,
    product: Product = BTC,
    price: str = "50000",
    equity: str = "100000",
    volatility: float | None = None,
    history: list[Decimal] | None = None,
) -> Decimal:
    return sizer.size(
        symbol=product.symbol,
        decision=decision,
        product=product,
        price=D(price),
        equity=D(equity),
        volatility=volatility,
        trade_history=history or [],
    )


def test_fixed_size_per_symbol_and_default() -> None:
    sizer = PositionSizer(SizingConfig(method="fixed_size", sizes={"BTC-USD": D("0.001")}))
    assert size(sizer) == D("0.00100000")
    default = PositionSizer(SizingConfig(method="fixed_size", default_size=D("0.5")))
    assert size(default) == D("0.50000000")


def test_fixed_size_without_a_size_does_not_trade_and_start_check_names_it() -> None:
    sizer = PositionSizer(SizingConfig(method="fixed_size"))
    assert size(sizer) == 0
    with pytest.raises(ValueError, match=r"sizing.sizes has no entry for \['BTC-USD'\]"):
        sizer.validate_symbols(["BTC-USD"])


def test_fixed_notional() -> None:
    sizer = PositionSizer(SizingConfig(method="fixed_notional", notional=D("250")))
    assert size(sizer, price="30000") == D("0.00833333")  # 250 / 30000 floored to 1e-8


def test_fraction_of_equity() -> None:
    sizer = PositionSizer(SizingConfig(method="fraction_of_equity", fraction=D("0.05")))
    assert size(sizer, equity="100000", price="50000") == D("0.10000000")


def test_volatility_target_annualized_and_per_bar() -> None:
    cfg = SizingConfig(method="volatility_target", target_volatility=D("0.2"), default_size=D("0.01"))
    sizer = PositionSizer(cfg)
    # 20 % target / 80 % asset vol -> 25 % of equity = 25000 USD = 0.5 BTC
    assert size(sizer, volatility=0.8) == D("0.50000000")
    assert size(sizer, volatility=None) == D("0.01000000")  # no estimate yet: fixed fallback
    # per-bar input: 1-day bars, daily stdev 0.8/sqrt(365.25) annualizes back to 0.8
    daily = PositionSizer(cfg, volatility_bar_seconds=86400)
    assert size(daily, volatility=0.8 / 365.25**0.5) == D("0.50000000")


def test_kelly_estimate_numbers() -> None:
    hist = [D(x) for x in ("10", "10", "10", "-5", "-5")]
    est = kelly_estimate(hist)
    # p = 0.6, b = 10 / 5 = 2 -> f* = 0.6 - 0.4 / 2 = 0.4
    assert est.win_rate == D("0.6") and est.payoff_ratio == D("2") and est.fraction == D("0.4")
    assert kelly_estimate([D("-1"), D("-2")]).fraction == 0
    assert kelly_estimate([D("1"), D("0")]).fraction == D("0.5")  # no losses: f* = p
    assert kelly_estimate([]).trades == 0


def test_kelly_fractional_and_scaled_by_confidence() -> None:
    hist = [D(x) for x in ("10", "10", "10", "-5", "-5")] * 4  # 20 trades, f* = 0.4
    sizer = PositionSizer(
        SizingConfig(method="kelly", kelly_fraction=D("0.5"), kelly_min_trades=20, default_size=D("0.001"))
    )
    # 0.4 * 0.5 * 1.0 = 20 % of 100000 = 20000 USD at 50000 = 0.4 BTC
    assert size(sizer, history=hist) == D("0.40000000")
    half = Decision(action=Action.BUY, reason="weak", confidence=0.5)
    assert size(sizer, history=hist, decision=half) == D("0.20000000")
    full = PositionSizer(SizingConfig(method="kelly", kelly_fraction=D("1"), kelly_min_trades=20))
    assert size(full, history=hist) == D("0.80000000")


def test_kelly_falls_back_to_fixed_until_enough_trades() -> None:
    sizer = PositionSizer(SizingConfig(method="kelly", kelly_min_trades=20, default_size=D("0.001")))
    assert size(sizer, history=[D("10")] * 19) == D("0.00100000")
    losing = [D("-1")] * 20
    assert size(sizer, history=losing) == 0  # negative edge: no trade


def test_hold_and_close_size_to_zero() -> None:
    sizer = PositionSizer(SizingConfig(method="fixed_size", default_size=D("1")))
    assert size(sizer, decision=Decision.hold()) == 0
    assert size(sizer, decision=Decision(action=Action.CLOSE, reason="exit")) == 0


def test_capped_by_symbol_notional_position_size_and_leverage() -> None:
    cfg = SizingConfig(method="fraction_of_equity", fraction=D("1"))
    limits = {"BTC-USD": SymbolLimit(max_notional=D("25000"))}
    capped = PositionSizer(cfg, risk=RiskConfig(), symbol_limits=limits)
    assert size(capped, price="50000") == D("0.50000000")  # 25000 USD cap
    by_size = PositionSizer(cfg, risk=RiskConfig(), symbol_limits={"BTC-USD": SymbolLimit(max_position_size=D("0.3"))})
    assert size(by_size) == D("0.30000000")
    # spot leverage 1: 2x equity is cut to 1x equity = 100000 / 50000 = 2 BTC
    big = PositionSizer(SizingConfig(method="fixed_size", default_size=D("5")), risk=RiskConfig())
    assert size(big) == D("2.00000000")
    # perps: min(account 3x, product 20x) of 10000 equity = 30000 USD = 0.6 BTC
    perp = PositionSizer(SizingConfig(method="fixed_size", default_size=D("5")), risk=RiskConfig(max_leverage=D("3")))
    assert size(perp, product=PERP, equity="10000") == D("0.6000")


def test_below_venue_minimum_sizes_to_zero() -> None:
    sizer = PositionSizer(SizingConfig(method="fixed_notional", notional=D("5")))
    assert size(sizer, product=PERP, price="50000") == 0  # 0.0001 BTC = 5 USD < 10 USD minimum


def test_missing_method_parameters_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"sizing\.notional is required"):
        PositionSizer(SizingConfig(method="fixed_notional"))
    with pytest.raises(ValueError, match=r"sizing\.fraction is required"):
        PositionSizer(SizingConfig(method="fraction_of_equity"))
    with pytest.raises(ValueError, match=r"sizing\.target_volatility is required"):
        PositionSizer(SizingConfig(method="volatility_target"))
