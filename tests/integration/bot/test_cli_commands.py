"""The top-level CLI reaches every slice's command (imported only when invoked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "market" / "ohlcv"


def cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "RISK_"))}
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("command", ["exchange-sim", "backtest", "data", "replay", "reconcile", "account", "run"])
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    proc = cli(tmp_path, command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: perps-bot" in proc.stdout


def test_backtest_json_through_top_level_cli(tmp_path: Path) -> None:
    data = SHARED / "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz"
    proc = cli(
        tmp_path,
        "backtest",
        "--data",
        str(data),
        "--strategy",
        "sma_cross",
        "--param",
        "fast=20",
        "--param",
        "slow=50",
        "--fee-bps",
        "60",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["engine"] == "fast" and out["bars"] > 10000 and out["trades"]


def test_dev_run_then_replay_is_deterministic(tmp_path: Path) -> None:
    run = cli(tmp_path, "--profile", "dev", "--dev-fast", "--cycles", "90")
    assert run.returncode == 0, run.stderr
    session = re.search(r"Session (\S+)", run.stdout)
    assert session, run.stdout
    replay = cli(tmp_path, "replay", "--session", session.group(1), "--json")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    report = json.loads(replay.stdout)
    assert report["checked"] > 0 and report["differences"] == []


def test_reconcile_refuses_the_in_memory_mock(tmp_path: Path) -> None:
    proc = cli(tmp_path, "reconcile", "--profile", "dev")
    assert proc.returncode == 2
    assert "mock" in (proc.stdout + proc.stderr).lower()


def test_canary_dry_run_banner_shows_every_active_limit(tmp_path: Path) -> None:
    proc = cli(tmp_path, "--profile", "canary", "--dry-run", "--cycles", "2", "--interval", "0.01")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())  # the table wraps long cells
    assert "no Coinbase credentials are set" in out and "mock" in out and "DRY RUN" in out
    for needle in (
        "max daily loss",
        "$10",
        "max drawdown",
        "max leverage",
        "max impact cost",
        "50 bps",
        "max open orders per symbol",
        "max orders per minute",
        "stale mark",
        "error rate",
        "liquidation buffer",
        "api errors",
        "volatility breaker",
        "liquidity breaker",
        "consecutive losses",
        "correlation",
        "14:00-15:00 UTC",
        "size 0.01",
    ):
        assert needle in out, needle
    assert "limit: ADA-USD" not in proc.stdout  # caps are listed for the traded universe only


# ------------------------------------------------------------------------------- exit codes
# 0 and 2 (config) are above; here 1 (venue at start), 2 (a symbol the venue does not list), 3 (risk halt)
# and 4 (reconciliation refused). Every one comes from the error's own exit_code via cli.exit_codes().


def _dev_profile(tmp_path: Path, **risk: object) -> Path:
    import yaml

    from gpt_trader.orchestration import configuration

    tree = yaml.safe_load((Path(configuration.__file__).parent.parent / "config/profiles/dev.yaml").read_text())
    tree["risk"].update(risk)
    tree.update(data_root=str(tmp_path / "data"), log_dir=str(tmp_path / "logs"))
    path = tmp_path / "dev_halt.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_exit_2_for_a_symbol_the_venue_does_not_list(tmp_path: Path) -> None:
    proc = cli(tmp_path, "--profile", "dev", "--symbols", "FOO-USD", "--cycles", "1", "--interval", "0.01")
    assert proc.returncode == 2, proc.stderr
    assert "configuration error: symbols: unknown symbols ['FOO-USD']" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_exit_3_when_a_guard_halts_the_session(tmp_path: Path) -> None:
    profile = _dev_profile(tmp_path, max_daily_loss_usd=0.01, actions={"daily_loss": "halt"})
    proc = cli(tmp_path, "--profile", str(profile), "--dev-fast")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stopped by a risk halt: daily_loss: daily loss" in proc.stderr


def test_exit_1_on_a_venue_error_at_start_and_4_on_a_refused_reconciliation(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
    from chaos_support import bot_env, canary_sim_thread, write_canary_profile

    sim = canary_sim_thread()
    sim.start()
    try:
        profile = str(write_canary_profile(tmp_path, tmp_path / "data"))
        good = bot_env(sim.env())

        def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "gpt_trader.cli", "--profile", profile, "--cycles", "1", "--interval", "0.01"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        wrong_key = run({**good, "COINBASE_PROD_CDP_API_KEY": "organizations/x/apiKeys/not-this-one"})
        assert wrong_key.returncode == 1, wrong_key.stderr[-2000:]
        assert "cannot run: venue error" in wrong_key.stderr
        assert sim.sim.cdp_key.private_key not in wrong_key.stderr + wrong_key.stdout

        first = run(good)  # records the reconciliation baseline
        assert first.returncode == 0, first.stderr[-2000:]

        async def deposit() -> None:
            sim.sim.fund("ETH", Decimal("0.25"))

        sim.call(deposit())
        refused = run(good)
        assert refused.returncode == 4, refused.stderr[-2000:]
        assert "refusing to trade: start-up reconciliation refused" in refused.stderr
        # the refusal is a HALTED trading state too (alerts hear it), journaled in the bot's store
        import sqlite3

        (db,) = (tmp_path / "data").rglob("bot.sqlite3")
        with sqlite3.connect(db) as conn:
            rows = [json.loads(r[0]) for r in conn.execute("SELECT payload FROM events WHERE kind='trading_state'")]
        assert [(r["cause"], r["mode"]) for r in rows][-1] == ("reconciliation", "halted")
        assert rows[-1]["reason"] == "start-up reconciliation refused: 1 difference(s)"
    finally:
        sim.stop()
