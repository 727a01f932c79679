"""The orchestrator's factories (`build_coinbase_broker`, `build_paper_broker`) on a real profile and
the orchestrator's own config types, against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest
from cb_sim import sim_env

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase import build_coinbase_broker
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.paper_trade import build_paper_broker
from gpt_trader.orchestration.configuration import ConfigManager

pytestmark = pytest.mark.integration


@pytest.fixture
async def full_sim() -> AsyncIterator[ExchangeSimulator]:
    """The whole default catalogue (the canary universe is wider than the other tests' three products)."""
    async with ExchangeSimulator(port=0, seed=3, tick_interval_s=3600) as s:
        yield s


async def test_canary_profile_builds_a_working_coinbase_broker(full_sim: ExchangeSimulator) -> None:
    sim = full_sim
    manager = ConfigManager(env=sim_env(sim), dotenv_path=None)
    config = manager.load("canary")
    broker = build_coinbase_broker(config, manager.credentials())
    await broker.connect()
    try:
        assert broker.settings.api_base_url == sim.rest_url
        assert {b.asset for b in await broker.list_balances()} >= {"USD"}
        for symbol in config.symbols:
            product = await broker.get_product(symbol)
            assert product.symbol == symbol
            assert (await broker.get_quote(symbol)).bid > 0
    finally:
        await broker.close()


async def test_paper_factory_without_credentials(full_sim: ExchangeSimulator) -> None:
    sim = full_sim
    env = {k: v for k, v in sim_env(sim).items() if "CDP" not in k and "AUTH" not in k}
    manager = ConfigManager(env=env, dotenv_path=None)
    config = manager.load("demo")
    paper = build_paper_broker(config, manager.credentials())
    await paper.connect()
    try:
        assert isinstance(paper.feed, CoinbaseBroker) and paper.feed.public_only
        assert (await paper.list_balances())[0].total == D(config.paper.starting_cash)
    finally:
        await paper.close()
