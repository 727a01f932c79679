"""The stream test bot configured for client-side trailing stops, for the trailing-stop tests (a uniquely
named module: several test directories have a conftest.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import yaml
from stream_bot_support import RunningBot, stream_sim

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.core.synthetic import still_config

SYMBOL = "BTC-USD"
STRATEGY = Path(__file__).parents[2] / "chaos" / "protect_strategy.py"


class TrailingBot(RunningBot):
    """The stream test bot with one symbol, the enter-when-flat strategy, a 2 % trailing stop held
    client-side (`coinbase.client_side_stops: always`)."""

    def __init__(self, sim: ExchangeSimulator, tmp: Path) -> None:
        import stream_bot_support as support

        original = support.write_profile

        def write(directory: Path, broker: str = "coinbase") -> Path:
            path = original(directory, broker)
            tree = yaml.safe_load(path.read_text())
            tree.update(
                symbols=[SYMBOL],
                cycle_interval_s=0.2,
                strategy={"name": f"{STRATEGY}:EnterWhenFlat", "params": {}},
                sizing={"method": "fixed_size", "sizes": {SYMBOL: "0.0002"}},
                exits={"trailing": 0.02},
            )
            tree.setdefault("coinbase", {})["client_side_stops"] = "always"
            tree.setdefault("monitoring", {})["metrics_port"] = 0
            path.write_text(yaml.safe_dump(tree, sort_keys=False))
            return path

        support.write_profile = write
        try:
            super().__init__(sim, tmp)
        finally:
            support.write_profile = original


@contextlib.asynccontextmanager
async def protected_bot(tmp: Path) -> AsyncIterator[TrailingBot]:
    """A TrailingBot started on a still simulator market (prices move only when the test sets them, so no
    random dip can cross a stop the test relies on), yielded once its first client-side stop works;
    stopped at the end."""
    async with stream_sim(synthetic_market=still_config()) as sim:
        run = TrailingBot(sim, tmp)
        await run.start()
        try:
            await run.until(lambda: run.bot.protection.working(SYMBOL), timeout=60, what="the client-side stop")
            yield run
        finally:
            await run.stop()
