"""The canary bot on streams against the exchange simulator, in-process over 127.0.0.1 (accelerated clock,
started inside the canary trading window), for the stream tests. A uniquely named module (several test
directories have a conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.exchange_sim.background import client_env
from gpt_trader.features.brokerages.coinbase.triggers import child_parent
from gpt_trader.features.brokerages.core.interfaces import Fill
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import ServiceRegistry, build_registry

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]
SIZES = {"BTC-USD": "0.0002", "ETH-USD": "0.005", "SOL-USD": "0.1"}
SPEED = 30.0  # a 1-minute bar every 2 s of wall time


def sim_start() -> datetime:
    day = datetime.now(UTC).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, 14, 0, 50, tzinfo=UTC)  # inside the canary window


@contextlib.asynccontextmanager
async def stream_sim(**overrides: Any) -> AsyncIterator[ExchangeSimulator]:
    products = [p for p in default_products() if p.symbol in SYMBOLS]
    options: dict[str, Any] = dict(
        port=0, seed=21, start_time=sim_start(), products=products, speed=SPEED, tick_interval_s=0.1
    )
    options.update(overrides)
    async with ExchangeSimulator(**options) as sim:
        sim.fund("USD", "100000")
        yield sim


def write_profile(directory: Path, broker: str = "coinbase") -> Path:
    """The packaged canary profile with a store under `directory` and a strategy that trades most bars
    (`broker="paper"`: the same on paper, market data from the simulator's public feed)."""
    tree = yaml.safe_load(resources.files("gpt_trader.config.profiles").joinpath("canary.yaml").read_text())
    tree.update(
        data_root=str(directory / "data"),
        log_dir=str(directory / "logs"),
        symbols=SYMBOLS,
        strategy={"name": "mean_reversion", "params": {"window": 2, "entry_pct": 0.0001, "exit_pct": 0.0}},
        sizing={"method": "fixed_size", "sizes": SIZES},
    )
    risk = dict(tree.get("risk") or {})
    risk.update(max_orders_per_minute=60, stale_mark_s=600)
    risk.pop("symbol_limits", None)
    tree["risk"] = risk
    tree["broker"] = broker
    if broker == "paper":
        tree["paper"] = {"starting_cash": 100000}
    path = directory / "canary.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


class RunningBot:
    """A PerpsBot on the simulator, running as a task until `stop()`."""

    def __init__(
        self, sim: ExchangeSimulator, tmp: Path, *, broker: str = "coinbase", env: dict[str, str] | None = None
    ) -> None:
        """`env`: extra settings (e.g. COINBASE_STALE_AFTER_S), read by ConfigManager like the real environment."""
        env = {**client_env(sim), **(env or {})}
        if broker == "paper":  # public market data only
            env = {k: v for k, v in env.items() if "CDP" not in k and "AUTH" not in k}
        manager = ConfigManager(env=env, dotenv_path=None)
        config = manager.load(str(write_profile(tmp, broker)))
        self.registry: ServiceRegistry = build_registry(config, manager.credentials())
        self.bot = PerpsBot(self.registry)
        self.sim = sim
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.bot.run())
        await self.until(lambda: self.bot._started, timeout=30, what="bot start")

    async def stop(self) -> None:
        self.bot.request_stop()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=60)

    async def until(self, pred: Callable[[], Any], *, timeout: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not pred():
            if self._task is not None and self._task.done():
                self._task.result()  # surface the bot's exception
                raise AssertionError(f"the bot stopped before {what}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    def metric(self, name: str) -> float:
        return self.registry.metrics.counter(name)

    def venue_fills(self) -> list[Fill]:
        return self.sim.venue.fills(self.sim.account_id)

    def filled_orders(self) -> int:
        return sum(1 for o in self.sim.venue.all_orders(self.sim.account_id) if o.filled_size > 0)


def per_order(fills: list[Fill], key: Callable[[str], str] = str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """`key(client_order_id)` -> (size, notional, fee): fills compared per order (ids differ per side)."""
    out: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for f in fills:
        k = key(f.client_order_id)
        size, notional, fee = out.get(k, (Decimal(0), Decimal(0), Decimal(0)))
        out[k] = (size + f.size, notional + f.size * f.price, fee + f.fee)
    return out


def assert_fills_equal_venue(run: RunningBot) -> None:
    store = run.registry.orders

    def bots_order(coid: str) -> str:
        """A client-side stop's venue child (`<coid>-sl`, triggers.py) counts as the bot's order `<coid>`."""
        parent = child_parent(coid)
        return parent if parent is not None and store.get(parent) is not None else coid

    venue = run.venue_fills()
    ours = store.fills()
    assert per_order(ours) == per_order(venue, bots_order), "the bot's fills differ from the exchange's"
    assert len({f.trade_id for f in ours}) == len(ours)
    coids = Counter(o.client_order_id for o in run.sim.venue.all_orders(run.sim.account_id))
    assert all(n == 1 for n in coids.values()), f"a client_order_id reached the venue twice: {coids}"
    lost = [c for c in coids if store.get(bots_order(c)) is None]
    assert not lost, f"orders at the venue the bot's store does not know: {lost}"
