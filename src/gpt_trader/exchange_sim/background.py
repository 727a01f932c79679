"""`SimThread`: the simulator on its own event loop in a daemon thread, for drivers that run the bot as a
separate process (chaos tests, benchmarks) and read the venue's state directly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from gpt_trader.exchange_sim.server import ExchangeSimulator, SimulatorConfig

T = TypeVar("T")


class SimThread:
    """Start/stop an `ExchangeSimulator` in a background thread; `call` runs a coroutine on its loop.
    Why: a synchronous driver (subprocess bots, benchmarks) needs the venue running while it waits."""

    def __init__(self, **config: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="exchange-sim", daemon=True)
        self.sim = ExchangeSimulator(SimulatorConfig(**config))

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, timeout: float = 30) -> ExchangeSimulator:
        """Start the loop thread and the simulator; `timeout` bounds the simulator's start-up (its
        synthetic history grows with the number of products)."""
        self.thread.start()
        self.call(self.sim.start(), timeout)
        return self.sim

    def stop(self) -> None:
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def env(self) -> dict[str, str]:
        """The environment that points a bot (CDP key) at this simulator."""
        return client_env(self.sim)


def client_env(sim: ExchangeSimulator) -> dict[str, str]:
    """The environment that points a bot or a CoinbaseBroker (CDP key) at a started simulator."""
    return {
        "COINBASE_API_BASE_URL": sim.rest_url,
        "COINBASE_WS_URL": sim.ws_url,
        "COINBASE_WS_USER_URL": sim.ws_user_url,
        "COINBASE_AUTH_TYPE": "cdp",
        "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
        "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
    }
