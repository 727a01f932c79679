"""The official SDK's WSClient / WSUserClient, unmodified, plus raw-socket checks of the framing rules."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import websockets
from coinbase import jwt_generator
from coinbase.websocket import WSClient, WSUserClient

from gpt_trader.exchange_sim.tls import client_ssl_context

pytestmark = [
    pytest.mark.integration,
    # the SDK itself builds `ssl.SSLContext()` without a protocol for wss://
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, raw: str) -> None:
        with self._lock:
            self.messages.append(json.loads(raw))

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            with self._lock:
                batch = self.messages[seen:]
            for msg in batch:
                if pred(msg):
                    return msg
            seen += len(batch)
            time.sleep(0.02)
        raise AssertionError(f"no matching message within {timeout}s; got {len(self.messages)} messages")


@pytest.fixture(scope="module")
def handle(sim_handle: Any) -> Any:
    return sim_handle


@pytest.fixture(autouse=True)
def books_balanced(handle: Any) -> Iterator[None]:
    yield
    audit = handle.audit()
    assert audit["ok"], audit


@pytest.fixture()
def market_ws(handle: Any) -> Iterator[tuple[WSClient, Inbox]]:
    inbox = Inbox()
    key = handle.sim.cdp_key
    client = WSClient(
        api_key=key.name,
        api_secret=key.private_key,
        base_url=handle.sim.ws_url,
        on_message=inbox,
        retry=False,
    )
    client.open()
    yield client, inbox
    client.close()


def assert_contiguous(messages: list[dict[str, Any]]) -> None:
    seqs = [m["sequence_num"] for m in messages if "sequence_num" in m]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs[:20]


def test_level2_heartbeats_ticker(handle: Any, market_ws: tuple[WSClient, Inbox]) -> None:
    client, inbox = market_ws
    client.subscribe(["ETH-USD"], ["level2", "heartbeats", "ticker"])
    snap = inbox.wait_for(lambda m: m.get("channel") == "l2_data")
    event = snap["events"][0]
    assert event["type"] == "snapshot" and event["product_id"] == "ETH-USD"
    sides = {u["side"] for u in event["updates"]}
    assert sides == {"bid", "offer"}
    ack = inbox.wait_for(lambda m: m.get("channel") == "subscriptions" and "ticker" in m["events"][0]["subscriptions"])
    assert ack["events"][0]["subscriptions"] == {
        "level2": ["ETH-USD"],
        "heartbeats": ["heartbeats"],
        "ticker": ["ETH-USD"],
    }
    inbox.wait_for(lambda m: m.get("channel") == "heartbeats" and m["events"][0]["heartbeat_counter"] >= 2, 4)
    inbox.wait_for(lambda m: m.get("channel") == "ticker" and m["events"][0]["type"] == "snapshot")
    inbox.wait_for(lambda m: m.get("channel") == "l2_data" and m["events"][0]["type"] == "update")
    # rebuild the book from snapshot + updates; pin a known book and watch the client converge to it
    handle.pin_book("ETH-USD", [["3000", "1.5"], ["2999", "2"]], [["3001", "1"], ["3002", "4"]])
    inbox.wait_for(
        lambda m: (
            m.get("channel") == "l2_data"
            and any(u["price_level"] == "3001" and u["new_quantity"] == "1" for u in m["events"][0]["updates"])
        )
    )
    time.sleep(0.1)
    book: dict[str, dict[str, str]] = {"bid": {}, "offer": {}}
    for m in list(inbox.messages):
        if m.get("channel") != "l2_data":
            continue
        for ev in m["events"]:
            if ev["type"] == "snapshot":
                book = {"bid": {}, "offer": {}}
            for u in ev["updates"]:
                if Decimal(u["new_quantity"]) == 0:
                    book[u["side"]].pop(u["price_level"], None)
                else:
                    book[u["side"]][u["price_level"]] = u["new_quantity"]
    assert book == {"bid": {"3000": "1.5", "2999": "2"}, "offer": {"3001": "1", "3002": "4"}}
    assert_contiguous(inbox.messages)
    for m in inbox.messages:
        assert m["client_id"] == "" and m["timestamp"].endswith("Z")


def test_ticker_on_trades(handle: Any, market_ws: tuple[WSClient, Inbox]) -> None:
    client, inbox = market_ws
    handle.pin_book("SOL-USD", [["190", "100"]], [["190.5", "100"]])
    client.subscribe(["SOL-USD"], ["ticker", "market_trades"])
    inbox.wait_for(lambda m: m.get("channel") == "ticker")
    rest = handle.sdk_rest()
    rest.market_order_buy("", "SOL-USD", base_size="2")
    tick = inbox.wait_for(
        lambda m: (
            m.get("channel") == "ticker"
            and m["events"][0]["type"] == "update"
            and m["events"][0]["tickers"][0]["price"] == "190.5"
        )
    )
    t = tick["events"][0]["tickers"][0]
    assert t["product_id"] == "SOL-USD" and t["best_bid"] == "190" and t["best_ask"] == "190.5"
    trades = inbox.wait_for(
        lambda m: (
            m.get("channel") == "market_trades"
            and m["events"][0]["type"] == "update"
            and any(tr["size"] == "2" for tr in m["events"][0]["trades"])
        )
    )
    trade = next(tr for tr in trades["events"][0]["trades"] if tr["size"] == "2")
    assert trade["side"] == "SELL" and trade["price"] == "190.5"  # maker side
    assert_contiguous(inbox.messages)


def test_user_channel_snapshot_and_updates(handle: Any) -> None:
    handle.pin_book("LTC-USD", [["100", "50"]], [["100.5", "50"]])
    rest = handle.sdk_rest()
    resting = rest.limit_order_gtc_buy("", "LTC-USD", "1", "90").order_id
    inbox = Inbox()
    key = handle.sim.cdp_key
    client = WSUserClient(
        api_key=key.name,
        api_secret=key.private_key,
        base_url=handle.sim.ws_user_url,
        on_message=inbox,
        retry=False,
    )
    client.open()
    try:
        client.subscribe([], ["user", "heartbeats"])
        snap = inbox.wait_for(lambda m: m.get("channel") == "user" and m["events"][0]["type"] == "snapshot")
        ids = {o["order_id"] for o in snap["events"][0]["orders"]}
        assert resting in ids
        ack = inbox.wait_for(
            lambda m: m.get("channel") == "subscriptions" and "user" in m["events"][0]["subscriptions"]
        )
        assert ack["events"][0]["subscriptions"]["user"] == [handle.sim.venue.user_uuid(handle.sim.account_id)]
        filled = rest.market_order_buy("", "LTC-USD", base_size="3").order_id
        upd = inbox.wait_for(
            lambda m: (
                m.get("channel") == "user"
                and any(o["order_id"] == filled and o["status"] == "FILLED" for o in m["events"][0]["orders"])
            )
        )
        order = next(o for o in upd["events"][0]["orders"] if o["order_id"] == filled)
        assert order["cumulative_quantity"] == "3" and order["leaves_quantity"] == "0"
        assert order["avg_price"] == "100.5" and Decimal(order["total_fees"]) > 0
        assert order["post_only"] == "false"
        rest.cancel_orders([resting])
        inbox.wait_for(
            lambda m: (
                m.get("channel") == "user"
                and any(o["order_id"] == resting and o["status"] == "CANCELLED" for o in m["events"][0]["orders"])
            )
        )
        inbox.wait_for(lambda m: m.get("channel") == "heartbeats")
        assert_contiguous(inbox.messages)
    finally:
        client.close()


def test_user_snapshot_batches_of_50(handle: Any) -> None:
    handle.pin_book("ADA-USD", [["0.9", "100000"]], [["0.9001", "100000"]])
    rest = handle.sdk_rest()
    ids = [rest.limit_order_gtc_buy("", "ADA-USD", "20", "0.5").order_id for _ in range(55)]
    inbox = Inbox()
    key = handle.sim.cdp_key
    client = WSUserClient(
        api_key=key.name,
        api_secret=key.private_key,
        base_url=handle.sim.ws_user_url,
        on_message=inbox,
        retry=False,
    )
    client.open()
    try:
        client.subscribe(["ADA-USD"], ["user"])
        inbox.wait_for(
            lambda m: (
                m.get("channel") == "user"
                and m["events"][0]["type"] == "snapshot"
                and len(m["events"][0]["orders"]) < 50
            )
        )
        snaps = [m for m in inbox.messages if m.get("channel") == "user" and m["events"][0]["type"] == "snapshot"]
        assert [len(s["events"][0]["orders"]) for s in snaps] == [50, 5]
    finally:
        client.close()
        rest.cancel_orders(ids[:100])


async def _recv_json(ws: Any, timeout: float = 3.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


@pytest.mark.slow
async def test_framing_rules_raw_socket(handle: Any) -> None:
    ctx = client_ssl_context(handle.sim.cert_path)
    key = handle.sim.cdp_key
    async with websockets.connect(handle.sim.ws_url, ssl=ctx) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "nonsense"}))
        assert await _recv_json(ws) == {"type": "error", "message": "authentication failure"}
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level2"]}))
        assert (await _recv_json(ws))["message"] == "failure to subscribe"
        await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "user"}))
        assert (await _recv_json(ws))["message"] == "authentication failure"
        bad_jwt = jwt_generator.build_ws_jwt(key.name, handle.sim.add_account_key("ec").private_key)
        await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "user", "jwt": bad_jwt}))
        assert (await _recv_json(ws))["message"] == "authentication failure"
        good = jwt_generator.build_ws_jwt(key.name, key.private_key)
        await ws.send(
            json.dumps({"type": "subscribe", "product_ids": [], "channel": "futures_balance_summary", "jwt": good})
        )
        ack = await _recv_json(ws)
        assert ack["channel"] == "subscriptions" and ack["sequence_num"] == 0
        snap = await _recv_json(ws)
        assert snap["channel"] == "futures_balance_summary" and snap["sequence_num"] == 1
        assert "futures_buying_power" in snap["events"][0]["fcm_balance_summary"]
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "status"}))
        frames = [await _recv_json(ws), await _recv_json(ws)]
        status = next(f for f in frames if f["channel"] == "status")
        assert status["events"][0]["products"][0]["id"] == "BTC-USD"
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "candles"}))
        frames = [await _recv_json(ws), await _recv_json(ws)]
        candles = next(f for f in frames if f["channel"] == "candles")
        assert candles["events"][0]["type"] == "snapshot" and candles["events"][0]["candles"]
        await ws.send(json.dumps({"type": "unsubscribe", "product_ids": [], "channel": "candles"}))
        while True:
            msg = await _recv_json(ws)
            if msg["channel"] == "subscriptions" and "candles" not in msg["events"][0]["subscriptions"]:
                break
    # the user endpoint refuses market-data channels
    async with websockets.connect(handle.sim.ws_user_url, ssl=ctx) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"}))
        assert (await _recv_json(ws))["type"] == "error"


@pytest.mark.slow
async def test_subscribe_deadline_closes_socket(handle: Any) -> None:
    ctx = client_ssl_context(handle.sim.cert_path)
    handle.sim.hub.config.subscribe_timeout_s = 0.5
    try:
        async with websockets.connect(handle.sim.ws_url, ssl=ctx) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3)
    finally:
        handle.sim.hub.config.subscribe_timeout_s = 5.0


@pytest.mark.slow
async def test_ticker_batch_idle_close_and_legacy_hmac_ws_auth(sim_factory: Any) -> None:
    from gpt_trader.exchange_sim.auth import hmac_signature
    from gpt_trader.exchange_sim.venue import VenueConfig
    from gpt_trader.exchange_sim.ws import WsConfig

    handle = await asyncio.to_thread(
        sim_factory, venue=VenueConfig(ticker_batch_s=0.3), ws=WsConfig(idle_timeout_s=1.0)
    )
    ctx = client_ssl_context(handle.sim.cert_path)
    async with websockets.connect(handle.sim.ws_url, ssl=ctx) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "ticker_batch"}))
        channels = []
        for _ in range(6):
            msg = await _recv_json(ws)
            channels.append((msg["channel"], msg["events"][0].get("type")))
            if ("ticker_batch", "update") in channels:
                break
        assert ("ticker_batch", "snapshot") in channels and ("ticker_batch", "update") in channels
    # legacy-key WS auth (ccxt pro): HMAC over timestamp + channel + product ids; then silence -> close
    hm = handle.sim.hmac
    async with websockets.connect(handle.sim.ws_user_url, ssl=ctx) as ws:
        ts = str(int(time.time()))
        sig = hmac_signature(hm.secret, ts, "", "", "")  # placeholder prehash is wrong on purpose
        await ws.send(
            json.dumps(
                {"type": "subscribe", "channel": "user", "product_ids": [], "api_key": hm.key, "timestamp": ts,
                 "signature": sig}
            )
        )  # fmt: skip
        assert (await _recv_json(ws))["message"] == "authentication failure"
        import hashlib
        import hmac as hmac_mod

        good = hmac_mod.new(hm.secret.encode(), f"{ts}user".encode(), hashlib.sha256).hexdigest()
        await ws.send(
            json.dumps(
                {"type": "subscribe", "channel": "user", "product_ids": [], "api_key": hm.key, "timestamp": ts,
                 "signature": good}
            )
        )  # fmt: skip
        frames = [await _recv_json(ws), await _recv_json(ws)]
        assert {f["channel"] for f in frames} == {"subscriptions", "user"}
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 4)  # nothing to send for 1 s -> server closes the socket
