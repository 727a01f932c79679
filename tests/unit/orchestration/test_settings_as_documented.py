"""Issue 10, "Settings as documented": JWT auth type, caps that fail closed, one env parser for the adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.features.brokerages.core.interfaces import (
    BookLevel,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderType,
    Quote,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot
from gpt_trader.orchestration.configuration import ConfigError, ConfigManager, load_perps_limits, load_symbol_limits
from gpt_trader.orchestration.service_registry import active_symbol_limits, build_registry
from gpt_trader.orchestration.summary import caps_lines
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

D = Decimal
PEM_MARKER = "-----BEGIN EC PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END EC PRIVATE KEY-----"


def _clean_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "RISK_", "GPT_TRADER_"))}
    return {**base, **extra}


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", *args],
        cwd=cwd,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _spot_profile(tmp_path: Path, extra_risk: str = "") -> Path:
    path = tmp_path / "myspot.yaml"
    path.write_text(
        "broker: mock\n"
        "symbols: [BTC-USD, ETH-USD]\n"
        f"data_root: {tmp_path / 'var' / 'data'}\n"
        f"log_dir: {tmp_path / 'var' / 'logs'}\n" + (f"risk:\n{extra_risk}" if extra_risk else "")
    )
    return path


def _cdp_keys() -> dict[str, str]:
    """A fresh CDP key pair, as the environment carries it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    return {"COINBASE_PROD_CDP_API_KEY": "organizations/o/apiKeys/k", "COINBASE_PROD_CDP_PRIVATE_KEY": pem}


def mgr(env: dict[str, str] | None = None, dotenv: Path | None = None) -> ConfigManager:
    return ConfigManager(env=env or {}, dotenv_path=dotenv)


# ---------------------------------------------------------------------------------- 1. auth type
def test_config_check_accepts_jwt_and_shows_cdp(tmp_path: Path) -> None:
    proc = _cli(["config-check", "--profile", "canary"], tmp_path, COINBASE_AUTH_TYPE="JWT")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["coinbase"]["auth_type"] == "cdp"


@pytest.mark.parametrize("spelling", ["jwt", "Jwt", " JWT ", "CDP", "cdp"])
def test_jwt_any_case_normalizes_to_cdp(spelling: str) -> None:
    assert mgr({"COINBASE_AUTH_TYPE": spelling}).load("canary").coinbase.auth_type == "cdp"


def test_jwt_in_a_profile_file_and_in_dotenv(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("broker: mock\nsymbols: [BTC-USD]\ncoinbase:\n  auth_type: Jwt\n")
    assert mgr().load(str(profile)).coinbase.auth_type == "cdp"
    dotenv = tmp_path / ".env"
    dotenv.touch(0o600)  # a .env others can read is refused
    dotenv.write_text("COINBASE_AUTH_TYPE=jwt\n")
    assert mgr(dotenv=dotenv).load("dev").coinbase.auth_type == "cdp"


def test_bad_auth_type_exits_2_naming_key_value_source_and_allowed(tmp_path: Path) -> None:
    proc = _cli(["config-check", "--profile", "canary"], tmp_path, COINBASE_AUTH_TYPE="oauth")
    assert proc.returncode == 2
    for needle in ("coinbase.auth_type", "'oauth'", "env COINBASE_AUTH_TYPE", "'cdp', 'hmac'", "jwt"):
        assert needle in proc.stderr, (needle, proc.stderr)


def test_jwt_signs_with_cdp_keys_against_the_signer() -> None:
    env = {"COINBASE_AUTH_TYPE": "JWT", **_cdp_keys()}
    settings = coinbase_settings_from_env(env)
    assert settings.signer is not None and settings.signer.kind == "cdp"


# ---------------------------------------------------------------------------------- 2. caps
def test_spot_profile_without_limits_file_shows_spot_caps_in_dry_run_banner(tmp_path: Path) -> None:
    profile = _spot_profile(tmp_path)
    proc = _cli(["--profile", str(profile), "--dry-run", "--cycles", "1", "--interval", "0.01"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "spot_top10.json" in proc.stdout
    assert "notional $25000" in proc.stdout  # BTC-USD's cap from the file


def test_limits_file_none_disables_caps_and_says_so(tmp_path: Path) -> None:
    config = mgr().load(str(_spot_profile(tmp_path, "  limits_file: none\n")))
    assert config.risk.spot_caps_file is None
    assert load_symbol_limits(config.risk) == {}
    (row,) = caps_lines(config)
    assert row[1].startswith("NONE: no per-symbol caps")
    null = mgr().load(str(_spot_profile(tmp_path, "  limits_file: null\n")))
    assert load_symbol_limits(null.risk) == {}  # YAML null is as explicit as `none`


def test_config_check_names_the_active_caps_file(tmp_path: Path) -> None:
    proc = _cli(["config-check", "--profile", str(_spot_profile(tmp_path))], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["risk"]["limits_file"] == "spot_top10.json"
    assert "per-symbol caps: spot_top10.json" in proc.stderr
    proc = _cli(["config-check", "--profile", str(_spot_profile(tmp_path, "  limits_file: none\n"))], tmp_path)
    assert proc.returncode == 0 and "NONE: no per-symbol caps" in proc.stderr


def test_bad_caps_file_name_exits_2(tmp_path: Path) -> None:
    proc = _cli(
        ["config-check", "--profile", str(_spot_profile(tmp_path, "  limits_file: spot_top11.json\n"))], tmp_path
    )
    assert proc.returncode == 2
    assert "risk.limits_file = 'spot_top11.json'" in proc.stderr and "spot_top10.json" in proc.stderr
    bad_perps = _spot_profile(tmp_path, "  perps_limits_file: perp.json\n")
    proc = _cli(["config-check", "--profile", str(bad_perps)], tmp_path)
    assert proc.returncode == 2 and "risk.perps_limits_file = 'perp.json'" in proc.stderr


def _btc_snapshot() -> AccountSnapshot:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    product = next(p for p in default_products() if p.symbol == "BTC-USD")
    levels = [(D("95000") - i, D("95000.02") + i) for i in range(5)]
    return AccountSnapshot(
        now=now,
        equity=D("1000000"),
        cash=D("1000000"),
        positions={},
        quotes={"BTC-USD": Quote(symbol="BTC-USD", bid=D("94999.99"), ask=D("95000.01"), last=D("95000"), ts=now)},
        books={
            "BTC-USD": OrderBook(
                symbol="BTC-USD",
                bids=tuple(BookLevel(b, D("10")) for b, _ in levels),
                asks=tuple(BookLevel(a, D("10")) for _, a in levels),
                ts=now,
            )
        },
        open_orders=[],
        products={"BTC-USD": product},
    )


def _buy(size: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=D(size),
        time_in_force=TimeInForce.IOC,
    )


def test_default_spot_caps_refuse_an_order_over_the_cap(tmp_path: Path) -> None:
    config = mgr().load(str(_spot_profile(tmp_path, "  max_impact_bps: 10000\n")))
    registry = build_registry(config)
    try:
        snap = _btc_snapshot()
        registry.risk.start(snap)
        registry.risk.evaluate(snap)
        assert registry.risk.check_order(_buy("0.26"), snap, is_reducing=False).ok  # $24,700 < $25,000
        refused = registry.risk.check_order(_buy("0.27"), _btc_snapshot(), is_reducing=False)  # $25,650
        assert not refused.ok and refused.rule == "max_notional"
        assert refused.details["max_notional"] == "25000"
    finally:
        assert registry.db is not None
        registry.db.close()


def test_perps_caps_load_with_derivatives_and_none_disables(tmp_path: Path) -> None:
    spot_only = mgr().load(str(_spot_profile(tmp_path)))
    assert "BTC-PERP-INTX" not in active_symbol_limits(spot_only)
    perps_on = mgr({"COINBASE_ENABLE_DERIVATIVES": "1"}).load(str(_spot_profile(tmp_path)))
    limits = active_symbol_limits(perps_on)
    assert limits["BTC-PERP-INTX"].max_notional == D("50000") and limits["BTC-PERP-INTX"].max_leverage == D("5")
    assert limits["BTC-USD"].max_notional == D("25000")
    assert caps_lines(perps_on)[1][1].startswith("perps.json")
    off = mgr({"COINBASE_ENABLE_DERIVATIVES": "1"}).load(str(_spot_profile(tmp_path, "  perps_limits_file: none\n")))
    assert "BTC-PERP-INTX" not in active_symbol_limits(off) and load_perps_limits(off.risk) == {}
    assert caps_lines(off)[1][1].startswith("NONE")
    inline = mgr({"COINBASE_ENABLE_DERIVATIVES": "1"}).load(
        str(_spot_profile(tmp_path, "  symbol_limits:\n    BTC-PERP-INTX: {max_notional: 100}\n"))
    )
    assert active_symbol_limits(inline)["BTC-PERP-INTX"].max_notional == D("100")  # inline wins
    perp_symbols = tmp_path / "perps.yaml"
    perp_symbols.write_text("broker: mock\nsymbols: [BTC-PERP-INTX]\n")
    assert active_symbol_limits(mgr().load(str(perp_symbols)))["BTC-PERP-INTX"].max_leverage == D("5")


def test_every_coinbase_env_key_is_documented() -> None:
    from importlib import resources

    from gpt_trader.orchestration.configuration import ENV_OVERRIDES, SECRET_ENV

    template = resources.files("gpt_trader.config.environments").joinpath(".env.template").read_text()
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for var in [*ENV_OVERRIDES, *SECRET_ENV]:
        if var.startswith("COINBASE_"):
            assert var in template, f"{var} missing from .env.template"
            assert f"`{var}`" in readme, f"{var} missing from the README's environment table"


# ------------------------------------------------------------------------- 3. one env parser
@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    key = tmp_path / "cdp_api_key.json"
    key.touch(0o600)  # a key file others can read is refused
    key.write_text(json.dumps({"name": "organizations/o/apiKeys/k", "privateKey": PEM_MARKER}))
    return {"ca": str(ca), "key": str(key)}


#: env var, dotted key, good raw value (or a `files` key), parsed value (None: same as raw), bad raw value
KEYS: list[tuple[str, str, str, Any, str]] = [
    ("COINBASE_STALE_AFTER_S", "stale_after_s", "12.5", 12.5, "0"),
    ("COINBASE_CLIENT_SIDE_STOPS", "client_side_stops", "Always", "always", "sometimes"),
    ("COINBASE_CA_BUNDLE", "ca_bundle", "ca", None, "/nonexistent/ca.pem"),
    ("COINBASE_CDP_KEY_FILE", "cdp_key_file", "key", None, "/nonexistent/key.json"),
    ("COINBASE_RATE_LIMIT_PRIVATE", "rate_limit_private", "15", 15.0, "-1"),
    ("COINBASE_RATE_LIMIT_PUBLIC", "rate_limit_public", "5", 5.0, "fast"),
    ("COINBASE_INTX_DETECT_ATTEMPTS", "intx_detect_attempts", "5", 5, "0"),
    ("COINBASE_INTX_DETECT_BACKOFF_S", "intx_detect_backoff_s", "1.5", 1.5, "100"),
    ("COINBASE_INTX_RECHECK_S", "intx_recheck_s", "30", 30.0, "-5"),
    ("COINBASE_STARTUP_WAIT_S", "startup_wait_s", "45", 45.0, "7200"),
    ("COINBASE_PRESIGN_DEPTH", "presign_depth", "0", 0, "-1"),
]


def _good(raw: str, parsed: Any, files: dict[str, str]) -> tuple[str, Any]:
    if raw in files:
        return files[raw], files[raw]
    return raw, parsed


@pytest.mark.parametrize(("var", "field", "raw", "parsed", "bad"), KEYS)
def test_adapter_key_from_env(var: str, field: str, raw: str, parsed: Any, bad: str, files: dict[str, str]) -> None:
    raw, parsed = _good(raw, parsed, files)
    assert getattr(mgr({var: raw}).load("canary").coinbase, field) == parsed


@pytest.mark.parametrize(("var", "field", "raw", "parsed", "bad"), KEYS)
def test_adapter_key_from_dotenv_and_real_env_wins(
    var: str, field: str, raw: str, parsed: Any, bad: str, files: dict[str, str], tmp_path: Path
) -> None:
    raw, parsed = _good(raw, parsed, files)
    dotenv = tmp_path / ".env"
    dotenv.touch(0o600)  # a .env others can read is refused
    dotenv.write_text(f"{var}={raw}\n")
    assert getattr(mgr(dotenv=dotenv).load("canary").coinbase, field) == parsed
    dotenv.write_text(f"{var}={bad}\n")
    with pytest.raises(ConfigError, match=f"from {dotenv} {var}"):
        mgr(dotenv=dotenv).load("canary")
    assert getattr(mgr({var: raw}, dotenv=dotenv).load("canary").coinbase, field) == parsed


@pytest.mark.parametrize(("var", "field", "raw", "parsed", "bad"), KEYS)
def test_adapter_key_bad_value_exits_2_naming_key_value_and_source(
    var: str, field: str, raw: str, parsed: Any, bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    result = CliRunner().invoke(app, ["config-check", "--profile", "canary"], env={var: bad})
    assert result.exit_code == 2
    message = result.output
    assert var in message, message
    assert f"coinbase.{field}" in message, message
    assert bad in message or repr(float(bad)) in message, message
    assert "allowed" in message or "must" in message or "Expected" in message, message


def test_adapter_settings_reach_the_broker_settings(files: dict[str, str]) -> None:
    env = {
        **_cdp_keys(),
        "COINBASE_CA_BUNDLE": files["ca"],
        "COINBASE_STALE_AFTER_S": "7",
        "COINBASE_CLIENT_SIDE_STOPS": "never",
        "COINBASE_RATE_LIMIT_PRIVATE": "12",
        "COINBASE_RATE_LIMIT_PUBLIC": "4",
        "COINBASE_INTX_DETECT_ATTEMPTS": "2",
        "COINBASE_INTX_DETECT_BACKOFF_S": "0.25",
        "COINBASE_INTX_RECHECK_S": "90",
        "COINBASE_PRESIGN_DEPTH": "3",
    }
    s = coinbase_settings_from_env(env)
    assert (s.ca_bundle, s.stale_after_s, s.client_side_stops) == (files["ca"], 7.0, "never")
    assert (s.private_rps, s.public_rps) == (12.0, 4.0)
    assert (s.intx_detect_attempts, s.intx_detect_backoff_s, s.intx_recheck_s) == (2, 0.25, 90.0)
    assert s.presign_depth == 3


async def test_presign_depth_reaches_the_rest_client() -> None:
    """COINBASE_PRESIGN_DEPTH=0 is the off-switch for order-creation tokens signed ahead (each order's token
    signed when it is sent, as before); a depth keeps that many signed ahead."""
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

    for raw, ahead in (("0", False), ("4", True)):
        broker = CoinbaseBroker(coinbase_settings_from_env({**_cdp_keys(), "COINBASE_PRESIGN_DEPTH": raw}))
        try:
            assert (broker.rest._presigner is not None) is ahead, raw
        finally:
            await broker.rest.aclose()


def test_config_check_shows_key_file_path_never_its_contents(files: dict[str, str], tmp_path: Path) -> None:
    proc = _cli(["config-check", "--profile", "canary"], tmp_path, COINBASE_CDP_KEY_FILE=files["key"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["coinbase"]["cdp_key_file"] == files["key"]
    assert "TOP-SECRET" not in proc.stdout + proc.stderr


def test_no_env_reads_outside_the_config_manager() -> None:
    """One parser: the bot reads the environment only in ConfigManager (and the chaos kill-point test hook).
    The web dashboard runs in its own process and never loads the bot's config; its one setting, the
    access token, is read by its auth module."""
    src = Path(__file__).resolve().parents[3] / "src" / "gpt_trader"
    readers = sorted(
        str(p.relative_to(src)) for p in src.rglob("*.py") if any(s in p.read_text() for s in ("os.environ", "getenv("))
    )
    assert readers == [
        "features/dashboard/auth.py",
        "orchestration/configuration.py",
        "orchestration/live_execution.py",
    ]
