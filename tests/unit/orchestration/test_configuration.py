from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.orchestration.configuration import ConfigError, ConfigManager, load_symbol_limits, read_dotenv

TOP10 = [
    "BTC-USD",
    "ETH-USD",
    "SOL-USD",
    "XRP-USD",
    "LTC-USD",
    "ADA-USD",
    "DOGE-USD",
    "BCH-USD",
    "AVAX-USD",
    "LINK-USD",
]


def mgr(env: dict[str, str] | None = None, dotenv: Path | None = None) -> ConfigManager:
    return ConfigManager(env=env or {}, dotenv_path=dotenv)


def test_profiles_have_the_promised_values() -> None:
    m = mgr()
    dev = m.load("dev")
    assert dev.broker == "mock" and dev.symbols == TOP10 and dev.log_level == "DEBUG"
    assert dev.sizing.sizes["BTC-USD"] == Decimal("0.001") and dev.mock.deterministic
    canary = m.load("canary")
    assert canary.broker == "coinbase"
    assert canary.risk.max_daily_loss_usd == Decimal("10")
    assert canary.risk.symbol_limits["BTC-USD"].max_position_size == Decimal("0.01")
    assert canary.trading_window is not None and (canary.trading_window.start, canary.trading_window.end) == (
        "14:00",
        "15:00",
    )
    assert canary.risk.circuit_breakers_enabled
    assert m.load("prod").broker == "coinbase"
    assert m.load("demo").broker == "paper"
    assert set(m.available_profiles()) >= {"dev", "canary", "prod", "demo"}


def test_spot_profiles_load_top10_limits_with_leverage_one() -> None:
    limits = load_symbol_limits(mgr().load("dev").risk)
    assert sorted(limits) == sorted(TOP10)
    assert all(lim.max_leverage == 1 and lim.max_notional and lim.max_notional > 0 for lim in limits.values())
    canary = load_symbol_limits(mgr().load("canary").risk)
    assert canary["BTC-USD"].max_position_size == Decimal("0.01")  # inline override wins over the file


def test_precedence_profile_env_cli(tmp_path: Path) -> None:
    assert mgr().load("dev").risk.max_daily_loss_pct == Decimal("5")
    env_file = tmp_path / ".env"
    env_file.write_text("RISK_MAX_DAILY_LOSS_PCT=4\nRISK_MAX_LEVERAGE=2\n")
    env_file.chmod(0o600)  # a .env others can read is refused
    assert mgr(dotenv=env_file).load("dev").risk.max_daily_loss_pct == Decimal("4")
    # the real environment wins over .env
    both = mgr({"RISK_MAX_DAILY_LOSS_PCT": "3"}, dotenv=env_file).load("dev")
    assert both.risk.max_daily_loss_pct == Decimal("3") and both.risk.max_leverage == Decimal("2")
    # the command line wins over both
    cli = mgr({"RISK_MAX_DAILY_LOSS_PCT": "3"}, dotenv=env_file).load("dev", {"risk.max_daily_loss_pct": 2})
    assert cli.risk.max_daily_loss_pct == Decimal("2")


def test_every_env_override_is_applied() -> None:
    env = {
        "RISK_MAX_DAILY_LOSS_PCT": "1.5",
        "RISK_REDUCE_ONLY_MODE": "1",
        "RISK_MAX_LEVERAGE": "3",
        "COINBASE_API_MODE": "advanced",
        "COINBASE_AUTH_TYPE": "hmac",
        "COINBASE_ENABLE_DERIVATIVES": "true",
    }
    cfg = mgr(env).load("canary")
    assert cfg.risk.max_daily_loss_pct == Decimal("1.5") and cfg.risk.reduce_only_mode
    assert cfg.risk.max_leverage == Decimal("3")
    assert cfg.coinbase.auth_type == "hmac" and cfg.coinbase.enable_derivatives
    assert mgr({"SPOT_FORCE_LIVE": "1"}).load("dev").broker == "coinbase"
    assert mgr({"PERPS_PAPER": "yes"}).load("dev").broker == "paper"


def test_credentials_from_env_never_shown() -> None:
    creds = mgr(
        {"COINBASE_PROD_CDP_API_KEY": "organizations/x/apiKeys/y", "COINBASE_PROD_CDP_PRIVATE_KEY": "TOPSECRETPEM"}
    ).credentials()
    assert creds.has_cdp and not creds.has_hmac
    assert "TOPSECRETPEM" not in repr(creds) and "TOPSECRETPEM" not in str(creds)
    assert "organizations/x" not in repr(creds)


@pytest.mark.parametrize(
    ("profile", "overrides", "env", "needles"),
    [
        ("nope", {}, {}, ["unknown profile 'nope'", "dev", "canary"]),
        ("dev", {"risk.bogus": 1}, {}, ["unknown key 'risk.bogus'", "max_daily_loss_pct"]),
        ("dev", {"bogus_top": 1}, {}, ["unknown key 'bogus_top'", "symbols"]),
        ("dev", {"broker": "kraken"}, {}, ["broker", "'kraken'", "'mock', 'coinbase', 'paper'"]),
        ("dev", {"cycles": 0}, {}, ["cycles = 0", ">= 1"]),
        ("dev", {"cycles": "many"}, {}, ["cycles", "int"]),
        ("dev", {"risk.max_leverage": 500}, {}, ["risk.max_leverage = 500", "between 1 and 100", "command line"]),
        ("dev", {}, {"RISK_MAX_LEVERAGE": "200"}, ["risk.max_leverage = 200", "env RISK_MAX_LEVERAGE"]),
        ("dev", {}, {"RISK_MAX_LEVERAGE": "abc"}, ["RISK_MAX_LEVERAGE='abc' is not a number"]),
        ("dev", {}, {"RISK_REDUCE_ONLY_MODE": "maybe"}, ["RISK_REDUCE_ONLY_MODE", "allowed: 1/0"]),
        ("dev", {}, {"COINBASE_AUTH_TYPE": "password"}, ["coinbase.auth_type", "'cdp', 'hmac'"]),
        ("dev", {}, {"COINBASE_API_MODE": "legacy"}, ["coinbase.api_mode", "'advanced'"]),
        ("dev", {"risk.max_daily_loss_pct": 150}, {}, ["max_daily_loss_pct", "between 0 and 100"]),
        ("dev", {"symbols": []}, {}, ["symbols", "at least one"]),
        ("dev", {"symbols": ["btc/usd"]}, {}, ["symbols", "BTC-USD"]),
        ("dev", {"trading_window": {"start": "25:00", "end": "01:00"}}, {}, ["trading_window.start", "HH:MM"]),
        ("dev", {"sizing.method": "yolo"}, {}, ["sizing.method", "'kelly'"]),
        ("dev", {"sizing.fraction": 2}, {}, ["fraction", "between 0"]),
        ("dev", {"risk.actions": {"daily_loss": "panic"}}, {}, ["risk.actions", "'halt'"]),
        ("dev", {"risk.limits_file": "nope.json"}, {}, ["risk.limits_file", "nope.json"]),
        ("dev", {"strategy.granularity_s": 7}, {}, ["granularity_s", "60"]),
        ("dev", {"log_level": "LOUD"}, {}, ["log_level", "'DEBUG'"]),
    ],
)
def test_bad_config_names_key_value_and_allowed(profile: str, overrides: dict, env: dict, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        mgr(env).load(profile, overrides)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_bad_yaml_profile_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("symbols: [BTC-USD\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        mgr().load(str(bad))
    good = tmp_path / "mine.yaml"
    good.write_text("symbols: [BTC-USD]\nbroker: mock\n")
    cfg = mgr().load(str(good))
    assert cfg.profile == "mine" and cfg.symbols == ["BTC-USD"]


def test_bad_limits_file(tmp_path: Path) -> None:
    f = tmp_path / "limits.json"
    f.write_text('{"BTC-USD": {"max_notional": -5}}')
    with pytest.raises(ConfigError, match="BTC-USD"):
        mgr().load("dev", {"risk.limits_file": str(f)})


def test_dotenv_parsing(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.touch(0o600)
    f.write_text('# comment\nexport A=1\nB="two\\nlines"\nC=three # trailing\n\n')
    assert read_dotenv(f) == {"A": "1", "B": "two\nlines", "C": "three"}
    f.write_text("JUSTAWORD\n")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        read_dotenv(f)


def test_secret_values_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        mgr({"COINBASE_PROD_CDP_PRIVATE_KEY": "SHHH-SECRET", "RISK_MAX_LEVERAGE": "999"}).load("dev")
    assert "SHHH-SECRET" not in str(info.value)
