"""Admin API over HTTP: funding, prices, pinned books, marks, keys, state, and clear 400s."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def post(handle: Any, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    resp = handle.http.post(f"{handle.sim.admin_url}{path}", json=body, timeout=10)
    return resp.status_code, resp.json()


def test_fund_price_book_mark_and_state(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    bal = sim_handle.admin("POST", "/fund", {"asset": "ETH", "amount": "2.5"})
    assert bal["asset"] == "ETH" and Decimal(bal["total"]) == Decimal("2.5")
    eth = next(a for a in client.get_accounts(limit=250).accounts if a.currency == "ETH")
    assert Decimal(eth.available_balance["value"]) == Decimal("2.5")
    moved = sim_handle.admin("POST", "/price", {"product_id": "SOL-USD", "price": "123.45"})
    assert abs(Decimal(moved["mid"]) - Decimal("123.45")) < Decimal("0.5")
    assert abs(Decimal(client.get_product_book("SOL-USD", limit=1).mid_market) - Decimal("123.45")) < Decimal("0.5")
    sim_handle.pin_book("XRP-USD", [["2.1", "100"]], [["2.2", "100"]])
    assert client.get_best_bid_ask(["XRP-USD"]).pricebooks[0]["bids"][0]["price"] == "2.1"
    released = sim_handle.admin("DELETE", "/book/XRP-USD")
    assert released["released"] is True
    assert client.get_best_bid_ask(["XRP-USD"]).pricebooks[0]["bids"][0]["price"] != "2.1"
    mark = sim_handle.admin("POST", "/mark", {"product_id": "ETH-PERP-INTX", "price": "3000"})
    assert mark["mark"] == "3000"
    sim_handle.admin("POST", "/mark", {"product_id": "ETH-PERP-INTX", "price": None})
    state = sim_handle.admin("GET", "/state")
    assert state["mids"]["BTC-USD"] and state["accounts"] == [sim_handle.sim.account_id]
    assert state["rest_server_ms"]["n"] >= 1
    key = sim_handle.admin("POST", "/keys", {"kind": "hmac", "account_id": "second-user"})
    assert key["account_id"] == "second-user" and key["key"] and key["secret"]
    other = sim_handle.sdk_rest()
    cdp = sim_handle.admin("POST", "/keys", {"kind": "ec", "account_id": "second-user"})
    other.api_key, other.api_secret = cdp["name"], cdp["private_key"]
    usd = next(a for a in other.get_accounts(limit=250).accounts if a.currency == "USD")
    assert usd.available_balance["value"] == "0"  # a separate, unfunded account
    assert other.get_futures_balance_summary().balance_summary["total_usd_balance"]["value"] == "0"


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/fund", {"asset": "USD"}, "missing 'amount'"),
        ("/fund", {"asset": "USD", "amount": "lots"}, "amount must be a decimal"),
        ("/price", {"product_id": "NOPE", "price": "1"}, "product_id 'NOPE' unknown; known: BTC-USD"),
        ("/price", {"product_id": "BTC-USD", "price": "-1"}, "price must be > 0"),
        ("/book", {"product_id": "BTC-USD", "bids": "x", "asks": []}, "bids must be a list"),
        ("/faults", {}, '{"spec": "<fault spec>"}'),
        ("/keys", {"kind": "rsa"}, "kind must be ec, ed25519 or hmac"),
        ("/funding_rate", {"product_id": "BTC-USD", "rate": "0.1"}, "not a perpetual"),
    ],
)
def test_bad_admin_input_is_400_naming_the_problem(
    sim_handle: Any, path: str, body: dict[str, Any], needle: str
) -> None:
    status, payload = post(sim_handle, path, body)
    assert status == 400 and needle in payload["error"], payload
