"""`perps-bot reconcile [--accept-exchange]` end to end: a canary profile, credentials from the
environment, the exchange simulator over 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gpt_trader.orchestration.reconcile_cli import reconcile_command

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
from chaos_support import SimThread, canary_sim_thread, write_canary_profile

pytestmark = pytest.mark.integration


@pytest.fixture
def sim_thread() -> Iterator[SimThread]:
    st = canary_sim_thread()
    st.start()
    yield st
    st.stop()


def _app(fn: Callable[..., None]) -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command("reconcile")(fn)
    app.command("unused")(lambda: None)
    return app


def test_reconcile_reports_then_accepts_the_exchange(
    sim_thread: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in sim_thread.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    profile = str(write_canary_profile(tmp_path, tmp_path / "data"))
    runner, app = CliRunner(), _app(reconcile_command)

    first = runner.invoke(app, ["reconcile", "--profile", profile])
    assert first.exit_code == 0, first.output
    assert "baseline_recorded" in first.output and "store and exchange agree" in first.output

    async def deposit() -> None:
        sim_thread.sim.fund("ETH", Decimal("0.25"))

    sim_thread.call(deposit())
    differs = runner.invoke(app, ["reconcile", "--profile", profile])
    assert differs.exit_code == 1, differs.output
    assert "DIFFERS ETH: store (bot fills) 0 vs exchange 0.25" in differs.output
    assert "perps-bot reconcile --accept-exchange --profile canary" in differs.output

    accepted = runner.invoke(app, ["reconcile", "--profile", profile, "--accept-exchange"])
    assert accepted.exit_code == 0, accepted.output
    assert "accepted_exchange_position" in accepted.output and "exchange view adopted" in accepted.output
    again = runner.invoke(app, ["reconcile", "--profile", profile])
    assert again.exit_code == 0, again.output
    assert sim_thread.sim.cdp_key.private_key not in again.output  # secrets never printed
