"""The top-level CLI reaches every slice's command (imported only when invoked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
