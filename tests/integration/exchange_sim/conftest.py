"""Simulator fixtures: one simulator per module, run on its own event-loop thread so the official
(synchronous) SDK clients can talk to it over real sockets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from gpt_trader.exchange_sim import ExchangeSimulator, SimulatorConfig


class SimHandle:
    """A running simulator plus helpers that drive it the way a test client would: over HTTP."""

    def __init__(self, sim: ExchangeSimulator, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.sim = sim
        self.loop = loop
        self.thread = thread
        self.http = requests.Session()
        self.http.trust_env = False
        if sim.cert_path is not None:
            self.http.verify = str(sim.cert_path)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the simulator's loop thread (engine state is single-threaded)."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        resp = self.http.request(method, f"{self.sim.admin_url}{path}", json=body, params=params, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def pin_book(self, product_id: str, bids: list[list[str]], asks: list[list[str]]) -> None:
        self.admin("POST", "/book", {"product_id": product_id, "bids": bids, "asks": asks})

    def audit(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "/audit")
        return result

    def sdk_rest(self, **kwargs: Any) -> Any:
        from coinbase.rest import RESTClient

        key = self.sim.cdp_key
        client = RESTClient(api_key=key.name, api_secret=key.private_key, base_url=self.sim.base_url, **kwargs)
        client.session.verify = str(self.sim.cert_path)
        client.session.trust_env = False
        return client


def start_sim(**overrides: Any) -> SimHandle:
    config = SimulatorConfig(**{"port": 0, "tls": True, **overrides})
    sim = ExchangeSimulator(config)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def runner() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(sim.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=runner, name="exchange-sim", daemon=True)
    thread.start()
    assert started.wait(30), "simulator did not start"
    return SimHandle(sim, loop, thread)


def stop_sim(handle: SimHandle) -> None:
    asyncio.run_coroutine_threadsafe(handle.sim.stop(), handle.loop).result(30)
    handle.loop.call_soon_threadsafe(handle.loop.stop)
    handle.thread.join(10)
    handle.loop.close()
    handle.http.close()


@pytest.fixture(scope="module")
def sim_handle() -> Iterator[SimHandle]:
    handle = start_sim(
        seed=42,
        rate_limit_private=0,
        rate_limit_public=0,
        initial_funds={"USD": Decimal("1000000"), "USDC": Decimal("1000000")},
    )
    try:
        yield handle
    finally:
        stop_sim(handle)


@pytest.fixture(scope="module")
def sim_http_handle() -> Iterator[SimHandle]:
    """Like `sim_handle` but over plain HTTP: ccxt takes an http:// URL and has no way to trust a CA file."""
    handle = start_sim(
        tls=False, seed=42, rate_limit_private=0, rate_limit_public=0, initial_funds={"USD": Decimal("1000000")}
    )
    try:
        yield handle
    finally:
        stop_sim(handle)


@pytest.fixture()
def sim_factory() -> Iterator[Callable[..., SimHandle]]:
    """Extra simulators with non-default settings, stopped at the end of the test."""
    started: list[SimHandle] = []

    def make(**overrides: Any) -> SimHandle:
        handle = start_sim(**overrides)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        stop_sim(handle)
