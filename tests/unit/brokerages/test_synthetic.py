"""Synthetic markets: seeded determinism, chunking independence, grid outputs, regimes and history."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import OrderSide
from gpt_trader.features.brokerages.core.products import default_products, products_by_symbol
from gpt_trader.features.brokerages.core.quantization import is_multiple
from gpt_trader.features.brokerages.core.synthetic import (
    CALM,
    TURBULENT,
    AssetProfile,
    SymbolMarket,
    SyntheticConfig,
    SyntheticMarket,
    derive_seed,
    still_config,
)

from .helpers import T0

D = Decimal
PRODUCTS = [p for p in default_products() if p.symbol in ("BTC-USD", "DOGE-USD", "ETH-PERP-INTX")]


def test_same_seed_same_path_and_chunking_independent() -> None:
    a = SyntheticMarket(PRODUCTS, seed=3, start=T0)
    b = SyntheticMarket(PRODUCTS, seed=3, start=T0)
    trades_a = a.advance(600)
    trades_b = []
    for chunk in (0.4, 0.7, 100.3, 0.6, 498, 0.0):
        trades_b.extend(b.advance(chunk))
    assert a.now == b.now == T0 + timedelta(seconds=600)
    assert trades_a == trades_b
    for sym in a.symbols:
        assert a.mid(sym) == b.mid(sym)
        assert a.book(sym) == b.book(sym)
        assert a.candles(sym, 60) == b.candles(sym, 60)


def test_different_seed_differs_and_symbols_are_independent() -> None:
    a = SyntheticMarket(PRODUCTS, seed=3, start=T0)
    c = SyntheticMarket(PRODUCTS, seed=4, start=T0)
    a.advance(300)
    c.advance(300)
    assert a.mid("BTC-USD") != c.mid("BTC-USD")
    only_btc = SyntheticMarket(PRODUCTS[:1], seed=3, start=T0)
    only_btc.advance(300)
    assert only_btc.mid("BTC-USD") == a.mid("BTC-USD")
    assert derive_seed(3, "BTC-USD") == derive_seed(3, "BTC-USD") != derive_seed(3, "ETH-USD")


def test_outputs_on_product_grid() -> None:
    m = SyntheticMarket(PRODUCTS, seed=5, start=T0)
    trades = m.advance(120)
    by = products_by_symbol(PRODUCTS)
    assert trades
    for t in trades:
        assert is_multiple(t.price, by[t.symbol].price_increment)
        assert is_multiple(t.size, by[t.symbol].base_increment)
    for sym in m.symbols:
        book = m.book(sym)
        p = by[sym]
        assert len(book.bids) == len(book.asks) == 20
        assert book.bids[0].price < book.asks[0].price
        assert all(a.price > b.price for a, b in zip(book.bids, book.bids[1:], strict=False))
        assert all(a.price < b.price for a, b in zip(book.asks, book.asks[1:], strict=False))
        for lvl in book.bids + book.asks:
            assert is_multiple(lvl.price, p.price_increment) and is_multiple(lvl.size, p.base_increment)
            assert lvl.size >= p.base_min_size
        q = m.quote(sym)
        assert (q.bid, q.ask) == (book.bids[0].price, book.asks[0].price)


def test_turbulent_books_are_wider_and_thinner() -> None:
    (btc,) = [p for p in PRODUCTS if p.symbol == "BTC-USD"]
    calm_cfg = SyntheticConfig(regimes=(CALM,), transitions=((1.0,),), initial_regime=0)
    wild_cfg = SyntheticConfig(regimes=(TURBULENT,), transitions=((1.0,),), initial_regime=0)
    calm = SymbolMarket(btc, seed=1, start=T0, config=calm_cfg)
    wild = SymbolMarket(btc, seed=1, start=T0, config=wild_cfg)
    cb, wb = calm.book(), wild.book()
    assert wb.spread_bps is not None and cb.spread_bps is not None and wb.spread_bps > cb.spread_bps
    assert wb.depth(OrderSide.BUY) < cb.depth(OrderSide.BUY)


def test_a_still_market_prints_but_moves_only_when_set() -> None:
    m = SyntheticMarket(PRODUCTS, seed=3, start=T0, config=still_config())
    start = m.mid("BTC-USD")
    ticks = [t for _ in range(3000) for t in m.step() if t.symbol == "BTC-USD"]
    assert ticks, "trades still print, so bars close"
    assert m.mid("BTC-USD") == start and len({t.price for t in ticks}) <= 2  # bid or ask side of one mid
    m.set_mid("BTC-USD", D("50000"))
    m.step()
    assert m.mid("BTC-USD") == D("50000.00")


def test_liquidity_override_and_set_mid() -> None:
    m = SyntheticMarket(PRODUCTS, seed=5, start=T0)
    before = m.book("BTC-USD")
    m.set_liquidity("BTC-USD", spread_bps=50, depth_scale=0.1)
    after = m.book("BTC-USD")
    assert after.spread_bps is not None and after.spread_bps > 40
    assert sum(x.size for x in after.asks) < sum(x.size for x in before.asks) / 5
    m.set_mid("BTC-USD", D("60000"))
    assert m.mid("BTC-USD") == D("60000.00")
    with pytest.raises(ValueError):
        m.set_mid("BTC-USD", D("0"))


def test_regimes_switch_over_a_long_run() -> None:
    (btc,) = [p for p in PRODUCTS if p.symbol == "BTC-USD"]
    quiet_tape = AssetProfile(
        annual_vol=0.5, spread_bps=0.5, level_notional_usd=150_000, trades_per_s=0.001, trade_notional_usd=1_500
    )
    cfg = SyntheticConfig(step_s=30.0, profiles={"BTC": quiet_tape})
    m = SymbolMarket(btc, seed=11, start=T0, config=cfg)
    seen = set()
    for _ in range(3 * 2880):  # three days
        m.step()
        seen.add(m.regime.name)
    assert seen == {"calm", "normal", "turbulent"}
    assert D("40000") < m.mid() < D("200000")


def test_history_meets_session_start_and_candles_aggregate() -> None:
    m = SyntheticMarket(PRODUCTS, seed=9, start=T0)
    hist = m.history("BTC-USD", 50, 3600)
    assert len(hist) == 50
    assert hist[-1].start == T0 - timedelta(hours=1)
    assert hist[-1].close == D("95000.00")
    assert all(b.start - a.start == timedelta(hours=1) for a, b in itertools.pairwise(hist))
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in hist)
    assert m.history("BTC-USD", 10, 3600) == hist[-10:]  # deterministic prefix, cached
    m.advance(3 * 3600)
    session = m.candles("BTC-USD", 3600)
    assert [c.start for c in session] == [T0 + timedelta(hours=h) for h in range(4)]
    assert session[0].open == D("95000.00")
    minutes = m.candles("BTC-USD", 60, start=T0, end=T0 + timedelta(hours=1))
    assert len(minutes) == 60
    assert session[0].high == max(c.high for c in minutes)
    assert session[0].volume == sum(c.volume for c in minutes)
    with pytest.raises(ValueError):
        m.candles("BTC-USD", 90)
