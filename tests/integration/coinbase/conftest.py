"""The project's exchange simulator in-process on 127.0.0.1 (ephemeral port), and a CoinbaseBroker on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings
from gpt_trader.features.brokerages.core.interfaces import BookLevel
from gpt_trader.features.brokerages.core.products import default_products

pytestmark = pytest.mark.integration
#: a small catalogue keeps simulator start-up (history seeding) fast
SIM_PRODUCTS = frozenset({"BTC-USD", "ETH-USD", "BTC-PERP-INTX"})


def sim_env(sim: ExchangeSimulator, **extra: str) -> dict[str, str]:
    env = {
        "COINBASE_API_BASE_URL": sim.rest_url,
        "COINBASE_WS_URL": sim.ws_url,
        "COINBASE_WS_USER_URL": sim.ws_user_url,
        "COINBASE_AUTH_TYPE": "cdp",
        "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
        "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
        "COINBASE_ENABLE_DERIVATIVES": "1",
    }
    env.update(extra)
    return env


async def _sim(tick_interval_s: float) -> AsyncIterator[ExchangeSimulator]:
    products = [p for p in default_products() if p.symbol in SIM_PRODUCTS]
    async with ExchangeSimulator(port=0, seed=7, tick_interval_s=tick_interval_s, products=products) as s:
        s.fund("USD", "1000000")
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
async def make_broker(sim: ExchangeSimulator) -> AsyncIterator[Callable[..., Any]]:
    made: list[CoinbaseBroker] = []

    async def make(**overrides: Any) -> CoinbaseBroker:
        env_extra = {k: str(v) for k, v in overrides.pop("env", {}).items()}
        settings = CoinbaseSettings.from_env(sim_env(sim, **env_extra))
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
async def broker(make_broker: Callable[..., Any]) -> CoinbaseBroker:
    b: CoinbaseBroker = await make_broker()
    return b


def pin(sim: ExchangeSimulator, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
    """A fixed book: fills become exactly predictable."""
    sim.venue.pin_book(
        symbol,
        [BookLevel(Decimal(p), Decimal(s)) for p, s in bids],
        [BookLevel(Decimal(p), Decimal(s)) for p, s in asks],
    )


def venue_orders(sim: ExchangeSimulator, client_order_id: str) -> list[Any]:
    return [o for o in sim.venue.all_orders(sim.account_id) if o.client_order_id == client_order_id]


async def eventually(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        res = pred()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
