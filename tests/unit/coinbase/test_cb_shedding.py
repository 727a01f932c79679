"""SheddingQueue (coinbase/shedding.py): FIFO while the consumer keeps up; once an event waited too long
(or too many are pending) book level updates and ticker quotes coalesce to their latest state, counted,
while trades, snapshots and candles are all kept in order; episodes start and stop with a log line."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.coinbase.shedding import SheddingQueue, coalesce_key
from gpt_trader.features.brokerages.core.interfaces import BookUpdate, OrderSide, Quote, TradeTick

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
D = Decimal


class Clock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


def book(sym: str, price: str, size: str, i: int = 0, *, snapshot: bool = False) -> BookUpdate:
    return BookUpdate(
        symbol=sym, side=OrderSide.BUY, price=D(price), size=D(size), ts=T0 + timedelta(seconds=i), is_snapshot=snapshot
    )


def quote(sym: str, last: str, i: int = 0) -> Quote:
    return Quote(symbol=sym, bid=D(last) - 1, ask=D(last) + 1, last=D(last), ts=T0 + timedelta(seconds=i))


def trade(sym: str, i: int) -> TradeTick:
    return TradeTick(
        symbol=sym, trade_id=str(i), price=D(100 + i), size=D(1), side=OrderSide.BUY, ts=T0 + timedelta(seconds=i)
    )


def drain(q: SheddingQueue) -> list[object]:
    return [q.get_nowait() for _ in range(q.qsize())]


def test_keys_coalesce_only_book_levels_and_quotes() -> None:
    assert coalesce_key(book("A", "1", "2")) == ("book", "A", OrderSide.BUY, D(1))
    assert coalesce_key(quote("A", "10")) == ("quote", "A")
    assert coalesce_key(book("A", "1", "2", snapshot=True)) is None
    assert coalesce_key(trade("A", 1)) is None


def test_fifo_while_the_consumer_keeps_up() -> None:
    clock = Clock()
    q = SheddingQueue(100, Counter(), clock=clock)
    items = [book("A", "1", "1"), quote("A", "10"), book("A", "1", "2"), quote("A", "11"), trade("A", 1)]
    for it in items:
        q.put(it)
    assert drain(q) == items and not q.shedding and q.stats()["active"] == 0.0


def test_a_lagging_consumer_starts_shedding_and_coalesces_to_the_latest(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    counters: Counter[str] = Counter()
    q = SheddingQueue(10_000, counters, clock=clock, shed_after_s=0.2, shed_backlog=1000)
    q.put(quote("A", "1"))
    clock.t += 0.3
    with caplog.at_level(logging.WARNING):
        q.get_nowait()  # waited 0.3 s: shedding starts
    assert q.shedding and "load shedding starts" in caplog.text
    for i in range(50):
        q.put(book("A", "100", str(i + 1), i))  # one level, 50 sizes: only the last matters
        q.put(book("A", str(200 + i % 5), "1", i))  # five levels
        q.put(quote("A", str(1000 + i), i))
        q.put(quote("B", str(2000 + i), i))
        q.put(trade("A", i))
    q.put(book("A", "100", "0", 60, snapshot=True))
    q.put(book("A", "100", "7", 61, snapshot=True))  # snapshot levels are never coalesced
    got = drain(q)
    trades = [e for e in got if isinstance(e, TradeTick)]
    assert [t.trade_id for t in trades] == [str(i) for i in range(50)], "every trade kept, in order"
    books = [e for e in got if isinstance(e, BookUpdate) and not e.is_snapshot]
    assert sorted((b.price, b.size) for b in books) == [(D(100), D(50))] + [(D(200 + k), D(1)) for k in range(5)]
    assert [e.size for e in got if isinstance(e, BookUpdate) and e.is_snapshot] == [D(0), D(7)]
    quotes = {e.symbol: e.last for e in got if isinstance(e, Quote)}
    assert quotes == {"A": D(1049), "B": D(2049)} and len([e for e in got if isinstance(e, Quote)]) == 2
    stats = q.stats()
    assert stats["coalesced.book"] == 49 + 45 and stats["coalesced.quote"] == 98 and stats["episodes"] == 1
    assert counters["dropped_events"] == 0


def test_shedding_stops_once_the_consumer_catches_up(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    q = SheddingQueue(10_000, Counter(), clock=clock, shed_after_s=0.2, shed_backlog=8)
    for i in range(8):
        q.put(trade("A", i))  # 8 pending: the backlog starts shedding
    assert q.shedding
    with caplog.at_level(logging.WARNING):
        drain(q)  # taken at once (no wait) and the backlog gone: it stops
    assert not q.shedding and "load shedding stops" in caplog.text and q.stats()["episodes"] == 1


def test_when_even_shedding_cannot_keep_up_the_oldest_is_dropped_and_counted() -> None:
    counters: Counter[str] = Counter()
    q = SheddingQueue(3, counters, clock=Clock())
    for i in range(5):
        q.put(trade("A", i))
    assert [t.trade_id for t in drain(q)] == ["2", "3", "4"] and counters["dropped_events"] == 2  # type: ignore[attr-defined]


async def test_get_waits_for_a_put() -> None:
    import asyncio

    q = SheddingQueue(10, Counter())
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.put(trade("A", 1))
    assert (await asyncio.wait_for(waiter, 1)).trade_id == "1"
