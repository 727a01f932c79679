"""The level2 book kept sorted: whatever sequence of snapshot levels, updates and deletions arrives, its best
bid/ask and its top-N levels are those of the plain price -> size map they replace (read without a scan)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.features.brokerages.coinbase.ws import L2Book

PRICES = st.integers(min_value=1, max_value=400).map(lambda c: Decimal(c) / 4)  # 0.25 .. 100.00
SIZES = st.sampled_from([Decimal(0), Decimal("0.5"), Decimal("1.25"), Decimal(3)])
UPDATES = st.lists(st.tuples(st.sampled_from(["bid", "offer"]), PRICES, SIZES), max_size=300)


@settings(max_examples=60, deadline=None)
@given(updates=UPDATES, depth=st.one_of(st.none(), st.integers(min_value=1, max_value=60)))
def test_the_sorted_book_reads_as_the_plain_map_it_replaces(
    updates: list[tuple[str, Decimal, Decimal]], depth: int | None
) -> None:
    book = L2Book("BTC-USD")
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for side, price, size in updates:
        book.apply(side, price, size)
        ref = bids if side == "bid" else asks
        if size == 0:
            ref.pop(price, None)
        else:
            ref[price] = size
    assert book.best() == (max(bids) if bids else None, min(asks) if asks else None)
    ob = book.to_order_book(depth)
    want_bids = sorted(bids, reverse=True)[:depth]
    want_asks = sorted(asks)[:depth]
    assert [(lvl.price, lvl.size) for lvl in ob.bids] == [(p, bids[p]) for p in want_bids]
    assert [(lvl.price, lvl.size) for lvl in ob.asks] == [(p, asks[p]) for p in want_asks]


def test_a_price_written_with_another_exponent_is_the_same_level() -> None:
    book = L2Book("BTC-USD")
    book.apply("bid", Decimal("100.50"), Decimal(1))
    book.apply("bid", Decimal("100.5"), Decimal(2))  # the venue's string for the same level, reformatted
    book.apply("offer", Decimal("101"), Decimal(1))
    book.apply("offer", Decimal("101.000"), Decimal(0))  # deletes it
    assert book.best() == (Decimal("100.50"), None)
    assert [(lvl.price, lvl.size) for lvl in book.to_order_book(5).bids] == [(Decimal("100.5"), Decimal(2))]
    book.reset()
    assert book.best() == (None, None) and not book.synced
