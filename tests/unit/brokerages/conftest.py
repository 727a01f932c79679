"""Shared fixtures for the venue-core tests: a controllable clock, a small two-sided BTC book, funded accounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products

from .helpers import Clock, lv

D = Decimal


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(clock: Clock) -> MatchingEngine:
    eng = MatchingEngine(default_products(), fees=FeeSchedule.flat("0.001", "0.002"), clock=clock, seed=7)
    eng.set_book(
        "BTC-USD",
        bids=[lv("99", "1"), lv("98", "2"), lv("97", "5")],
        asks=[lv("101", "1"), lv("102", "2"), lv("103", "5")],
    )
    eng.fund("a", "USD", D("100000"))
    eng.fund("b", "USD", D("100000"))
    eng.fund("a", "USDC", D("100000"))  # perp collateral (INTX perps are USDC-quoted)
    return eng
