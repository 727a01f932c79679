"""Funding settled on a perp position reaches `Position.funding_paid` through the adapter, with the sign
convention of interfaces.py (positive = paid by us). The simulator's clock and funding rate are moved
through its admin API, over loopback like everything else."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from cb_sim import pin

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, OrderStatus, OrderType

pytestmark = pytest.mark.integration
PERP = "BTC-PERP-INTX"


async def admin(sim: ExchangeSimulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.post(f"{sim.admin_url}{path}", json=body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def open_perp(broker: CoinbaseBroker, side: OrderSide, coid: str) -> None:
    order = await broker.place_order(
        OrderRequest(
            symbol="BTC-PERP",
            side=side,
            order_type=OrderType.MARKET,
            size=D("0.2"),
            leverage=D("2"),
            client_order_id=coid,
        )
    )
    assert order.status is OrderStatus.FILLED


async def cross_funding_interval(sim: ExchangeSimulator, rate: str) -> None:
    """Set the rate, then jump the clock just past the next funding boundary (exactly one settles)."""
    await admin(sim, "/funding_rate", {"product_id": PERP, "rate": rate})
    boundary = sim.engine.next_funding_time(PERP)
    assert boundary is not None
    await admin(sim, "/advance", {"seconds": (boundary - sim.clock.now()).total_seconds() + 1})


@pytest.mark.parametrize(("side", "sign"), [(OrderSide.BUY, 1), (OrderSide.SELL, -1)])
async def test_funding_paid_through_positions(
    sim: ExchangeSimulator, broker: CoinbaseBroker, side: OrderSide, sign: int
) -> None:
    pin(sim, PERP, [("49990", "10")], [("50010", "10")])
    await admin(sim, "/mark", {"product_id": PERP, "price": "50000"})
    await open_perp(broker, side, f"fund-{side.value}")
    before = {p.symbol: p for p in await broker.list_positions()}["BTC-PERP"]
    assert before.funding_paid == 0
    cash_before = {b.asset: b.total for b in await broker.list_balances()}

    await cross_funding_interval(sim, "0.001")
    events = [e for e in sim.venue.funding_events if e.symbol == PERP]
    assert len(events) == 1
    # 0.2 BTC x 50000 mark x 0.1% = 10 USDC: a long pays it (+), a short receives it (-)
    assert events[0].payment == D(sign) * D("10.00")
    cash_after = {b.asset: b.total for b in await broker.list_balances()}
    assert cash_after["USDC"] == cash_before["USDC"] - D(sign) * D("10.00")  # funding settles in USDC
    assert cash_after["USD"] == cash_before["USD"]  # spot cash untouched

    pos = {p.symbol: p for p in await broker.list_positions()}["BTC-PERP"]
    assert pos.funding_paid == D(sign) * D("10.00")
    venue_pos = next(p for p in sim.engine.positions(sim.account_id) if p.symbol == PERP)
    assert pos.funding_paid == venue_pos.funding_paid

    await cross_funding_interval(sim, "0.0005")  # cumulative across intervals
    assert len([e for e in sim.venue.funding_events if e.symbol == PERP]) == 2
    pos = {p.symbol: p for p in await broker.list_positions()}["BTC-PERP"]
    assert pos.funding_paid == D(sign) * D("15.00")
    intx = await broker.rest.intx_positions(broker.portfolio_uuid or "")
    (wire,) = intx.positions
    assert wire.funding_paid is not None and wire.funding_paid.currency == "USDC"
