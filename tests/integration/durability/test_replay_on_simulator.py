"""A canary session against the exchange simulator (CoinbaseBroker over 127.0.0.1) replays
deterministically from its EventStore against the venue's recorded candles."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.replay import run_replay
from gpt_trader.orchestration.service_registry import build_registry
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
from chaos_support import SYMBOLS, write_canary_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    day = datetime.now(UTC).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 14, 0, 57, tzinfo=UTC)  # a bar completes 3 s in
    products = [p for p in default_products() if p.symbol in SYMBOLS]
    async with ExchangeSimulator(
        port=0, seed=5, start_time=start, products=products, rate_limit_private=1000, rate_limit_public=1000
    ) as s:
        s.fund("USD", "100000")
        yield s


def _broker(sim: ExchangeSimulator) -> CoinbaseBroker:
    return CoinbaseBroker(
        coinbase_settings_from_env(
            {
                "COINBASE_API_BASE_URL": sim.rest_url,
                "COINBASE_WS_URL": sim.ws_url,
                "COINBASE_WS_USER_URL": sim.ws_user_url,
                "COINBASE_AUTH_TYPE": "cdp",
                "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
                "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
            }
        )
    )


async def test_simulator_session_replays_deterministically(sim: ExchangeSimulator, tmp_path: Path) -> None:
    profile = write_canary_profile(tmp_path, tmp_path / "data")
    config = ConfigManager(env={}).load(str(profile))
    registry = build_registry(config, broker=_broker(sim), fresh_store=False)
    await PerpsBot(registry).run(cycles=8, interval_s=1.0)
    assert registry.events.count("decision") >= 1, "the first bar boundary should bring decisions"

    venue = _broker(sim)
    await venue.connect()
    try:
        report = await run_replay(config.store_dir / "bot.sqlite3", registry.session_id, venue=venue)
    finally:
        await venue.close()
    assert report.checked == registry.events.count("decision")
    assert report.deterministic, report.differences
