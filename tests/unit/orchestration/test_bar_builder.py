"""BarBuilder: bars from trade prints, closed by the first print past the end or by the venue clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from gpt_trader.orchestration.bar_builder import BarBuilder

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_print_past_the_end_closes_the_bar_with_its_ohlcv() -> None:
    b = BarBuilder("BTC-USD", 60)
    assert b.on_trade(D("100"), D("1"), at(5)) is None
    assert b.on_trade(D("105"), D("2"), at(20)) is None
    assert b.on_trade(D("98"), D("1"), at(40)) is None
    assert b.on_trade(D("101"), D("1"), at(59.9)) is None
    closed = b.on_trade(D("102"), D("1"), at(61))
    assert closed is not None
    c = closed.candle
    assert (c.start, c.open, c.high, c.low, c.close, c.volume) == (T0, D("100"), D("105"), D("98"), D("101"), D("5"))
    assert closed.suspect, "the first bar after subscribing may have missed prints"
    nxt = b.on_trade(D("103"), D("1"), at(125))
    assert nxt is not None and not nxt.suspect and nxt.candle.close == D("102")


def test_the_venue_clock_closes_a_bar_without_a_trade() -> None:
    b = BarBuilder("ETH-USD", 60)
    b.on_trade(D("10"), D("1"), at(1))
    assert not b.would_close(at(59)) and b.on_time(at(59)) is None
    assert b.would_close(at(60))
    closed = b.on_time(at(60))
    assert closed is not None and closed.candle.close == D("10")
    assert b.on_time(at(200)) is None, "no open bar: nothing to close"


def test_late_prints_are_counted_not_added_and_a_disruption_marks_the_open_bar() -> None:
    b = BarBuilder("SOL-USD", 60)
    b.on_trade(D("1"), D("1"), at(1))
    b.on_trade(D("2"), D("1"), at(61))  # closes bar 0 (suspect: first)
    b.on_trade(D("3"), D("1"), at(121))  # closes bar 1 (clean)
    assert b.on_trade(D("9"), D("1"), at(30)) is None
    assert b.late_trades == 1
    b.mark_suspect()
    closed = b.on_trade(D("4"), D("1"), at(185))
    assert closed is not None and closed.suspect and closed.candle.start == at(120)


def test_granularity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="granularity_s"):
        BarBuilder("BTC-USD", 0)
