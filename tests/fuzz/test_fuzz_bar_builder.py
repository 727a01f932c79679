"""Fuzzed trade prints into the bot's stream feed bar builder (issue 17): reordered, duplicated and late
prints, any sizes and times. Closed bars come out in strictly increasing order, each consistent (low <=
open, close <= high; volume the sum of the prints it took), and a late print is counted, never merged into
a bar already decided on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.orchestration.bar_builder import BarBuilder

T0 = datetime(2026, 1, 1, 14, tzinfo=UTC)
prints = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2),
        st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000"), places=8),
        st.integers(min_value=0, max_value=600),  # seconds after T0: ten 1-minute bars, in any order
    ),
    max_size=60,
)


@given(prints=prints, clock_ticks=st.lists(st.integers(min_value=0, max_value=700), max_size=5))
def test_bars_close_in_order_consistent_and_late_prints_are_counted(
    prints: list[tuple[Decimal, Decimal, int]], clock_ticks: list[int]
) -> None:
    builder = BarBuilder("BTC-USD", 60)
    closed = []
    taken = Decimal(0)
    ticks = sorted(clock_ticks)
    for price, size, offset in prints:
        while ticks and ticks[0] <= offset:
            bar = builder.on_time(T0 + timedelta(seconds=ticks.pop(0)))
            if bar is not None:
                closed.append(bar)
        late_before = builder.late_trades
        bar = builder.on_trade(price, size, T0 + timedelta(seconds=offset))
        if builder.late_trades == late_before:
            taken += size
        if bar is not None:
            closed.append(bar)
    final = builder.on_time(T0 + timedelta(days=1))
    if final is not None:
        closed.append(final)
    starts = [b.candle.start for b in closed]
    assert starts == sorted(set(starts)), "bars must close once each, oldest first"
    for b in closed:
        c = b.candle
        assert c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close), c
        assert c.start.second == 0 and c.volume > 0, c
    assert sum(b.candle.volume for b in closed) == taken, "every accepted print is in exactly one bar"
