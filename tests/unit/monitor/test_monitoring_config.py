"""The profile's monitoring: and alerts: sections and their environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpt_trader.features.monitor.config import PAGERDUTY_EVENTS_URL
from gpt_trader.orchestration.configuration import ConfigError, ConfigManager


def test_metrics_port_is_off_in_dev_and_on_in_canary_and_prod() -> None:
    manager = ConfigManager(env={}, dotenv_path=None)
    assert manager.load("dev").monitoring.metrics_port is None
    for profile in ("canary", "prod"):
        config = manager.load(profile)
        assert config.monitoring.metrics_port == 9464 and config.monitoring.metrics_host == "127.0.0.1"
        assert config.alerts.enabled


def test_env_overrides_the_port_and_zero_means_any_free_port() -> None:
    manager = ConfigManager(env={"GPT_TRADER_METRICS_PORT": "0"}, dotenv_path=None)
    assert manager.load("dev").monitoring.metrics_port == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("abc", "GPT_TRADER_METRICS_PORT='abc' is not a valid int"), ("70000", "monitoring.metrics_port = 70000")],
)
def test_bad_port_names_the_key(raw: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="metrics_port") as info:
        ConfigManager(env={"GPT_TRADER_METRICS_PORT": raw}, dotenv_path=None).load("dev")
    assert expected in str(info.value)


def test_unknown_alert_route_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("symbols: [BTC-USD]\nalerts: {routes: {halt: page, nonsense: notify}}\n")
    with pytest.raises(ConfigError, match="nonsense"):
        ConfigManager(env={}, dotenv_path=None).load(str(path))
    path.write_text("symbols: [BTC-USD]\nalerts: {routes: {halt: shout}}\n")
    with pytest.raises(ConfigError, match=r"alerts\.routes"):
        ConfigManager(env={}, dotenv_path=None).load(str(path))


def test_alert_secrets_from_env_never_echoed() -> None:
    secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    manager = ConfigManager(
        env={"GPT_TRADER_SLACK_WEBHOOK_URL": secret_url, "GPT_TRADER_PAGERDUTY_ROUTING_KEY": "rk-123"},
        dotenv_path=None,
    )
    secrets = manager.alert_secrets()
    assert secrets.slack_webhook_url == secret_url and secrets.pagerduty_routing_key == "rk-123"
    assert secrets.pagerduty_url == PAGERDUTY_EVENTS_URL
    assert "XXXXSECRET" not in repr(secrets) and "rk-123" not in repr(secrets)
    bad = ConfigManager(env={"GPT_TRADER_SLACK_WEBHOOK_URL": "hooks-XXXXSECRET"}, dotenv_path=None)
    with pytest.raises(ConfigError, match="GPT_TRADER_SLACK_WEBHOOK_URL must be an http") as info:
        bad.alert_secrets()
    assert "XXXXSECRET" not in str(info.value)
