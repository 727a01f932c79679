"""The stream test bot configured for client-side trailing stops, for the trailing-stop tests (a uniquely
named module: several test directories have a conftest.py)."""

from __future__ import annotations

from pathlib import Path

import yaml
from stream_bot_support import RunningBot

from gpt_trader.exchange_sim import ExchangeSimulator

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
