"""ccxt 4.5.90's `coinbase` class, unmodified (only its REST URL pointed at the simulator), through a whole
spot workflow over plain HTTP: one test per ccxt call, each checked against the simulator's own state.

Keys: the module client signs with a CDP EC key (ccxt's ES256 JWT, `iss: coinbase-cloud`); the balance
and my-trades tests also use a legacy HMAC key (v2 signs path + query), and the order-status tests an
Ed25519 CDP key (ccxt's EdDSA JWT with `uris: [...]`).

Pinned prices make every fill's notional a multiple of $2.50, so the Intro-1 fees (0.6 % / 1.2 %) are
exact to the cent and `/admin/audit` agrees with the ledger whatever way fees are rounded.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from gpt_trader.exchange_sim.wire import STATUS_FILTER
from gpt_trader.features.brokerages.core.interfaces import Balance, Fill, Order, TradeTick

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USD"
PRODUCT = "BTC-USD"
BIDS = [["47500", "1"], ["47490", "2"], ["47480", "5"]]
ASKS = [["50000", "1"], ["50010", "2"], ["50020", "5"]]
FAR_BELOW = 1000  # a resting limit buy price that never fills


def D(value: Any) -> Decimal:
    """ccxt's unified numbers are floats; their shortest repr is the wire's decimal string."""
    return Decimal(str(value))


def ms(ts: dt.datetime) -> int:
    """Epoch milliseconds, truncated as ccxt's parse8601 does (integer arithmetic, no float rounding)."""
    return (ts - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


def make_client(sim: Any, api_key: str, secret: str) -> Any:
    client = ccxt.coinbase({"apiKey": api_key, "secret": secret, "enableRateLimit": False, "timeout": 10_000})
    client.urls["api"]["rest"] = sim.sim.rest_url
    client.session.trust_env = False
    client.load_markets()
    return client


@pytest.fixture(scope="module")
def sim(sim_http_handle: Any) -> Any:
    """The module's simulator (plain HTTP, 1,000,000 USD funded, no rate limits)."""
    return sim_http_handle


@pytest.fixture(scope="module")
def ex(sim: Any) -> Any:
    key = sim.sim.cdp_key
    assert key.algorithm == "ES256"
    return make_client(sim, key.name, key.private_key)


@pytest.fixture(scope="module")
def ex_hmac(sim: Any) -> Any:
    return make_client(sim, sim.sim.hmac.key, sim.sim.hmac.secret)


@pytest.fixture(scope="module")
def ex_ed25519(sim: Any) -> Any:
    key = sim.run(lambda: sim.sim.add_account_key("ed25519"))
    assert key.algorithm == "EdDSA" and len(key.private_key) == 88  # what makes ccxt sign with EdDSA
    return make_client(sim, key.name, key.private_key)


@pytest.fixture(autouse=True)
def pinned_and_audited(sim: Any) -> Iterator[None]:
    """A known book before each test; after it, every balance equals deposits + fills - fees."""
    sim.pin_book(PRODUCT, BIDS, ASKS)
    yield
    audit = sim.audit()
    assert audit["ok"], audit


# ------------------------------------------------------------------------------ simulator state
def sim_balances(sim: Any) -> dict[str, Balance]:
    account = sim.sim.account_id
    return {b.asset: b for b in sim.run(lambda: sim.sim.venue.engine.balances(account))}


def sim_order(sim: Any, public_id: str) -> Order:
    order: Order = sim.run(lambda: sim.sim.venue.get_order(sim.sim.account_id, public_id))
    return order


def sim_orders(sim: Any, wire_status: str) -> dict[str, Order]:
    wanted = STATUS_FILTER[wire_status]

    def read() -> dict[str, Order]:
        venue = sim.sim.venue
        return {
            venue.public_id(o.order_id): o
            for o in venue.all_orders(sim.sim.account_id)
            if o.symbol == PRODUCT and o.status in wanted
        }

    result: dict[str, Order] = sim.run(read)
    return result


def sim_fills(sim: Any) -> list[tuple[str, Fill]]:
    """(public order id, fill) for every fill of the account."""

    def read() -> list[tuple[str, Fill]]:
        venue = sim.sim.venue
        return [(venue.public_id(f.order_id), f) for f in venue.fills(sim.sim.account_id)]

    result: list[tuple[str, Fill]] = sim.run(read)
    return result


def sim_tape(sim: Any) -> dict[str, TradeTick]:
    ticks: list[TradeTick] = sim.run(lambda: sim.sim.venue.market_trades(PRODUCT, 100_000))
    return {t.trade_id: t for t in ticks}


def resting_limit_buy(ex: Any, amount: str = "0.01") -> dict[str, Any]:
    order: dict[str, Any] = ex.create_order(SYMBOL, "limit", "buy", float(amount), FAR_BELOW)
    return order


# ------------------------------------------------------------------------------------ market data
def test_load_markets(ex: Any, sim: Any) -> None:
    market = ex.market(SYMBOL)
    assert market["id"] == PRODUCT and market["spot"] is True and market["type"] == "spot"
    assert ex.markets_by_id[PRODUCT][0]["symbol"] == SYMBOL
    product = sim.run(lambda: sim.sim.venue.product(PRODUCT))
    assert D(market["precision"]["amount"]) == product.base_increment
    assert D(market["precision"]["price"]) == product.price_increment
    assert D(market["limits"]["amount"]["min"]) == product.base_min_size
    assert D(market["limits"]["cost"]["min"]) == product.quote_min_size
    spot = [p for p in sim.run(lambda: sim.sim.venue.products()) if not p.is_perpetual]
    for p in spot:  # every spot product keeps its own unified symbol
        assert ex.market(f"{p.base_asset}/{p.quote_asset}")["id"] == p.symbol
    tier = sim.run(lambda: sim.sim.venue.engine.fee_tier(sim.sim.account_id))
    assert (D(market["maker"]), D(market["taker"])) == (tier.maker_fee_rate, tier.taker_fee_rate)


def test_fetch_ticker(ex: Any, sim: Any) -> None:
    ex.create_market_buy_order_with_cost(SYMBOL, 50)  # a print on the pinned market (it has no others)
    ticker = ex.fetch_ticker(SYMBOL)
    assert ticker["symbol"] == SYMBOL
    assert (D(ticker["bid"]), D(ticker["ask"])) == (Decimal(BIDS[0][0]), Decimal(ASKS[0][0]))
    tick = sim_tape(sim)[ticker["info"]["trade_id"]]  # the last trade ccxt saw is the simulator's last print
    assert D(ticker["last"]) == D(ticker["close"]) == tick.price == Decimal(ASKS[0][0])
    assert ticker["timestamp"] == ms(tick.ts)


def test_fetch_order_book(ex: Any) -> None:
    book = ex.fetch_order_book(SYMBOL, 2)
    assert book["symbol"] == SYMBOL
    assert [[D(p), D(s)] for p, s in book["bids"]] == [[Decimal(p), Decimal(s)] for p, s in BIDS[:2]]
    assert [[D(p), D(s)] for p, s in book["asks"]] == [[Decimal(p), Decimal(s)] for p, s in ASKS[:2]]
    assert book["timestamp"] is not None and abs(book["timestamp"] / 1000 - time.time()) < 60


def test_fetch_ohlcv(ex: Any, sim: Any) -> None:
    now = sim.run(lambda: sim.sim.venue.now())
    since_s = (int(now.timestamp()) // 60 - 10) * 60
    candles = ex.fetch_ohlcv(SYMBOL, "1m", since=since_s * 1000, limit=10)
    start = dt.datetime.fromtimestamp(since_s, dt.UTC)
    own = sim.run(lambda: sim.sim.venue.candles(PRODUCT, 60, start, start + dt.timedelta(minutes=10)))
    expected = {ms(c.start): c for c in own}
    assert candles, "no candles in the last ten minutes"
    assert [c[0] for c in candles] == sorted(expected)  # oldest first, the venue's buckets, none invented
    for ts, o, h, low, c, v in candles:
        ref = expected[ts]
        assert (D(o), D(h), D(low), D(c), D(v)) == (ref.open, ref.high, ref.low, ref.close, ref.volume)


def test_fetch_trades(ex: Any, sim: Any) -> None:
    placed = ex.create_market_buy_order_with_cost(SYMBOL, 50)
    (fill,) = [f for oid, f in sim_fills(sim) if oid == placed["id"]]
    trades = ex.fetch_trades(SYMBOL, limit=25)
    assert 0 < len(trades) <= 25
    assert fill.trade_id in {t["id"] for t in trades}  # our own fill printed on the public tape
    tape = sim_tape(sim)
    for t in trades:
        tick = tape[t["id"]]
        assert t["symbol"] == SYMBOL
        assert (D(t["price"]), D(t["amount"]), t["side"]) == (tick.price, tick.size, tick.side.value.lower())
        assert t["timestamp"] == ms(tick.ts)


# ------------------------------------------------------------------------------------- account
def test_fetch_balance(ex: Any, ex_hmac: Any, sim: Any) -> None:
    order = resting_limit_buy(ex, "0.02")  # a hold, to tell total from available
    try:
        own = sim_balances(sim)
        v2 = ex_hmac.fetch_balance()  # ccxt's default: GET /v2/accounts, HMAC over path + query
        assert v2["info"]["pagination"]["limit"] == 250
        assert D(v2["USD"]["total"]) == own["USD"].total
        assert D(v2["BTC"]["total"]) == (own["BTC"].total if "BTC" in own else 0)
        v3 = ex.fetch_balance({"v3": True})  # GET /api/v3/brokerage/accounts: available and hold apart
        assert D(v3["USD"]["free"]) == own["USD"].available
        assert D(v3["USD"]["used"]) == own["USD"].hold > 0
        assert D(v3["USD"]["total"]) == own["USD"].total
    finally:
        ex.cancel_order(order["id"], SYMBOL)


# -------------------------------------------------------------------------------------- orders
def test_create_order_limit(ex: Any, sim: Any) -> None:
    placed = resting_limit_buy(ex, "0.01")
    try:
        assert placed["symbol"] == SYMBOL and placed["side"] == "buy"
        assert placed["clientOrderId"].startswith("ccxt-")
        order = sim_order(sim, placed["id"])
        assert order.symbol == PRODUCT and order.client_order_id == placed["clientOrderId"]
        assert (order.size, order.limit_price, order.time_in_force.value) == (
            Decimal("0.01"),
            Decimal(FAR_BELOW),
            "GTC",
        )
        assert order.status in STATUS_FILTER["OPEN"]
    finally:
        ex.cancel_order(placed["id"], SYMBOL)


def test_create_order_market(ex: Any, sim: Any) -> None:
    """Market buy by amount x price (ccxt sends quote_size), then market sell by base size."""
    usd_before = sim_balances(sim)["USD"].total
    buy = ex.create_order(SYMBOL, "market", "buy", 0.002, 50000)
    bought = sim_order(sim, buy["id"])
    assert bought.quote_size == Decimal("100") and bought.filled_size == Decimal("0.002")
    sell = ex.create_order(SYMBOL, "market", "sell", 0.002)
    sold = sim_order(sim, sell["id"])
    assert sold.filled_size == Decimal("0.002") and sold.avg_fill_price == Decimal(BIDS[0][0])
    fills = {f.trade_id: f for oid, f in sim_fills(sim) if oid in (buy["id"], sell["id"])}
    assert len(fills) == 2
    change = sum((-(f.price * f.size) if f.side.value == "BUY" else f.price * f.size) - f.fee for f in fills.values())
    assert (
        sim_balances(sim)["USD"].total - usd_before
        == change
        == Decimal("-100") + Decimal("95") - Decimal("1.2") - Decimal("1.14")
    )


def test_create_market_buy_order_with_cost(ex: Any, sim: Any) -> None:
    before = sim_balances(sim)
    placed = ex.create_market_buy_order_with_cost(SYMBOL, 100)
    order = ex.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "closed" and order["type"] == "market" and order["side"] == "buy"
    assert order["info"]["order_configuration"] == {"market_market_ioc": {"quote_size": "100"}}
    assert D(order["filled"]) == Decimal("0.002") and D(order["average"]) == Decimal(ASKS[0][0])
    assert D(order["cost"]) == Decimal("100")  # what was asked to spend
    assert D(order["fee"]["cost"]) == Decimal("1.2") and order["fee"]["currency"] == "USD"
    after = sim_balances(sim)
    balance = ex.fetch_balance()
    assert D(balance["USD"]["total"]) == after["USD"].total == before["USD"].total - Decimal("101.2")
    btc_before = before["BTC"].total if "BTC" in before else Decimal(0)
    assert D(balance["BTC"]["total"]) == after["BTC"].total == btc_before + Decimal("0.002")


def test_fetch_order(ex: Any, ex_ed25519: Any, sim: Any) -> None:
    placed = resting_limit_buy(ex, "0.01")
    try:
        got = ex_ed25519.fetch_order(placed["id"], SYMBOL)
        own = sim_order(sim, placed["id"])
        assert got["id"] == placed["id"] and got["clientOrderId"] == own.client_order_id
        assert (got["symbol"], got["type"], got["side"], got["timeInForce"]) == (SYMBOL, "limit", "buy", "GTC")
        assert (D(got["price"]), D(got["amount"]), D(got["filled"])) == (own.limit_price, own.size, own.filled_size)
        assert got["status"] == "open" and got["postOnly"] is False
        assert own.created_at is not None and got["timestamp"] == ms(own.created_at)
    finally:
        ex.cancel_order(placed["id"], SYMBOL)


def test_fetch_open_orders(ex: Any, ex_ed25519: Any, sim: Any) -> None:
    placed = [resting_limit_buy(ex, "0.01"), resting_limit_buy(ex, "0.02")]
    try:
        listed = ex_ed25519.fetch_open_orders(SYMBOL)
        own = sim_orders(sim, "OPEN")
        assert {o["id"] for o in listed} == set(own) >= {p["id"] for p in placed}
        for o in listed:
            assert o["status"] == "open" and D(o["amount"]) == own[o["id"]].size
    finally:
        for p in placed:
            ex.cancel_order(p["id"], SYMBOL)


def test_fetch_closed_orders(ex: Any, sim: Any) -> None:
    ex.create_market_buy_order_with_cost(SYMBOL, 50)
    listed = ex.fetch_closed_orders(SYMBOL)
    own = sim_orders(sim, "FILLED")
    assert listed and {o["id"] for o in listed} == set(own)
    for o in listed:
        assert o["status"] == "closed" and D(o["filled"]) == own[o["id"]].filled_size
        assert D(o["fee"]["cost"]) == own[o["id"]].fees


def test_cancel_order(ex: Any, ex_ed25519: Any, sim: Any) -> None:
    placed = resting_limit_buy(ex, "0.01")
    assert sim_balances(sim)["USD"].hold > 0
    cancelled = ex_ed25519.cancel_order(placed["id"], SYMBOL)
    assert cancelled["id"] == placed["id"]
    assert sim_order(sim, placed["id"]).status in STATUS_FILTER["CANCELLED"]
    assert ex.fetch_order(placed["id"], SYMBOL)["status"] == "canceled"
    assert sim_balances(sim)["USD"].hold == 0
    with pytest.raises(ccxt.BadRequest):  # a second cancel fails, as on the venue
        ex.cancel_order(placed["id"], SYMBOL)


def test_fetch_my_trades(ex: Any, ex_hmac: Any, sim: Any) -> None:
    ex.create_market_buy_order_with_cost(SYMBOL, 50)
    mine = ex_hmac.fetch_my_trades(SYMBOL, limit=1000)
    own = {f.trade_id: (oid, f) for oid, f in sim_fills(sim) if f.symbol == PRODUCT}
    assert mine and {t["id"] for t in mine} == set(own)
    for t in mine:
        oid, f = own[t["id"]]
        assert (t["order"], t["symbol"], t["side"]) == (oid, SYMBOL, f.side.value.lower())
        assert (D(t["price"]), D(t["amount"]), D(t["fee"]["cost"])) == (f.price, f.size, f.fee)
        assert D(t["cost"]) == f.price * f.size and t["takerOrMaker"] == f.liquidity.value.lower()
        assert t["timestamp"] == ms(f.ts)


def test_fetch_trading_fees(ex: Any, sim: Any) -> None:
    fees = ex.fetch_trading_fees()
    tier = sim.run(lambda: sim.sim.venue.engine.fee_tier(sim.sim.account_id))
    spot = {m["symbol"] for m in ex.markets.values() if m["spot"]}
    assert set(fees) == spot and SYMBOL in fees
    for fee in fees.values():
        assert (D(fee["maker"]), D(fee["taker"])) == (tier.maker_fee_rate, tier.taker_fee_rate)
        assert fee["info"]["fee_tier"]["pricing_tier"] == tier.name
