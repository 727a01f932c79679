"""The official coinbase-advanced-py RESTClient, unmodified, on the portfolio, payment-method and convert
routes: the simulator accepts exactly what a third-party client sends and answers shapes it can read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(sim_handle: Any) -> Any:
    sim_handle.pin_book("BTC-USD", [["49990", "1"]], [["50010", "1"]])
    return sim_handle.sdk_rest()


def response(err: pytest.ExceptionInfo[requests.HTTPError]) -> requests.Response:
    assert err.value.response is not None
    return err.value.response


def usd(client: Any, portfolio: str | None = None) -> Decimal:
    accounts = client.get_accounts(limit=250, retail_portfolio_id=portfolio).accounts
    return next(Decimal(a["available_balance"]["value"]) for a in accounts if a["currency"] == "USD")


def test_portfolio_lifecycle_and_move_funds(client: Any, sim_handle: Any) -> None:
    default = client.get_portfolios().portfolios[0]
    assert default["type"] == "DEFAULT"
    created = client.create_portfolio("Savings").portfolio
    assert created["type"] == "CONSUMER" and created["name"] == "Savings"
    assert {p["uuid"] for p in client.get_portfolios(portfolio_type="CONSUMER").portfolios} == {created["uuid"]}
    assert client.edit_portfolio(created["uuid"], "Savings 2").portfolio["name"] == "Savings 2"

    start = usd(client)
    moved = client.move_portfolio_funds("123.45", "USD", default["uuid"], created["uuid"])
    assert moved.source_portfolio_uuid == default["uuid"] and moved.target_portfolio_uuid == created["uuid"]
    assert usd(client, created["uuid"]) == Decimal("123.45") and usd(client) == start - Decimal("123.45")
    breakdown = client.get_portfolio_breakdown(created["uuid"]).breakdown
    assert Decimal(breakdown["portfolio_balances"]["total_cash_equivalent_balance"]["value"]) == Decimal("123.45")

    with pytest.raises(requests.HTTPError) as err:
        client.move_portfolio_funds("1000000000", "USD", created["uuid"], default["uuid"])
    assert response(err).status_code == 400 and response(err).json()["error"] == "INSUFFICIENT_FUND"
    with pytest.raises(requests.HTTPError) as err:
        client.delete_portfolio(created["uuid"])
    assert response(err).json()["error"] == "FAILED_PRECONDITION"

    client.move_portfolio_funds("123.45", "USD", created["uuid"], default["uuid"])
    client.delete_portfolio(created["uuid"])
    assert [p["uuid"] for p in client.get_portfolios().portfolios] == [default["uuid"]]
    assert usd(client) == start
    assert sim_handle.audit()["ok"] is True


def test_payment_methods_and_convert(client: Any, sim_handle: Any) -> None:
    methods = client.list_payment_methods().payment_methods
    assert len(methods) == 2
    assert client.get_payment_method(methods[0]["id"]).payment_method["id"] == methods[0]["id"]

    ids = {a["currency"]: a["uuid"] for a in client.get_accounts(limit=250).accounts}
    quote = client.create_convert_quote(ids["USD"], ids["BTC"], "500").trade
    assert quote["status"] == "TRADE_STATUS_CREATED"
    assert Decimal(quote["amount"]["value"]) == Decimal("0.0099")  # (500 - 1% fee) / 50000 mid
    got = client.get_convert_trade(quote["id"], ids["USD"], ids["BTC"]).trade
    assert got["id"] == quote["id"]
    done = client.commit_convert_trade(quote["id"], ids["USD"], ids["BTC"]).trade
    assert done["status"] == "TRADE_STATUS_COMPLETED"
    with pytest.raises(requests.HTTPError) as err:
        client.commit_convert_trade(quote["id"], ids["USD"], ids["BTC"])
    assert response(err).status_code == 400 and "already committed" in response(err).json()["message"]
    assert sim_handle.audit()["ok"] is True
