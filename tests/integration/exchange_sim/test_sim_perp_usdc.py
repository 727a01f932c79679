"""INTX perpetuals are USDC-quoted, as on the real venue: the product listing carries the recorded fields,
a perp fill moves the USDC collateral (never USD), INTX views report USDC, and the audit agrees.
Seen through the official SDK over HTTPS on loopback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration
D = Decimal
PERP = "BTC-PERP-INTX"


def balances(handle: Any) -> dict[str, Decimal]:
    return {a: D(row["actual"]) for a, row in handle.audit()["assets"].items()}


def test_perp_product_carries_the_recorded_intx_fields(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    eth = client.get_product("ETH-PERP-INTX").to_dict()
    # the fields of a product recorded on the real venue, exactly
    assert eth["product_id"] == "ETH-PERP-INTX"
    assert eth["quote_currency_id"] == "USDC" and eth["quote_display_symbol"] == "USDC"
    assert eth["base_currency_id"] == ""
    assert eth["product_venue"] == "INTX" and eth["display_name"] == "ETH PERP"
    assert eth["product_type"] == "FUTURE"
    details = eth["future_product_details"]
    assert details["contract_root_unit"] == "ETH" and D(details["contract_size"]) == 1
    assert details["contract_expiry_type"] == "PERPETUAL"
    assert set(details["perpetual_details"]) >= {"open_interest", "funding_rate", "funding_time", "max_leverage"}
    assert D(details["perpetual_details"]["max_leverage"]) == 20

    spot = client.get_product("BTC-USD").to_dict()  # spot keeps USD
    assert (spot["base_currency_id"], spot["quote_currency_id"], spot["product_venue"]) == ("BTC", "USD", "CBE")
    assert "future_product_details" not in spot or not spot["future_product_details"]

    listed = {p.product_id: p.to_dict() for p in client.get_products(product_type="FUTURE").products}
    assert {listed[s]["quote_currency_id"] for s in ("BTC-PERP-INTX", "ETH-PERP-INTX", "SOL-PERP-INTX")} == {"USDC"}
    # a client keying markets on (base, quote) no longer confuses BTC-USD with BTC-PERP-INTX
    perp = listed[PERP]
    assert (perp["base_display_symbol"], perp["quote_currency_id"]) == ("BTC", "USDC") != ("BTC", "USD")


def test_perp_fill_moves_usdc_collateral_not_usd(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    uuid = client.get_api_key_permissions().portfolio_uuid
    sim_handle.pin_book(PERP, [["49990", "10"]], [["50010", "10"]])
    before = balances(sim_handle)

    opened = client.market_order_buy("", PERP, base_size="0.2", leverage="2")
    assert opened.success, opened.to_dict()
    fee_open = D(client.get_order(opened.success_response["order_id"]).order.total_fees)
    assert fee_open > 0
    mid = balances(sim_handle)
    assert mid["USDC"] == before["USDC"] - fee_open  # only the fee: no notional changes hands
    assert mid["USD"] == before["USD"]

    positions = client.list_perps_positions(uuid).to_dict()["positions"]
    (pos,) = [p for p in positions if p["symbol"] == PERP]
    for money in ("vwap", "mark_price", "unrealized_pnl", "position_notional", "im_notional"):
        assert pos[money]["currency"] == "USDC", money
    summary = client.get_perps_portfolio_summary(uuid).to_dict()["summary"]
    assert summary["total_balance"]["currency"] == "USDC" and summary["buying_power"]["currency"] == "USDC"
    rows = client.get_perps_portfolio_balances(uuid).to_dict()["portfolio_balances"][0]["balances"]
    by_asset = {r["asset"]["asset_id"]: r for r in rows}
    assert D(by_asset["USDC"]["collateral_value"]) == mid["USDC"] and by_asset["USDC"]["collateral_weight"] == "1"
    assert by_asset["USD"]["collateral_value"] == "0" and by_asset["USD"]["collateral_weight"] == "0"

    sim_handle.pin_book(PERP, [["50990", "10"]], [["51010", "10"]])
    closed = client.close_position("", PERP)
    assert closed.success, closed.to_dict()
    fee_close = D(client.get_order(closed.success_response["order_id"]).order.total_fees)
    after = balances(sim_handle)
    realized = (D("50990") - D("50010")) * D("0.2")  # 196 USDC
    assert after["USDC"] == mid["USDC"] + realized - fee_close
    assert after["USD"] == before["USD"]
    assert sim_handle.audit()["ok"]

    breakdown = client.get_portfolio_breakdown(uuid).to_dict()["breakdown"]["portfolio_balances"]
    cash = D(breakdown["total_cash_equivalent_balance"]["value"])
    assert cash == after["USD"] + after["USDC"]  # USDC counts 1:1 with USD in the USD totals
