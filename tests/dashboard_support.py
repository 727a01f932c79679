"""Shared by the dashboard tests (terminal and browser): a real `perps-bot` dev session on the mock,
written into a temporary working folder, and the figures read straight from its store and files (plain
sqlite3 and json, not the dashboard's own reader) to compare the screens against."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "var" / "screenshots" / "dashboard"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: a dev session of 30 cycles ends with open positions (ADA-USD, LINK-USD) and a few fills
SESSION_CYCLES = 30


def bot_env() -> dict[str, str]:
    """The environment without any venue / dashboard setting of the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "GPT_TRADER_", "RISK_"))}


def perps_bot(*args: str) -> list[str]:
    return [sys.executable, "-m", "gpt_trader.cli", *args]


def run_dev_session(root: Path, cycles: int = SESSION_CYCLES) -> None:
    """`perps-bot --profile dev --dev-fast --cycles N` in `root` (its var/ lands there)."""
    root.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        perps_bot("--profile", "dev", "--dev-fast", "--cycles", str(cycles)),
        cwd=root,
        env=bot_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass
class StoreFigures:
    """What the bot's own files say, read without the dashboard's code."""

    equity: Decimal
    day_start: Decimal
    cycle: int
    session_id: str
    positions: dict[str, Decimal]  # symbol -> size (metrics.json)
    fills: list[dict[str, Any]]  # newest first
    open_orders: int
    last_reconciliation_ts: str

    @classmethod
    def read(cls, root: Path) -> StoreFigures:
        health = json.loads((root / "var/data/perps_bot/dev/health.json").read_text())
        metrics = json.loads((root / "var/data/perps_bot/dev/metrics.json").read_text(), parse_float=Decimal)
        conn = sqlite3.connect(f"file:{root / 'var/data/dev/bot.sqlite3'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            fills = [dict(r) for r in conn.execute("SELECT * FROM fills ORDER BY ts DESC, rowid DESC")]
            state = json.loads(conn.execute("SELECT value FROM state WHERE key='risk.guard_state'").fetchone()[0])
            open_orders = conn.execute(
                "SELECT COUNT(*) FROM orders WHERE status IN ('PENDING_SUBMIT','OPEN','PARTIALLY_FILLED',"
                "'PENDING_CANCEL','PENDING_AMEND')"
            ).fetchone()[0]
            recon = conn.execute(
                "SELECT ts FROM events WHERE kind='reconciliation' ORDER BY id DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
        positions = {
            k[len("position.size{symbol=") : -1]: Decimal(v)
            for k, v in metrics["gauges"].items()
            if k.startswith("position.size{") and Decimal(v) != 0
        }
        return cls(
            equity=Decimal(health["equity"]),
            day_start=Decimal(state["day_start_equity"]),
            cycle=int(health["cycle"]),
            session_id=str(health["session_id"]),
            positions=positions,
            fills=fills,
            open_orders=int(open_orders),
            last_reconciliation_ts=str(recon[0]),
        )
