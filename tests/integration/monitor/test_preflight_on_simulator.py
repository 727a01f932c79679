"""`perps-bot preflight --profile canary` against the exchange simulator: a healthy venue passes; a key the
venue does not know, a skewed venue clock, a symbol the venue does not list and a key that cannot trade
each fail with a clear reason; a key that can transfer warns."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from monitor_support import sim_env, small_sim
from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.preflight import Check, Preflight
from gpt_trader.orchestration.service_registry import build_registry

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async for s in small_sim(seed=5, tick_interval_s=3600, usd="5000"):
        yield s


_env = sim_env


async def _run(
    sim: ExchangeSimulator, tmp_path: Path, env: dict[str, str] | None = None, over: dict[str, Any] | None = None
) -> dict[str, Check]:
    manager = ConfigManager(env=env or _env(sim), dotenv_path=None)
    config = manager.load("canary", {"data_root": str(tmp_path / "data"), **(over or {})})
    checks = await Preflight(config, manager.credentials()).run()
    return {c.name: c for c in checks}


def _failed(checks: dict[str, Check]) -> dict[str, str]:
    return {name: c.detail for name, c in checks.items() if c.status == "fail"}


async def test_healthy_venue_passes(sim: ExchangeSimulator, tmp_path: Path) -> None:
    checks = await _run(sim, tmp_path)
    assert _failed(checks) == {}
    for name in ("keys", "key_permissions", "clock_skew", "symbol BTC-USD", "symbol ETH-USD", "intx", "balances"):
        assert checks[name].status == "pass", checks[name]
    assert checks["risk_limits"].status == "pass" and checks["reconciliation"].status == "pass"
    assert checks["store"].status == "warn" and "does not exist yet" in checks["store"].detail
    assert checks["disk"].status in ("pass", "warn")


async def test_unknown_key_fails_with_the_reason(sim: ExchangeSimulator, tmp_path: Path) -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    env = _env(
        sim,
        COINBASE_PROD_CDP_API_KEY="organizations/nobody/apiKeys/unknown",
        COINBASE_PROD_CDP_PRIVATE_KEY=pem,
    )
    checks = await _run(sim, tmp_path, env)
    assert checks["keys"].status == "pass"  # it loads and signs ...
    failed = _failed(checks)
    assert "the venue refused the credentials" in failed["key_permissions"]  # ... but the venue says no
    assert pem not in json.dumps({k: c.detail for k, c in checks.items()})


async def test_skewed_venue_clock_fails(sim: ExchangeSimulator, tmp_path: Path) -> None:
    sim.clock.skew_s = 90.0  # what POST /admin/clock_skew sets
    failed = _failed(await _run(sim, tmp_path))
    assert list(failed) == ["clock_skew"]
    assert "venue clock ahead of ours by 90" in failed["clock_skew"]


async def test_unlisted_symbol_fails(sim: ExchangeSimulator, tmp_path: Path) -> None:
    failed = _failed(await _run(sim, tmp_path, over={"symbols": ["BTC-USD", "SOL-USD"]}))
    assert failed["symbol SOL-USD"] == "not listed by the venue"
    assert "symbol BTC-USD" not in failed


async def test_key_permissions_trade_required_transfer_warns(sim: ExchangeSimulator, tmp_path: Path) -> None:
    sim.venue.key_permissions["can_transfer"] = True
    checks = await _run(sim, tmp_path)
    assert checks["key_permissions"].status == "warn" and "can_transfer=true" in checks["key_permissions"].detail
    assert _failed(checks) == {}
    sim.venue.key_permissions["can_trade"] = False
    failed = _failed(await _run(sim, tmp_path))
    assert failed["key_permissions"] == "the key cannot trade (can_trade=false)"


async def test_admin_api_sets_skew_and_permissions(sim: ExchangeSimulator) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=sim.rest_url) as client:
        skew = await client.post("/admin/clock_skew", json={"seconds": -45})
        perms = await client.post("/admin/key_permissions", json={"can_trade": False})
        bad = await client.post("/admin/key_permissions", json={"can_fly": True})
        time = (await client.get("/api/v3/brokerage/time")).json()
    assert skew.status_code == 200 and skew.json()["skew_s"] == -45 and sim.clock.skew_s == -45
    assert perms.json()["can_trade"] is False and sim.venue.key_permissions["can_trade"] is False
    assert bad.status_code == 400 and "can_fly" in bad.json()["error"]
    assert time["iso"].startswith(str(sim.clock.now().year))


async def test_cli_table_and_exit_codes(
    sim: ExchangeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    try:
        # the command runs its own event loop: give it a thread, so this loop keeps serving the simulator
        ok = await asyncio.to_thread(runner.invoke, app, ["preflight", "--profile", "canary", "--json"], env=_env(sim))
        assert ok.exit_code == 0, ok.output
        doc = json.loads(ok.stdout)
        assert doc["ok"] is True and {c["name"] for c in doc["checks"]} >= {"keys", "clock_skew", "reconciliation"}
        sim.clock.skew_s = -120.0
        bad = await asyncio.to_thread(runner.invoke, app, ["preflight", "--profile", "canary"], env=_env(sim))
        assert bad.exit_code == 1
        assert "clock_skew" in bad.output and "FAIL" in bad.output and "behind ours by 120" in bad.output
    finally:
        structlog.reset_defaults()  # the command logged to the runner's stderr, now closed


async def test_intx_required_only_when_derivatives_are_enabled(sim: ExchangeSimulator, tmp_path: Path) -> None:
    checks = await _run(sim, tmp_path)
    assert checks["intx"].status == "pass" and "disabled by the profile" in checks["intx"].detail
    sim.venue.intx.configure(False)
    env = _env(sim, COINBASE_ENABLE_DERIVATIVES="1")
    failed = _failed(await _run(sim, tmp_path, env))
    assert failed["intx"].startswith("INTX access no")
    sim.venue.intx.configure(True)
    checks = await _run(sim, tmp_path, env)
    assert checks["intx"].status == "pass" and checks["intx"].detail == "INTX access yes"


async def test_balance_and_risk_limits_are_judged(sim: ExchangeSimulator, tmp_path: Path) -> None:
    failed = _failed(await _run(sim, tmp_path, over={"risk.max_daily_loss_usd": 10_000_000}))
    assert "max_daily_loss_usd 10000000 is not below equity" in failed["risk_limits"]
    # sizes far beyond the account: 50 BTC per order
    failed = _failed(await _run(sim, tmp_path, over={"sizing.sizes": {"BTC-USD": 50, "ETH-USD": 0.003}}))
    assert "not enough for one order" in failed["balances"]


async def test_store_integrity_and_schema(sim: ExchangeSimulator, tmp_path: Path) -> None:
    manager = ConfigManager(env=_env(sim), dotenv_path=None)
    config = manager.load("canary", {"data_root": str(tmp_path / "data")})
    registry = build_registry(config, manager.credentials(), fresh_store=False, arm_triggers=False)
    assert registry.db is not None
    registry.db.close()  # a store the bot created: migrated, intact
    checks = await _run(sim, tmp_path)
    assert checks["store"].status == "pass" and "integrity ok" in checks["store"].detail
    assert "orders_store v" in checks["store"].detail
    store = config.store_dir / "bot.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    store.write_bytes(b"this is not an SQLite database" * 100)
    failed = _failed(await _run(sim, tmp_path))
    assert "DatabaseError" in failed["store"]
    assert "reconciliation" not in failed  # a failed check skips the dry run (it would copy a broken store)


async def test_a_key_that_does_not_load_fails_without_echoing_it(sim: ExchangeSimulator, tmp_path: Path) -> None:
    broken = "-----BEGIN EC PRIVATE KEY-----\nTHISISNOTAKEYbutLOOKSsecret\n-----END EC PRIVATE KEY-----\n"
    failed = _failed(await _run(sim, tmp_path, _env(sim, COINBASE_PROD_CDP_PRIVATE_KEY=broken)))
    assert failed["keys"].startswith("credentials do not load")
    assert "THISISNOTAKEY" not in failed["keys"] and "key_permissions" not in failed  # the venue is not asked
