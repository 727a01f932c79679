"""Portfolios through the adapter against the simulator over loopback: create / rename / delete,
move_funds between portfolios, per-portfolio account listings, and every refusal as a typed error."""

from __future__ import annotations

from decimal import Decimal as D

import httpx
import msgspec
import pytest
from cb_sim import pin

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.rest import CoinbaseRestClient
from gpt_trader.features.brokerages.core.interfaces import (
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)

pytestmark = pytest.mark.integration


async def wallets(rest: CoinbaseRestClient, portfolio: str | None = None) -> dict[str, tuple[D, D]]:
    """currency -> (available, hold) of one portfolio."""
    out = {}
    for a in await rest.all_accounts(retail_portfolio_id=portfolio):
        hold = D(a.hold.value) if a.hold and a.hold.value else D(0)
        out[a.currency] = (D(a.available_balance.value), hold)
    return out


async def audit(sim: ExchangeSimulator, account_id: str) -> dict[str, object]:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.get(f"{sim.admin_url}/audit", params={"account_id": account_id})
    assert resp.status_code == 200, resp.text
    body: dict[str, object] = resp.json()
    return body


async def test_create_rename_list_delete(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    before = await rest.list_portfolios()
    assert [(p.name, p.type) for p in before.portfolios] == [("Default", "DEFAULT")]
    default_uuid = before.portfolios[0].uuid
    assert default_uuid == broker.portfolio_uuid

    created = await rest.create_portfolio("Hedge")
    assert created.type == "CONSUMER" and created.name == "Hedge" and not created.deleted
    assert created.uuid != default_uuid
    listed = {p.uuid: p for p in (await rest.list_portfolios()).portfolios}
    assert set(listed) == {default_uuid, created.uuid}
    assert [p.uuid for p in (await rest.list_portfolios("CONSUMER")).portfolios] == [created.uuid]
    assert [p.uuid for p in (await rest.list_portfolios("DEFAULT")).portfolios] == [default_uuid]

    renamed = await rest.rename_portfolio(created.uuid, "Hedge 2")
    assert renamed.uuid == created.uuid and renamed.name == "Hedge 2"
    breakdown = (await rest.portfolio_breakdown(created.uuid)).breakdown
    assert breakdown["portfolio"] == {"name": "Hedge 2", "uuid": created.uuid, "type": "CONSUMER", "deleted": False}

    await rest.delete_portfolio(created.uuid)
    assert [p.uuid for p in (await rest.list_portfolios()).portfolios] == [default_uuid]
    with pytest.raises(NotFoundError):
        await rest.portfolio_breakdown(created.uuid)
    with pytest.raises(NotFoundError):
        await rest.rename_portfolio(created.uuid, "again")


async def test_portfolio_refusals_are_typed(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    first = await rest.create_portfolio("Alpha")
    with pytest.raises(InvalidOrderError) as dup:
        await rest.create_portfolio(" alpha ")  # unique per account, case-insensitive, trimmed
    assert dup.value.reason == "ALREADY_EXISTS" and "409" in str(dup.value)
    second = await rest.create_portfolio("Beta")
    with pytest.raises(InvalidOrderError) as clash:
        await rest.rename_portfolio(second.uuid, "ALPHA")
    assert clash.value.reason == "ALREADY_EXISTS"
    assert (await rest.rename_portfolio(first.uuid, "alpha")).name == "alpha"  # its own name, recased
    with pytest.raises(InvalidOrderError) as empty:
        await rest.create_portfolio("   ")
    assert empty.value.reason == "INVALID_ARGUMENT"
    with pytest.raises(InvalidOrderError) as default_delete:
        await rest.delete_portfolio(broker.portfolio_uuid or "")
    assert default_delete.value.reason == "FAILED_PRECONDITION"
    with pytest.raises(NotFoundError):
        await rest.delete_portfolio("00000000-0000-0000-0000-000000000000")
    with pytest.raises(InvalidOrderError) as bad_type:
        await rest.list_portfolios("MARGIN")
    assert "portfolio_type" in str(bad_type.value)


async def test_move_funds_between_portfolios(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    default = broker.portfolio_uuid or ""
    default_wallets = await wallets(rest)
    assert default_wallets == await wallets(rest, default)  # no filter = the default portfolio
    start_usd = default_wallets["USD"][0]
    side = await rest.create_portfolio("Side")

    resp = await rest.move_portfolio_funds(D("250.125"), "USD", default, side.uuid)
    assert (resp.source_portfolio_uuid, resp.target_portfolio_uuid) == (default, side.uuid)
    side_wallets = await wallets(rest, side.uuid)
    assert side_wallets["USD"] == (D("250.125"), D(0))
    assert (await wallets(rest))["USD"][0] == start_usd - D("250.125")
    accounts = await rest.all_accounts(retail_portfolio_id=side.uuid)
    assert {a.retail_portfolio_id for a in accounts} == {side.uuid}
    default_ids = {a.uuid for a in await rest.all_accounts()}
    assert default_ids.isdisjoint(a.uuid for a in accounts)  # each portfolio has its own wallets

    with pytest.raises(InvalidOrderError) as not_empty:
        await rest.delete_portfolio(side.uuid)
    assert not_empty.value.reason == "FAILED_PRECONDITION" and "250.125 USD" in str(not_empty.value)

    await rest.move_portfolio_funds("250.125", "USD", side.uuid, default)
    assert (await wallets(rest, side.uuid))["USD"] == (D(0), D(0))
    assert (await wallets(rest))["USD"][0] == start_usd
    await rest.delete_portfolio(side.uuid)
    with pytest.raises(NotFoundError):
        await rest.list_accounts(retail_portfolio_id=side.uuid)

    for account_id in (sim.account_id, f"{sim.account_id}/{side.uuid}"):
        result = await audit(sim, account_id)
        assert result["ok"] is True, result


async def test_move_funds_refusals_are_typed(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    default = broker.portfolio_uuid or ""
    side = await rest.create_portfolio("Side")
    pin(sim, "BTC-USD", [("50000", "5")], [("50010", "5")])
    total_usd = (await wallets(rest))["USD"][0]
    resting = await broker.place_order(
        OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=D("2"),
            limit_price=D("40000"),
            client_order_id="hold-1",
        )
    )
    assert resting.status is OrderStatus.OPEN
    available, hold = (await wallets(rest))["USD"]
    assert hold > 0 and available + hold == total_usd

    with pytest.raises(InsufficientFundsError) as held:
        await rest.move_portfolio_funds(total_usd, "USD", default, side.uuid)  # held funds never move
    assert held.value.reason == "INSUFFICIENT_FUND"
    with pytest.raises(InsufficientFundsError):
        await rest.move_portfolio_funds(available + D("0.01"), "USD", default, side.uuid)
    with pytest.raises(InsufficientFundsError):
        await rest.move_portfolio_funds(D("1"), "USD", side.uuid, default)  # empty source
    await rest.move_portfolio_funds(available, "USD", default, side.uuid)  # exactly the available part
    assert (await wallets(rest))["USD"] == (D(0), hold)
    assert (await wallets(rest, side.uuid))["USD"] == (available, D(0))

    with pytest.raises(NotFoundError):
        await rest.move_portfolio_funds(D("1"), "USD", side.uuid, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        await rest.move_portfolio_funds(D("1"), "USD", "00000000-0000-0000-0000-000000000000", side.uuid)
    cases: dict[str, tuple[D | str, str, str, str, str]] = {
        "same": (D("1"), "USD", side.uuid, side.uuid, "must differ"),
        "zero": (D("0"), "USD", side.uuid, default, "greater than 0"),
        "negative": (D("-5"), "USD", side.uuid, default, "greater than 0"),
        "malformed": ("12,5", "USD", side.uuid, default, "decimal string"),
        "precision": ("0.000000001", "USD", side.uuid, default, "decimal places"),
        "currency": (D("1"), "DOGE", side.uuid, default, "funds.currency"),
    }
    for name, (value, currency, src, dst, text) in cases.items():
        with pytest.raises(InvalidOrderError) as bad:
            await rest.move_portfolio_funds(value, currency, src, dst)
        assert bad.value.reason == "INVALID_ARGUMENT", name
        assert text in str(bad.value), (name, str(bad.value))
    assert (await wallets(rest, side.uuid))["USD"] == (available, D(0))  # nothing moved by a refusal


async def test_orders_trade_in_the_default_portfolio_only(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    side = await rest.create_portfolio("Side")
    body = {
        "client_order_id": "pf-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
        "retail_portfolio_id": side.uuid,
    }
    refused = await rest.create_order(body)
    assert not refused.success and refused.error_response is not None
    assert refused.error_response.error == "INVALID_REQUEST" and "DEFAULT portfolio" in refused.error_response.message
    accepted = await rest.create_order(
        {**body, "client_order_id": "pf-2", "retail_portfolio_id": broker.portfolio_uuid}
    )
    assert accepted.success
    assert [o.client_order_id for o in await rest.all_orders()] == ["pf-2"]
    raw = await rest.request("GET", "/orders/historical/batch", params={"retail_portfolio_id": side.uuid})
    assert msgspec.json.decode(raw, type=m.OrdersPage).orders == []  # the side portfolio has no orders


async def test_payment_methods(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    methods = await broker.rest.list_payment_methods()
    assert {m.type for m in methods} == {"FIAT_ACCOUNT", "ACH"}
    assert all(m.currency == "USD" and m.verified for m in methods)
    for method in methods:
        assert await broker.rest.get_payment_method(method.id) == method
    with pytest.raises(NotFoundError):
        await broker.rest.get_payment_method("no-such-method")
