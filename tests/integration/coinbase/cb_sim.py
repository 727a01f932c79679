"""Helpers shared by the Coinbase adapter's simulator tests (a uniquely named module: several test
directories have a conftest.py, so `import conftest` would be ambiguous)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, Protocol

import httpx

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import BookLevel, OrderRequest, OrderSide, OrderType, OrderUpdate

#: a small catalogue keeps simulator start-up (history seeding) fast
SIM_PRODUCTS = frozenset({"BTC-USD", "ETH-USD", "BTC-PERP-INTX"})


class MakeBroker(Protocol):
    """The `make_broker` fixture: a connected CoinbaseBroker on the simulator; keywords override settings
    (`env=` adds environment entries)."""

    async def __call__(self, **overrides: Any) -> CoinbaseBroker: ...


def sim_env(sim: ExchangeSimulator, **extra: str) -> dict[str, str]:
    env = {
        "COINBASE_API_BASE_URL": sim.rest_url,
        "COINBASE_WS_URL": sim.ws_url,
        "COINBASE_WS_USER_URL": sim.ws_user_url,
        "COINBASE_AUTH_TYPE": "cdp",
        "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
        "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
        "COINBASE_ENABLE_DERIVATIVES": "1",
    }
    env.update(extra)
    return env


def pin(sim: ExchangeSimulator, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
    """A fixed book: fills become exactly predictable."""
    sim.venue.pin_book(
        symbol,
        [BookLevel(Decimal(p), Decimal(s)) for p, s in bids],
        [BookLevel(Decimal(p), Decimal(s)) for p, s in asks],
    )


async def fault(sim: ExchangeSimulator, spec: str | None) -> None:
    """Switch the simulator's fault injection (faults.py spec syntax) through its admin API; None clears it."""
    async with httpx.AsyncClient(trust_env=False) as http:
        if spec is None:
            resp = await http.delete(f"{sim.admin_url}/faults")
        else:
            resp = await http.post(f"{sim.admin_url}/faults", json={"spec": spec})
        assert resp.status_code == 200, resp.text


def limit_buy(coid: str, price: str = "1000") -> OrderRequest:
    """A small BTC-USD limit buy far below the market: it rests, so placing it is all a test waits for."""
    return OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.001"),
        limit_price=Decimal(price),
        client_order_id=coid,
    )


def venue_orders(sim: ExchangeSimulator, client_order_id: str) -> list[Any]:
    return [o for o in sim.venue.all_orders(sim.account_id) if o.client_order_id == client_order_id]


async def eventually(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        res = pred()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def user_updates(broker: CoinbaseBroker) -> AsyncIterator[list[OrderUpdate]]:
    """The broker's user-channel events, collected into the list yielded (the stream's snapshot received
    before it is), until the block ends."""
    sink: list[OrderUpdate] = []

    async def collect() -> None:
        async for update in broker.stream_user_events():
            sink.append(update)

    task = asyncio.create_task(collect())
    try:
        stream = await broker.open_user_stream()
        await asyncio.wait_for(stream.snapshot_done.wait(), 5)
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
