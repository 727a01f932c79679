"""Reconciliation settings live in the profile (`reconciliation:`), with GPT_TRADER_RECONCILE_* env
overrides, and bad values name the key and what is allowed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.orchestration.configuration import ConfigError, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import MOCK_EPOCH, build_registry


def _profile(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "recon.yaml"
    path.write_text(f"broker: mock\nsymbols: [BTC-USD]\n{section}")
    return path


def test_defaults_without_a_section() -> None:
    rec = ConfigManager(env={}, dotenv_path=None).load("dev").reconciliation
    assert (rec.unknown_orders, rec.periodic_every_cycles, rec.resend_max_age_s) == ("flag", 10, 120.0)
    assert rec.position_tolerance == Decimal(0) and rec.lookup_attempts == 3


def test_profile_values_and_env_overrides(tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "reconciliation:\n  unknown_orders: adopt\n  periodic_every_cycles: 4\n  position_tolerance: 0.0001\n",
    )
    rec = ConfigManager(env={}, dotenv_path=None).load(str(profile)).reconciliation
    assert (rec.unknown_orders, rec.periodic_every_cycles) == ("adopt", 4)
    assert rec.position_tolerance == Decimal("0.0001")
    env = {"GPT_TRADER_RECONCILE_EVERY_CYCLES": "7", "GPT_TRADER_RECONCILE_UNKNOWN_ORDERS": "flag"}
    rec = ConfigManager(env=env, dotenv_path=None).load(str(profile)).reconciliation
    assert (rec.unknown_orders, rec.periodic_every_cycles) == ("flag", 7)


@pytest.mark.parametrize(
    ("section", "env", "expected"),
    [
        ("reconciliation:\n  unknown_orders: ignore\n", {}, r"reconciliation\.unknown_orders.*adopt.*flag"),
        ("reconciliation:\n  periodic_every_cycles: 0\n", {}, r"reconciliation\.periodic_every_cycles"),
        ("reconciliation:\n  position_tolerance: -1\n", {}, r"position_tolerance must be >= 0"),
        ("reconciliation:\n  every: 3\n", {}, r"unknown key 'reconciliation\.every'.*periodic_every_cycles"),
        ("", {"GPT_TRADER_RECONCILE_EVERY_CYCLES": "often"}, r"GPT_TRADER_RECONCILE_EVERY_CYCLES='often'"),
        ("", {"GPT_TRADER_RECONCILE_UNKNOWN_ORDERS": "keep"}, r"env GPT_TRADER_RECONCILE_UNKNOWN_ORDERS"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, section: str, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        ConfigManager(env=env, dotenv_path=None).load(str(_profile(tmp_path, section)))


async def test_the_bot_reconciles_with_the_profile_settings(tmp_path: Path) -> None:
    cfg = ConfigManager(env={}, dotenv_path=None).load(
        "dev", {"symbols": ["BTC-USD"], "reconciliation.periodic_every_cycles": 3}
    )
    cfg = msgspec.structs.replace(cfg, data_root=str(tmp_path / "data"), health_file=str(tmp_path / "h.json"))
    bot = PerpsBot(build_registry(cfg, broker=MockBroker(symbols=cfg.symbols, seed=3, start=MOCK_EPOCH)))
    await bot.start()
    assert bot.reconciler is not None
    assert bot.reconciler.settings.periodic_every_cycles == 3
    assert [c for c in range(1, 10) if bot.reconciler.due(c)] == [3, 6, 9]
