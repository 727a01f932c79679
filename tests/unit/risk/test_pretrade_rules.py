"""Every pre-trade rule with exact numbers: what passes at the limit and what fails one step over it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from risk_builders import (
    T0,
    D,
    book,
    fresh,
    limit,
    manager,
    market,
    open_order,
    perp,
    position,
    snapshot,
    spot,
)

from gpt_trader.features.brokerages.core.interfaces import OrderSide, ProductType
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.errors import PreTradeRejectedError
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RiskManager
from gpt_trader.features.monitor.metrics import MetricsRegistry

BUY, SELL = OrderSide.BUY, OrderSide.SELL
BTC = "BTC-USD"
PERP = "BTC-PERP-INTX"


def btc_snap(**kw: Any) -> AccountSnapshot:
    kw.setdefault("products", [spot(BTC)])
    kw.setdefault("mids", {BTC: "95000"})
    kw.setdefault("books", {BTC: book(BTC, "95000", sizes=("10",) * 5)})
    return snapshot(**kw)


def started(
    config: RiskConfig | None = None, snap: AccountSnapshot | None = None, **kw: Any
) -> tuple[RiskManager, MetricsRegistry, AccountSnapshot]:
    rm, metrics, _clock = manager(config, **kw)
    s = snap or btc_snap()
    rm.start(s)
    rm.evaluate(s)
    return rm, metrics, s


# ---------------------------------------------------------------------------------------- caps
def test_symbol_notional_cap_at_and_over_limit() -> None:
    rm, metrics, s = started(limits={BTC: SymbolLimit(max_notional=D("25000"))})
    ok = rm.check_order(market(BTC, BUY, "0.26"), fresh(s), is_reducing=False)  # 24700 USD
    assert ok.ok and ok.request.size == D("0.26000000")
    bad = rm.check_order(market(BTC, BUY, "0.27"), fresh(s), is_reducing=False)  # 25650 USD
    assert not bad.ok and bad.rule == "max_notional"
    assert bad.details["projected_notional"] == "25650.00"
    assert bad.details["max_notional"] == "25000"
    assert metrics.counter("risk.pretrade.max_notional.rejections") == 1


def test_notional_cap_counts_position_and_same_side_working_orders() -> None:
    snap = btc_snap(
        positions=[position(BTC, "0.1", entry="90000")],
        open_orders=[open_order(BTC, BUY, "0.1", "94000")],
    )
    rm, _, s = started(limits={BTC: SymbolLimit(max_notional=D("25000"))}, snap=snap)
    # 0.1 held + 0.1 working + 0.06 new = 0.26 BTC = 24700 USD
    assert rm.check_order(market(BTC, BUY, "0.06"), fresh(s), is_reducing=False).ok
    bad = rm.check_order(market(BTC, BUY, "0.07"), fresh(s), is_reducing=False)
    assert bad.rule == "max_notional" and bad.details["projected_size"] == "0.27000000"


def test_default_max_notional_applies_to_symbols_without_a_limit() -> None:
    rm, _, s = started(RiskConfig(default_max_notional=D("1000")))
    assert rm.check_order(market(BTC, BUY, "0.0105"), fresh(s), is_reducing=False).ok  # 997.50
    assert rm.check_order(market(BTC, BUY, "0.0106"), fresh(s), is_reducing=False).rule == "max_notional"  # 1007


def test_max_position_size() -> None:
    rm, _, s = started(limits={BTC: SymbolLimit(max_position_size=D("0.01"))})
    assert rm.check_order(market(BTC, BUY, "0.01"), fresh(s), is_reducing=False).ok
    bad = rm.check_order(market(BTC, BUY, "0.01000001"), fresh(s), is_reducing=False)
    assert bad.rule == "max_position_size"
    assert bad.details == {"projected_size": "0.01000001", "max_position_size": "0.01"}


def test_max_total_notional_across_symbols() -> None:
    eth = "ETH-USD"
    snap = snapshot(
        products=[spot(BTC), spot(eth)],
        mids={BTC: "95000", eth: "3000"},
        positions=[position(eth, "10", entry="3000")],  # 30000 USD
        books={BTC: book(BTC, "95000", sizes=("10",) * 5)},
    )
    rm, _, s = started(RiskConfig(max_total_notional=D("49000")), snap=snap)
    assert rm.check_order(market(BTC, BUY, "0.2"), fresh(s), is_reducing=False).ok  # 30000 + 19000
    bad = rm.check_order(market(BTC, BUY, "0.2001"), fresh(s), is_reducing=False)
    assert bad.rule == "max_total_notional" and bad.details["projected_total_notional"] == "49009.50"


# ------------------------------------------------------------------------------------ leverage
def test_spot_leverage_is_one_times_equity() -> None:
    rm, _, s = started(snap=btc_snap(equity="10000", cash="100000"))
    assert rm.check_order(market(BTC, BUY, "0.1"), fresh(s), is_reducing=False).ok  # 9500 <= 10000
    bad = rm.check_order(market(BTC, BUY, "0.11"), fresh(s), is_reducing=False)  # 10450 > 10000
    assert bad.rule == "leverage" and bad.details["max_leverage"] == "1"


def perp_snap(**kw: Any) -> AccountSnapshot:
    kw.setdefault("products", [perp(PERP)])
    kw.setdefault("mids", {PERP: "100000"})
    kw.setdefault("books", {PERP: book(PERP, "100000", step="0.1", sizes=("10",) * 5)})
    return snapshot(**kw)


def test_perp_leverage_is_the_tightest_of_account_symbol_and_product() -> None:
    cfg = RiskConfig(max_leverage=D("5"))
    limits = {PERP: SymbolLimit(max_leverage=D("3"))}
    rm, _, s = started(cfg, perp_snap(equity="10000", cash="11000"), limits=limits)
    assert rm.check_order(market(PERP, BUY, "0.3", leverage="3"), fresh(s), is_reducing=False).ok  # 30000 = 3x
    bad = rm.check_order(market(PERP, BUY, "0.3001", leverage="3"), fresh(s), is_reducing=False)
    assert bad.rule == "leverage" and bad.details["max_leverage"] == "3"
    req = market(PERP, BUY, "0.1")
    import msgspec

    bad = rm.check_order(msgspec.structs.replace(req, leverage=D("4")), fresh(s), is_reducing=False)
    assert bad.rule == "leverage" and bad.details["requested_leverage"] == "4"


def test_perp_initial_margin_against_free_collateral() -> None:
    # at 20x (the product's maximum) initial margin is 5% of notional; 1000 USD free collateral
    cfg = RiskConfig(max_leverage=D("20"))
    rm, _, s = started(cfg, perp_snap(equity="10000", cash="1000"))
    ok = rm.check_order(market(PERP, BUY, "0.19", leverage="20"), fresh(s), is_reducing=False)  # 950 IM
    assert ok.ok
    bad = rm.check_order(market(PERP, BUY, "0.2001", leverage="20"), fresh(s), is_reducing=False)  # 1000.5
    assert bad.rule == "margin" and bad.details["available"] == "1000" and bad.details["im_rate"] == "0.05"
    # an order without leverage is 1x at the venue: the full notional is margin
    assert rm.check_order(market(PERP, BUY, "0.0099"), fresh(s), is_reducing=False).ok  # ~990
    bad = rm.check_order(market(PERP, BUY, "0.0101"), fresh(s), is_reducing=False)  # ~1010
    assert bad.rule == "margin" and bad.details["im_rate"] == "1"
    # asking for more than the product allows is capped at the product floor, then refused by leverage
    over = rm.check_order(market(PERP, BUY, "0.01", leverage="50"), fresh(s), is_reducing=False)
    assert over.rule == "leverage" and over.details["max_leverage"] == "20"


def test_perp_maintenance_margin_with_buffer() -> None:
    # mmr 0.5 (a deliberately harsh product) -> 50000 notional needs 25000 * 1.15 = 28750 of equity
    cfg = RiskConfig(max_leverage=D("20"))
    prod = perp(PERP, max_leverage="20", mmr="0.5")
    rm, _, s = started(cfg, perp_snap(products=[prod], equity="28000", cash="28000"))
    bad = rm.check_order(market(PERP, BUY, "0.5", leverage="20"), fresh(s), is_reducing=False)
    assert bad.rule == "margin" and bad.details["maintenance_margin"] == "25000.00"


def test_spot_buy_needs_cash() -> None:
    rm, _, s = started(snap=btc_snap(equity="100000", cash="9000"))
    bad = rm.check_order(market(BTC, BUY, "0.1"), fresh(s), is_reducing=False)
    assert bad.rule == "insufficient_cash"
    assert bad.details["cash"] == "9000"


# ------------------------------------------------------------------------------------- impact
def impact_snap() -> AccountSnapshot:
    # mid 100, touch 99.99 / 100.01, one unit per level, levels 1.00 apart
    return snapshot(
        products=[spot("SOL-USD")], mids={"SOL-USD": "100"}, books={"SOL-USD": book("SOL-USD", "100", sizes=("1",) * 5)}
    )


def test_impact_cost_walks_the_book() -> None:
    rm, metrics, s = started(snap=impact_snap())
    # 1.9 units: (1 * 100.01 + 0.9 * 101.01) / 1.9 = 100.4837 -> 48.37 bps: allowed
    assert rm.check_order(market("SOL-USD", BUY, "1.9"), fresh(s), is_reducing=False).ok
    # 2 units: (100.01 + 101.01) / 2 = 100.51 -> 51 bps > 50
    bad = rm.check_order(market("SOL-USD", BUY, "2"), fresh(s), is_reducing=False)
    assert bad.rule == "impact_cost"
    assert bad.details["impact_bps"] == "51.0000" and bad.details["avg_price"] == "100.51"
    assert metrics.counter("risk.pretrade.impact_cost.rejections") == 1


def test_impact_cap_is_configurable_and_sells_walk_bids() -> None:
    rm, _, s = started(RiskConfig(max_impact_bps=D("100")), impact_snap())
    assert rm.check_order(market("SOL-USD", BUY, "2"), fresh(s), is_reducing=False).ok


def test_a_book_without_a_positive_mid_rejects_entries() -> None:
    """A broken book (mid <= 0) cannot price impact: the entry is refused, never divided by zero."""
    broken = book(BTC, "0", spread="2", sizes=("10",) * 5)  # bid -1, ask 1: mid 0
    rm, _, s = started(RiskConfig(circuit_breakers_enabled=False), btc_snap(books={BTC: broken}))
    bad = rm.check_order(market(BTC, BUY, "0.01"), fresh(s), is_reducing=False)
    assert not bad.ok and bad.rule == "impact_cost"
    assert bad.reason is not None and "no positive mid" in bad.reason and bad.details["mid"] == "0"


def test_book_too_thin_or_missing_rejects_entries() -> None:
    rm, _, s = started(snap=impact_snap())
    thin = rm.check_order(market("SOL-USD", BUY, "6"), fresh(s), is_reducing=False)
    assert thin.rule == "impact_cost" and thin.details["book_depth"] == "5"
    rm2, _, s2 = started(snap=snapshot(products=[spot(BTC)], mids={BTC: "95000"}, with_books=False))
    assert rm2.check_order(market(BTC, BUY, "0.01"), fresh(s2), is_reducing=False).rule == "impact_cost"
    rm3, _, s3 = started(
        RiskConfig(require_book_for_entries=False),
        snapshot(products=[spot(BTC)], mids={BTC: "95000"}, with_books=False),
    )
    assert rm3.check_order(market(BTC, BUY, "0.01"), fresh(s3), is_reducing=False).ok


def test_passive_limit_order_skips_impact_but_marketable_limit_does_not() -> None:
    rm, _, s = started(snap=impact_snap())
    assert rm.check_order(limit("SOL-USD", BUY, "3", "99.00"), fresh(s), is_reducing=False).ok
    bad = rm.check_order(limit("SOL-USD", BUY, "3", "102.00"), fresh(s), is_reducing=False)
    assert bad.rule == "impact_cost"


# --------------------------------------------------------------------------------- reduce-only
def test_reduce_only_mode_refuses_entries_allows_exits() -> None:
    snap = btc_snap(positions=[position(BTC, "0.1", entry="90000")])
    rm, metrics, s = started(RiskConfig(reduce_only_mode=True), snap)
    bad = rm.check_order(market(BTC, BUY, "0.01"), fresh(s), is_reducing=False)
    assert bad.rule == "reduce_only"
    assert rm.check_order(market(BTC, SELL, "0.1"), fresh(s), is_reducing=True).ok
    assert metrics.counter("risk.pretrade.reduce_only.rejections") == 1


def test_reducing_claim_is_verified_against_position_and_working_exits() -> None:
    snap = btc_snap(
        positions=[position(BTC, "0.1", entry="90000")], open_orders=[open_order(BTC, SELL, "0.06", "96000")]
    )
    rm, _, s = started(snap=snap)
    assert rm.check_order(market(BTC, SELL, "0.04"), fresh(s), is_reducing=True).ok
    over = rm.check_order(market(BTC, SELL, "0.05"), fresh(s), is_reducing=True)  # 0.06 + 0.05 > 0.1
    assert over.rule == "reduce_only" and over.details["pending_reducing"] == "0.06"
    flagged = rm.check_order(market(BTC, BUY, "0.01", reduce_only=True), fresh(s), is_reducing=False)
    assert flagged.rule == "reduce_only"


def test_spot_cannot_open_a_short() -> None:
    rm, _, s = started()
    assert rm.check_order(market(BTC, SELL, "0.01"), fresh(s), is_reducing=False).rule == "spot_short"


# ---------------------------------------------------------------------------- quantization
def test_size_is_floored_to_the_increment() -> None:
    rm, _, s = started()
    res = rm.check_order(market(BTC, BUY, "0.123456789"), fresh(s), is_reducing=False)
    assert res.ok and res.request.size == D("0.12345678")


def test_below_min_size_and_min_notional() -> None:
    prod = spot("DOGE-USD", base_inc="0.1", min_size="1", min_notional="1")
    snap = snapshot(
        products=[prod],
        mids={"DOGE-USD": "0.32"},
        books={"DOGE-USD": book("DOGE-USD", "0.32", spread="0.0002", step="0.0001", sizes=("100000",) * 5)},
    )
    rm, _, s = started(snap=snap)
    small = rm.check_order(market("DOGE-USD", BUY, "0.9"), fresh(s), is_reducing=False)
    assert small.rule == "quantization" and small.details["venue_reason"] == "INVALID_SIZE"
    tiny = rm.check_order(market("DOGE-USD", BUY, "3"), fresh(s), is_reducing=False)  # 0.96 USD < 1
    assert tiny.rule == "quantization" and tiny.details["venue_reason"] == "BELOW_MIN_NOTIONAL"
    assert rm.check_order(market("DOGE-USD", BUY, "4"), fresh(s), is_reducing=False).ok


# ---------------------------------------------------------------------- order count and rate
def test_max_open_orders_per_symbol_blocks_entries_only() -> None:
    orders = [open_order(BTC, BUY, "0.001", "90000", n) for n in range(2)]
    snap = btc_snap(positions=[position(BTC, "0.1", entry="90000")], open_orders=orders)
    rm, _, s = started(RiskConfig(max_open_orders_per_symbol=2), snap)
    bad = rm.check_order(market(BTC, BUY, "0.001"), fresh(s), is_reducing=False)
    assert bad.rule == "max_open_orders" and bad.details == {"open_orders": "2", "limit": "2"}
    assert rm.check_order(market(BTC, SELL, "0.05"), fresh(s), is_reducing=True).ok


def test_order_rate_limit_counts_accepted_orders_in_a_sliding_minute() -> None:
    rm, metrics, s = started(RiskConfig(max_orders_per_minute=3))
    for _ in range(3):
        assert rm.check_order(market(BTC, BUY, "0.001"), fresh(s), is_reducing=False).ok
    assert rm.check_order(market(BTC, BUY, "0.001"), fresh(s), is_reducing=False).rule == "rate_limit"
    # rejections do not use up the budget; a minute later the window is empty again
    later = btc_snap(now=T0 + timedelta(seconds=60))
    assert rm.check_order(market(BTC, BUY, "0.001"), fresh(later), is_reducing=False).ok
    assert metrics.counter("risk.pretrade.rate_limit.rejections") == 1


# ------------------------------------------------------------------------------ guard states
def test_stale_quote_blocks_entries_not_exits() -> None:
    snap = btc_snap(now=T0 + timedelta(seconds=31), quote_ts=T0, positions=[position(BTC, "0.1", entry="9e4")])
    rm, _, s = started(snap=snap)
    bad = rm.check_order(market(BTC, BUY, "0.001"), fresh(s), is_reducing=False)
    assert bad.rule == "blocked" and bad.details["guard"] == "stale_mark"
    assert rm.check_order(market(BTC, SELL, "0.1"), fresh(s), is_reducing=True).ok


def test_halt_refuses_everything() -> None:
    rm, _, s = started(snap=btc_snap(positions=[position(BTC, "0.1", entry="90000")]))
    rm.halt_session("test")
    assert rm.check_order(market(BTC, SELL, "0.1"), fresh(s), is_reducing=True).rule == "halt"


def test_unknown_or_disabled_product() -> None:
    import msgspec

    rm, _, s = started()
    assert rm.check_order(market("ZZZ-USD", BUY, "1"), fresh(s), is_reducing=False).rule == "product"
    disabled = btc_snap(products=[msgspec.structs.replace(spot(BTC), trading_disabled=True)])
    rm2, _, s2 = started(snap=disabled)
    assert rm2.check_order(market(BTC, BUY, "0.001"), fresh(s2), is_reducing=False).rule == "product"


def test_bad_shape_is_rejected_with_venue_reason() -> None:
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderType

    rm, _, s = started()
    req = OrderRequest(symbol=BTC, side=BUY, order_type=OrderType.LIMIT, size=D("0.01"))
    bad = rm.check_order(req, fresh(s), is_reducing=False)
    assert bad.rule == "order_shape" and bad.details["venue_reason"] == "INVALID_LIMIT_PRICE"


def test_raise_if_rejected() -> None:
    rm, _, s = started(limits={BTC: SymbolLimit(max_notional=D("100"))})
    res = rm.check_order(market(BTC, BUY, "0.01"), fresh(s), is_reducing=False)
    with pytest.raises(PreTradeRejectedError) as info:
        res.raise_if_rejected()
    assert info.value.rule == "max_notional" and info.value.details["max_notional"] == "100"
    rm.check_order(market(BTC, BUY, "0.001"), fresh(s), is_reducing=False).raise_if_rejected()


def test_perp_short_entry_allowed_and_reducing_buy_covers() -> None:
    cfg = RiskConfig(max_leverage=D("5"))
    snap = perp_snap(
        equity="10000",
        cash="10000",
        positions=[position(PERP, "-0.1", entry="100000", product_type=ProductType.PERPETUAL, leverage="5")],
    )
    rm, _, s = started(cfg, snap)
    assert rm.check_order(market(PERP, SELL, "0.1", leverage="5"), fresh(s), is_reducing=False).ok  # 2x
    assert rm.check_order(market(PERP, BUY, "0.1"), fresh(s), is_reducing=True).ok
    assert rm.check_order(market(PERP, BUY, "0.2"), fresh(s), is_reducing=True).rule == "reduce_only"


# ------------------------------------------------------------------------------------ in flight
def test_orders_accepted_since_the_snapshot_count_as_working() -> None:
    snap = btc_snap(positions=[position(BTC, "0.1", entry="90000")])
    rm, _, s = started(limits={BTC: SymbolLimit(max_notional=D("25000"))}, snap=snap)
    # the snapshot cannot show what was just accepted: 0.1 + 0.1 + 0.07 = 0.27 BTC > 25000 USD
    assert rm.check_order(market(BTC, BUY, "0.1"), s, is_reducing=False).ok
    assert rm.check_order(market(BTC, BUY, "0.07"), s, is_reducing=False).rule == "max_notional"
    # a double close against the same snapshot is refused: the first one already takes the position
    assert rm.check_order(market(BTC, SELL, "0.1"), s, is_reducing=True).ok
    assert rm.check_order(market(BTC, SELL, "0.1"), s, is_reducing=True).rule == "reduce_only"
    # a new snapshot starts from what the venue reports
    assert rm.check_order(market(BTC, SELL, "0.1"), fresh(s), is_reducing=True).ok


def test_cash_committed_since_the_snapshot_is_not_spent_twice() -> None:
    rm, _, s = started(snap=btc_snap(equity="100000", cash="10000"))
    assert rm.check_order(market(BTC, BUY, "0.1"), s, is_reducing=False).ok  # ~9500
    bad = rm.check_order(market(BTC, BUY, "0.01"), s, is_reducing=False)
    assert bad.rule == "insufficient_cash" and bad.details["cash"].startswith("499.99")


def test_a_close_names_its_cancelled_stop_and_the_cycle_keeps_its_in_flight_cash() -> None:
    """A close whose protective stop was just cancelled names it (`cancelled`) instead of checking against a
    copy of the snapshot: the cycle's earlier entries still count in flight, so the next entry is refused
    for the cash they already spend."""
    eth = "ETH-USD"
    snap = snapshot(
        products=[spot(BTC), spot(eth)],
        mids={BTC: "95000", eth: "3000"},
        books={BTC: book(BTC, "95000", sizes=("10",) * 5), eth: book(eth, "3000", sizes=("10",) * 5)},
        positions=[position(BTC, "0.1", entry="90000")],
        open_orders=[open_order(BTC, SELL, "0.1", "80000")],  # the protective stop, client id c0
        equity="100000",
        cash="10000",
    )
    rm, _, s = started(snap=snap)
    cycle = fresh(s)
    assert rm.check_order(market(eth, BUY, "2"), cycle, is_reducing=False).ok  # 6,000 of the 10,000 cash
    close = market(BTC, SELL, "0.1")
    assert rm.check_order(close, cycle, is_reducing=True).rule == "reduce_only"  # the stop still counts
    assert rm.check_order(close, cycle, is_reducing=True, cancelled={"c0"}).ok
    again = rm.check_order(market(eth, BUY, "2"), cycle, is_reducing=False)
    assert again.rule == "insufficient_cash", again
