"""An account without INTX (perpetuals) access, seen through the official SDK and the admin API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration
PERP = "BTC-PERP-INTX"


def no_access_sim(sim_factory: Any, **overrides: Any) -> Any:
    return sim_factory(
        intx_access=False,
        rate_limit_private=0,
        rate_limit_public=0,
        initial_funds={"USD": Decimal("1000000"), "USDC": Decimal("1000000")},
        **overrides,
    )


def test_no_access_account_looks_spot_only_to_the_sdk(sim_factory: Any) -> None:
    handle = no_access_sim(sim_factory)
    client = handle.sdk_rest()
    perms = client.get_api_key_permissions()
    assert perms.can_trade and perms.portfolio_type == "DEFAULT"
    with pytest.raises(requests.HTTPError, match="403 Client Error: Missing Required Scopes"):
        client.get_perps_portfolio_summary(perms.portfolio_uuid)
    for call in (client.list_perps_positions, client.get_perps_portfolio_balances):
        with pytest.raises(requests.HTTPError, match="403"):
            call(perms.portfolio_uuid)
    assert PERP in {p.product_id for p in client.get_products(product_type="FUTURE").products}  # still listed

    rejected = client.market_order_buy("", PERP, base_size="0.01")
    assert not rejected.success and rejected.order_id == ""
    assert rejected.error_response["error"] == "INELIGIBLE_PAIR"
    assert rejected.error_response["preview_failure_reason"] == "PREVIEW_INELIGIBLE_PAIR"
    preview = client.preview_market_order_buy(PERP, base_size="0.01")
    assert preview.errs == ["PREVIEW_INELIGIBLE_PAIR"]
    assert not client.close_position("", PERP).success
    assert handle.run(lambda: handle.sim.venue.all_orders(handle.sim.account_id)) == []

    spot = client.market_order_buy("", "BTC-USD", base_size="0.01")  # spot is unaffected
    assert spot.success, spot.to_dict()


def test_admin_grants_and_revokes_access(sim_factory: Any) -> None:
    handle = no_access_sim(sim_factory, intx_denial="not_found")
    client = handle.sdk_rest()
    uuid = client.get_api_key_permissions().portfolio_uuid
    with pytest.raises(requests.HTTPError, match="404 Client Error"):
        client.get_perps_portfolio_summary(uuid)
    assert handle.admin("GET", "/state")["intx"] == {"access": False, "denial": "not_found"}

    assert handle.admin("POST", "/intx", {"access": True}) == {"access": True, "denial": "not_found"}
    assert client.get_perps_portfolio_summary(uuid).summary is not None
    order = client.market_order_buy("", PERP, base_size="0.01")
    assert order.success, order.to_dict()

    handle.admin("POST", "/intx", {"access": False, "denial": "scopes"})
    with pytest.raises(requests.HTTPError, match="Missing Required Scopes"):
        client.get_perps_portfolio_summary(uuid)
    assert client.market_order_sell("", PERP, base_size="0.01").error_response["error"] == "INELIGIBLE_PAIR"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "access must be true or false"),
        ({"access": "no"}, "access must be true or false"),
        ({"access": False, "denial": "teapot"}, "intx_denial='teapot' is not allowed; allowed: scopes, not_found"),
        ({"access": False, "denial": 3}, "denial must be a string"),
    ],
)
def test_admin_intx_bad_input_is_400(sim_handle: Any, body: dict[str, Any], needle: str) -> None:
    resp = sim_handle.http.post(f"{sim_handle.sim.admin_url}/intx", json=body, timeout=10)
    assert resp.status_code == 400 and needle in resp.json()["error"]
    assert sim_handle.admin("GET", "/state")["intx"]["access"] is True  # nothing changed
