"""Chaos-test support: the exchange simulator in a background thread, and the canary profile with its
trading window opened (the simulator's clock starts inside the window) written to a temp dir."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gpt_trader.exchange_sim.background import SimThread

__all__ = ["SIZES", "SYMBOLS", "SimThread", "bot_env", "window_start", "write_canary_profile"]

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "LTC-USD", "ADA-USD", "DOGE-USD", "LINK-USD"]
SIZES = {
    "BTC-USD": "0.0002",
    "ETH-USD": "0.005",
    "SOL-USD": "0.1",
    "XRP-USD": "10",
    "LTC-USD": "0.2",
    "ADA-USD": "20",
    "DOGE-USD": "100",
    "LINK-USD": "1",
}


def canary_sim_thread(seed: int = 3) -> SimThread:
    """A simulator for the canary universe, its clock inside the trading window, rate limits out of the way."""
    from gpt_trader.features.brokerages.core.products import default_products

    return SimThread(
        port=0,
        seed=seed,
        start_time=window_start(),
        rate_limit_private=1000,
        rate_limit_public=1000,
        products=[p for p in default_products() if p.symbol in SYMBOLS],
    )


def window_start(now: datetime | None = None) -> datetime:
    """A simulator start time 60 s into the canary window (14:00-15:00 UTC) of a past day, aligned so
    the first bar boundary comes soon."""
    day = (now or datetime.now(UTC)).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, 14, 1, 0, tzinfo=UTC) - timedelta(seconds=5)


def write_canary_profile(directory: Path, data_root: Path) -> Path:
    """The packaged canary profile, changed only where the test needs it: a store under tmp, a fast
    cycle, a wider universe with small fixed sizes, and a strategy that trades most bars (so kills land
    around sends). Its 14:00-15:00 UTC window stays; the simulator's clock is started inside it."""
    text = resources.files("gpt_trader.config.profiles").joinpath("canary.yaml").read_text()
    tree = yaml.safe_load(text)
    tree.update(
        data_root=str(data_root),
        log_dir=str(data_root / "logs"),
        cycle_interval_s=1,
        symbols=SYMBOLS,
        strategy={
            "name": "mean_reversion",
            "params": {"window": 2, "entry_pct": 0.0001, "exit_pct": 0.0},
            "granularity_s": 60,
        },
        sizing={"method": "fixed_size", "sizes": {k: Decimal(v) for k, v in SIZES.items()}},
    )
    risk = dict(tree.get("risk") or {})
    risk["max_orders_per_minute"] = 60
    tree["risk"] = risk
    path = directory / "canary.yaml"
    path.write_text(yaml.safe_dump(_plain(tree), sort_keys=False))
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def bot_env(sim_env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "GPT_TRADER_", "RISK_"))}
    env.update(sim_env)
    env.update(extra or {})
    return env
