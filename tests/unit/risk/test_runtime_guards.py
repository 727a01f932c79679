"""Each runtime guard through RiskManager.evaluate: the exact trip point, the action, the counter."""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from risk_builders import T0, D, book, manager, perp, position, snapshot, spot

from gpt_trader.features.brokerages.core.interfaces import MarginType, OrderSide, ProductType
from gpt_trader.features.live_trade.risk.config import RiskConfig
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RuntimeVerdict
from gpt_trader.features.live_trade.risk_calculations import pearson
from gpt_trader.features.monitor.metrics import MetricsRegistry

BTC, ETH, SOL = "BTC-USD", "ETH-USD", "SOL-USD"
PERP = "BTC-PERP-INTX"


def two(now: datetime = T0, equity: str | Decimal = "100000", **kw: Any) -> AccountSnapshot:
    kw.setdefault("mids", {BTC: "95000", ETH: "3300"})
    return snapshot(now=now, equity=equity, products=[spot(BTC), spot(ETH)], **kw)


# ----------------------------------------------------------------------------------- daily loss
def test_daily_loss_pct_trips_at_the_limit_and_latches_reduce_only() -> None:
    rm, metrics, _ = manager(RiskConfig(max_daily_loss_pct=D("5")))
    rm.start(two(equity="100000"))
    assert rm.evaluate(two(equity="95001")).mode == "active"
    v = rm.evaluate(two(equity="95000"))
    assert v.mode == "reducing" and rm.reduce_only
    (ev,) = v.events
    assert (ev.name, ev.action, ev.severity) == ("daily_loss", "reduce_only", "critical")
    assert ev.details["loss_usd"] == "5000.00" and ev.details["loss_pct"] == "5.00"
    assert metrics.counter("risk.guards.daily_loss.critical_failures") == 1
    # still over the limit next cycle: no second event, no second count
    assert rm.evaluate(two(equity="94000")).events == []
    assert metrics.counter("risk.guards.daily_loss.critical_failures") == 1


def test_daily_loss_absolute_dollars() -> None:
    rm, metrics, _ = manager(RiskConfig(max_daily_loss_usd=D("10"), actions={"daily_loss": "halt"}))
    rm.start(two(equity="1000"))
    assert rm.evaluate(two(equity="990.01")).mode == "active"
    v = rm.evaluate(two(equity="990"))
    assert v.mode == "halted" and rm.halted
    assert v.events[0].action == "halt"
    assert metrics.counter("risk.guards.daily_loss.critical_failures") == 1


def test_daily_loss_baseline_resets_at_midnight_utc() -> None:
    cfg = RiskConfig(max_daily_loss_pct=D("5"), actions={"daily_loss": "block_entries"})
    rm, metrics, _ = manager(cfg)
    late = T0.replace(hour=23, minute=59)
    rm.start(two(now=late, equity="100000"))
    v = rm.evaluate(two(now=late, equity="94000"))
    assert set(v.blocked_symbols) == {BTC, ETH} and v.mode == "active"
    assert metrics.counter("risk.guards.daily_loss.recoverable_failures") == 1
    v = rm.evaluate(two(now=late + timedelta(minutes=1), equity="94000"))
    assert rm.state.day_start_equity == D("94000") and rm.state.day == "2026-03-03"
    assert v.blocked_symbols == {} and [e.action for e in v.events] == ["cleared"]


# ------------------------------------------------------------------------------------ drawdown
def test_drawdown_from_peak() -> None:
    rm, metrics, _ = manager(RiskConfig(max_drawdown_pct=D("10"), max_daily_loss_pct=D("50")))
    rm.start(two(equity="100000"))
    rm.evaluate(two(equity="120000"))
    assert rm.state.peak_equity == D("120000")
    assert rm.evaluate(two(equity="108001")).mode == "active"
    v = rm.evaluate(two(equity="108000"))
    assert v.events[0].name == "drawdown" and v.events[0].details["drawdown_pct"] == "10.00"
    assert v.mode == "reducing"
    assert metrics.counter("risk.guards.drawdown.critical_failures") == 1


def test_account_flatten_action_flattens_every_symbol() -> None:
    rm, _, _ = manager(RiskConfig(actions={"drawdown": "flatten"}, max_daily_loss_pct=D("50")))
    rm.start(two(equity="100000"))
    v = rm.evaluate(two(equity="89000", positions=[position(BTC, "0.1", entry="9e4")]))
    assert v.flatten == {"*", BTC, ETH} and v.mode == "reducing" and rm.reduce_only


# ---------------------------------------------------------------------------- exchange errors
def test_error_rate_over_half_in_window_halts() -> None:
    rm, metrics, _clock = manager(RiskConfig(error_rate_min_calls=10, error_rate_window_s=60))
    rm.start(two())
    for i in range(10):
        rm.record_api_call(ok=i >= 5)  # 5 of 10 fail: not MORE than half
    assert rm.evaluate(two()).mode == "active"
    rm.record_api_call(ok=False)  # 6 of 11
    v = rm.evaluate(two())
    assert v.mode == "halted" and v.events[0].name == "error_rate"
    assert v.events[0].details["failures"] == "6" and v.events[0].details["calls"] == "11"
    assert metrics.counter("risk.guards.error_rate.critical_failures") == 1


def test_error_rate_needs_min_calls_and_forgets_old_calls() -> None:
    rm, _, clock = manager(
        RiskConfig(
            error_rate_min_calls=10,
            error_rate_window_s=60,
            max_consecutive_api_errors=50,
            actions={"error_rate": "warn"},
        )
    )
    rm.start(two())
    for _ in range(9):
        rm.record_api_call(ok=False)
    assert rm.evaluate(two()).events == []  # 9 calls < min 10
    clock.advance(61)
    for _ in range(10):
        rm.record_api_call(ok=True)
    rm.record_api_call(ok=False)
    assert rm.evaluate(two(now=clock.now)).events == []  # old failures aged out: 1 of 11


def test_consecutive_api_errors_breaker() -> None:
    rm, metrics, _ = manager(RiskConfig(max_consecutive_api_errors=3, error_rate_min_calls=100))
    rm.start(two())
    rm.record_api_call(ok=False)
    rm.record_api_call(ok=False)
    rm.record_api_call(ok=True)
    rm.record_api_call(ok=False)
    rm.record_api_call(ok=False)
    assert rm.evaluate(two()).mode == "active"
    rm.record_api_call(ok=False)
    v = rm.evaluate(two())
    assert v.mode == "reducing" and v.events[0].name == "api_errors"
    assert metrics.counter("risk.guards.api_errors.critical_failures") == 1


# ----------------------------------------------------------------------------------- stale mark
def test_stale_mark_blocks_that_symbol_only() -> None:
    rm, metrics, _ = manager()
    rm.start(two())
    fresh = two(now=T0 + timedelta(seconds=30), quote_ts=T0)
    assert rm.evaluate(fresh).blocked_symbols == {}
    snap = two(now=T0 + timedelta(seconds=31), mids={BTC: "95000"})  # no ETH quote at all
    snap.quotes[BTC] = snap.quotes[BTC].__class__(symbol=BTC, bid=D(1), ask=D(2), last=D(1), ts=T0)
    v = rm.evaluate(snap)
    assert set(v.blocked_symbols) == {BTC, ETH} and v.mode == "active"
    assert v.blocked_symbols[BTC].startswith("stale_mark: BTC-USD: mark is 31.0s old")
    assert metrics.counter("risk.guards.stale_mark.recoverable_failures") == 2
    v = rm.evaluate(two(now=T0 + timedelta(seconds=32)))
    assert v.blocked_symbols == {} and {e.action for e in v.events} == {"cleared"}


# ---------------------------------------------------------------------------- liquidation
def test_liquidation_buffer_flattens_the_perp() -> None:
    rm, metrics, _ = manager(RiskConfig(liquidation_buffer_pct=D("15")))
    pos = position(PERP, "0.5", entry="100000", product_type=ProductType.PERPETUAL, leverage="5", liquidation="85000")
    rm.start(snapshot(mids={PERP: "100000"}, products=[perp(PERP)], positions=[pos]))
    assert rm.evaluate(snapshot(mids={PERP: "100000"}, products=[perp(PERP)], positions=[pos])).flatten == set()
    v = rm.evaluate(snapshot(mids={PERP: "99900"}, products=[perp(PERP)], positions=[pos]))  # 14.91% away
    assert v.flatten == {PERP} and PERP in v.blocked_symbols and v.mode == "active"
    assert v.events[0].details["distance_pct"] == "14.91"
    assert metrics.counter("risk.guards.liquidation_buffer.critical_failures") == 1


def test_isolated_liquidation_price_estimated_when_venue_gives_none() -> None:
    rm, _, _ = manager(RiskConfig(liquidation_buffer_pct=D("15")))
    # 5x isolated long at 100000, mmr 2.5%: liquidation at 100000 * (1 - 0.2 + 0.025) = 82500
    pos = position(
        PERP, "0.5", entry="100000", product_type=ProductType.PERPETUAL, leverage="5", margin_type=MarginType.ISOLATED
    )
    rm.start(snapshot(mids={PERP: "100000"}, products=[perp(PERP)], positions=[pos]))
    assert rm.evaluate(snapshot(mids={PERP: "97100"}, products=[perp(PERP)], positions=[pos])).flatten == set()
    v = rm.evaluate(snapshot(mids={PERP: "97000"}, products=[perp(PERP)], positions=[pos]))  # 14.95%
    assert v.flatten == {PERP} and v.events[0].details["liquidation_price"] == "82500.00"


def test_cross_liquidation_price_from_account_equity() -> None:
    rm, metrics, _ = manager(
        RiskConfig(liquidation_buffer_pct=D("15"), max_daily_loss_pct=D("90"), max_drawdown_pct=D("90"))
    )
    # 4 BTC long at 95000 on 100000 equity, cross: liquidation where equity = 2.5% of notional,
    # P = (4 * 95000 - 100000) / (4 * 0.975) = 71794.87, whatever the mark (equity moves with it)
    pos = position(PERP, "4", entry="95000", product_type=ProductType.PERPETUAL, margin_type=MarginType.CROSS)

    def at(mark: str) -> AccountSnapshot:
        equity = D("100000") + 4 * (D(mark) - D("95000"))
        return snapshot(mids={PERP: mark}, equity=equity, products=[perp(PERP)], positions=[pos])

    rm.start(at("95000"))
    assert rm.evaluate(at("84500")).flatten == set()  # 15.04 % away
    v = rm.evaluate(at("84000"))  # 14.53 % away
    assert v.flatten == {PERP} and v.events[0].details["liquidation_price"] == "71794.87"
    assert v.events[0].details["distance_pct"] == "14.53"
    assert metrics.counter("risk.guards.liquidation_buffer.critical_failures") == 1


# ---------------------------------------------------------------------------------- volatility
def test_flash_move_trips_volatility_and_holds_for_cooldown() -> None:
    rm, metrics, _ = manager(RiskConfig(max_move_pct=D("10"), volatility_cooldown_s=300))
    rm.start(two())
    for i in range(3):
        rm.evaluate(two(now=T0 + timedelta(seconds=5 * i)))
    v = rm.evaluate(two(now=T0 + timedelta(seconds=15), mids={BTC: "85400", ETH: "3300"}))  # -10.1%
    assert set(v.blocked_symbols) == {BTC}
    assert v.events[0].name == "volatility" and v.events[0].details["move_pct"].startswith("10.10")
    assert metrics.counter("risk.guards.volatility.recoverable_failures") == 1
    # the price recovers at once: the crash stays in the 11-price window for 10 more samples (last seen
    # at t+50), and the 300 s hold runs from there
    t = T0 + timedelta(seconds=15)
    for i in range(1, 12):
        assert BTC in rm.evaluate(two(now=t + timedelta(seconds=5 * i))).blocked_symbols
    assert rm.state.trips["volatility:BTC-USD"].until == t + timedelta(seconds=350)
    assert BTC in rm.evaluate(two(now=t + timedelta(seconds=349))).blocked_symbols
    v = rm.evaluate(two(now=t + timedelta(seconds=350)))
    assert BTC not in v.blocked_symbols and v.events[0].action == "cleared"


def test_volatility_ratio_short_vs_long_window() -> None:
    cfg = RiskConfig(
        volatility_short_window=5,
        volatility_long_window=40,
        volatility_min_samples=30,
        volatility_multiple=3.0,
        max_move_pct=D("50"),
    )
    rm, _, _ = manager(cfg)
    price = 100.0
    rm.start(snapshot(products=[spot(SOL)], mids={SOL: "100"}))
    t = T0
    for i in range(40):
        price *= 1.001 if i % 2 else 0.999
        t += timedelta(seconds=5)
        assert rm.evaluate(snapshot(now=t, products=[spot(SOL)], mids={SOL: f"{price:.6f}"})).events == []
    tripped = False
    for i in range(5):
        price *= 1.02 if i % 2 else 0.98
        t += timedelta(seconds=5)
        v = rm.evaluate(snapshot(now=t, products=[spot(SOL)], mids={SOL: f"{price:.6f}"}))
        if v.events:
            tripped = True
            assert v.events[0].name == "volatility" and float(v.events[0].details["ratio"]) > 3.0
            break
    assert tripped


# ------------------------------------------------------------------------------------ liquidity
def test_liquidity_breaker_on_spread_and_depth() -> None:
    rm, metrics, _ = manager(RiskConfig(max_spread_bps=D("50"), min_depth_usd=D("2000")))
    ok_book = book(SOL, "100", spread="0.5", sizes=("20",) * 5)  # 50 bps exactly; 1987.5 + ... >= 2000
    rm.start(snapshot(products=[spot(SOL)], mids={SOL: "100"}, books={SOL: ok_book}))
    assert rm.evaluate(snapshot(products=[spot(SOL)], mids={SOL: "100"}, books={SOL: ok_book})).events == []
    wide = book(SOL, "100", spread="0.51", sizes=("20",) * 5)
    v = rm.evaluate(snapshot(products=[spot(SOL)], mids={SOL: "100"}, books={SOL: wide}))
    assert v.events[0].name == "liquidity" and v.events[0].details["spread_bps"] == "51.00"
    assert SOL in v.blocked_symbols
    thin = book(SOL, "100", spread="0.02", sizes=("4", "4", "4", "4", "3"))  # bids: 399.96+...+287.97
    rm2, m2, _ = manager(RiskConfig(min_depth_usd=D("2000"), liquidity_depth_levels=5))
    rm2.start(snapshot(products=[spot(SOL)], mids={SOL: "100"}, books={SOL: thin}))
    v = rm2.evaluate(snapshot(products=[spot(SOL)], mids={SOL: "100"}, books={SOL: thin}))
    assert v.events[0].details["depth_usd"] == "1863.81"
    assert metrics.counter("risk.guards.liquidity.recoverable_failures") == 1
    assert m2.counter("risk.guards.liquidity.recoverable_failures") == 1


# --------------------------------------------------------------------------- consecutive losses
def test_losing_streak_pauses_entries_for_the_cooldown() -> None:
    rm, metrics, _clock = manager(RiskConfig(max_consecutive_losses=3, loss_cooldown_s=600))
    rm.start(two())
    rm.record_trade_result(BTC, D("-5"))
    rm.record_trade_result(BTC, D("-5"))
    rm.record_trade_result(ETH, D("2"))  # a win resets the count
    rm.record_trade_result(BTC, D("-1"))
    rm.record_trade_result(BTC, D("-1"))
    assert rm.evaluate(two()).blocked_symbols == {}
    rm.record_trade_result(ETH, D("-1"))
    v = rm.evaluate(two())
    assert set(v.blocked_symbols) == {BTC, ETH} and v.events[0].name == "consecutive_losses"
    assert metrics.counter("risk.guards.consecutive_losses.recoverable_failures") == 1
    assert rm.trade_history() == [D(x) for x in ("-5", "-5", "2", "-1", "-1", "-1")]
    assert rm.trade_history(ETH) == [D("2"), D("-1")]
    assert BTC in rm.evaluate(two(now=T0 + timedelta(seconds=599))).blocked_symbols
    assert rm.evaluate(two(now=T0 + timedelta(seconds=600))).blocked_symbols == {}


# ---------------------------------------------------------------------------------- correlation
def correlated_paths(n: int, noise: float, seed: int = 3) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    a, b = [95000.0], [3300.0]
    for _ in range(n):
        r = rng.gauss(0, 0.002)
        a.append(a[-1] * math.exp(r))
        b.append(b[-1] * math.exp(r + rng.gauss(0, noise)))
    return a, b


def run_corr(noise: float) -> tuple[RuntimeVerdict, MetricsRegistry, float]:
    rm, metrics, _ = manager(RiskConfig(correlation_window=30, correlation_min_samples=20))
    a, b = correlated_paths(30, noise)
    held = [position(BTC, "0.1", entry="95000")]
    rm.start(two(positions=held))
    v: RuntimeVerdict | None = None
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        v = rm.evaluate(
            two(now=T0 + timedelta(seconds=5 * i), mids={BTC: f"{pa:.2f}", ETH: f"{pb:.4f}"}, positions=held)
        )
    ra = [math.log(float(f"{y:.2f}") / float(f"{x:.2f}")) for x, y in itertools.pairwise(a)]
    rb = [math.log(float(f"{y:.4f}") / float(f"{x:.4f}")) for x, y in itertools.pairwise(b)]
    assert v is not None
    return v, metrics, pearson(ra, rb) or 0.0


def test_correlated_entry_is_scaled_down() -> None:
    v, metrics, ref = run_corr(noise=0.0012)
    assert 0.8 <= ref < 0.95
    assert v.entry_scale == {ETH: D("0.5")} and ETH not in v.blocked_symbols
    assert metrics.counter("risk.guards.correlation.recoverable_failures") == 1


def test_highly_correlated_entry_is_refused() -> None:
    v, _metrics, ref = run_corr(noise=0.0001)
    assert ref >= 0.95
    assert ETH in v.blocked_symbols
    assert v.blocked_symbols[ETH].startswith("correlation:")


def test_uncorrelated_entry_is_untouched() -> None:
    v, _metrics, ref = run_corr(noise=0.004)
    assert abs(ref) < 0.8
    assert v.entry_scale == {} and v.blocked_symbols == {}


def test_check_order_refuses_second_correlated_entry_in_the_same_cycle() -> None:
    rm, metrics, _clock = manager(RiskConfig(correlation_window=30, correlation_min_samples=20))
    a, b = correlated_paths(30, 0.0001)
    snap = two()
    for i, (pa, pb) in enumerate(zip(a, b, strict=True)):
        snap = two(now=T0 + timedelta(seconds=5 * i), mids={BTC: f"{pa:.2f}", ETH: f"{pb:.4f}"})
        rm.evaluate(snap)
    from risk_builders import market

    assert rm.check_order(market(BTC, OrderSide.BUY, "0.01"), snap, is_reducing=False).ok
    second = rm.check_order(market(ETH, OrderSide.BUY, "1"), snap, is_reducing=False)
    assert second.rule == "correlation" and second.details["with_symbol"] == BTC
    assert metrics.counter("risk.guards.correlation.recoverable_failures") == 1
    assert metrics.counter("risk.pretrade.correlation.rejections") == 1


# ------------------------------------------------------------------------------- configuration
def test_per_guard_action_override_and_breakers_switch() -> None:
    rm, metrics, _ = manager(RiskConfig(actions={"stale_mark": "halt"}))
    rm.start(two())
    v = rm.evaluate(two(now=T0 + timedelta(seconds=31), quote_ts=T0))
    assert v.mode == "halted" and metrics.counter("risk.guards.stale_mark.critical_failures") == 2
    off, m_off, _ = manager(RiskConfig(circuit_breakers_enabled=False, max_move_pct=D("1")))
    off.start(two())
    off.evaluate(two())
    v = off.evaluate(two(now=T0 + timedelta(seconds=5), mids={BTC: "50000", ETH: "3300"}))
    assert v.events == [] and m_off.counter("risk.guards.volatility.recoverable_failures") == 0


def test_unknown_guard_in_actions_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"actions has unknown guard\(s\) \['daily_los'\]; allowed: daily_loss"):
        RiskConfig(actions={"daily_los": "halt"})
    with pytest.raises(ValueError, match="correlation_refuse_threshold must be >= correlation_threshold"):
        RiskConfig(correlation_threshold=0.9, correlation_refuse_threshold=0.8)


def test_describe_limits_lists_every_active_limit() -> None:
    from gpt_trader.features.live_trade.risk.config import SymbolLimit

    rm, _, _ = manager(
        RiskConfig(max_daily_loss_usd=D("10"), max_daily_loss_pct=D("2")),
        limits={BTC: SymbolLimit(max_notional=D("1000"), max_position_size=D("0.01"))},
    )
    rows = dict(rm.describe_limits())
    assert rows["max daily loss"].startswith("2% of day-start equity or $10")
    assert rows["BTC-USD"] == "notional $1000, size 0.01, leverage 1x"
    for key in (
        "max drawdown",
        "max impact cost",
        "stale mark",
        "error rate",
        "liquidation buffer",
        "volatility breaker",
        "liquidity breaker",
        "consecutive losses",
        "correlation",
        "api errors",
        "max orders per minute",
        "max open orders per symbol",
        "trading mode",
        "max leverage",
    ):
        assert key in rows


def test_a_guard_trip_becomes_its_named_error_for_callers_that_want_one() -> None:
    from gpt_trader.errors import EXIT_RISK_HALT, GptTraderError
    from gpt_trader.features.live_trade.risk.errors import RiskGuardDailyLossError, RiskGuardStaleMarkError
    from gpt_trader.features.live_trade.risk.guards import ACCOUNT_GUARDS, SYMBOL_GUARDS, GuardTrip

    err = GuardTrip(guard="daily_loss", message="daily loss 18.50 USD", details={"loss_usd": "18.50"}).to_error()
    assert isinstance(err, RiskGuardDailyLossError) and isinstance(err, GptTraderError)
    assert (str(err), err.details, err.exit_code) == ("daily loss 18.50 USD", {"loss_usd": "18.50"}, EXIT_RISK_HALT)
    stale = GuardTrip(guard="stale_mark", message="BTC-USD: no mark", symbol=BTC).to_error()
    assert isinstance(stale, RiskGuardStaleMarkError) and stale.symbol == BTC
    # every guard owns a banner line naming its action, and its error type exists
    cfg = RiskConfig(actions={"drawdown": "halt"})
    for guard in (*ACCOUNT_GUARDS, *SYMBOL_GUARDS):
        label, text = guard.banner(cfg)
        assert label and guard.action(cfg) in text, guard.name
        assert GuardTrip(guard=guard.name, message="x").to_error().guard == guard.name
    assert dict(g.banner(cfg) for g in ACCOUNT_GUARDS)["max drawdown"].endswith("-> halt")


def test_the_banner_says_when_circuit_breakers_are_off() -> None:
    rm, _, _ = manager(RiskConfig(circuit_breakers_enabled=False))
    rows = dict(rm.describe_limits())
    assert rows["circuit breakers"] == "DISABLED (api_errors, consecutive_losses, volatility, liquidity)"
    assert "volatility breaker" not in rows and "max daily loss" in rows
