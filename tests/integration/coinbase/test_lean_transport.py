"""LeanTransport over real sockets: the simulator over TLS on 127.0.0.1 for the normal path, and tiny
local asyncio servers for what the simulator cannot do (close while idle, never answer, cut a reply
short, bad framing, hold replies to fill the pool)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
from cb_peer import OK, MakePeer, Peer, closed_port_url, keep_alive, peers
from cb_sim import SIM_PRODUCTS, sim_env

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.exchange_sim.tls import client_ssl_context
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.lean_transport import LeanTransport, OriginMismatchError
from gpt_trader.features.brokerages.coinbase.rest import CoinbaseRestClient
from gpt_trader.features.brokerages.core.interfaces import AmbiguousOrderStateError, TransientError
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration

TIME_PATH = "/api/v3/brokerage/time"


@pytest.fixture
async def tls_sim() -> AsyncIterator[ExchangeSimulator]:
    products = [p for p in default_products() if p.symbol in SIM_PRODUCTS]
    async with ExchangeSimulator(port=0, seed=11, tick_interval_s=3600, products=products, tls=True) as s:
        s.fund("USD", "1000000")
        yield s


@pytest.fixture
async def peer_factory() -> AsyncIterator[MakePeer]:
    async with peers() as make:
        yield make


def lean_client(url: str, transport: LeanTransport, **timeouts: float) -> httpx.AsyncClient:
    timeout = httpx.Timeout(5.0, **timeouts) if timeouts else httpx.Timeout(5.0)
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout)


# ------------------------------------------------------------------------------------ simulator
async def test_sequential_requests_reuse_one_tls_connection(tls_sim: ExchangeSimulator) -> None:
    assert tls_sim.cert_path is not None
    ctx = client_ssl_context(tls_sim.cert_path)
    transport = LeanTransport(tls_sim.rest_url, ssl_context=ctx)
    async with lean_client(tls_sim.rest_url, transport) as client:
        for _ in range(5):
            resp = await client.get(TIME_PATH)
            assert resp.status_code == 200
            assert "iso" in resp.json()
            assert resp.headers["content-type"].startswith("application/json")
    assert transport.stats == {"opened": 1, "reused": 4, "discarded": 0}
    assert ctx.session_stats()["connect"] == 1  # one TLS handshake for all five
    assert transport.open_connections == 0  # aclose (client exit) closed it


async def test_rest_client_defaults_to_lean_and_trades_over_tls(
    tls_sim: ExchangeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert tls_sim.cert_path is not None
    settings = coinbase_settings_from_env(sim_env(tls_sim, COINBASE_CA_BUNDLE=str(tls_sim.cert_path)))
    broker = CoinbaseBroker(settings)
    await broker.connect()
    try:
        assert broker.rest.transport_kind == "lean"
        assert {b.asset for b in await broker.list_balances()} >= {"USD"}
        raw = await broker.rest.request("GET", "/orders/historical/batch", params={"limit": 5})
        assert raw.startswith(b"{")
    finally:
        await broker.close()


async def test_a_proxy_in_the_environment_keeps_httpx_default_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = CoinbaseRestClient("https://api.coinbase.com")
    try:
        assert client.transport_kind.startswith("httpx-default")
    finally:
        await client.aclose()
    monkeypatch.delenv("HTTPS_PROXY")
    for var in ("https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    given = LeanTransport("https://api.coinbase.com")
    client = CoinbaseRestClient("https://api.coinbase.com", transport=given)
    try:
        assert client.transport_kind == "given:LeanTransport"
    finally:
        await client.aclose()


async def test_untrusted_certificate_is_a_connect_error(tls_sim: ExchangeSimulator) -> None:
    transport = LeanTransport(tls_sim.rest_url, ssl_context=httpx.create_ssl_context(trust_env=False))  # certifi
    async with lean_client(tls_sim.rest_url, transport) as client:
        with pytest.raises(httpx.ConnectError, match="SSL"):
            await client.get(TIME_PATH)
    assert transport.open_connections == 0


async def test_another_origin_is_refused_by_name(tls_sim: ExchangeSimulator) -> None:
    transport = LeanTransport(tls_sim.rest_url)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(OriginMismatchError, match=r"serves only https://127\.0\.0\.1"):
            await client.get("https://example.invalid/api")
    with pytest.raises(ValueError, match="ftp://x"):
        LeanTransport("ftp://x")


# ----------------------------------------------------------------------------------- local server
async def test_connect_refused_is_connect_error() -> None:
    url = closed_port_url()
    transport = LeanTransport(url)
    async with lean_client(url, transport) as client:
        with pytest.raises(httpx.ConnectError, match="ConnectionRefused"):
            await client.get("/")
    assert transport.open_connections == 0


async def test_a_connection_the_peer_closed_while_idle_is_not_reused(peer_factory: MakePeer) -> None:
    async def answer_once_then_close(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peer.read_request(reader)
        writer.write(OK)  # keep-alive reply (no Connection: close) ...
        await writer.drain()
        # ... then the server closes the connection while it idles in the client's pool

    peer = await peer_factory(answer_once_then_close)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport) as client:
        assert (await client.get("/a")).status_code == 200
        await asyncio.sleep(0.1)  # the FIN arrives
        assert (await client.get("/b")).status_code == 200
    assert transport.stats == {"opened": 2, "reused": 0, "discarded": 1}
    assert peer.connections == 2


@pytest.mark.parametrize("gap_s", [0.0, 0.03], ids=["same-segment", "while-idle"])
async def test_a_stray_reply_after_the_response_never_answers_the_next_request(
    peer_factory: MakePeer, gap_s: float
) -> None:
    async def stray_bytes(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peer.read_request(reader)
        stray = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"  # one reply too many
        if gap_s:
            writer.write(OK)
            await writer.drain()
            await asyncio.sleep(gap_s)
            writer.write(stray)
        else:
            writer.write(OK + stray)
        await writer.drain()
        await keep_alive(peer, reader, writer)

    peer = await peer_factory(stray_bytes)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport) as client:
        await client.get("/a")
        await asyncio.sleep(0.1)
        resp = await client.get("/b")
        assert resp.status_code == 200  # not the stale 408
    assert transport.stats["opened"] == 2
    # arriving with the response it is never pooled; arriving later it is dropped when next picked
    assert transport.stats["discarded"] == (1 if gap_s else 0)


async def test_idle_longer_than_keepalive_expiry_is_not_reused(peer_factory: MakePeer) -> None:
    now = [1000.0]
    peer = await peer_factory(keep_alive)
    transport = LeanTransport(peer.url, keepalive_expiry=60, clock=lambda: now[0])
    async with lean_client(peer.url, transport) as client:
        await client.get("/a")
        now[0] += 59
        await client.get("/b")  # idle 59 s: reused
        now[0] += 61
        await client.get("/c")  # idle 61 s: dropped, a fresh one
    assert transport.stats == {"opened": 2, "reused": 1, "discarded": 1}


async def test_no_answer_is_read_timeout(peer_factory: MakePeer) -> None:
    async def never_answer(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peer.read_request(reader)
        await peer.release.wait()

    peer = await peer_factory(never_answer)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport, read=0.2) as client:
        with pytest.raises(httpx.ReadTimeout, match=r"within 0\.2s"):
            await client.post("/orders", content=b'{"x":1}')
        assert peer.requests == [b"POST /orders HTTP/1.1"]  # it was sent
        assert transport.open_connections == 0  # the timed-out connection is closed, not pooled
    peer.release.set()


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"", "Server disconnected|ConnectionClosed|unexpected"),  # closed with no reply at all
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", "complete message body"),  # cut short
        (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "Content-Length"),  # bad framing
        (b"garbage\r\n\r\n", "status line|illegal|malformed|invalid|did not match"),
    ],
    ids=["no-reply", "cut-short", "bad-length", "garbage"],
)
async def test_server_misbehaving_mid_response_is_remote_protocol_error(
    peer_factory: MakePeer, reply: bytes, match: str
) -> None:
    async def misbehave(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peer.read_request(reader)
        writer.write(reply)
        await writer.drain()

    peer = await peer_factory(misbehave)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport) as client:
        with pytest.raises(httpx.RemoteProtocolError, match=match):
            await client.get("/")
    assert transport.open_connections == 0


async def test_a_reused_connection_closed_after_the_write_is_after_send_never_connect_error(
    peer_factory: MakePeer,
) -> None:
    """The idle-close race seen from the REST client: the CREATE's bytes reached the server, which then
    dropped the connection. It must come out ambiguous (resolve by client_order_id), never 'not sent'."""

    async def take_second_request_and_vanish(
        peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await peer.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await peer.read_request(reader)
        writer.transport.abort()  # RST after the order arrived

    peer = await peer_factory(take_second_request_and_vanish)
    rest = CoinbaseRestClient(peer.url, max_attempts=1, transport=LeanTransport(peer.url))
    try:
        await rest.request("GET", "/time", public=True)
        with pytest.raises(AmbiguousOrderStateError):
            await rest.request("POST", "/orders", body={"client_order_id": "c1"}, public=True, kind="create")
        assert rest.counters["errors.after_send"] == 1
        assert rest.counters["errors.connect"] == 0
        assert peer.connections == 1 and peer.requests[-1].startswith(b"POST")
    finally:
        await rest.aclose()


async def test_connect_refused_through_the_rest_client_is_not_sent() -> None:
    rest = CoinbaseRestClient(closed_port_url(), max_attempts=1)
    assert rest.transport_kind == "lean" or rest.transport_kind.startswith("httpx-default")
    try:
        with pytest.raises(TransientError) as info:
            await rest.request("POST", "/orders", body={"client_order_id": "c1"}, public=True, kind="create")
        assert not isinstance(info.value, AmbiguousOrderStateError)
        assert info.value.reason == "CONNECT"
    finally:
        await rest.aclose()


async def test_pool_limit_and_pool_timeout(peer_factory: MakePeer) -> None:
    async def hold(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            await peer.release.wait()
            writer.write(OK)
            await writer.drain()

    peer = await peer_factory(hold)
    transport = LeanTransport(peer.url, max_connections=2)
    async with lean_client(peer.url, transport, pool=0.2) as client:
        first = [asyncio.create_task(client.get(f"/{i}")) for i in range(2)]
        while len(peer.requests) < 2:
            await asyncio.sleep(0.01)
        assert transport.open_connections == 2
        with pytest.raises(httpx.PoolTimeout, match="max_connections=2"):
            await client.get("/third")
        assert peer.connections == 2  # the third never opened a connection
        waiting = asyncio.create_task(client.get("/fourth"))  # waits for a slot, then reuses one
        await asyncio.sleep(0.05)
        peer.release.set()
        assert [r.status_code for r in await asyncio.gather(*first, waiting)] == [200, 200, 200]
    assert peer.connections == 2
    assert transport.stats["opened"] == 2 and transport.stats["reused"] == 1


async def test_concurrent_requests_use_separate_connections(peer_factory: MakePeer) -> None:
    async def answer_when_all_arrived(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            if len(peer.requests) == 5:
                peer.release.set()
            await asyncio.wait_for(peer.release.wait(), 5)
            writer.write(OK)
            await writer.drain()

    peer = await peer_factory(answer_when_all_arrived)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport) as client:
        replies = await asyncio.gather(*(client.get(f"/{i}") for i in range(5)))
        assert all(r.status_code == 200 for r in replies)
        assert transport.open_connections == 5  # all idle in the pool now
        await asyncio.gather(*(client.get(f"/again{i}") for i in range(5)))
    assert peer.connections == 5
    assert transport.stats == {"opened": 5, "reused": 5, "discarded": 0}


async def test_aclose_closes_every_connection(peer_factory: MakePeer) -> None:
    peer = await peer_factory(keep_alive)
    transport = LeanTransport(peer.url)
    client = lean_client(peer.url, transport)
    await asyncio.gather(*(client.get(f"/{i}") for i in range(3)))
    assert transport.open_connections >= 1
    opened = transport.stats["opened"]
    await client.aclose()
    assert transport.open_connections == 0
    for _ in range(50):
        if peer.eofs == opened:
            break
        await asyncio.sleep(0.01)
    assert peer.eofs == opened  # the server saw each connection end
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", peer.url + "/"))


async def test_gzip_and_chunked_replies_read_like_httpx_default(peer_factory: MakePeer) -> None:
    """httpx asks for gzip (Accept-Encoding) and the venue may chunk: the body comes out decoded."""
    payload = gzip.compress(b'{"ok":true}')

    async def gzip_chunked(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            half = len(payload) // 2
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:half], payload[half:]))
            writer.write(head + chunks + b"0\r\n\r\n")
            await writer.drain()

    peer = await peer_factory(gzip_chunked)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport) as client:
        for _ in range(2):
            resp = await client.get("/")
            assert resp.content == b'{"ok":true}' and resp.json() == {"ok": True}
    assert transport.stats == {"opened": 1, "reused": 1, "discarded": 0}  # chunked framing ends cleanly


async def test_an_expired_connection_at_the_bottom_of_the_pool_is_closed(peer_factory: MakePeer) -> None:
    async def hold_two(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            if len(peer.requests) == 2:
                peer.release.set()
            await peer.release.wait()
            writer.write(OK)
            await writer.drain()

    now = [0.0]
    peer = await peer_factory(hold_two)
    transport = LeanTransport(peer.url, keepalive_expiry=60, clock=lambda: now[0])
    async with lean_client(peer.url, transport) as client:
        await asyncio.gather(client.get("/a"), client.get("/b"))  # two connections, both idle at t=0
        now[0] = 30
        await client.get("/c")  # the top one, idle again at t=30
        now[0] = 61
        await client.get("/d")  # reuses the t=30 one; parking it closes the t=0 one (idle 61 s)
        assert transport.open_connections == 1
    assert transport.stats == {"opened": 2, "reused": 2, "discarded": 1}


async def test_a_peer_that_stops_reading_is_write_timeout(peer_factory: MakePeer) -> None:
    async def never_read(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peer.release.wait()

    peer = await peer_factory(never_read)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport, write=0.2) as client:
        with pytest.raises(httpx.WriteTimeout, match=r"after 0\.2s"):
            await client.post("/big", content=b"x" * (32 << 20))  # more than both sockets' buffers hold
    assert transport.open_connections == 0
    peer.release.set()


async def test_a_peer_that_resets_during_the_write_is_write_error(peer_factory: MakePeer) -> None:
    async def reset_after_head(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()

    peer = await peer_factory(reset_after_head)
    transport = LeanTransport(peer.url)
    async with lean_client(peer.url, transport) as client:
        with pytest.raises(httpx.WriteError):
            await client.post("/big", content=b"x" * (32 << 20))
    assert transport.open_connections == 0


async def test_a_cancelled_request_frees_its_slot_and_closes_its_connection(peer_factory: MakePeer) -> None:
    async def answer_all_but_the_first(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await peer.read_request(reader) is not None:
            if len(peer.requests) == 1:
                await peer.release.wait()  # the first request never gets an answer
            writer.write(OK)
            await writer.drain()

    peer = await peer_factory(answer_all_but_the_first)
    transport = LeanTransport(peer.url, max_connections=1)
    async with lean_client(peer.url, transport, pool=1.0) as client:
        stuck = asyncio.create_task(client.get("/stuck"))
        while not peer.requests:
            await asyncio.sleep(0.01)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert transport.open_connections == 0  # its half-used connection is gone, not pooled
        assert (await client.get("/next")).status_code == 200  # and its one slot is free again
    assert peer.connections == 2
    peer.release.set()


async def test_a_request_h11_cannot_frame_fails_before_anything_is_written(peer_factory: MakePeer) -> None:
    peer = await peer_factory(keep_alive)
    transport = LeanTransport(peer.url)
    request = httpx.Request("POST", peer.url + "/orders", content=b'{"a":1}')
    del request.headers["Content-Length"]  # a body h11 has no framing for
    with pytest.raises(httpx.LocalProtocolError, match="POST"):
        await transport.handle_async_request(request)
    assert peer.requests == [] and transport.open_connections == 0
    await transport.aclose()
