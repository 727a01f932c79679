"""MarketMonitor on streams: the bot's own stream reporting silence blocks the symbol until the stream
brings a newer mark; a book change refreshes the held mark's age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from gpt_trader.orchestration.market_monitor import MarketMonitor

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def test_stream_silence_blocks_whatever_its_age_until_a_newer_mark() -> None:
    m = MarketMonitor(stale_after_s=600)
    m.update("BTC-USD", D("100"), T0)
    m.report_stream_stale("BTC-USD", 1.0)  # 1 s of wall silence on a 30x venue: far under 600 venue s
    assert m.is_stale("BTC-USD", T0)
    m.update("BTC-USD", D("100"), T0)  # not newer: still stale
    assert m.is_stale("BTC-USD", T0)
    m.update("BTC-USD", D("101"), T0 + timedelta(seconds=1))
    assert not m.is_stale("BTC-USD", T0 + timedelta(seconds=1))


def test_touch_refreshes_the_age_and_clears_stream_silence() -> None:
    m = MarketMonitor(stale_after_s=30)
    m.touch("ETH-USD", T0)  # no mark yet: nothing to refresh
    assert m.mark("ETH-USD") is None
    m.update("ETH-USD", D("10"), T0)
    m.report_stream_stale("ETH-USD", 5.0)
    m.touch("ETH-USD", T0 + timedelta(seconds=40))
    assert not m.is_stale("ETH-USD", T0 + timedelta(seconds=45))
    assert m.age_s("ETH-USD", T0 + timedelta(seconds=45)) == 5.0
    assert m.mark("ETH-USD") == D("10")
