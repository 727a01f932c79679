"""Exchange simulator throughput over loopback: order round trip (p50/p99) and WS level2 messages/s.

The simulator runs in a child process (as in real use); this process is the client. Order round trip =
sign + POST /orders (market IOC, fills against the synthetic book) + response, one keep-alive
HTTP/1.1 connection (stdlib http.client), plain http on 127.0.0.1, rate limits off, feed running.
Target: p99 <= 5 ms per order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

N_ORDERS = 2000
WARMUP = 200
L2_SECONDS = 5.0


async def serve(tick_s: float, speed: float, synthetic: bool) -> None:
    from decimal import Decimal

    from gpt_trader.exchange_sim import ExchangeSimulator, SimulatorConfig
    from gpt_trader.features.brokerages.core.interfaces import BookLevel

    config = SimulatorConfig(
        port=0,
        rate_limit_private=0,
        rate_limit_public=0,
        tick_interval_s=tick_s,
        speed=speed,
        synthetic=synthetic,
        initial_funds={"USD": Decimal("100000000"), "BTC": Decimal("1000")},
    )
    async with ExchangeSimulator(config) as sim:
        if not synthetic:
            deep = Decimal("1000000")
            sim.venue.pin_book("BTC-USD", [BookLevel(Decimal(49990), deep)], [BookLevel(Decimal(50010), deep)])
        print(json.dumps(sim.info()), flush=True)
        await asyncio.Event().wait()


def start_child(tick_s: float, speed: float, synthetic: bool = True) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    flags = [] if synthetic else ["--no-synthetic"]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--tick", str(tick_s), "--speed", str(speed), *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def admin(info: dict[str, Any], method: str, path: str) -> Any:
    import http.client

    host = info["admin_url"].split("://", 1)[1].split("/", 1)[0]
    conn = http.client.HTTPConnection(host, timeout=5)
    conn.request(method, f"/admin{path}")
    return json.loads(conn.getresponse().read())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_orders(info: dict[str, Any], auth: str) -> dict[str, float]:
    import http.client

    from coinbase import jwt_generator

    from gpt_trader.exchange_sim.auth import hmac_signature

    path = "/api/v3/brokerage/orders"
    host = info["rest_url"].split("://", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=5)
    samples: list[float] = []
    for i in range(N_ORDERS + WARMUP):
        side = "BUY" if i % 2 == 0 else "SELL"
        body = json.dumps(
            {
                "client_order_id": uuid.uuid4().hex,
                "product_id": "BTC-USD",
                "side": side,
                "order_configuration": {"market_market_ioc": {"base_size": "0.0001"}},
            }
        )
        t0 = time.perf_counter()
        if auth == "jwt":
            token = jwt_generator.build_rest_jwt(f"POST {host}{path}", info["cdp_key_name"], info["cdp_private_key"])
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        else:
            ts = str(int(time.time()))
            headers = {
                "CB-ACCESS-KEY": info["hmac_key"],
                "CB-ACCESS-TIMESTAMP": ts,
                "CB-ACCESS-SIGN": hmac_signature(info["hmac_secret"], ts, "POST", path, body),
                "Content-Type": "application/json",
            }
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        elapsed = time.perf_counter() - t0
        if resp.status != 200 or not json.loads(payload).get("success"):
            raise RuntimeError(f"order {i} failed: {resp.status} {payload[:300]!r}")
        if i >= WARMUP:
            samples.append(elapsed * 1000)
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": pct(samples, 0.99),
        "max_ms": max(samples),
        "orders_per_s": len(samples) / (sum(samples) / 1000),
    }


async def bench_level2(info: dict[str, Any]) -> dict[str, float]:
    import websockets

    products = [
        "BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "LTC-USD", "ADA-USD", "DOGE-USD",
        "BCH-USD", "AVAX-USD", "LINK-USD", "BTC-PERP-INTX", "ETH-PERP-INTX", "SOL-PERP-INTX",
    ]  # fmt: skip
    async with websockets.connect(info["ws_url"], max_size=1 << 24) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": products, "channel": "level2"}))
        frames = updates = 0
        nbytes = 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < L2_SECONDS:
            raw = await ws.recv()
            msg = json.loads(raw)
            if msg.get("channel") == "l2_data":
                frames += 1
                nbytes += len(raw)
                updates += sum(len(ev["updates"]) for ev in msg["events"])
        return {
            "l2_frames_per_s": frames / elapsed,
            "l2_level_updates_per_s": updates / elapsed,
            "mb_per_s": nbytes / elapsed / 1e6,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--tick", type=float, default=0.25)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--no-synthetic", action="store_true")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.tick, args.speed, not args.no_synthetic))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    runs = [("hmac", True), ("jwt", True), ("hmac", False)]
    for auth, synthetic in runs:
        proc, info = start_child(0.25, 1.0, synthetic)
        try:
            admin(info, "DELETE", "/timings")
            r = bench_orders(info, auth)
            server = admin(info, "GET", "/state")["rest_server_ms"]
            feed = "synthetic feed on" if synthetic else "feed off, pinned book"
            print(
                f"order round trip ({auth:4} auth, {feed}, market IOC, {N_ORDERS} orders): p50 {r['p50_ms']:.2f} ms  "
                f"p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.2f} ms  ({r['orders_per_s']:.0f} orders/s serial)  "
                f"target p99 <= 5 ms: {'OK' if r['p99_ms'] <= 5 else 'MISSED'}; "
                f"server-side p50 {server['p50']:.2f} ms p99 {server['p99']:.2f} ms"
            )
        finally:
            proc.terminate()
            proc.wait(10)
    proc, info = start_child(0.01, 100.0)
    try:
        r2 = asyncio.run(bench_level2(info))
        print(
            f"WS level2, 13 products, 10 ms feed tick, 100x speed: {r2['l2_frames_per_s']:.0f} l2_data messages/s, "
            f"{r2['l2_level_updates_per_s']:.0f} level updates/s, {r2['mb_per_s']:.2f} MB/s"
        )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
