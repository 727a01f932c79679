"""`perps-bot dashboard` driven in a pseudo-terminal (pexpect) against a store written by a real dev
session on the mock: the figures on screen are the store's, and the live view redraws while a bot runs."""

from __future__ import annotations

import re
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pexpect
import pytest

from dashboard_support import ANSI, StoreFigures, bot_env, perps_bot, plain, run_dev_session

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash_session")
    run_dev_session(root)
    return root


def _spawn(root: Path, *args: str) -> pexpect.spawn:
    cmd = perps_bot("dashboard", "--profile", "dev", *args)
    return pexpect.spawn(
        cmd[0], cmd[1:], cwd=str(root), env=bot_env(), dimensions=(120, 220), encoding="utf-8", timeout=30
    )


def _rows(screen: str) -> list[list[str]]:
    """Table rows as lists of cell texts (rich's box characters split the cells)."""
    return [
        [c.strip() for c in line.strip().strip("│").split("│")] for line in screen.splitlines() if line.count("│") >= 3
    ]


def test_once_frame_shows_the_store_figures(session_root: Path) -> None:
    figures = StoreFigures.read(session_root)
    assert figures.positions and figures.fills, "the 30-cycle dev session should leave positions and fills"
    child = _spawn(session_root, "--once", "--window-min", "120")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    screen = ANSI.sub("", child.before or "")

    assert "ACTIVE" in screen
    assert f"equity: {figures.equity:,.2f} USD" in screen
    assert f"PnL today: {figures.equity - figures.day_start:+,.2f}" in screen
    assert f"cycle: {figures.cycle}" in screen and figures.session_id in screen
    rows = _rows(screen)
    by_symbol = {r[0]: r for r in rows if r and r[0] in figures.positions}
    assert set(by_symbol) == set(figures.positions)
    for symbol, size in figures.positions.items():
        assert by_symbol[symbol][1] == plain(size), (symbol, by_symbol[symbol])
    fill_rows = [r for r in rows if len(r) == 6 and re.match(r"\d{4}-\d\d-\d\dT", r[0])]
    shown = figures.fills[:10]
    assert len(fill_rows) == len(shown)
    for row, fill in zip(fill_rows, shown, strict=True):
        assert row[1:5] == [fill["symbol"], fill["side"], plain(Decimal(fill["size"])), plain(Decimal(fill["price"]))]
    assert f"Open orders ({figures.open_orders})" in screen
    daily = next(r for r in rows if r[0] == "daily_loss")
    used = max(Decimal(0), figures.day_start - figures.equity)
    assert daily[3] == f"{used:.2f} / {figures.day_start * 5 / 100:.2f} USD"  # dev: 5 % of day-start equity
    assert f"last reconciliation: {figures.last_reconciliation_ts}" in screen
    assert "REST rate-limit headroom: n/a (venue mock" in screen
    assert "equity 120 min" in screen and re.search(r"equity 120 min\s+[▁▂▃▄▅▆▇█]{2,}", screen)


def test_live_view_redraws_while_a_bot_runs_and_quits_on_ctrl_c(tmp_path: Path) -> None:
    child = _spawn(tmp_path, "--refresh", "0.3", "--window-min", "60")
    try:
        child.expect("no store at", timeout=20)  # nothing written yet: said, not crashed
        bot = subprocess.Popen(
            perps_bot("--profile", "dev", "--dev-fast", "--cycles", "25"),
            cwd=tmp_path,
            env=bot_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert bot.wait(timeout=120) == 0
        child.expect(r"cycle: 25", timeout=20)
        figures = StoreFigures.read(tmp_path)
        child.expect(re.escape(f"equity: {figures.equity:,.2f} USD"), timeout=10)
        child.kill(signal.SIGINT)
        child.expect(pexpect.EOF, timeout=10)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
