"""The official coinbase-advanced-py RESTClient, unmodified, against the simulator over HTTPS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from gpt_trader.features.brokerages.core.matching import FeeSchedule

pytestmark = pytest.mark.integration

BIDS = [["49990", "1"], ["49980", "2"], ["49970", "5"]]
ASKS = [["50010", "1"], ["50020", "2"], ["50030", "5"]]


@pytest.fixture(scope="module")
def client(sim_handle: Any) -> Any:
    sim_handle.pin_book("BTC-USD", BIDS, ASKS)
    return sim_handle.sdk_rest()


def check_fees_by_tier(client: Any) -> None:
    """Every commission = notional x the tier rate for the 30-day volume traded before that fill."""
    fills = client.get_fills(limit=1000, sort_by="TRADE_TIME_ASC").fills
    volume = Decimal(0)
    tiers = FeeSchedule()
    for f in sorted(fills, key=lambda f: int(f["cursor"])):
        notional = Decimal(f["price"]) * Decimal(f["size"])
        tier = tiers.tier_for(volume)
        rate = tier.taker_fee_rate if f["liquidity_indicator"] == "TAKER" else tier.maker_fee_rate
        assert Decimal(f["commission"]) == notional * rate, f  # unrounded, as Coinbase reports it
        volume += notional


@pytest.fixture(autouse=True)
def books_balanced(sim_handle: Any, client: Any) -> Iterator[None]:
    """Fund checks after every test: each balance equals deposits + fills - fees (+ funding), holds are
    consistent, and every fee matches its tier."""
    sim_handle.pin_book("BTC-USD", BIDS, ASKS)
    yield
    audit = sim_handle.audit()
    assert audit["ok"], audit
    check_fees_by_tier(client)


def usd(client: Any) -> tuple[Decimal, Decimal]:
    for acct in client.get_accounts(limit=250).accounts:
        if acct.currency == "USD":
            return Decimal(acct.available_balance["value"]), Decimal(acct.hold["value"])
    raise AssertionError("no USD account")


def test_accounts_and_products(client: Any, sim_handle: Any) -> None:
    accounts = client.get_accounts(limit=5)
    assert accounts.size == 5 and accounts.has_next and accounts.cursor
    rest = client.get_accounts(limit=250, cursor=accounts.cursor)
    currencies = {a.currency for a in accounts.accounts} | {a.currency for a in rest.accounts}
    assert {"USD", "BTC", "ETH", "SOL"} <= currencies
    one = client.get_account(accounts.accounts[0].uuid)
    assert one.account.uuid == accounts.accounts[0].uuid
    products = client.get_products()
    ids = {p.product_id for p in products.products}
    assert "BTC-USD" in ids and "BTC-PERP-INTX" in ids
    assert products.num_products == len(products.products)
    futures = client.get_products(product_type="FUTURE")
    assert {p.product_id for p in futures.products} == {"BTC-PERP-INTX", "ETH-PERP-INTX", "SOL-PERP-INTX"}
    perp = client.get_product("BTC-PERP-INTX")
    assert perp.product_type == "FUTURE"
    assert perp.future_product_details["perpetual_details"]["max_leverage"] == "20"
    btc = client.get_product("BTC-USD")
    assert btc.base_increment == "0.00000001" and btc.quote_increment == "0.01"
    public = client.get_public_products()
    assert len(public.products) == len(products.products)
    t = client.get_unix_time()
    sim_now = datetime.fromisoformat(sim_handle.admin("GET", "/state")["now"].replace("Z", "+00:00"))
    assert abs(int(t.epoch_seconds) - sim_now.timestamp()) < 5  # the venue's clock, which tests may advance


def test_book_best_bid_ask_and_candles(client: Any) -> None:
    book = client.get_product_book("BTC-USD", limit=2)
    assert [lv["price"] for lv in book.pricebook.bids] == ["49990", "49980"]
    assert [lv["price"] for lv in book.pricebook.asks] == ["50010", "50020"]
    assert book.mid_market == "50000" and book.spread_absolute == "20"
    bba = client.get_best_bid_ask(product_ids=["BTC-USD", "ETH-USD"])
    assert [pb.product_id for pb in bba.pricebooks] == ["BTC-USD", "ETH-USD"]
    now = int(time.time())
    candles = client.get_candles("ETH-USD", str(now - 3600), str(now), "FIVE_MINUTE")
    assert 11 <= len(candles.candles) <= 13
    starts = [int(c.start) for c in candles.candles]
    assert starts == sorted(starts, reverse=True)  # newest first, as Coinbase
    for c in candles.candles:
        assert Decimal(c.low) <= Decimal(c.open) <= Decimal(c.high)
    with pytest.raises(requests.HTTPError, match="400"):
        client.get_candles("ETH-USD", str(now - 400 * 60), str(now), "ONE_MINUTE")  # > 350 candles
    with pytest.raises(requests.HTTPError, match="granularity"):
        client.get_candles("ETH-USD", str(now - 600), str(now), "SEVEN_MINUTE")
    trades = client.get_market_trades("ETH-USD", limit=5)
    assert trades.best_bid and trades.best_ask


def test_market_order_fill_fee_and_balance(client: Any, sim_handle: Any) -> None:
    taker = Decimal(client.get_transaction_summary().fee_tier["taker_fee_rate"])
    before, _ = usd(client)
    order = client.market_order_buy("", "BTC-USD", base_size="1.5")
    assert order.success, order.to_dict()
    got = client.get_order(order.order_id).order
    assert got.status == "FILLED" and got.filled_size == "1.5"
    # walks the book: 1 @ 50010 + 0.5 @ 50020
    notional = Decimal("50010") + Decimal("0.5") * Decimal("50020")
    assert Decimal(got.average_filled_price) == notional / Decimal("1.5")
    fills = client.get_fills(order_ids=[order.order_id]).fills
    assert sorted(f["price"] for f in fills) == ["50010", "50020"]
    fee = sum(Decimal(f["commission"]) for f in fills)
    first = min(fills, key=lambda f: int(f["cursor"]))
    assert Decimal(first["commission"]) == Decimal("50010") * taker
    assert Decimal(got.total_fees) == fee
    assert all(f["liquidity_indicator"] == "TAKER" for f in fills)
    after, _ = usd(client)
    assert before - after == notional + fee
    summary = client.get_transaction_summary()
    assert summary.fee_tier["pricing_tier"] and Decimal(summary.fee_tier["taker_fee_rate"]) > 0


def test_limit_order_preview_edit_cancel(client: Any) -> None:
    maker = Decimal(client.get_transaction_summary().fee_tier["maker_fee_rate"])
    preview = client.preview_limit_order_gtc_buy("BTC-USD", "0.2", "49000")
    assert preview.errs == [] and Decimal(preview.commission_total) == Decimal("9800") * maker
    free_before, hold_before = usd(client)
    order = client.limit_order_gtc_buy("", "BTC-USD", "0.2", "49000")
    assert order.success
    oid = order.order_id
    free, hold = usd(client)
    assert hold - hold_before > Decimal("9800") - Decimal("0.01") and free < free_before
    assert client.get_order(oid).order.status == "OPEN"
    edit_preview = client.preview_edit_order(oid, size="0.3", price="49100")
    assert edit_preview.errors == [] and edit_preview.base_size == "0.3"
    edited = client.edit_order(oid, size="0.3", price="49100")
    assert edited.success, edited.to_dict()
    got = client.get_order(oid).order
    cfg = got.order_configuration.limit_limit_gtc
    assert (cfg.base_size, cfg.limit_price) == ("0.3", "49100")
    assert got.edit_history and got.edit_history[0]["price"] == "49100"
    open_orders = client.list_orders(order_status=["OPEN"], product_ids=["BTC-USD"])
    assert oid in {o.order_id for o in open_orders.orders}
    cancel = client.cancel_orders([oid, oid, "no-such-order"])
    assert [r["success"] for r in cancel.results] == [True, False, False]
    assert cancel.results[2]["failure_reason"] == "UNKNOWN_CANCEL_ORDER"
    assert client.get_order(oid).order.status == "CANCELLED"
    again = client.cancel_orders([oid])
    assert again.results[0]["failure_reason"] == "DUPLICATE_CANCEL_REQUEST"
    free_after, hold_after = usd(client)
    assert (free_after, hold_after) == (free_before, hold_before)


def test_rejections_are_200_with_failure_reason(client: Any) -> None:
    too_big = client.limit_order_gtc_buy("", "BTC-USD", "100", "49000")  # 4.9M USD > 1M funded
    assert not too_big.success and too_big.order_id == ""
    assert too_big.error_response["error"] == "INSUFFICIENT_FUND"
    assert too_big.error_response["preview_failure_reason"] == "PREVIEW_INSUFFICIENT_FUND"
    post_cross = client.limit_order_gtc_buy("", "BTC-USD", "0.1", "50010", post_only=True)
    assert not post_cross.success and post_cross.error_response["error"] == "INVALID_LIMIT_PRICE_POST_ONLY"
    precision = client.limit_order_gtc_buy("", "BTC-USD", "0.1", "49000.001")
    assert precision.error_response["error"] == "INVALID_PRICE_PRECISION"
    bad_product = client.market_order_buy("", "NOPE-USD", quote_size="10")
    assert bad_product.error_response["error"] == "INVALID_PRODUCT_ID"
    with pytest.raises(requests.HTTPError, match=r"400 .*unknown field.*max_floor"):
        client.create_order(
            "", "BTC-USD", "BUY", {"limit_limit_gtc": {"base_size": "1", "limit_price": "1"}}, max_floor="1"
        )


def test_duplicate_client_order_id_returns_first_order(client: Any) -> None:
    first = client.limit_order_gtc_buy("dup-coid-1", "BTC-USD", "0.01", "40000")
    second = client.limit_order_gtc_buy("dup-coid-1", "BTC-USD", "0.01", "40000")
    assert first.success and second.success and first.order_id == second.order_id
    listed = client.list_orders(product_ids=["BTC-USD"], order_status=["OPEN"]).orders
    assert sum(1 for o in listed if o.client_order_id == "dup-coid-1") == 1
    client.cancel_orders([first.order_id])


def test_stop_limit_and_ioc_fok(client: Any, sim_handle: Any) -> None:
    client.market_order_buy("", "BTC-USD", base_size="0.1")  # so the stop has BTC to sell
    stop = client.stop_limit_order_gtc_sell("", "BTC-USD", "0.1", "48000", "48500", "STOP_DIRECTION_STOP_DOWN")
    assert stop.success, stop.to_dict()
    assert client.get_order(stop.order_id).order.trigger_status == "STOP_PENDING"
    sim_handle.pin_book("BTC-USD", [["48400", "5"]], [["48420", "5"]])
    got = client.get_order(stop.order_id).order
    assert got.trigger_status == "STOP_TRIGGERED" and got.status == "FILLED"
    ioc = client.limit_order_ioc_buy("", "BTC-USD", "10", "48420")
    got = client.get_order(ioc.order_id).order
    assert got.status == "CANCELLED" and got.filled_size == "5"
    fok = client.limit_order_fok_sell("", "BTC-USD", "50", "48400")
    assert not fok.success or client.get_order(fok.order_id).order.filled_size == "0"


def test_list_orders_and_fills_pagination(client: Any) -> None:
    ids = [client.limit_order_gtc_buy("", "ETH-USD", "0.01", f"{1000 + i}").order_id for i in range(5)]
    page1 = client.list_orders(product_ids=["ETH-USD"], order_status=["OPEN"], limit=2)
    assert len(page1.orders) == 2 and page1.has_next and page1.cursor
    page2 = client.list_orders(product_ids=["ETH-USD"], order_status=["OPEN"], limit=2, cursor=page1.cursor)
    assert not {o.order_id for o in page1.orders} & {o.order_id for o in page2.orders}
    client.cancel_orders(ids)
    cancelled = client.list_orders(order_ids=ids, order_status=["CANCELLED"])
    assert {o.order_id for o in cancelled.orders} == set(ids)
    client.market_order_buy("", "BTC-USD", base_size="0.01")
    client.market_order_sell("", "BTC-USD", base_size="0.01")
    fills = client.get_fills(product_ids=["BTC-USD"], limit=1)
    assert len(fills.fills) == 1 and fills.cursor
    more = client.get_fills(product_ids=["BTC-USD"], limit=1, cursor=fills.cursor)
    assert more.fills[0]["entry_id"] != fills.fills[0]["entry_id"]


def test_perps_position_close_and_portfolio(client: Any, sim_handle: Any) -> None:
    sim_handle.pin_book("BTC-PERP-INTX", [["49990", "10"]], [["50010", "10"]])
    order = client.market_order_buy("", "BTC-PERP-INTX", base_size="0.1", leverage="5")
    assert order.success, order.to_dict()
    portfolio = client.get_portfolios().portfolios[0]
    uuid = portfolio["uuid"]
    positions = client.list_perps_positions(uuid)
    pos = next(p for p in positions.positions if p["symbol"] == "BTC-PERP-INTX")
    assert pos["net_size"] == "0.1" and pos["position_side"] == "POSITION_SIDE_LONG"
    assert client.get_perps_position(uuid, "BTC-PERP-INTX").position["symbol"] == "BTC-PERP-INTX"
    summary = client.get_perps_portfolio_summary(uuid)
    assert Decimal(summary.summary["collateral"]) > 0
    balances = client.get_perps_portfolio_balances(uuid)
    assert balances.portfolio_balances[0]["portfolio_uuid"] == uuid
    breakdown = client.get_portfolio_breakdown(uuid)
    assert breakdown.breakdown.perp_positions
    close = client.close_position("", "BTC-PERP-INTX")
    assert close.success, close.to_dict()
    after = client.list_perps_positions(uuid).positions
    assert not [p for p in after if p["symbol"] == "BTC-PERP-INTX"]
    perms = client.get_api_key_permissions()
    assert perms.can_trade and perms.portfolio_uuid == uuid


def test_bracket_exit_triggers_stop(client: Any, sim_handle: Any) -> None:
    client.market_order_buy("", "BTC-USD", base_size="0.1")
    bracket = client.trigger_bracket_order_gtc_sell("", "BTC-USD", "0.1", "52000", "48000")
    assert bracket.success, bracket.to_dict()
    got = client.get_order(bracket.order_id).order
    assert got.order_type == "BRACKET" and got.trigger_status == "STOP_PENDING"
    assert got.order_configuration.trigger_bracket_gtc.stop_trigger_price == "48000"
    sim_handle.pin_book("BTC-USD", [["47900", "5"]], [["47950", "5"]])
    got = client.get_order(bracket.order_id).order
    assert got.status == "FILLED" and got.trigger_status == "STOP_TRIGGERED"


def test_clock_advance_expires_gtd_and_settles_funding(client: Any, sim_handle: Any) -> None:
    """Runs last in this module: it moves the simulated clock an hour ahead."""
    sim_handle.pin_book("BTC-PERP-INTX", [["49990", "10"]], [["50010", "10"]])
    now = sim_handle.admin("GET", "/state")["now"]
    end = (datetime.fromisoformat(now.replace("Z", "+00:00")) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    gtd = client.limit_order_gtd_buy("", "BTC-USD", "0.01", "40000", end)
    assert gtd.success and client.get_order(gtd.order_id).order.time_in_force == "GOOD_UNTIL_DATE_TIME"
    opened = client.market_order_buy("", "BTC-PERP-INTX", base_size="0.2", leverage="2")
    assert opened.success
    sim_handle.admin("POST", "/funding_rate", {"product_id": "BTC-PERP-INTX", "rate": "0.001"})
    before = Decimal(sim_handle.audit()["assets"]["USDC"]["actual"])
    # exactly one funding boundary, whatever the wall-clock minute the simulator started at
    boundary = sim_handle.run(lambda: sim_handle.sim.engine.next_funding_time("BTC-PERP-INTX"))
    until_boundary = (boundary - datetime.fromisoformat(now.replace("Z", "+00:00"))).total_seconds()
    sim_handle.admin("POST", "/advance", {"seconds": max(until_boundary + 5, 65)})
    assert client.get_order(gtd.order_id).order.status == "EXPIRED"
    audit = sim_handle.audit()
    # a long pays funding: 0.2 BTC x 50000 mark x 0.1% = 10 USDC (the perp collateral) for the one interval crossed
    paid = before - Decimal(audit["assets"]["USDC"]["actual"])
    assert paid == Decimal(audit["funding_paid"]) == Decimal("10"), audit
    client.close_position("", "BTC-PERP-INTX")
