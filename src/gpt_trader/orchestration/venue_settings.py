"""Coinbase adapter settings from the environment alone, through the one env parser (ConfigManager).

For tools, benchmarks and tests that talk to a venue (often the simulator) without running a profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings
from gpt_trader.orchestration.configuration import ConfigManager


def coinbase_settings_from_env(
    env: Mapping[str, str] | None = None,
    *,
    dotenv_path: Path | None = None,
    require_credentials: bool = True,
) -> CoinbaseSettings:
    """COINBASE_* settings and credentials from `env` (default: the process environment), parsed and
    validated by ConfigManager exactly as for a profile; a bad value raises ConfigError naming it."""
    manager = ConfigManager(env=env, dotenv_path=dotenv_path)
    return CoinbaseSettings.from_config(
        manager.coinbase_config(), manager.credentials(), require_credentials=require_credentials
    )
