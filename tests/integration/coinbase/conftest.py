"""The project's exchange simulator in-process on 127.0.0.1 (ephemeral port), and a CoinbaseBroker on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from cb_sim import SIM_PRODUCTS, MakeBroker, sim_env

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env


async def _sim(tick_interval_s: float) -> AsyncIterator[ExchangeSimulator]:
    products = [p for p in default_products() if p.symbol in SIM_PRODUCTS]
    async with ExchangeSimulator(port=0, seed=7, tick_interval_s=tick_interval_s, products=products) as s:
        s.fund("USD", "1000000")
        s.fund("USDC", "1000000")  # perp collateral: INTX perps are USDC-quoted
        yield s


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    """No background market ticks: tests move the market themselves, so every outcome is exact."""
    async for s in _sim(3600):
        yield s


@pytest.fixture
async def live_sim() -> AsyncIterator[ExchangeSimulator]:
    """The market moves on its own every 100 ms (for feed-health tests)."""
    async for s in _sim(0.1):
        yield s


@pytest.fixture
async def make_broker(sim: ExchangeSimulator) -> AsyncIterator[MakeBroker]:
    made: list[CoinbaseBroker] = []

    async def make(**overrides: Any) -> CoinbaseBroker:
        env_extra = {k: str(v) for k, v in overrides.pop("env", {}).items()}
        settings = coinbase_settings_from_env(sim_env(sim, **env_extra))
        for key, value in overrides.items():
            setattr(settings, key, value)
        broker = CoinbaseBroker(settings)
        await broker.connect()
        made.append(broker)
        return broker

    yield make
    for b in made:
        await b.close()


@pytest.fixture
async def broker(make_broker: MakeBroker) -> CoinbaseBroker:
    return await make_broker()
