"""REST send-path latency: httpx's default transport (httpcore pool) vs LeanTransport, over TLS on 127.0.0.1.

Measures, for `CoinbaseBroker.place_order` (limit order: create + re-read) against the project's simulator
(HTTPS, its own thread and event loop so its work never runs inside the measured interval):
1. call -> request bytes written: from calling place_order until the first write of the create request
   to the asyncio transport (the TLS transport's `write`, wrapped here, in this benchmark only). It holds
   the adapter's own work (validate, encode, sign) plus the HTTP stack down to the socket.
2. the same for a bare public `CoinbaseRestClient.request("GET", "/time")`: no signing, so it is the
   REST client's own plumbing plus the HTTP stack alone.
3. place_order end to end (both round trips, simulator included) for context.
4. For LeanTransport, the unsigned GET split by layer: the transport given an httpx.Request, the transport
   given bytes (`LeanTransport.send`), + httpx.AsyncClient, and the REST client (which hands plain requests
   to the transport as bytes, skipping httpx.AsyncClient).

Paths (`--kinds`, run in alternating rounds so a change in machine load hits all alike):
- `lean`: the REST client as the bot builds it: LeanTransport, plain requests handed to it directly, order
  creation signed ahead (each token used once), a plain first attempt before tenacity.
- `lean-plain`: the same LeanTransport, but every request through httpx.AsyncClient and every token signed
  on the spot (`direct=False, presign_depth=0`): the send path before this change except for the plain
  first attempt (tenacity's ~25 us are saved on all paths alike).
- `httpx-default`: httpx's own transport (httpcore pool) under the same REST client, tokens signed ahead.

Run: .venv/bin/python benchmarks/rest_transport_latency.py [--orders 1000] [--rounds 4] [--kinds lean,lean-plain]
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.selector_events
import asyncio.sslproto
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.lean_transport import LeanTransport
from gpt_trader.features.brokerages.coinbase.rate_limit import RateLimiter
from gpt_trader.features.brokerages.coinbase.rest import (
    API_PREFIX,
    KEEPALIVE_EXPIRY_S,
    MAX_CONNECTIONS,
    MAX_KEEPALIVE,
    PRESIGN_DEPTH,
    CoinbaseRestClient,
    tls_context,
)
from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, OrderType
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

sys.path.insert(0, str(Path(__file__).parent))
from adapter_latency import pct, show  # a sibling script, not a package

_first_write = [0.0]
_main = threading.main_thread()


def _instrument_writes() -> None:
    """Stamp the first transport write made by the main thread (the bot's loop) after each reset."""
    plain = getattr(asyncio.selector_events, "_SelectorSocketTransport")  # noqa: B009 - not in the stubs
    for cls in (asyncio.sslproto._SSLProtocolTransport, plain):
        original: Callable[..., Any] = cls.write

        def write(self: Any, data: Any, _orig: Callable[..., Any] = original) -> Any:
            if _first_write[0] == 0.0 and threading.current_thread() is _main:
                _first_write[0] = time.perf_counter()
            return _orig(self, data)

        cls.write = write  # type: ignore[method-assign]


class SimThread:
    """The TLS simulator on its own thread and loop."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.info: dict[str, Any] = {}
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        products = [p for p in default_products() if p.symbol == "BTC-USD"]
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with ExchangeSimulator(
            port=0,
            seed=3,
            tick_interval_s=3600,
            products=products,
            tls=True,
            rate_limit_private=0,
            rate_limit_public=0,
        ) as sim:
            sim.fund("USD", "1000000000")
            self.info = {
                "COINBASE_API_BASE_URL": sim.rest_url,
                "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
                "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
                "cert": str(sim.cert_path),
            }
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> SimThread:
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("simulator did not start within 60 s")
        return self

    def __exit__(self, *_: object) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


KINDS = ("httpx-default", "lean-plain", "lean")


def make_broker(info: dict[str, Any], kind: str) -> CoinbaseBroker:
    env = {k: v for k, v in info.items() if k.startswith("COINBASE_")}
    env["COINBASE_CA_BUNDLE"] = info["cert"]
    settings = coinbase_settings_from_env(env)
    settings.private_rps = settings.public_rps = 1e9  # never a pacing wait: measure the HTTP stack
    ctx = tls_context(info["cert"])
    transport: httpx.AsyncBaseTransport | None = None
    if kind == "httpx-default":  # exactly what httpx.AsyncClient builds for verify=ctx
        limits = httpx.Limits(
            max_keepalive_connections=MAX_KEEPALIVE,
            max_connections=MAX_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        transport = httpx.AsyncHTTPTransport(verify=ctx, limits=limits)
    plain = kind == "lean-plain"
    rest = CoinbaseRestClient(
        settings.api_base_url,
        settings.signer,
        limiter=RateLimiter(settings.private_rps, settings.public_rps),
        timeout_s=settings.request_timeout_s,
        verify=ctx,
        transport=transport,
        direct=not plain,
        presign_depth=0 if plain else PRESIGN_DEPTH,
    )
    expected = "given:AsyncHTTPTransport" if kind == "httpx-default" else "lean"
    if rest.transport_kind != expected:
        raise RuntimeError(f"{kind}: REST client chose {rest.transport_kind} (a proxy in the environment?)")
    return CoinbaseBroker(settings, rest=rest)


async def measure(info: dict[str, Any], kind: str, n: int, tag: str) -> dict[str, list[float]]:
    broker = make_broker(info, kind)
    await broker.connect()
    out: dict[str, list[float]] = {"order_to_write": [], "order_total": [], "rest_to_write": []}
    for i in range(-50, n):  # 50 warm-up orders
        req = OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.001"),
            limit_price=Decimal("1000"),
            client_order_id=f"{tag}-{kind}-{i}",
        )
        await asyncio.sleep(0.0005)  # let the simulator thread finish the previous reply's work
        _first_write[0] = 0.0
        t0 = time.perf_counter()
        await broker.place_order(req)
        t1 = time.perf_counter()
        wrote = _first_write[0]
        await asyncio.sleep(0.0005)
        _first_write[0] = 0.0
        t2 = time.perf_counter()
        await broker.rest.request("GET", "/time", public=True)
        rest_wrote = _first_write[0]
        if i >= 0:
            out["order_to_write"].append(wrote - t0)
            out["order_total"].append(t1 - t0)
            out["rest_to_write"].append(rest_wrote - t2)
    await broker.close()
    return out


async def layers(info: dict[str, Any], n: int) -> dict[str, list[float]]:
    """Where the unsigned GET's time to the write goes with LeanTransport: the transport given an
    httpx.Request, the transport given bytes, httpx.AsyncClient above it, the REST client (direct)."""
    broker = make_broker(info, "lean")
    rest = broker.rest
    client = rest._client
    transport = client._transport
    assert isinstance(transport, LeanTransport)
    path = API_PREFIX + "/time"
    out: dict[str, list[float]] = {"transport": [], "bytes": [], "client": [], "rest": []}
    for i in range(-50, n):
        for name, acc in out.items():
            request = client.build_request("GET", path)
            timeouts = (5.0, 5.0, 5.0, 5.0)
            await asyncio.sleep(0.0005)
            _first_write[0] = 0.0
            t0 = time.perf_counter()
            if name == "transport":
                await transport.handle_async_request(request)
            elif name == "bytes":
                await transport.send(b"GET", request.url.raw_path, request.headers.raw, b"", timeouts)
            elif name == "client":
                await client.request("GET", path)
            else:
                await rest.request("GET", "/time", public=True)
            if i >= 0:
                acc.append(_first_write[0] - t0)
    await rest.aclose()
    return out


async def run(info: dict[str, Any], orders: int, rounds: int, kinds: list[str]) -> None:
    results: dict[str, dict[str, list[float]]] = {}
    for r in range(rounds):
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            got = await measure(info, kind, orders // rounds, f"r{r}")
            acc = results.setdefault(kind, {k: [] for k in got})
            for k, v in got.items():
                acc[k].extend(v)
    for kind, res in results.items():
        print(kind)
        show("  place_order: call -> create bytes written", res["order_to_write"])
        show("  public GET (unsigned): call -> written", res["rest_to_write"])
        show("  place_order end to end (create+re-read)", res["order_total"])
    if "lean" in results:
        print("place_order: call -> create bytes written, target p50 <= 200 us, p99 <= 400 us")
        for kind, res in results.items():
            us = [v * 1e6 for v in res["order_to_write"]]
            print(f"  {kind:<14} p50 {statistics.median(us):7.1f} us   p99 {pct(us, 0.99):7.1f} us")
    split = await layers(info, orders)
    print("lean, the unsigned GET's call -> written by layer")
    show("  LeanTransport.handle_async_request", split["transport"])
    show("  LeanTransport.send (bytes)", split["bytes"])
    show("  httpx.AsyncClient.request over it", split["client"])
    show("  CoinbaseRestClient.request (direct)", split["rest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"--kinds {args.kinds!r}: unknown {unknown}; allowed: {', '.join(KINDS)}")
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"REST transport latency over TLS on 127.0.0.1 (1-min load {load}, {os.cpu_count()} CPUs)")
    _instrument_writes()
    Path("var").mkdir(exist_ok=True)
    with SimThread() as sim:
        asyncio.run(run(sim.info, args.orders, args.rounds, kinds))


if __name__ == "__main__":
    main()
