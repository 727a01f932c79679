"""Random perps flow: the USDC collateral always equals deposits - fees + realized PnL - funding, positions
equal the signed sum of fills, and nobody stays below maintenance margin after `advance`."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.features.brokerages.core.interfaces import (
    BrokerageError,
    OrderRequest,
    OrderSide,
    OrderType,
)
from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products

from .helpers import Clock, lv

D = Decimal
PERP = "BTC-PERP-INTX"
ACCOUNTS = ("a", "b")
DEPOSIT = D("100")

op = st.tuples(
    st.sampled_from(["market", "limit", "reduce", "move", "wait", "rate", "cancel"]),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(list(OrderSide)),
    st.integers(min_value=1, max_value=80),  # size in 0.1 contracts... x 0.1 BTC
    st.integers(min_value=-80, max_value=80),  # price move / offset in 0.1 USD
    st.sampled_from([D(1), D(5), D(20)]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(op, min_size=3, max_size=50))
def test_perps_ledger_identity(ops: list[tuple[str, str, OrderSide, int, int, Decimal]]) -> None:
    clock = Clock()
    products = [p for p in default_products() if p.symbol == PERP]
    eng = MatchingEngine(products, fees=FeeSchedule.flat("0.0002", "0.0005"), clock=clock, seed=2)
    mid = D("100")

    def book(center: Decimal) -> None:
        eng.set_book(
            PERP,
            bids=[lv(str(center - D("0.1")), "5"), lv(str(center - 1), "20")],
            asks=[lv(str(center + D("0.1")), "5"), lv(str(center + 1), "20")],
        )

    book(mid)
    for x in ACCOUNTS:
        eng.fund(x, "USDC", DEPOSIT)
    for kind, acct, side, size_units, move, lev in ops:
        size = D(size_units) / 10
        try:
            if kind == "market":
                eng.submit(
                    acct,
                    OrderRequest(symbol=PERP, side=side, order_type=OrderType.MARKET, size=size, leverage=lev),
                )
            elif kind == "limit":
                price = mid + D(move) / 10
                eng.submit(
                    acct,
                    OrderRequest(
                        symbol=PERP,
                        side=side,
                        order_type=OrderType.LIMIT,
                        size=size,
                        limit_price=price,
                        leverage=lev,
                    ),
                )
            elif kind == "reduce":
                eng.close_position(acct, PERP)
            elif kind == "cancel":
                for o in eng.list_orders(acct):
                    eng.cancel(acct, o.order_id)
            elif kind == "rate":
                eng.set_funding_rate(PERP, D(move) / D(100000))
            elif kind == "move":
                mid = max(D("10"), mid + D(move) / 2)
                clock.tick(1)
                book(mid)
            else:
                clock.tick(600 * size_units)
            eng.advance()
        except BrokerageError:
            pass
        for x in ACCOUNTS:
            acct_state = eng._accounts[x]
            fills = eng.list_fills(x)
            realized = sum((p.realized_pnl for p in acct_state.perps.values()), D(0))
            funding = sum((p.funding_paid for p in acct_state.perps.values()), D(0))
            fees = sum((f.fee for f in fills), D(0))
            assert eng.balance(x, "USDC").total == DEPOSIT - fees + realized - funding
            signed = sum((f.size if f.side is OrderSide.BUY else -f.size for f in fills), D(0))
            positions = {p.symbol: p for p in eng.positions(x)}
            assert (positions[PERP].size if PERP in positions else D(0)) == signed
            if PERP in positions:
                mm = abs(signed) * (eng.mark(PERP) or mid) * D("0.025")
                assert eng.equity(x) >= mm
            assert eng.balance(x, "USDC").available >= 0
