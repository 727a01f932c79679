"""Clearing is not forgetting, through the real command line against the exchange simulator.

The canary profile (daily loss -> halt) with `RISK_MAX_DAILY_LOSS_PCT` tiny: the first session trades,
loses its fees and halts (exit 3). `--clear-reduce-only` alone releases the latch, but the day's loss is
still over the limit, so the guard trips again at once (exit 3 again). `--rebase-daily-loss
--clear-reduce-only` gives the day a new budget and the session runs to its end (exit 0). Every step is
a `trading_state` event in the bot's store.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
from chaos_support import bot_env, canary_sim_thread, write_canary_profile

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(300)]


def _journal(data_root: Path) -> list[tuple[str, str]]:
    (db,) = data_root.rglob("bot.sqlite3")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT payload FROM events WHERE kind='trading_state' ORDER BY id").fetchall()
    return [(json.loads(r[0])["cause"], json.loads(r[0])["mode"]) for r in rows]


def test_clear_re_trips_on_the_days_loss_and_only_a_rebase_lets_it_trade(tmp_path: Path) -> None:
    sim = canary_sim_thread()
    sim.start()
    try:
        data_root = tmp_path / "data"
        profile = str(write_canary_profile(tmp_path, data_root))
        env = bot_env(sim.env(), {"RISK_MAX_DAILY_LOSS_PCT": "0.0001"})

        def run(*flags: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gpt_trader.cli",
                    "--profile",
                    profile,
                    "--cycles",
                    "12",
                    "--interval",
                    "1",
                    *flags,
                ],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=200,
            )

        first = run()
        assert first.returncode == 3, first.stderr[-3000:]
        assert "stopped by a risk halt: daily_loss: daily loss" in first.stderr
        assert _journal(data_root) == [("guard", "halted")]

        cleared = run("--clear-reduce-only")
        assert cleared.returncode == 3, cleared.stderr[-3000:]
        assert _journal(data_root)[1:] == [("restored", "halted"), ("operator_clear", "active"), ("guard", "halted")]

        rebased = run("--rebase-daily-loss", "--clear-reduce-only")
        assert rebased.returncode == 0, rebased.stderr[-3000:]
        assert _journal(data_root)[4:] == [
            ("restored", "halted"),
            ("operator_clear", "active"),
            ("operator_rebase_daily_loss", "active"),
        ]
        assert sim.sim.cdp_key.private_key not in first.stderr + cleared.stderr + rebased.stderr
    finally:
        sim.stop()
