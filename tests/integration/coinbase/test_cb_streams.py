"""WebSocket book/user streams, perps with funding, client-side triggers and auth variants, over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal as D

import pytest
from cb_sim import SIM_PRODUCTS, MakeBroker, eventually, pin, sim_env, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.exchange_sim.auth import CdpKey, HmacKey
from gpt_trader.exchange_sim.ws import WsConnection
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream
from gpt_trader.features.brokerages.core.interfaces import (
    AuthError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    ProductType,
    StopDirection,
    TransientError,
)
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration
BTC, ETH, PERP = "BTC-USD", "ETH-USD", "BTC-PERP-INTX"


async def _broker(sim: ExchangeSimulator, **env: str) -> CoinbaseBroker:
    b = CoinbaseBroker(coinbase_settings_from_env(sim_env(sim, **env)))
    await b.connect()
    return b


def market_conn(sim: ExchangeSimulator) -> WsConnection:
    conns = [c for c in sim.hub.connections.values() if "level2" in c.subscriptions]
    assert len(conns) == 1
    return conns[0]


async def caught_up(sim: ExchangeSimulator, stream: MarketDataStream) -> None:
    await asyncio.sleep(0.05)  # let the simulator assign sequence numbers to what it publishes
    await eventually(lambda: stream.conn.last_seq == market_conn(sim).seq - 1, what="stream to catch up")


async def assert_books_equal(broker: CoinbaseBroker, stream: MarketDataStream, symbol: str) -> None:
    ours = stream.book(symbol, depth=50)
    theirs = (await broker.rest.product_book(symbol, 50)).pricebook
    assert ours is not None
    assert [(lv.price, lv.size) for lv in ours.bids] == [(lv.price, lv.size) for lv in theirs.bids]
    assert [(lv.price, lv.size) for lv in ours.asks] == [(lv.price, lv.size) for lv in theirs.asks]


async def test_ws_book_equals_simulator_book_after_n_updates(sim: ExchangeSimulator) -> None:
    broker = await _broker(sim)
    try:
        stream = await broker.open_market_stream([BTC, ETH])
        await stream.wait_synced(5)
        rounds = 0
        while stream.counters["l2_updates"] < 1500:
            sim.clock.advance(3)
            sim.venue.step_market()
            await caught_up(sim, stream)
            for sym in (BTC, ETH):
                await assert_books_equal(broker, stream, sym)
            rounds += 1
        assert rounds >= 3
        assert stream.conn.counters["gaps"] == 0 and stream.conn.counters["malformed"] == 0
        q = await broker.get_quote(BTC)  # served from the fresh WS book
        book = stream.book(BTC, 1)
        assert book is not None and (q.bid, q.ask) == (book.best_bid, book.best_ask)
    finally:
        await broker.close()


async def collect(broker: CoinbaseBroker, sink: list[OrderUpdate]) -> None:
    async for update in broker.stream_user_events():
        sink.append(update)


async def test_user_event_fills_equal_rest_fills(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, [("99990", "1"), ("99980", "2")], [("100010", "1"), ("100020", "2")])
    updates: list[OrderUpdate] = []
    task = asyncio.create_task(collect(broker, updates))
    try:
        stream = await broker.open_user_stream()
        await asyncio.wait_for(stream.snapshot_done.wait(), 5)
        mkt = await broker.place_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                quote_size=D("150000"),
                client_order_id="u-1",
            )
        )
        part = await broker.place_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.BUY,
                order_type=OrderType.LIMIT,
                size=D("2.5"),
                limit_price=D("100020"),
                client_order_id="u-2",
            )
        )
        assert part.status is OrderStatus.PARTIALLY_FILLED
        pin(sim, BTC, [("99990", "1")], [("100000", "5")])
        ids = {mkt.order_id, part.order_id}

        def all_done() -> bool:
            done = {u.order.order_id for u in updates if u.order.status is OrderStatus.FILLED}
            return ids <= done

        await eventually(all_done, what="user events for both orders to reach FILLED")
        ws_fills = [f for u in updates for f in u.fills]
        assert len({f.trade_id for f in ws_fills}) == len(ws_fills)
        for oid in ids:
            rest = await broker.list_fills(order_id=oid)
            ws = [f for f in ws_fills if f.order_id == oid]
            assert sum(f.size for f in ws) == sum(f.size for f in rest) > 0
            assert sum(f.size * f.price for f in ws) == pytest.approx(
                sum(f.size * f.price for f in rest), abs=D("1e-6")
            )
            assert sum(f.fee for f in ws) == sum(f.fee for f in rest)
            assert {f.client_order_id for f in ws} == {"u-1" if oid == mkt.order_id else "u-2"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_perp_lifecycle_with_funding(sim: ExchangeSimulator) -> None:
    broker = await _broker(sim)
    try:
        assert broker.perps_enabled
        order = await broker.place_order(
            OrderRequest(
                symbol="BTC-PERP",
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                size=D("0.5"),
                leverage=D("5"),
                client_order_id="perp-1",
            )
        )
        assert order.status is OrderStatus.FILLED and order.symbol == "BTC-PERP"
        positions = {p.symbol: p for p in await broker.list_positions()}
        pos = positions["BTC-PERP"]
        assert pos.product_type is ProductType.PERPETUAL and pos.size == D("0.5") and pos.leverage == D("5")
        sim.engine.set_funding_rate(PERP, D("0.001"))
        assert await broker.get_funding_rate("BTC-PERP") == D("0.001")
        boundary = sim.engine.next_funding_time(PERP)
        assert boundary is not None
        sim.clock.advance((boundary - sim.clock.now()).total_seconds() + 1)  # exactly one funding boundary
        sim.venue.step_market()
        await eventually(lambda: sim.venue.funding_events, what="a funding payment")
        (event,) = sim.venue.funding_events
        assert event.payment == event.position_size * event.mark_price * event.rate  # exact, not rounded
        ours = {b.asset: b for b in await broker.list_balances()}["USD"]
        theirs = sim.engine.balance(sim.account_id, "USD")
        assert (ours.available, ours.hold) == (theirs.available, theirs.hold)  # funding reached our view
        pos = {p.symbol: p for p in await broker.list_positions()}["BTC-PERP"]
        venue_pos = next(p for p in sim.engine.positions(sim.account_id) if p.symbol == PERP)
        assert (pos.size, pos.mark_price, pos.entry_price) == (
            venue_pos.size,
            venue_pos.mark_price,
            venue_pos.entry_price,
        )
        partial = await broker.place_order(
            OrderRequest(
                symbol="BTC-PERP",
                side=OrderSide.SELL,
                order_type=OrderType.MARKET,
                size=D("0.2"),
                reduce_only=True,
                client_order_id="perp-2",
            )
        )
        assert partial.status is OrderStatus.FILLED
        close = await broker.close_position("BTC-PERP", client_order_id="perp-3")
        assert close.status is OrderStatus.FILLED and close.filled_size == D("0.3") and close.side is OrderSide.SELL
        assert close.symbol == "BTC-PERP"
        assert "BTC-PERP" not in {p.symbol for p in await broker.list_positions()}
    finally:
        await broker.close()


async def test_perps_normalize_to_spot_without_derivatives(
    sim: ExchangeSimulator, make_broker: MakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = await make_broker(env={"COINBASE_ENABLE_DERIVATIVES": "0"})
    assert not broker.perps_enabled
    assert all(not p.is_perpetual for p in await broker.list_products())
    product = await broker.get_product("BTC-PERP")
    assert product.symbol == "BTC-PERP" and product.product_type is ProductType.SPOT
    assert any("trades as spot BTC-USD" in n for n in broker.symbols.notices)
    pin(sim, BTC, [("99990", "1")], [("100010", "1")])
    o = await broker.place_order(
        OrderRequest(
            symbol="BTC-PERP", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.1"), client_order_id="n-1"
        )
    )
    assert o.symbol == "BTC-PERP"
    assert [x.symbol for x in venue_orders(sim, "n-1")] == [BTC]


async def print_trade(broker: CoinbaseBroker, side: OrderSide, coid: str) -> None:
    o = await broker.place_order(
        OrderRequest(symbol=BTC, side=side, order_type=OrderType.MARKET, size=D("0.001"), client_order_id=coid)
    )
    assert o.status is OrderStatus.FILLED


async def test_client_side_stop_limit_and_bracket(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    broker = await make_broker(client_side_stops="always")
    broker.triggers.poll_interval_s = 0.05
    sim.fund("BTC", "2")
    pin(sim, BTC, [("99990", "3")], [("100010", "3")])
    await print_trade(broker, OrderSide.BUY, "print-1")  # last trade 100010: nothing armed may fire
    stop = await broker.place_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.SELL,
            order_type=OrderType.STOP_LIMIT,
            size=D("0.5"),
            stop_price=D("95000"),
            limit_price=D("94000"),
            stop_direction=StopDirection.STOP_DOWN,
            client_order_id="cs-stop",
        )
    )
    bracket = await broker.place_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.SELL,
            order_type=OrderType.BRACKET,
            size=D("0.5"),
            limit_price=D("105000"),
            stop_trigger_price=D("96000"),
            client_order_id="cs-br",
        )
    )
    assert stop.order_id.startswith("cs-") and stop.status is OrderStatus.OPEN
    assert venue_orders(sim, "cs-stop") == [] and venue_orders(sim, "cs-stop-sl") == []
    assert len(venue_orders(sim, "cs-br-tp")) == 1  # take-profit rests natively
    assert {o.order_id for o in await broker.list_orders(BTC)} >= {stop.order_id, bracket.order_id}
    await asyncio.sleep(0.3)
    assert not (await broker.get_order(stop.order_id)).triggered
    pin(sim, BTC, [("94500", "5")], [("94600", "5")])
    await print_trade(broker, OrderSide.SELL, "print-2")  # last trade 94500: both stops cross

    async def filled(oid: str) -> bool:
        return (await broker.get_order(oid)).status is OrderStatus.FILLED

    await eventually(lambda: filled(stop.order_id), timeout=10, what="client stop to trigger and fill")
    await eventually(lambda: filled(bracket.order_id), timeout=10, what="client bracket stop leg")
    s = await broker.get_order(stop.order_id)
    assert s.triggered and s.filled_size == D("0.5") and s.avg_fill_price == D("94500")
    b = await broker.get_order(bracket.order_id)
    assert b.triggered and b.filled_size == D("0.5")
    assert venue_orders(sim, "cs-br-tp")[0].status is OrderStatus.CANCELLED
    assert len(venue_orders(sim, "cs-stop-sl")) == 1 and len(venue_orders(sim, "cs-br-st")) == 1
    found = await broker.get_order_by_client_id("cs-stop")
    assert found is not None and found.order_id == stop.order_id


@pytest.mark.parametrize("kind", ["ed25519", "hmac"])
async def test_other_key_types_authenticate(sim: ExchangeSimulator, kind: str) -> None:
    key = sim.add_account_key(kind)
    env = sim_env(sim)
    if kind == "hmac":
        assert isinstance(key, HmacKey)
        env = {k: v for k, v in env.items() if "CDP" not in k}
        env.update({"COINBASE_AUTH_TYPE": "hmac", "COINBASE_API_KEY": key.key, "COINBASE_API_SECRET": key.secret})
    else:
        assert isinstance(key, CdpKey)
        env.update({"COINBASE_PROD_CDP_API_KEY": key.name, "COINBASE_PROD_CDP_PRIVATE_KEY": key.private_key})
    broker = CoinbaseBroker(coinbase_settings_from_env(env))
    await broker.connect()
    try:
        assert {b.asset for b in await broker.list_balances()} >= {"USD"}
        stream = await broker.open_user_stream()
        await asyncio.wait_for(stream.snapshot_done.wait(), 5)
        assert stream.conn.counters["errors"] == 0
    finally:
        await broker.close()


async def test_wrong_key_is_an_auth_error_without_secret(
    sim: ExchangeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        .decode()
    )
    env = sim_env(sim, COINBASE_PROD_CDP_PRIVATE_KEY=pem)
    broker = CoinbaseBroker(coinbase_settings_from_env(env))
    try:
        with pytest.raises(AuthError) as info:
            await broker.connect()
            await broker.list_balances()
        assert pem.splitlines()[1] not in str(info.value)
        assert pem.splitlines()[1] not in caplog.text and "Bearer" not in caplog.text
    finally:
        await broker.close()


async def test_tls_endpoints_with_a_trusted_local_cert() -> None:
    products = [p for p in default_products() if p.symbol in SIM_PRODUCTS]
    async with ExchangeSimulator(port=0, seed=4, tick_interval_s=3600, products=products, tls=True) as tls_sim:
        assert tls_sim.rest_url.startswith("https://") and tls_sim.ws_url.startswith("wss://")
        env = sim_env(tls_sim, COINBASE_CA_BUNDLE=str(tls_sim.cert_path))
        broker = CoinbaseBroker(coinbase_settings_from_env(env))
        await broker.connect()
        try:
            assert {b.asset for b in await broker.list_balances()} >= {"USD"}
            stream = await broker.open_market_stream([BTC])
            await stream.wait_synced(5)
            user = await broker.open_user_stream()
            await asyncio.wait_for(user.snapshot_done.wait(), 5)
        finally:
            await broker.close()
        untrusted = CoinbaseBroker(coinbase_settings_from_env(sim_env(tls_sim)))
        try:
            with pytest.raises(TransientError):
                await untrusted.connect()  # an unknown certificate is refused, never silently accepted
        finally:
            await untrusted.close()
