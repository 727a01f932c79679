"""The risk cycle's shortcuts (guard scans, per-update correlation cache, per-product constants, shared
marks) give the same answers as the plain paths they stand in for, and drop what they cached when the
input changes."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from decimal import ROUND_FLOOR

import msgspec
import pytest
from risk_builders import T0, D, book, fresh, market, perp, position, snapshot, spot

from gpt_trader.features.brokerages.core.interfaces import OrderSide, ProductType
from gpt_trader.features.brokerages.core.quantization import quantize_size
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.guards import SYMBOL_GUARDS, GuardContext
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RiskManager
from gpt_trader.features.live_trade.risk.state import RiskState
from gpt_trader.features.live_trade.risk_calculations import MarketStats
from gpt_trader.features.monitor.metrics import MetricsRegistry

MIDS = {"BTC-USD": "95000", "ETH-USD": "3300"}


def test_pair_correlation_cache_drops_on_update() -> None:
    stats = MarketStats(short_window=5, long_window=40, corr_window=20)
    rng = random.Random(5)
    a, b = 100.0, 100.0
    for _ in range(30):
        r = rng.gauss(0, 0.01)
        a *= 1 + r
        b *= 1 + r + rng.gauss(0, 0.002)
        stats.update({"A": a, "B": b})
    first = stats.max_correlation("A", [("B", 1)], 5)
    assert first[1] == "B" and first[0] > 0.8
    assert stats.max_correlation("A", [("B", 1)], 5) == first  # served from the cache
    for _ in range(20):  # B now moves against A
        r = rng.gauss(0, 0.01)
        a *= 1 + r
        b *= 1 - r
        stats.update({"A": a, "B": b})
    corr, _n = stats.correlation("A", "B")
    assert corr is not None and corr < -0.8
    assert stats.max_correlation("A", [("B", 1)], 5, sign=1) == (0.0, "")  # a hedge, not a repeat
    assert stats.max_correlation("A", [("B", 1)], 5, sign=-1)[0] == pytest.approx(-corr)
    assert stats.max_correlation("A", [("B", 1)], 5)[0] == pytest.approx(-corr)


@pytest.mark.parametrize(
    "size",
    ["0.5", "0.12345678", "0.123456789", "1E+2", "0.00000001", "7", "0.30000000000000004", "123.000000005"],
)
def test_one_step_floor_matches_quantize_size(size: str) -> None:
    """The pre-trade fast path floors with one quantize only when that gives quantize_size's Decimal."""
    product = spot("BTC-USD")
    raw = D(size)
    fast = raw.quantize(product.base_increment, ROUND_FLOOR)
    full = quantize_size(raw, product)
    if fast == raw:
        assert str(fast) == str(full)
    rm = RiskManager(RiskConfig(), {}, MetricsRegistry(), None, lambda: T0)
    deep = book("BTC-USD", "10", sizes=("100000",) * 5)
    snap = snapshot(products=[product], mids={"BTC-USD": "10"}, books={"BTC-USD": deep}, equity="100000000")
    res = rm.check_order(market("BTC-USD", OrderSide.BUY, size), snap, is_reducing=False)
    ask = snap.quotes["BTC-USD"].ask
    assert res.ok == (full * ask >= product.quote_min_size), res
    if res.ok:  # the request keeps its own Decimal when it was already on the grid
        assert res.request.size == full and str(res.request.size) == (size if full == raw else str(full))
    else:
        assert res.rule == "quantization"


def test_product_rules_follow_a_new_product_object() -> None:
    """Per-product constants are keyed by the Product object: a changed product is re-read."""
    rm = RiskManager(
        RiskConfig(max_leverage=D("5")),
        {"BTC-USD": SymbolLimit(max_notional=D("50000"), max_leverage=D("5"))},
        MetricsRegistry(),
        None,
        lambda: T0,
    )
    snap = snapshot(products=[spot("BTC-USD")], mids={"BTC-USD": "100"}, equity="1000000")
    assert rm.check_order(market("BTC-USD", OrderSide.BUY, "1"), snap, is_reducing=False).ok
    coarse = msgspec.structs.replace(spot("BTC-USD"), base_increment=D("1"), base_min_size=D("1"))
    snap2 = msgspec.structs.replace(fresh(snap), products={"BTC-USD": coarse})
    res = rm.check_order(market("BTC-USD", OrderSide.BUY, "0.5"), snap2, is_reducing=False)
    assert not res.ok and res.rule == "quantization"
    perp_like = msgspec.structs.replace(spot("BTC-USD"), product_type=ProductType.PERPETUAL, max_leverage=D("20"))
    snap3 = msgspec.structs.replace(fresh(snap), products={"BTC-USD": perp_like})
    sell = rm.check_order(market("BTC-USD", OrderSide.SELL, "1"), snap3, is_reducing=False)
    assert sell.ok  # a perp may open a short; the spot rule for the old product object is gone


def test_guard_scan_finds_exactly_what_check_finds() -> None:
    """Each symbol guard's scan (cheap pre-test, then check) trips on the same symbols as check."""
    rng = random.Random(11)
    cfg = RiskConfig(min_depth_usd=D("150"), max_spread_bps=D("30"), max_move_pct=D("3"), volatility_min_samples=5)
    stats = MarketStats(short_window=5, long_window=40, corr_window=20)
    perp_sym = "BTC-PERP-INTX"
    spots = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"]
    syms = [*spots, perp_sym]
    px = dict.fromkeys(syms, 100.0)

    def step() -> None:
        r = rng.gauss(0, 0.01) * rng.choice([1, 1, 1, 4])  # now and then a jump
        for s in syms:
            follows = s in ("BTC-USD", "ETH-USD", perp_sym)  # these three move together
            px[s] *= 1 + (r + rng.gauss(0, 0.001) if follows else rng.gauss(0, 0.01))
        stats.update(px)

    for _ in range(40):
        step()
    tripped = dict.fromkeys((g.name for g in SYMBOL_GUARDS), 0)
    for trial in range(60):
        step()
        mids = {s: str(round(px[s], 2)) for s in syms}
        held = [s for s in spots if rng.random() < 0.4]
        mark = D(mids[perp_sym])
        liq = (mark * D(str(rng.uniform(0.75, 0.95)))).quantize(D("0.01"))
        positions = [position(s, "1", entry=mids[s]) for s in held]
        positions.append(
            position(perp_sym, "1", entry=mids[perp_sym], product_type=ProductType.PERPETUAL, liquidation=liq)
        )
        snap = snapshot(products=[*(spot(s) for s in spots), perp(perp_sym)], mids=mids, positions=positions)
        for s in syms:  # thin or wide books, stale marks, on some symbols
            if rng.random() < 0.3:
                bk = snap.books[s]
                snap.books[s] = msgspec.structs.replace(bk, bids=bk.bids[:1], asks=bk.asks[: rng.randint(0, 2)])
            if rng.random() < 0.2:
                snap.quotes[s] = msgspec.structs.replace(snap.quotes[s], ts=T0 - timedelta(seconds=31))
        marks = {s: (q.mark_price, (snap.now - q.ts).total_seconds()) for s, q in snap.quotes.items()}
        ctx = GuardContext(
            config=cfg,
            state=RiskState(),
            stats=stats,
            now=snap.now,
            equity=snap.equity,
            positions=snap.positions,
            quotes=snap.quotes,
            books=snap.books,
            products=snap.products,
            api_calls=0,
            api_failures=0,
            marks=marks,
        )
        for guard in SYMBOL_GUARDS:
            by_check = [(s, hit) for s in syms if (hit := guard.check(ctx, s)) is not None]
            by_scan = guard.scan(ctx, syms)
            assert by_scan == by_check, (guard.name, trial)
            tripped[guard.name] += len(by_scan)
    assert all(tripped.values()), tripped  # every guard tripped somewhere, so the comparison had teeth


def test_marks_are_shared_only_with_the_snapshot_they_came_from() -> None:
    """check_order on a snapshot other than the evaluated one reads that snapshot's own quotes."""
    rm = RiskManager(
        RiskConfig(),
        {"BTC-USD": SymbolLimit(max_notional=D("150000"))},
        MetricsRegistry(),
        None,
        lambda: T0,
    )
    products = [spot("BTC-USD"), spot("ETH-USD")]
    snap = snapshot(products=products, mids=MIDS, equity="1000000")
    rm.evaluate(snap)
    assert rm.check_order(market("BTC-USD", OrderSide.BUY, "1"), snap, is_reducing=False).ok
    moved = snapshot(products=products, mids={**MIDS, "BTC-USD": "200000"}, equity="1000000")
    res = rm.check_order(market("BTC-USD", OrderSide.BUY, "1"), moved, is_reducing=False)
    assert not res.ok and res.rule == "max_notional" and res.details["mark"] == "200000.00"


def test_entry_correlation_from_the_guard_table_equals_a_full_scan() -> None:
    """check_order on the evaluated snapshot continues from the correlation guard's scan of the open book;
    on a copy of that snapshot (nothing shared) it scans everything itself. Same answers either way."""
    syms = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "LTC-USD"]
    products = [spot(s) for s in syms]
    cfg = RiskConfig(actions={"correlation": "warn"}, max_orders_per_minute=100000)
    shared = RiskManager(cfg, {}, MetricsRegistry(), None, lambda: T0)
    plain = RiskManager(cfg, {}, MetricsRegistry(), None, lambda: T0)
    rng = random.Random(3)
    px = dict.fromkeys(syms, 100.0)
    held = [position("BTC-USD", "1", entry="100"), position("LTC-USD", "2", entry="100")]

    def snap_at(i: int) -> AccountSnapshot:
        mids = {s: str(round(px[s], 4)) for s in syms}
        pos = [msgspec.structs.replace(p, mark_price=D(mids[p.symbol])) for p in held]
        return snapshot(now=T0 + timedelta(seconds=i), products=products, mids=mids, positions=pos, equity="10000000")

    outcomes = []
    for i in range(80):
        a, b = rng.gauss(0, 0.01), rng.gauss(0, 0.01)
        moves = {
            "BTC-USD": a,
            "ETH-USD": a + rng.gauss(0, 0.001),  # repeats BTC
            "SOL-USD": 0.85 * a + rng.gauss(0, 0.006),  # partly BTC
            "XRP-USD": b,
            "ADA-USD": b + rng.gauss(0, 0.001),  # repeats XRP (not held: only an entry this cycle counts)
            "LTC-USD": -a + rng.gauss(0, 0.004),  # held long, moves against BTC
        }
        for s in syms:
            px[s] *= 1 + moves[s]
        snap = snap_at(i)
        shared.evaluate(snap)
        plain.evaluate(snap)
        if i < 30:
            continue
        copy = fresh(snap)
        order = syms[2:5] if i % 2 else [syms[4], syms[1], syms[3], syms[2]]
        for s in order:
            req = market(s, OrderSide.BUY, "0.5")
            one = shared.check_order(req, snap, is_reducing=False)
            two = plain.check_order(req, copy, is_reducing=False)
            assert (one.ok, one.rule, one.reason, one.details, one.request) == (
                two.ok,
                two.rule,
                two.reason,
                two.details,
                two.request,
            )
            outcomes.append((one.ok, one.rule))
    assert (True, None) in outcomes and (False, "correlation") in outcomes
    assert shared._pretrade._correlations  # the guard table was there to use


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_volatile_equals_the_guard_rule_on_calm_and_wild_paths(seed: int) -> None:
    """`volatile` skips min()/max() for windows too calm to reach the move limit; it must list exactly the
    symbols the plain rule (volatility() then the guard's comparisons) trips on."""
    rng = random.Random(seed)
    stats = MarketStats(short_window=10, long_window=60, corr_window=30)
    syms = [f"S{i}" for i in range(6)]
    px = dict.fromkeys(syms, 100.0)
    scales = [0.0005, 0.002, 0.01, 0.03]
    hits = 0
    for step in range(400):
        for i, s in enumerate(syms):
            jump = rng.choice([-0.2, 0.2]) if rng.random() < 0.01 else 0.0
            px[s] *= math.exp(rng.gauss(0, scales[(i + step // 100) % 4]) + jump)
        stats.update({s: p for s, p in px.items() if rng.random() > 0.05})
        for max_move in (0.5, 2.0, 10.0):
            expected = []
            for s in syms:
                move, short, long, samples = stats.volatility(s)
                if (move is not None and move > max_move) or (
                    samples >= 30 and short is not None and long is not None and long > 0 and short / long > 4.0
                ):
                    expected.append(s)
            got = stats.volatile(syms, max_move, 30, 4.0)
            assert got == expected, (step, max_move)
            hits += len(got)
    assert hits > 0
