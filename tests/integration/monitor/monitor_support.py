"""Shared by the monitor integration tests: the exchange simulator with a small catalogue, the
environment that points the bot at it, and a canary PerpsBot built the way `perps-bot run` builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.configuration import BotConfig, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import build_registry


async def small_sim(*, seed: int, tick_interval_s: float, usd: str) -> AsyncIterator[ExchangeSimulator]:
    """BTC-USD and ETH-USD only (fast start-up), funded with `usd` more dollars."""
    products = [p for p in default_products() if p.symbol in ("BTC-USD", "ETH-USD")]
    async with ExchangeSimulator(port=0, seed=seed, tick_interval_s=tick_interval_s, products=products) as s:
        s.fund("USD", usd)
        yield s


def sim_env(sim: ExchangeSimulator, **extra: str) -> dict[str, str]:
    return {
        "COINBASE_API_BASE_URL": sim.rest_url,
        "COINBASE_WS_URL": sim.ws_url,
        "COINBASE_WS_USER_URL": sim.ws_user_url,
        "COINBASE_AUTH_TYPE": "cdp",
        "COINBASE_PROD_CDP_API_KEY": sim.cdp_key.name,
        "COINBASE_PROD_CDP_PRIVATE_KEY": sim.cdp_key.private_key,
        **extra,
    }


def canary_config(manager: ConfigManager, tmp_path: Path, **overrides: Any) -> BotConfig:
    # port 0: tests run side by side (xdist, other bots), so the canary's fixed 9464 may be taken
    base = {
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "symbols": ["BTC-USD"],
        "monitoring.metrics_port": 0,
    }
    return manager.load("canary", {**base, **overrides})


def canary_bot(manager: ConfigManager, config: BotConfig) -> PerpsBot:
    registry = build_registry(config, manager.credentials(), alert_secrets=manager.alert_secrets())
    return PerpsBot(registry)
