"""On the default trust path (no COINBASE_CA_BUNDLE, as against Coinbase) REST and both WebSockets share
the broker's one TLS context: each extra context is ~1 MB of parsed CAs in the live bot."""

from __future__ import annotations

import asyncio

import pytest
from cb_sim import SIM_PRODUCTS, sim_env

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration


async def test_rest_and_both_streams_handshake_on_the_one_default_context(monkeypatch: pytest.MonkeyPatch) -> None:
    products = [p for p in default_products() if p.symbol in SIM_PRODUCTS]
    async with ExchangeSimulator(port=0, seed=5, tick_interval_s=3600, products=products, tls=True) as tls_sim:
        assert tls_sim.cert_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_sim.cert_path))  # the default path's trust store
        settings = coinbase_settings_from_env(sim_env(tls_sim))
        assert not settings.ca_bundle
        broker = CoinbaseBroker(settings)
        await broker.connect()
        try:
            assert {b.asset for b in await broker.list_balances()} >= {"USD"}
            rest_handshakes = broker._ssl.session_stats()["connect"]
            assert rest_handshakes >= 1
            stream = await broker.open_market_stream(["BTC-USD"])
            await stream.wait_synced(5)
            user = await broker.open_user_stream()
            await asyncio.wait_for(user.snapshot_done.wait(), 5)
            assert broker._ssl.session_stats()["connect"] == rest_handshakes + 2  # market + user WSS
        finally:
            await broker.close()
