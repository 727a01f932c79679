"""Every admin-API fault, observed from the client side (SDK or raw socket)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websockets

from gpt_trader.exchange_sim.tls import client_ssl_context

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def response_of(exc: requests.HTTPError) -> requests.Response:
    assert exc.response is not None
    return exc.response


@pytest.fixture(autouse=True)
def clean_faults(sim_handle: Any) -> Iterator[None]:
    sim_handle.admin("DELETE", "/faults")
    sim_handle.pin_book("BTC-USD", [["49990", "5"]], [["50010", "5"]])
    yield
    sim_handle.admin("DELETE", "/faults")
    audit = sim_handle.audit()
    assert audit["ok"], audit


def inject(handle: Any, spec: str) -> dict[str, Any]:
    result: dict[str, Any] = handle.admin("POST", "/faults", {"spec": spec})
    return result


def test_latency(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    inject(sim_handle, "latency:400")
    t0 = time.perf_counter()
    client.get_accounts()
    slow = time.perf_counter() - t0
    sim_handle.admin("DELETE", "/faults")
    t0 = time.perf_counter()
    client.get_accounts()
    fast = time.perf_counter() - t0
    assert slow >= 0.4 and fast < 0.3


def test_429_burst(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    inject(sim_handle, "http429:2")
    for _ in range(2):
        with pytest.raises(requests.HTTPError) as info:
            client.get_accounts()
        resp = response_of(info.value)
        assert resp.status_code == 429 and resp.headers["x-ratelimit-remaining"] == "0"
        assert resp.headers["Content-Type"].startswith("text/html")  # not JSON, as seen live
    assert client.get_accounts().accounts


def test_5xx_burst_and_ambiguous_create(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    inject(sim_handle, "http5xx:2")
    for _ in range(2):
        with pytest.raises(requests.HTTPError) as info:
            client.get_products()
        assert response_of(info.value).status_code == 503
    assert client.get_products().products
    inject(sim_handle, "http5xx:1:502:after")
    with pytest.raises(requests.HTTPError) as info:
        client.limit_order_gtc_buy("ambiguous-1", "BTC-USD", "0.01", "40000")
    assert response_of(info.value).status_code == 502
    # the request was executed: resolving by client_order_id finds the order
    listed = client.list_orders(product_ids=["BTC-USD"], order_status=["OPEN"]).orders
    found = [o for o in listed if o.client_order_id == "ambiguous-1"]
    assert len(found) == 1
    retry = client.limit_order_gtc_buy("ambiguous-1", "BTC-USD", "0.01", "40000")
    assert retry.success and retry.order_id == found[0].order_id
    client.cancel_orders([found[0].order_id])


def test_rejected_orders(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    inject(sim_handle, "reject_orders:2:COMMANDER_REJECTED_NEW_ORDER")
    for _ in range(2):
        r = client.market_order_buy("", "BTC-USD", base_size="0.001")
        assert not r.success and r.error_response["error"] == "COMMANDER_REJECTED_NEW_ORDER"
    assert client.market_order_buy("", "BTC-USD", base_size="0.001").success


def test_delayed_fills(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    inject(sim_handle, "delay_fills:0.6")
    placed = client.market_order_buy("delayed-1", "BTC-USD", base_size="0.01")
    assert placed.success
    early = client.get_order(placed.order_id).order
    assert early.status == "OPEN" and early.filled_size == "0"
    assert client.get_fills(order_ids=[placed.order_id]).fills == []
    dup = client.market_order_buy("delayed-1", "BTC-USD", base_size="0.01")
    assert dup.order_id == placed.order_id
    sim_handle.admin("DELETE", "/faults")
    deadline = time.monotonic() + 3
    while client.get_order(placed.order_id).order.status != "FILLED":
        assert time.monotonic() < deadline, "delayed order never filled"
        time.sleep(0.05)
    fills = client.get_fills(order_ids=[placed.order_id]).fills
    assert [f["order_id"] for f in fills] == [placed.order_id]
    # a held-back order can be cancelled before it reaches the book
    inject(sim_handle, "delay_fills:5")
    held = client.limit_order_gtc_buy("", "BTC-USD", "0.01", "40000")
    assert client.cancel_orders([held.order_id]).results[0]["success"]
    assert client.get_order(held.order_id).order.status == "CANCELLED"


async def _ws(handle: Any, url: str | None = None) -> Any:
    return await websockets.connect(url or handle.sim.ws_url, ssl=client_ssl_context(handle.sim.cert_path))


async def _recv(ws: Any, timeout: float = 3.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _collect(ws: Any, seconds: float) -> list[str]:
    """Channels of the frames that arrive within the next `seconds` (never waits past the window)."""
    out: list[str] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), left))["channel"])
        except TimeoutError:
            break
    return out


async def test_dropped_sockets(sim_handle: Any) -> None:
    ws = await _ws(sim_handle)
    try:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "heartbeats"}))
        await _recv(ws)
        await asyncio.to_thread(inject, sim_handle, "drop_ws:market")
        with pytest.raises(websockets.ConnectionClosedError) as info:
            for _ in range(10):
                await _recv(ws)
        assert info.value.rcvd is None  # aborted: no close frame, as a dropped TCP connection
    finally:
        await ws.close()


async def test_sequence_gap(sim_handle: Any) -> None:
    ws = await _ws(sim_handle)
    try:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "heartbeats"}))
        first = await _recv(ws)
        assert first["channel"] == "subscriptions" and first["sequence_num"] == 0
        hb = await _recv(ws)
        await asyncio.to_thread(inject, sim_handle, "seq_gap:5")
        nxt = await _recv(ws)
        assert nxt["sequence_num"] == hb["sequence_num"] + 6
        after = await _recv(ws)
        assert after["sequence_num"] == nxt["sequence_num"] + 1
    finally:
        await ws.close()


@pytest.mark.slow
async def test_stalled_feed(sim_handle: Any) -> None:
    ws = await _ws(sim_handle)
    try:
        for channel in ("heartbeats", "level2", "ticker"):
            await ws.send(json.dumps({"type": "subscribe", "product_ids": ["ETH-USD"], "channel": channel}))
        before = await _collect(ws, 2.0)
        assert "l2_data" in before
        await asyncio.to_thread(inject, sim_handle, "stall:2.5:ETH-USD")
        await _collect(ws, 0.3)  # frames already in flight may still land
        stalled = await _collect(ws, 1.5)
        assert "heartbeats" in stalled
        assert "l2_data" not in stalled and "ticker" not in stalled
        resumed = await _collect(ws, 2.5)
        assert "l2_data" in resumed
    finally:
        await ws.close()


def test_fault_spec_errors_are_400(sim_handle: Any) -> None:
    resp = sim_handle.http.post(f"{sim_handle.sim.admin_url}/faults", json={"spec": "explode:1"}, timeout=5)
    assert resp.status_code == 400 and "unknown fault 'explode'" in resp.json()["error"]
    state = sim_handle.admin("GET", "/faults")
    assert state["http429_remaining"] == 0


async def test_repeating_drop_every_interval(sim_handle: Any) -> None:
    await asyncio.to_thread(inject, sim_handle, "drop_ws:market:1")
    try:
        for _ in range(2):  # each new connection is dropped again within about a second
            ws = await _ws(sim_handle)
            await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "heartbeats"}))
            with pytest.raises(websockets.ConnectionClosedError):
                for _ in range(20):
                    await _recv(ws, 4.0)
    finally:
        await asyncio.to_thread(sim_handle.admin, "DELETE", "/faults")
    fired = (await asyncio.to_thread(sim_handle.admin, "GET", "/faults"))["fired"]
    assert fired["drop_ws"] >= 3
