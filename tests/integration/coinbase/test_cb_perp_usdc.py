"""Through the adapter against the simulator: INTX perps are USDC-quoted, so a perp fill debits and
credits USDC (fee, realized PnL) and never USD, while spot keeps USD."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from cb_sim import pin

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.account import CoinbaseAccountManager
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, OrderStatus, OrderType

pytestmark = pytest.mark.integration
PERP = "BTC-PERP-INTX"


async def cash(broker: CoinbaseBroker) -> dict[str, D]:
    return {b.asset: b.total for b in await broker.list_balances()}


async def market(
    broker: CoinbaseBroker, symbol: str, side: OrderSide, size: str, coid: str, leverage: D | None = None
) -> D:
    """Place a market order; return its fee."""
    order = await broker.place_order(
        OrderRequest(
            symbol=symbol,
            side=side,
            order_type=OrderType.MARKET,
            size=D(size),
            client_order_id=coid,
            leverage=leverage,
        )
    )
    assert order.status is OrderStatus.FILLED
    return order.fees


async def test_perp_product_is_usdc_quoted(broker: CoinbaseBroker) -> None:
    perp = await broker.get_product("BTC-PERP")
    assert (perp.base_asset, perp.quote_asset) == ("BTC", "USDC") and perp.is_perpetual
    spot = await broker.get_product("BTC-USD")
    assert (spot.base_asset, spot.quote_asset) == ("BTC", "USD")


async def test_perp_fill_debits_and_credits_usdc_not_usd(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, PERP, [("49990", "10")], [("50010", "10")])
    before = await cash(broker)
    fee_open = await market(broker, "BTC-PERP", OrderSide.BUY, "0.2", "usdc-open", leverage=D("2"))
    assert fee_open > 0
    opened = await cash(broker)
    assert opened["USDC"] == before["USDC"] - fee_open and opened["USD"] == before["USD"]  # the fee only
    assert opened["USDC"] == sim.engine.balance(sim.account_id, "USDC").total  # the wallet shows the ledger
    usdc = next(b for b in await broker.list_balances() if b.asset == "USDC")
    # initial margin (0.2 x 50000 / 2) and the unrealized loss (0.2 x (50000 - 50010)) are held
    assert usdc.hold == D("5000") + D("2") and usdc.available == usdc.total - usdc.hold

    # a mark move changes the free collateral, never the wallet's total
    pin(sim, PERP, [("50490", "10")], [("50510", "10")])
    moved = next(b for b in await broker.list_balances() if b.asset == "USDC")
    # initial margin 0.2 x 50500 / 2 = 5050, less the unrealized gain 0.2 x (50500 - 50010) = 98
    assert moved.total == opened["USDC"] and moved.hold == D("5050") - D("98")

    pin(sim, PERP, [("50990", "10")], [("51010", "10")])
    fee_close = await market(broker, "BTC-PERP", OrderSide.SELL, "0.2", "usdc-close")
    closed = await cash(broker)
    realized = (D("50990") - D("50010")) * D("0.2")
    assert closed["USDC"] == before["USDC"] - fee_open + realized - fee_close
    assert closed["USD"] == before["USD"]

    snap = await CoinbaseAccountManager(broker).snapshot()
    assert snap.errors == ()
    collateral = {b.asset: b.total for b in snap.intx_collateral}
    assert collateral["USDC"] == closed["USDC"]


async def test_spot_fill_keeps_usd(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, "BTC-USD", [("49990", "10")], [("50010", "10")])
    before = await cash(broker)
    fee = await market(broker, "BTC-USD", OrderSide.BUY, "0.1", "spot-usd")
    after = await cash(broker)
    assert after["USD"] == before["USD"] - D("0.1") * D("50010") - fee
    assert after["USDC"] == before["USDC"]
