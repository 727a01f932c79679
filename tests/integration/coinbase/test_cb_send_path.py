"""The REST client's short send path, over real sockets on 127.0.0.1: the direct hand-off to LeanTransport
sends the very bytes httpx.AsyncClient would; the plain first attempt retries exactly by the old rules
(429 / 5xx / timeouts / connect failures; a CREATE whose bytes may have left is never "not sent"); order
creation goes out with a token signed ahead that the simulator's verifier accepts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cb_peer import OK, MakePeer, Peer, closed_port_url, keep_alive, peers
from cb_sim import MakeBroker, eventually, fault, limit_buy, sim_env, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.auth import CdpJwtSigner, HmacSigner
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.lean_transport import LeanTransport
from gpt_trader.features.brokerages.coinbase.parsing import build_create_body
from gpt_trader.features.brokerages.coinbase.rest import API_PREFIX, PRESIGN_DEPTH, CoinbaseRestClient
from gpt_trader.features.brokerages.core.interfaces import (
    AmbiguousOrderStateError,
    RateLimitError,
    TransientError,
)
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration

ORDERS_URI_PATH = API_PREFIX + "/orders"


@pytest.fixture
async def peer_factory() -> AsyncIterator[MakePeer]:
    async with peers() as make:
        yield make


class CountingLean(LeanTransport):
    """The real LeanTransport, counting which entry each request came in by."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.via_httpx = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.via_httpx += 1
        return await super().handle_async_request(request)


# --------------------------------------------------------------------------------- the direct path
#: (method, path, params, body, public); the last three go through httpx.AsyncClient on both clients
REQUESTS: list[tuple[str, str, dict[str, Any] | None, Any, bool]] = [
    ("GET", "/time", None, None, True),
    ("GET", "/accounts/4f6c-uuid_x.y~z", None, None, False),
    ("POST", "/orders", None, {"client_order_id": "c-1", "product_id": "BTC-USD", "size": Decimal("0.5")}, False),
    ("POST", "/orders/batch_cancel", None, {"order_ids": ["a", "b"]}, False),
    ("POST", "/portfolios/p1/noop", None, None, False),  # a body-less POST: httpx adds Content-Length: 0
    ("PUT", "/portfolios/p1", None, {"name": "x"}, False),
    ("DELETE", "/portfolios/p1", None, None, False),
    ("GET", "/orders/historical/batch", {"order_status": ["OPEN", "FILLED"], "limit": 5}, None, False),
    ("GET", "/products/A B", None, None, True),  # not a plain path: httpx percent-encodes it
    ("GET", "/orders/historical/../x", None, None, False),  # dot segments: httpx's business
]
DIRECT = 7


def same_port(peer: Peer) -> list[bytes]:
    """The requests a peer received, its port written as PORT (two peers, two ports)."""
    port = peer.url.rsplit(":", 1)[1].encode()
    return [raw.replace(b"127.0.0.1:" + port, b"127.0.0.1:PORT") for raw in peer.raw]


async def send_all(rest: CoinbaseRestClient) -> None:
    for method, path, params, body, public in REQUESTS:
        await rest.request(method, path, params=params, body=body, public=public, kind="write")


async def test_the_direct_path_sends_the_bytes_httpx_would(peer_factory: MakePeer) -> None:
    """HMAC signing on a fixed clock makes every header deterministic: the two clients' requests must be
    byte for byte the same, and only the plain ones skip httpx.AsyncClient."""
    seen: dict[bool, list[bytes]] = {}
    for direct in (True, False):
        peer = await peer_factory(keep_alive)
        transport = CountingLean(peer.url)
        signer = HmacSigner("key-1", "secret-1", clock=lambda: 1_795_288_994.0)
        rest = CoinbaseRestClient(peer.url, signer, transport=transport, direct=direct)
        try:
            await send_all(rest)
        finally:
            await rest.aclose()
        assert transport.via_httpx == (len(REQUESTS) - DIRECT if direct else len(REQUESTS))
        assert rest.counters["requests"] == len(REQUESTS)
        seen[direct] = same_port(peer)
    assert len(seen[True]) == len(REQUESTS)
    assert seen[True] == seen[False]
    post = seen[True][2]
    assert post.startswith(b"POST /api/v3/brokerage/orders HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n")
    assert post.endswith(b'\r\n\r\n{"client_order_id":"c-1","product_id":"BTC-USD","size":"0.5"}')
    assert b"Content-Length: 0\r\n" in seen[True][4]


async def test_cookies_the_venue_sets_are_kept_and_sent_back_as_httpx_does(peer_factory: MakePeer) -> None:
    async def set_cookie_once(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            if len(peer.raw) == 1:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nSet-Cookie: cb=v1; Path=/\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\n\r\n{}"
                )
            else:
                writer.write(OK)
            await writer.drain()

    seen: dict[bool, list[bytes]] = {}
    for direct in (True, False):
        peer = await peer_factory(set_cookie_once)
        transport = CountingLean(peer.url)
        rest = CoinbaseRestClient(peer.url, transport=transport, direct=direct)
        try:
            for _ in range(3):
                await rest.request("GET", "/time", public=True)
        finally:
            await rest.aclose()
        seen[direct] = same_port(peer)
        if direct:
            assert transport.via_httpx == 2  # the jar holds a cookie: the client adds it from then on
    assert seen[True] == seen[False]
    assert b"Cookie" not in seen[True][0]
    assert all(b"\r\nCookie: cb=v1\r\n" in raw for raw in seen[True][1:])


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nUnauthorized", "AuthError", "Unauthorized"),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}", "NotFoundError", "404"),
    ],
)
async def test_error_replies_map_alike_on_both_paths(
    peer_factory: MakePeer, reply: bytes, error: str, match: str
) -> None:
    async def answer(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            writer.write(reply)
            await writer.drain()

    messages = []
    for direct in (True, False):
        peer = await peer_factory(answer)
        rest = CoinbaseRestClient(peer.url, transport=LeanTransport(peer.url), direct=direct)
        try:
            with pytest.raises(Exception, match=match) as info:
                await rest.request("GET", "/orders/historical/x1", public=True)
        finally:
            await rest.aclose()
        assert type(info.value).__name__ == error
        messages.append(str(info.value).replace(peer.url, "URL"))
    assert messages[0] == messages[1]


async def test_httpx_request_log_line_is_the_same_on_both_paths(
    peer_factory: MakePeer, caplog: pytest.LogCaptureFixture
) -> None:
    lines: dict[bool, list[str]] = {}
    for direct in (True, False):
        peer = await peer_factory(keep_alive)
        rest = CoinbaseRestClient(peer.url, transport=LeanTransport(peer.url), direct=direct)
        caplog.clear()
        try:
            with caplog.at_level(logging.INFO, logger="httpx"):
                await rest.request("POST", "/orders", body={"client_order_id": "c1"}, public=True, kind="create")
        finally:
            await rest.aclose()
        port = peer.url.rsplit(":", 1)[1]
        lines[direct] = [r.getMessage().replace(port, "PORT") for r in caplog.records if r.name == "httpx"]
    assert (
        lines[True]
        == lines[False]
        == ['HTTP Request: POST http://127.0.0.1:PORT/api/v3/brokerage/orders "HTTP/1.1 200 OK"']
    )


async def test_a_closed_client_refuses_on_the_direct_path_as_httpx_does(peer_factory: MakePeer) -> None:
    peer = await peer_factory(keep_alive)
    rest = CoinbaseRestClient(peer.url, transport=LeanTransport(peer.url))
    await rest.aclose()
    with pytest.raises(RuntimeError, match="client has been closed"):
        await rest.request("GET", "/time", public=True)


# ------------------------------------------------------------------- retries on the plain first try
async def test_429s_on_create_are_retried_then_one_order(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    before = dict(rest.counters)
    await fault(sim, "http429:2")
    order = await broker.place_order(limit_buy("r429"))
    assert order.client_order_id == "r429"
    assert len(venue_orders(sim, "r429")) == 1
    assert rest.counters["retries"] - before.get("retries", 0) == 2
    assert rest.counters["throttled"] - before.get("throttled", 0) == 2


async def test_5xx_before_and_after_execution_on_create(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    await fault(sim, "http_path:1:/brokerage/orders$:503")
    await broker.place_order(limit_buy("r5-before"))
    assert len(venue_orders(sim, "r5-before")) == 1
    assert rest.counters["retries"] == 1
    # 5xx on every attempt, each after the venue acted: the same body each time, then ambiguous
    await fault(sim, f"http5xx:{rest.max_attempts}:503:after")
    with pytest.raises(AmbiguousOrderStateError):
        await broker.place_order(limit_buy("r5-after"))
    assert len(venue_orders(sim, "r5-after")) == 1  # the repeats carried the same client_order_id
    assert rest.counters["retries"] == 1 + rest.max_attempts - 1
    assert rest.counters["ambiguous_creates"] == 1


async def test_a_create_timeout_is_ambiguous_and_never_retried(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    broker = await make_broker(request_timeout_s=0.3)
    rest = broker.rest
    requests = rest.counters["requests"]
    await fault(sim, "slow_path:1:/brokerage/orders$:1500")
    with pytest.raises(AmbiguousOrderStateError):
        await broker.place_order(limit_buy("r-slow"))
    assert rest.counters["requests"] - requests == 1
    assert rest.counters["retries"] == 0
    await asyncio.sleep(1.5)  # past the hold: whatever the venue made of it, never a second order
    assert len(venue_orders(sim, "r-slow")) <= 1


async def test_reads_retry_5xx_and_writes_do_not(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    rest = broker.rest
    await fault(sim, "http_path:2:/accounts:503")
    assert await rest.list_accounts()
    assert rest.counters["retries"] == 2
    await fault(sim, "http_path:1:/batch_cancel:503")
    requests = rest.counters["requests"]
    with pytest.raises(TransientError) as info:
        await rest.cancel_orders(["nope"])
    assert not isinstance(info.value, AmbiguousOrderStateError)
    assert rest.counters["requests"] - requests == 1 and rest.counters["retries"] == 2


async def test_one_attempt_allowed_means_the_first_429_surfaces(sim: ExchangeSimulator) -> None:
    settings = coinbase_settings_from_env(sim_env(sim))
    rest = CoinbaseRestClient(settings.api_base_url, settings.signer, max_attempts=1)
    try:
        await fault(sim, "http429:1")
        with pytest.raises(RateLimitError):
            await rest.list_accounts()
        assert rest.counters["requests"] == 1 and rest.counters["retries"] == 0
    finally:
        await rest.aclose()


async def test_connect_refused_is_retried_as_not_sent_even_for_a_create() -> None:
    rest = CoinbaseRestClient(closed_port_url(), max_attempts=3)
    try:
        with pytest.raises(TransientError) as info:
            await rest.request("POST", "/orders", body={"client_order_id": "c1"}, public=True, kind="create")
        assert not isinstance(info.value, AmbiguousOrderStateError) and info.value.reason == "CONNECT"
        assert rest.counters["requests"] == 3 and rest.counters["retries"] == 2
    finally:
        await rest.aclose()


async def test_a_create_cut_off_after_its_bytes_left_is_ambiguous_not_resent(peer_factory: MakePeer) -> None:
    async def read_then_close(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peer.read_request(reader)

    peer = await peer_factory(read_then_close)
    rest = CoinbaseRestClient(peer.url, transport=LeanTransport(peer.url))
    try:
        with pytest.raises(AmbiguousOrderStateError):
            await rest.request("POST", "/orders", body={"client_order_id": "c1"}, public=True, kind="create")
    finally:
        await rest.aclose()
    assert len(peer.raw) == 1 and rest.counters["retries"] == 0


# ------------------------------------------------------------------------------ tokens signed ahead
async def test_orders_go_out_with_presigned_tokens_and_the_stock_refills(
    sim: ExchangeSimulator, broker: CoinbaseBroker
) -> None:
    signer = broker.rest.signer
    assert isinstance(signer, CdpJwtSigner)
    uri = f"POST {broker.rest.host}{ORDERS_URI_PATH}"
    await eventually(lambda: signer.presigned(uri) == PRESIGN_DEPTH, what="the stock to fill after connect")
    for i in range(3):
        await broker.place_order(limit_buy(f"pre-{i}"))
    assert signer.presign_stats["used"] == 3 and signer.presign_stats["on_demand"] == 0
    assert all(len(venue_orders(sim, f"pre-{i}")) == 1 for i in range(3))
    await eventually(lambda: signer.presigned(uri) == PRESIGN_DEPTH, what="the stock to refill without a request")
    # a burst larger than the stock: the rest are signed on the spot and still accepted
    orders = await asyncio.gather(*(broker.place_order(limit_buy(f"burst-{i}")) for i in range(PRESIGN_DEPTH + 2)))
    assert len(orders) == PRESIGN_DEPTH + 2
    assert signer.presign_stats["on_demand"] >= 2


async def test_a_presigned_token_55_s_old_is_accepted_by_the_venue(sim: ExchangeSimulator) -> None:
    settings = coinbase_settings_from_env(sim_env(sim))
    lag = [55.0]
    signer = CdpJwtSigner(sim.cdp_key.name, sim.cdp_key.private_key, clock=lambda: time.time() - lag[0])
    rest = CoinbaseRestClient(settings.api_base_url, signer, presign_depth=2)
    uri = f"POST {rest.host}{ORDERS_URI_PATH}"
    try:
        await rest.server_time()  # any request starts the background signing
        await eventually(lambda: signer.presigned(uri) == 2, what="two tokens signed 55 s in the past")
        lag[0] = 0.0
        resp = await rest.create_order(build_create_body(limit_buy("aged-55")))
        assert resp.success
        assert signer.presign_stats["used"] == 1 and signer.presign_stats["on_demand"] == 0
        assert len(venue_orders(sim, "aged-55")) == 1
    finally:
        await rest.aclose()


async def test_without_a_cdp_key_or_with_depth_0_nothing_is_signed_ahead(sim: ExchangeSimulator) -> None:
    settings = coinbase_settings_from_env(sim_env(sim))
    signer = settings.signer
    assert isinstance(signer, CdpJwtSigner)
    rest = CoinbaseRestClient(settings.api_base_url, signer, presign_depth=0)
    try:
        await rest.create_order(build_create_body(limit_buy("depth-0")))
        await asyncio.sleep(0.05)
        assert signer.presign_stats == {"signed": 0, "used": 0, "retired": 0, "on_demand": 1}
    finally:
        await rest.aclose()
    assert len(venue_orders(sim, "depth-0")) == 1
