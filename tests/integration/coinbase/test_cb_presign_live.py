"""Order-creation tokens signed ahead, on the simulator over HTTP: the signer's counts and ready stock reach
the bot's metrics (the same `publish_venue_stats` the monitor runs each cycle), and a background signer that
fails backs off, is counted and logged without key material, never holds orders up, and recovers."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from pathlib import Path

import pytest
from cb_sim import MakeBroker, eventually, limit_buy, sim_env, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.auth import CdpJwtSigner
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.rest import API_PREFIX, PRESIGN_DEPTH, CoinbaseRestClient
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.monitoring import publish_venue_stats
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration

REST_LOG = "gpt_trader.features.brokerages.coinbase.rest"
RETRY = (0.1, 0.4)  # the back-off under test: 0.1, 0.2, 0.4, 0.4, ... s


def orders_uri(rest: CoinbaseRestClient) -> str:
    return f"POST {rest.host}{API_PREFIX}/orders"


async def place(broker: CoinbaseBroker, sim: ExchangeSimulator, *coids: str) -> None:
    """Each order acknowledged by the venue, exactly once."""
    for coid in coids:
        order = await broker.place_order(limit_buy(coid))
        assert order.order_id and order.client_order_id == coid
        assert len(venue_orders(sim, coid)) == 1


def published(broker: CoinbaseBroker) -> MetricsRegistry:
    metrics = MetricsRegistry()
    publish_venue_stats(metrics, broker)
    return metrics


# ------------------------------------------------------------------------------------------- metrics
async def test_the_signers_counts_and_stock_reach_the_metrics(
    sim: ExchangeSimulator, make_broker: MakeBroker, tmp_path: Path
) -> None:
    broker = await make_broker()
    signer = broker.rest.signer
    assert isinstance(signer, CdpJwtSigner)
    uri = orders_uri(broker.rest)
    await eventually(lambda: signer.presigned(uri) == PRESIGN_DEPTH, what="the stock to fill after connect")
    metrics = MetricsRegistry()
    publish_venue_stats(metrics, broker)
    assert metrics.counter("coinbase.presign.used") == 0
    assert metrics.counter("coinbase.presign.signed") >= PRESIGN_DEPTH
    assert metrics.gauge("coinbase.presign.stock") == PRESIGN_DEPTH
    used = []
    for batch in (("m-0", "m-1", "m-2"), ("m-3", "m-4")):
        await place(broker, sim, *batch)
        publish_venue_stats(metrics, broker)  # the monitor's per-cycle publish
        used.append(metrics.counter("coinbase.presign.used"))
        assert metrics.counter("coinbase.presign.on_demand") == 0
    assert used == [3, 5]
    text = metrics.render_prometheus().decode()
    assert "gpt_trader_coinbase_presign_used_total 5.0" in text
    assert "gpt_trader_coinbase_presign_on_demand_total 0.0" in text
    assert "# HELP gpt_trader_coinbase_presign_used_total Orders sent with a JWT signed ahead" in text
    assert "# TYPE gpt_trader_coinbase_presign_stock gauge" in text
    metrics.write_json(tmp_path / "metrics.json")
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["counters"]["coinbase.presign.used"] == 5
    assert 0 <= data["gauges"]["coinbase.presign.stock"] <= PRESIGN_DEPTH


async def test_with_depth_0_the_metrics_show_every_order_signed_on_demand(
    sim: ExchangeSimulator, make_broker: MakeBroker
) -> None:
    broker = await make_broker(presign_depth=0)
    await place(broker, sim, "d0-0", "d0-1")
    metrics = published(broker)
    assert metrics.counter("coinbase.presign.on_demand") == 2
    assert metrics.counter("coinbase.presign.used") == 0
    assert metrics.counter("coinbase.presign.signed") == 0
    assert metrics.gauge("coinbase.presign.stock") == 0
    assert "gpt_trader_coinbase_presign_on_demand_total 2.0" in metrics.render_prometheus().decode()


async def test_an_hmac_key_publishes_no_presign_metrics(sim: ExchangeSimulator) -> None:
    settings = coinbase_settings_from_env(sim_env(sim))
    rest = CoinbaseRestClient(settings.api_base_url, None)
    try:
        assert rest.presign_status() is None
    finally:
        await rest.aclose()


# -------------------------------------------------------------------------------------- failure path
class FlakySigner(CdpJwtSigner):
    """The real signer, whose background step raises while `broken`: with an error that quotes the key, as a
    crypto library might. Records the loop time of every failed step."""

    def __init__(self, key_name: str, private_key: str) -> None:
        super().__init__(key_name, private_key)
        self._material = private_key
        self.broken = True
        self.failed_at: list[float] = []

    def presign_step(self) -> float:
        if self.broken:
            self.failed_at.append(asyncio.get_running_loop().time())
            raise RuntimeError(f"could not sign with {self._material!r}")
        return super().presign_step()


def key_fragments(private_key: str) -> list[str]:
    """Pieces of the key's material (PEM body lines, and their first 16 characters) a log must not hold."""
    lines = [ln.strip() for ln in private_key.replace("\\n", "\n").splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("-----")]
    assert body, "the simulator's key has no material to look for"
    return body + [ln[:16] for ln in body]


async def test_a_failing_background_signer_backs_off_orders_keep_going_and_it_recovers(
    sim: ExchangeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    settings = coinbase_settings_from_env(sim_env(sim))
    signer = FlakySigner(sim.cdp_key.name, sim.cdp_key.private_key)
    settings.signer = signer
    rest = CoinbaseRestClient(settings.api_base_url, signer, presign_depth=3, presign_retry_s=RETRY)
    broker = CoinbaseBroker(settings, rest=rest)
    uri = orders_uri(rest)
    caplog.set_level(logging.INFO, logger=REST_LOG)
    try:
        await broker.connect()  # its first request starts the background signing: it fails at once
        await eventually(lambda: signer.failed_at, what="the first background failure")
        # orders right away, inside the first back-off: each signed on demand, acknowledged; their requests
        # do not pull the next try forward
        await place(broker, sim, "flaky-0", "flaky-1", "flaky-2")
        assert signer.presign_stats["used"] == 0 and signer.presign_stats["on_demand"] == 3
        await eventually(lambda: len(signer.failed_at) >= 5, what="four retries")
        # every retry waited out its back-off (0.1, 0.2, 0.4, 0.4 s): no hot loop, no retry cut short
        steps = list(signer.failed_at)
        for i, (a, b) in enumerate(itertools.pairwise(steps)):
            assert b - a >= min(RETRY[0] * 2**i, RETRY[1]) - 0.002, (i, b - a)
        assert rest.counters["errors.presign"] == len(steps)
        metrics = published(broker)
        assert metrics.counter("coinbase.rest.errors.presign") == len(steps)
        assert f'gpt_trader_coinbase_rest_errors_total{{kind="presign"}} {float(len(steps))}' in (
            metrics.render_prometheus().decode()
        )
        assert metrics.gauge("coinbase.presign.stock") == 0
        # it works again: the next try (at most one back-off away) fills the stock, orders use it
        signer.broken = False
        await eventually(lambda: signer.presigned(uri) == 3, what="the stock to fill after recovery")
        failures = rest.counters["errors.presign"]
        await place(broker, sim, "flaky-3", "flaky-4")
        assert signer.presign_stats["used"] == 2 and signer.presign_stats["on_demand"] == 3
        assert rest.counters["errors.presign"] == failures
        assert published(broker).counter("coinbase.presign.used") == 2
    finally:
        await broker.close()
    records = [r for r in caplog.records if r.name == REST_LOG]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == failures
    assert all("RuntimeError at test_cb_presign_live.py:" in w and "in presign_step" in w for w in warnings)
    assert uri in warnings[0] and "retry in 0.1 s (failure 1 in a row)" in warnings[0]
    assert "retry in 0.4 s" in warnings[-1]
    assert any(f"works again after {failures} failure(s)" in r.getMessage() for r in records)
    shown = caplog.text + "".join(str(vars(r)) for r in records)
    leaked = sum(f in shown for f in key_fragments(sim.cdp_key.private_key))  # a count: a failure shows no key
    assert leaked == 0, "key material in the log"
