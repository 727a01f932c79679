"""Random order flow across accounts: books never cross, holds match open orders, value is conserved."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.features.brokerages.core.interfaces import (
    BookUpdate,
    BrokerageError,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products

from .helpers import Clock, lv

D = Decimal
ACCOUNTS = ("a", "b", "c")

op = st.tuples(
    st.sampled_from(["limit", "market", "ioc", "fok", "post", "cancel", "edit", "book", "quote_buy"]),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(list(OrderSide)),
    st.integers(min_value=1, max_value=300),  # size in 0.01 BTC
    st.integers(min_value=-300, max_value=300),  # price offset in cents from 100.00
)


@settings(max_examples=60, deadline=None)
@given(st.lists(op, min_size=5, max_size=60))
def test_random_flow_invariants(ops: list[tuple[str, str, OrderSide, int, int]]) -> None:
    clock = Clock()
    products = [p for p in default_products() if p.symbol == "BTC-USD"]
    eng = MatchingEngine(products, fees=FeeSchedule(), clock=clock, seed=1)
    eng.set_book("BTC-USD", bids=[lv("99.50", "3"), lv("99", "5")], asks=[lv("100.50", "3"), lv("101", "5")])
    for acct in ACCOUNTS:
        eng.fund(acct, "USD", D("2000"))
        eng.fund(acct, "BTC", D("5"))
    usd0 = sum((eng.balance(x, "USD").total for x in ACCOUNTS), D(0))
    btc0 = sum((eng.balance(x, "BTC").total for x in ACCOUNTS), D(0))
    ext_usd = D(0)  # USD that flowed to external liquidity
    ext_btc = D(0)
    for kind, acct, side, size_units, offset in ops:
        clock.tick(1)
        size = D(size_units) / 100
        price = D(10000 + offset) / 100
        try:
            if kind in ("limit", "ioc", "fok", "post"):
                tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.GTC)
                req = OrderRequest(
                    symbol="BTC-USD",
                    side=side,
                    order_type=OrderType.LIMIT,
                    size=size,
                    limit_price=price,
                    time_in_force=tif,
                    post_only=kind == "post",
                )
                eng.submit(acct, req)
            elif kind == "market":
                eng.submit(acct, OrderRequest(symbol="BTC-USD", side=side, order_type=OrderType.MARKET, size=size))
            elif kind == "quote_buy":
                eng.submit(
                    acct,
                    OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, quote_size=price),
                )
            elif kind in ("cancel", "edit"):
                open_orders = eng.list_orders(acct)
                if open_orders:
                    target = open_orders[size_units % len(open_orders)]
                    if kind == "cancel":
                        eng.cancel(acct, target.order_id)
                    else:
                        eng.edit(acct, target.order_id, price=price)
            else:
                mid = price
                eng.set_book(
                    "BTC-USD",
                    bids=[lv(str(mid - D("0.5")), "2"), lv(str(mid - 1), "4")],
                    asks=[lv(str(mid + D("0.5")), "2"), lv(str(mid + 1), "4")],
                )
        except BrokerageError:
            pass
        # holds equal what open orders still reserve; nothing is negative; available = total - hold
        for x in ACCOUNTS:
            for bal in eng.balances(x):
                assert bal.total >= 0, (x, bal)
                assert bal.hold >= 0 and bal.available == max(bal.total - bal.hold, D(0))
                assert bal.hold <= bal.total + D("0.01"), (x, bal)
            if not eng.list_orders(x):
                assert eng.balance(x, "USD").hold == 0 and eng.balance(x, "BTC").hold == 0
        book = eng.book("BTC-USD", 1)
        if book.bids and book.asks:
            assert book.bids[0].price < book.asks[0].price
    fills = [f for x in ACCOUNTS for f in eng.list_fills(x)]
    counts: dict[str, int] = {}
    for f in fills:
        counts[f.trade_id] = counts.get(f.trade_id, 0) + 1
    for f in fills:
        if counts[f.trade_id] == 1:  # against external liquidity
            sign = 1 if f.side is OrderSide.BUY else -1
            ext_usd += sign * f.price * f.size  # exact: the venue settles notionals unrounded
            ext_btc += sign * f.size
    fees = sum((f.fee for f in fills), D(0))
    usd1 = sum((eng.balance(x, "USD").total for x in ACCOUNTS), D(0))
    btc1 = sum((eng.balance(x, "BTC").total for x in ACCOUNTS), D(0))
    assert usd1 == usd0 - fees - ext_usd
    assert btc1 == btc0 + ext_btc
    for x in ACCOUNTS:
        for o in eng.list_orders(x, open_only=False):
            assert o.filled_size <= o.size or o.quote_size is not None
            own = [f for f in eng.list_fills(x, order_id=o.order_id)]
            assert sum((f.size for f in own), D(0)) == o.filled_size
            assert sum((f.fee for f in own), D(0)) == o.fees
            assert sum((f.price * f.size for f in own), D(0)) == o.filled_value


@settings(max_examples=40, deadline=None)
@given(st.lists(op, min_size=5, max_size=40))
def test_book_updates_replay_to_the_engine_book(ops: list[tuple[str, str, OrderSide, int, int]]) -> None:
    """Applying every BookUpdate to the first snapshot reproduces `book()` exactly (the L2 channel contract)."""
    clock = Clock()
    products = [p for p in default_products() if p.symbol == "BTC-USD"]
    eng = MatchingEngine(products, fees=FeeSchedule.flat("0.001", "0.002"), clock=clock, seed=1)
    eng.set_book("BTC-USD", bids=[lv("99.50", "3"), lv("99", "5")], asks=[lv("100.50", "3"), lv("101", "5")])
    snap = eng.book("BTC-USD", 10_000)
    bids = {lvl.price: lvl.size for lvl in snap.bids}
    asks = {lvl.price: lvl.size for lvl in snap.asks}

    def apply(event: object) -> None:
        if isinstance(event, BookUpdate):
            side = bids if event.side is OrderSide.BUY else asks
            if event.size == 0:
                side.pop(event.price, None)
            else:
                side[event.price] = event.size

    eng.add_listener(apply)
    for acct in ACCOUNTS:
        eng.fund(acct, "USD", D("5000"))
        eng.fund(acct, "BTC", D("20"))
    for kind, acct, side, size_units, offset in ops:
        clock.tick(1)
        size = D(size_units) / 100
        price = D(10000 + offset) / 100
        try:
            if kind in ("limit", "ioc", "post", "fok"):
                eng.submit(acct, limit_req(side, size, price, kind))
            elif kind in ("market", "quote_buy"):
                eng.submit(acct, OrderRequest(symbol="BTC-USD", side=side, order_type=OrderType.MARKET, size=size))
            elif kind in ("cancel", "edit"):
                open_orders = eng.list_orders(acct)
                if open_orders:
                    target = open_orders[size_units % len(open_orders)]
                    if kind == "cancel":
                        eng.cancel(acct, target.order_id)
                    else:
                        eng.edit(acct, target.order_id, price=price)
            else:
                eng.set_book(
                    "BTC-USD",
                    bids=[lv(str(price - D("0.5")), "2"), lv(str(price - 1), "4")],
                    asks=[lv(str(price + D("0.5")), "2"), lv(str(price + 1), "4")],
                )
        except BrokerageError:
            pass
        now = eng.book("BTC-USD", 10_000)
        assert {lvl.price: lvl.size for lvl in now.bids} == bids
        assert {lvl.price: lvl.size for lvl in now.asks} == asks


def limit_req(side: OrderSide, size: Decimal, price: Decimal, kind: str) -> OrderRequest:
    tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.GTC)
    return OrderRequest(
        symbol="BTC-USD",
        side=side,
        order_type=OrderType.LIMIT,
        size=size,
        limit_price=price,
        time_in_force=tif,
        post_only=kind == "post",
    )
