"""The Coinbase broker's clock is the venue's: an accelerated simulator (--speed 60) and /admin/advance
jumps are followed from stream timestamps, and from /time over REST when no stream runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cb_sim import SIM_PRODUCTS, eventually, sim_env

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import StreamingVenue, VenueTimed
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration
TOLERANCE_S = 45.0  # venue seconds: 0.75 s of wall time at 60x


@pytest.fixture
async def fast_sim() -> AsyncIterator[ExchangeSimulator]:
    products = [p for p in default_products() if p.symbol in SIM_PRODUCTS]
    async with ExchangeSimulator(port=0, seed=5, tick_interval_s=0.25, products=products, speed=60.0) as s:
        s.fund("USD", "100000")
        yield s


async def _broker(sim: ExchangeSimulator) -> CoinbaseBroker:
    broker = CoinbaseBroker(coinbase_settings_from_env(sim_env(sim)))
    await broker.connect()
    return broker


def _skew_s(broker: CoinbaseBroker, sim: ExchangeSimulator) -> float:
    return abs((broker.now() - sim.clock.now()).total_seconds())


async def test_stream_timestamps_keep_the_broker_on_an_accelerated_venue_clock(fast_sim: ExchangeSimulator) -> None:
    sim = fast_sim
    broker = await _broker(sim)
    try:
        assert isinstance(broker, VenueTimed) and isinstance(broker, StreamingVenue)
        await broker.open_market_stream(["BTC-USD"], emit_events=False)
        await eventually(lambda: broker.clock.rate > 30, timeout=6, what="the venue's rate learned")
        await asyncio.sleep(3.0)
        # 60x: a wall-clock broker would now be over 5 venue minutes behind; the venue clock lags only by the
        # frames' delivery time x 60 (TOLERANCE_S allows 0.75 s of it on a loaded machine)
        assert _skew_s(broker, sim) < TOLERANCE_S
        before = broker.stream_counters().get("clock.rest_syncs", 0)
        await broker.sync_clock()  # streams tick: no REST needed
        assert broker.stream_counters().get("clock.rest_syncs", 0) == before
        sim.clock.advance(3600)  # /admin/advance
        # the simulator catches its market up over the jumped hour first (slow on a loaded machine)
        await eventually(lambda: _skew_s(broker, sim) < TOLERANCE_S, timeout=15, what="the jump seen on the stream")
        assert broker.clock.jumps >= 1
        assert broker.clock.rate < 120  # the jump did not become a speed
    finally:
        await broker.close()


async def test_without_streams_sync_clock_reads_venue_time_over_rest(fast_sim: ExchangeSimulator) -> None:
    sim = fast_sim
    broker = await _broker(sim)
    try:
        sim.clock.advance(7200)
        await asyncio.sleep(2.1)  # older than CLOCK_RESYNC_S: the next sync reads /time
        now = await broker.sync_clock()
        assert abs((now - sim.clock.now()).total_seconds()) < TOLERANCE_S
        assert broker.stream_counters()["clock.rest_syncs"] >= 1
        assert now - timedelta(hours=1) > sim.clock.start
    finally:
        await broker.close()
