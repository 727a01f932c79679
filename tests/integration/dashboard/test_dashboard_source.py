"""The dashboards' reader against a real dev session: the journal-derived equity curve starts at the
session's opening equity and ends at the published one, the store is opened read-only, and the live
bot process loads neither the dashboard slice nor aiohttp's web server."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard_support import StoreFigures, bot_env, run_dev_session
from gpt_trader.features.dashboard.source import DashboardSource, Paths, SourceError

pytestmark = pytest.mark.integration


def test_curve_spans_the_session_from_opening_to_published_equity(tmp_path: Path) -> None:
    run_dev_session(tmp_path)
    figures = StoreFigures.read(tmp_path)
    source = DashboardSource(Paths.for_profile("dev", data_root=tmp_path / "var" / "data"))
    snap = source.snapshot(window_min=24 * 60)
    assert snap.curve[0].equity == figures.day_start == Decimal(100000)  # the mock opens with 100,000 USD
    assert snap.curve[-1].equity == figures.equity
    assert snap.pnl_window == figures.equity - figures.day_start == snap.pnl_today
    assert all(isinstance(p.equity, Decimal) for p in snap.curve)
    assert [f.trade_id for f in snap.last_fills] == [f["trade_id"] for f in figures.fills[:10]]
    with pytest.raises(SourceError, match="window_min must be >= 1"):
        source.snapshot(window_min=0)
    # the reader cannot write: its connection is read-only
    with source.stores() as (orders, _events, _state), pytest.raises(sqlite3.OperationalError, match="readonly"):
        orders._conn.execute("DELETE FROM sync_cursors")


def test_missing_store_and_bad_profile_are_named(tmp_path: Path) -> None:
    source = DashboardSource(Paths.for_profile("dev", data_root=tmp_path))
    with pytest.raises(SourceError, match=r"no store at .*dev/bot.sqlite3"):
        source.snapshot()
    with pytest.raises(SourceError, match=re.escape("--profile '../x'")):
        Paths.for_profile("../x")
    with pytest.raises(SourceError, match="no such profile file"):
        Paths.for_profile(str(tmp_path / "nope.yaml"))
    custom = tmp_path / "mine.yaml"
    custom.write_text(f"data_root: {tmp_path / 'elsewhere'}\n")
    paths = Paths.for_profile(str(custom))
    assert paths.profile == "mine" and paths.store == tmp_path / "elsewhere" / "mine" / "bot.sqlite3"


def test_live_process_loads_no_dashboard_and_no_aiohttp_web(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from gpt_trader.cli import run_bot\n"
        "run_bot('dev', dev_fast=True, cycles=3)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp.web', 'gpt_trader.features.dashboard'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=bot_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
    terminal = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import gpt_trader.features.dashboard.cli, gpt_trader.features.dashboard.terminal;"
            " print('aiohttp' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert terminal.stdout.strip() == "False"
