"""INTX access detection under venue faults: transient failures (5xx, 429) are retried a bounded number
of times and then re-checked later, while a definite "no access" is final and never re-probed.

Faults are armed through the simulator's admin API (`http_path` fails only the INTX probe, so start-up
product listing and spot trading keep working).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from cb_sim import MakeBroker, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.account import CoinbaseAccountManager
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    ProductType,
    TransientError,
)

pytestmark = pytest.mark.integration
PERP = "BTC-PERP-INTX"
FAST = {"intx_detect_backoff_s": 0.01, "intx_recheck_s": 0.5}


async def admin(sim: ExchangeSimulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.request(method, f"{sim.admin_url}{path}", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def intx_probes(sim: ExchangeSimulator) -> int:
    return sum(n for key, n in sim.requests_by_path.items() if "/intx/portfolio/" in key)


def buy(symbol: str, coid: str, leverage: D | None = None) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=D("0.01"),
        leverage=leverage,
        client_order_id=coid,
    )


async def test_transient_failure_recovers_within_the_bounded_retries(
    sim: ExchangeSimulator, make_broker: MakeBroker
) -> None:
    # the REST client itself tries a read 4 times: 5 failures sink the first probe, not the second
    await admin(sim, "POST", "/faults", {"spec": "http_path:5:/intx/portfolio"})
    broker: CoinbaseBroker = await make_broker(**FAST)
    assert broker.perps_enabled and broker.perps_gate == "enabled"
    assert broker.counters["perps.intx_detect_retries"] == 1 and broker.counters["perps.intx_probes"] == 2
    assert broker.counters["perps.intx_unverified"] == 0 and broker.counters["perps.intx_access_missing"] == 0
    assert intx_probes(sim) == 6
    assert PERP in {p.symbol for p in await broker.list_products()}


async def test_persistent_5xx_keeps_perps_off_then_a_recheck_enables_them(
    sim: ExchangeSimulator, make_broker: MakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gpt_trader.features.brokerages.coinbase")
    await admin(sim, "POST", "/faults", {"spec": "http_path:1000:/intx/portfolio:503"})
    broker: CoinbaseBroker = await make_broker(intx_detect_attempts=3, **FAST)
    assert not broker.perps_enabled and broker.perps_gate == "intx_unverified"
    assert broker.counters["perps.intx_probes"] == 3 and broker.counters["perps.intx_detect_retries"] == 2
    assert broker.counters["perps.intx_unverified"] == 1 and broker.counters["perps.intx_access_missing"] == 0
    assert intx_probes(sim) == 12  # bounded: 3 probes x 4 HTTP attempts, then it stops
    assert all(not p.is_perpetual for p in await broker.list_products())
    assert any("could not be verified" in r.getMessage() for r in caplog.records)

    # a perp order is refused (retryable), never silently traded as spot; spot still trades
    with pytest.raises(TransientError) as refused:
        await broker.place_order(buy("BTC-PERP", "unverified-1"))
    assert refused.value.reason == "INTX_UNVERIFIED"
    assert venue_orders(sim, "unverified-1") == [] and intx_probes(sim) == 12  # not due: no probe
    assert (await broker.place_order(buy("BTC-USD", "spot-1"))).status is OrderStatus.FILLED

    # still failing when due: one more probe, perps stay off, the next re-check is pushed back
    await asyncio.sleep(0.6)
    with pytest.raises(TransientError):
        await broker.place_order(buy("BTC-PERP", "unverified-2"))
    assert intx_probes(sim) == 16 and broker.counters["perps.intx_rechecks"] == 1

    await admin(sim, "DELETE", "/faults")
    await asyncio.sleep(1.1)  # the doubled delay (1 s)
    order = await broker.place_order(buy("BTC-PERP", "verified-1", leverage=D("2")))
    assert order.status is OrderStatus.FILLED and order.symbol == "BTC-PERP"
    assert [o.symbol for o in venue_orders(sim, "verified-1")] == [PERP]
    assert broker.perps_enabled and broker.perps_gate == "enabled" and broker.counters["perps.intx_rechecks"] == 2
    assert broker.counters["perps.enabled_late"] == 1
    assert (await broker.get_product("BTC-PERP")).product_type is ProductType.PERPETUAL
    positions = {p.symbol: p for p in await broker.list_positions()}
    assert positions["BTC-PERP"].product_type is ProductType.PERPETUAL
    assert await broker.recheck_intx(force=True) is True and broker.counters["perps.intx_rechecks"] == 2


@pytest.mark.slow
async def test_persistent_429_is_transient_too(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    await admin(sim, "POST", "/faults", {"spec": "http_path:4:/intx/portfolio:429"})
    broker: CoinbaseBroker = await make_broker(**FAST)
    assert broker.perps_enabled and broker.counters["perps.intx_detect_retries"] == 1
    assert intx_probes(sim) == 5


@pytest.mark.slow
async def test_probe_timeouts_are_transient(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    # each of the first probe's 4 HTTP attempts outlives the client's 0.3 s timeout; the second is served
    await admin(sim, "POST", "/faults", {"spec": "slow_path:4:/intx/portfolio:1000"})
    broker: CoinbaseBroker = await make_broker(request_timeout_s=0.3, **FAST)
    assert broker.perps_enabled and broker.perps_gate == "enabled"
    assert broker.counters["perps.intx_detect_retries"] == 1 and broker.counters["perps.intx_access_missing"] == 0
    assert broker.rest.counters["errors.after_send"] == 4


@pytest.mark.parametrize("denial", ["scopes", "not_found"])
async def test_definite_denial_is_final_without_retries(
    sim: ExchangeSimulator, make_broker: MakeBroker, denial: str
) -> None:
    await admin(sim, "POST", "/intx", {"access": False, "denial": denial})
    broker: CoinbaseBroker = await make_broker(**FAST)
    assert not broker.perps_enabled and broker.perps_gate == "no_intx_access"
    assert intx_probes(sim) == 1  # the first (definite) answer is the only request
    assert broker.counters["perps.intx_detect_retries"] == 0 and broker.counters["perps.intx_unverified"] == 0
    await admin(sim, "POST", "/intx", {"access": True})
    assert await broker.recheck_intx(force=True) is False
    await broker.list_positions()
    assert intx_probes(sim) == 1 and broker.perps_gate == "no_intx_access"
    order = await broker.place_order(buy("BTC-PERP", f"denied-{denial}"))
    assert [o.symbol for o in venue_orders(sim, f"denied-{denial}")] == ["BTC-USD"]  # spot, as before
    assert order.status is OrderStatus.FILLED


async def test_periodic_recheck_settles_on_a_definite_no(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    await admin(sim, "POST", "/faults", {"spec": "http_path:1000:/intx/portfolio"})
    broker: CoinbaseBroker = await make_broker(intx_detect_attempts=2, **FAST)
    assert broker.perps_gate == "intx_unverified"
    await admin(sim, "DELETE", "/faults")
    await admin(sim, "POST", "/intx", {"access": False})
    manager = CoinbaseAccountManager(broker, interval_s=60)
    snap = await manager.snapshot()  # not due yet: no probe
    assert broker.perps_gate == "intx_unverified" and snap.limits is not None and not snap.limits.perps_enabled
    await asyncio.sleep(0.6)
    await manager.snapshot()  # the account manager's periodic snapshot re-checks when due
    assert broker.perps_gate == "no_intx_access" and broker.counters["perps.intx_access_missing"] == 1
    probes = intx_probes(sim)
    await asyncio.sleep(0.6)
    await manager.snapshot()
    assert intx_probes(sim) == probes  # final: never probed again
    order = await broker.place_order(buy("BTC-PERP", "settled-no"))
    assert order.status is OrderStatus.FILLED
    assert [o.symbol for o in venue_orders(sim, "settled-no")] == ["BTC-USD"]
