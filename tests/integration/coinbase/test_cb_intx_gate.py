"""The perps gate end to end over loopback: COINBASE_ENABLE_DERIVATIVES x INTX access at the venue.

Access is granted or revoked through the simulator's admin API, so detection runs against the same
key_permissions / intx portfolio replies a real account would give.
"""

from __future__ import annotations

import logging
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from cb_sim import MakeBroker, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PermissionDeniedError,
    ProductType,
)

pytestmark = pytest.mark.integration
PERP = "BTC-PERP-INTX"


async def set_intx(sim: ExchangeSimulator, access: bool, denial: str = "scopes") -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.post(f"{sim.admin_url}/intx", json={"access": access, "denial": denial})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"access": access, "denial": denial}


def buy(symbol: str, coid: str, **extra: Any) -> OrderRequest:
    return OrderRequest(
        symbol=symbol, side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.01"), client_order_id=coid, **extra
    )


async def test_enabled_with_access_trades_perps(
    sim: ExchangeSimulator, make_broker: MakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gpt_trader.features.brokerages.coinbase")
    broker: CoinbaseBroker = await make_broker(env={"COINBASE_ENABLE_DERIVATIVES": "1"})
    assert broker.perps_enabled and broker.perps_gate == "enabled"
    assert broker.counters["perps.gate.enabled"] == 1 and broker.counters["perps.intx_access_missing"] == 0
    assert PERP in {p.symbol for p in await broker.list_products()}
    order = await broker.place_order(buy("BTC-PERP", "gate-on-1", leverage=D("2")))
    assert order.status is OrderStatus.FILLED and order.symbol == "BTC-PERP"
    assert [o.symbol for o in venue_orders(sim, "gate-on-1")] == [PERP]
    assert (await broker.get_product("BTC-PERP")).product_type is ProductType.PERPETUAL
    assert broker.symbols.notices == [] and broker.counters["perps.normalized_to_spot"] == 0
    assert not [r for r in caplog.records if "trades as spot" in r.getMessage()]


@pytest.mark.parametrize("denial", ["scopes", "not_found"])
async def test_enabled_without_access_normalizes_to_spot(
    sim: ExchangeSimulator, make_broker: MakeBroker, caplog: pytest.LogCaptureFixture, denial: str
) -> None:
    caplog.set_level(logging.WARNING, logger="gpt_trader.features.brokerages.coinbase")
    await set_intx(sim, False, denial)
    broker: CoinbaseBroker = await make_broker(env={"COINBASE_ENABLE_DERIVATIVES": "1"})
    assert not broker.perps_enabled and broker.perps_gate == "no_intx_access"
    assert broker.counters["perps.gate.no_intx_access"] == 1 and broker.counters["perps.intx_access_missing"] == 1
    assert broker.portfolio_uuid == sim.venue.portfolio_uuid(sim.account_id)  # key_permissions still answered
    assert all(not p.is_perpetual for p in await broker.list_products())
    detected = [r.getMessage() for r in caplog.records if "INTX access was not detected" in r.getMessage()]
    assert len(detected) == 1 and ("PERMISSION_DENIED" if denial == "scopes" else "NOT_FOUND") in detected[0]

    for coid in ("gate-off-1", "gate-off-2"):
        order = await broker.place_order(buy("BTC-PERP", coid))
        assert order.status is OrderStatus.FILLED and order.symbol == "BTC-PERP"  # the caller's name comes back
        assert [o.symbol for o in venue_orders(sim, coid)] == ["BTC-USD"]
    notices = [r.getMessage() for r in caplog.records if "trades as spot" in r.getMessage()]
    assert notices == [
        "COINBASE_ENABLE_DERIVATIVES=1 but this key has no detected INTX (perpetuals) access: "
        "BTC-PERP trades as spot BTC-USD"
    ]  # logged once per symbol
    assert broker.symbols.notices == notices and broker.counters["perps.normalized_to_spot"] == 1
    positions = {p.symbol: p for p in await broker.list_positions()}
    assert "BTC-PERP" in positions and positions["BTC-PERP"].product_type is ProductType.SPOT
    assert not any(o.symbol == PERP for o in sim.venue.all_orders(sim.account_id))


@pytest.mark.parametrize("access", [True, False])
async def test_disabled_normalizes_regardless_of_access(
    sim: ExchangeSimulator, make_broker: MakeBroker, caplog: pytest.LogCaptureFixture, access: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="gpt_trader.features.brokerages.coinbase")
    await set_intx(sim, access)
    broker: CoinbaseBroker = await make_broker(env={"COINBASE_ENABLE_DERIVATIVES": "0"})
    assert not broker.perps_enabled and broker.perps_gate == "disabled_by_config"
    assert broker.counters["perps.intx_access_missing"] == 0  # access is not even probed
    order = await broker.place_order(buy("BTC-PERP-INTX", f"gate-cfg-{access}"))
    assert order.symbol == "BTC-PERP-INTX" and order.status is OrderStatus.FILLED
    assert [o.symbol for o in venue_orders(sim, f"gate-cfg-{access}")] == ["BTC-USD"]
    assert broker.counters["perps.normalized_to_spot"] == 1
    assert any("derivatives are off" in r.getMessage() for r in caplog.records)


async def test_access_revoked_after_connect_is_refused_by_the_venue(
    sim: ExchangeSimulator, make_broker: MakeBroker
) -> None:
    broker: CoinbaseBroker = await make_broker(env={"COINBASE_ENABLE_DERIVATIVES": "1"})
    assert broker.perps_enabled
    await set_intx(sim, False)
    with pytest.raises(PermissionDeniedError) as exc:
        await broker.place_order(buy("BTC-PERP", "gate-revoked", leverage=D("2")))
    assert exc.value.reason == "INELIGIBLE_PAIR"
    assert broker.counters["orders.rejected.INELIGIBLE_PAIR"] == 1
    assert venue_orders(sim, "gate-revoked") == []
